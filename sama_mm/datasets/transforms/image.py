"""Resize and normalise frames for the InternVL vision encoder and for SAM2.

Both encoders take square inputs made by resizing without keeping the aspect ratio and without padding,
then ``/255`` and ImageNet mean/std. The reference resizes PIL images one at a time (InternVL: torchvision
``Resize((448, 448), BICUBIC)`` on PIL; SAM2: PIL ``resize((1024, 1024))``, bicubic by default). Here the
whole clip is resized in one ``torch.nn.functional.interpolate(mode='bicubic', antialias=True)`` call, with
the result rounded and clamped to 0..255 as PIL's uint8 output is. Antialiased bicubic follows PIL's
filter closely (the same support-scaled kernel when shrinking): on natural-looking images the result differs
from PIL's by at most one grey level (about 0.2 on average, measured at 448, 1024 and when shrinking).

``resize_backend='pil'`` resizes each frame with PIL itself (``Image.resize(..., BICUBIC)``), exactly as the
released inference does, so uint8 frames give bit-identical pixels. The torch path differs from PIL mostly on
high-frequency content, where PIL's 8-bit fixed-point filter coefficients and its rounding between the
horizontal and vertical passes matter: measured on random-noise frames (240x320 and 720x1280) 17-23 % of the
values differ, by up to 25 grey levels; on smooth gradients 2 % differ, by one level. The PIL path is slower
(one frame at a time) and needs uint8 input; use it for exact parity with released checkpoints
(docs/evaluation.md).
``round_norm_to_bf16=True`` additionally rounds the ImageNet mean/std through bf16, as the released SAM2 input
normalisation does.
"""
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Values of ``resize_backend``: torch's antialiased bicubic on the whole clip, or PIL's bicubic per frame.
RESIZE_BACKENDS = ('torch', 'pil')


def check_resize_backend(resize_backend: str) -> str:
    """Return ``resize_backend`` if it is one of :data:`RESIZE_BACKENDS`, else raise ``ValueError``."""
    if resize_backend not in RESIZE_BACKENDS:
        raise ValueError(f'resize_backend must be one of {RESIZE_BACKENDS}, got {resize_backend!r}')
    return resize_backend


def pil_resize(imgs: np.ndarray, size: int) -> np.ndarray:
    """``uint8 [N, H, W, 3]`` -> ``uint8 [N, size, size, 3]`` with PIL's bicubic ``resize``, frame by frame.

    The released inference resizes exactly this way (torchvision's ``Resize`` on a PIL image for the ViT, PIL's
    ``Image.resize`` with its default bicubic filter for SAM2), so the output is bit-identical to it.
    """
    from PIL import Image

    imgs = np.asarray(imgs)
    if imgs.dtype != np.uint8:
        raise ValueError(f"resize_backend='pil' needs uint8 frames, got {imgs.dtype}")
    out = np.empty((imgs.shape[0], size, size, 3), np.uint8)
    for i, frame in enumerate(imgs):
        out[i] = np.asarray(Image.fromarray(np.ascontiguousarray(frame), mode='RGB').resize(
            (size, size), Image.BICUBIC))
    return out


def resize_normalize(imgs: np.ndarray, size: int, mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD, resize_backend: str = 'torch',
                     round_norm_to_bf16: bool = False, mode: str = 'bicubic') -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` RGB -> ``float32 [N, 3, size, size]``: bicubic resize, /255, mean/std.

    Args:
        imgs: ``uint8 [N, H, W, 3]`` RGB frames.
        size: Side of the square output.
        mean: Per-channel mean (of 0..1 values).
        std: Per-channel standard deviation.
        resize_backend: ``'torch'`` (antialiased bicubic on the clip, within about one grey level of PIL on
            natural images) or ``'pil'`` (PIL's bicubic per frame: bit-identical to the released inference).
        round_norm_to_bf16: Round ``mean`` / ``std`` through bf16 first (the released SAM2 normalisation).
        mode: Interpolation of the torch backend, ``'bicubic'`` (PIL's default filter) or ``'bilinear'``.

    Returns:
        ``float32 [N, 3, size, size]``.
    """
    check_resize_backend(resize_backend)
    if imgs.ndim != 4 or imgs.shape[-1] != 3:
        raise ValueError(f'expected uint8 frames [N, H, W, 3], got shape {imgs.shape}')
    if resize_backend == 'pil' and tuple(imgs.shape[1:3]) != (size, size):
        imgs = pil_resize(imgs, size)
    x = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode=mode, align_corners=False, antialias=True)
        x = x.round_().clamp_(0, 255)
    x = x.div_(255.0)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    if round_norm_to_bf16:
        mean_t, std_t = mean_t.bfloat16().float(), std_t.bfloat16().float()
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
        resize_backend (str): ``'torch'`` (default: fast, within about one grey level of PIL on natural images)
            or ``'pil'`` (PIL bicubic frame by frame, bit-identical to the released inference; use it to
            evaluate released checkpoints exactly).
    """

    def __init__(self, image_size: int = 448, resize_backend: str = 'torch'):
        self.image_size = image_size
        self.resize_backend = check_resize_backend(resize_backend)

    def transform(self, results: Dict) -> Dict:
        results['pixel_values'] = resize_normalize(results['imgs'], self.image_size,
                                                   resize_backend=self.resize_backend)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(image_size={self.image_size}, resize_backend={self.resize_backend!r})'


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
        resize_backend (str): ``'torch'`` (default) or ``'pil'`` (bit-identical to the released inference).
        round_norm_to_bf16 (bool): Round the ImageNet mean/std through bf16 as the released SAM2 input does.
            Defaults to False.
    """

    def __init__(self, image_size: int = 1024, resize_backend: str = 'torch', round_norm_to_bf16: bool = False):
        self.image_size = image_size
        self.resize_backend = check_resize_backend(resize_backend)
        self.round_norm_to_bf16 = bool(round_norm_to_bf16)

    def transform(self, results: Dict) -> Dict:
        dense = results['imgs'][list(results['dense_positions'])]
        results['sam2_pixel_values'] = resize_normalize(dense, self.image_size, resize_backend=self.resize_backend,
                                                        round_norm_to_bf16=self.round_norm_to_bf16)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(image_size={self.image_size}, resize_backend={self.resize_backend!r}, '
                f'round_norm_to_bf16={self.round_norm_to_bf16})')
