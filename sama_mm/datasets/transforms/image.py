"""Resize and normalise frames for the InternVL vision encoder and for SAM2.

Both encoders take square inputs made by resizing without keeping the aspect ratio and without padding,
then ``/255`` and ImageNet mean/std. The reference resizes PIL images one at a time (InternVL: torchvision
``Resize((448, 448), BICUBIC)`` on PIL; SAM2: PIL ``resize((1024, 1024))``, bicubic by default). Here the
whole clip is resized in one ``torch.nn.functional.interpolate(mode='bicubic', antialias=True)`` call, with
the result rounded and clamped to 0..255 as PIL's uint8 output is. Antialiased bicubic follows PIL's
filter closely (the same support-scaled kernel when shrinking): on natural-looking images the result differs
from PIL's by at most one grey level (about 0.2 on average, measured at 448, 1024 and when shrinking).
"""
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_normalize(imgs: np.ndarray, size: int, mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` RGB -> ``float32 [N, 3, size, size]``: bicubic resize, /255, mean/std."""
    if imgs.ndim != 4 or imgs.shape[-1] != 3:
        raise ValueError(f'expected uint8 frames [N, H, W, 3], got shape {imgs.shape}')
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode='bicubic', align_corners=False, antialias=True)
        x = x.round_().clamp_(0, 255)
    x = x.div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub_(mean_t).div_(std_t).contiguous()


@TRANSFORMS.register_module()
class InternVLImageTransform(BaseTransform):
    """Frames for the InternVL ViT: every sampled frame resized to ``image_size`` squared and normalised.

    Required Keys:

        - imgs (np.ndarray): ``uint8 [T, H, W, 3]`` RGB.

    Added Keys:

        - pixel_values (torch.Tensor): ``float32 [T, 3, S, S]`` (S = ``image_size``).

    Args:
        image_size (int): Side of the square input. Defaults to 448.
    """

    def __init__(self, image_size: int = 448):
        self.image_size = image_size

    def transform(self, results: Dict) -> Dict:
        results['pixel_values'] = resize_normalize(results['imgs'], self.image_size)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(image_size={self.image_size})'


@TRANSFORMS.register_module()
class SAM2ImageTransform(BaseTransform):
    """Frames for SAM2: the dense frames resized to ``image_size`` squared and normalised (reference §1.10).

    Required Keys:

        - imgs (np.ndarray): ``uint8 [T, H, W, 3]`` RGB of the sampled frames.
        - dense_positions (list[int]): Positions of the D dense frames in ``imgs``.

    Added Keys:

        - sam2_pixel_values (torch.Tensor): ``float32 [D, 3, S, S]`` (S = ``image_size``).

    Args:
        image_size (int): Side of the square input. Defaults to 1024.
    """

    def __init__(self, image_size: int = 1024):
        self.image_size = image_size

    def transform(self, results: Dict) -> Dict:
        dense = results['imgs'][list(results['dense_positions'])]
        results['sam2_pixel_values'] = resize_normalize(dense, self.image_size)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(image_size={self.image_size})'
