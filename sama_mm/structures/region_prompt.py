"""Region prompts: the masks and Q-Former text that describe a ``<mask>`` region to SAMA's aggregator.

Used by the data pipeline (``QFormerPrompts``) and by inference, so they live outside the model package.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .tokens import REGION_PLACEHOLDER, VP_END, VP_START

# Inside the temporal Q-Former's text, a region is `<vp><mask><pos></vp>`: `<mask>` receives the pooled region
# feature and `<pos>` the box-shape feature.
QFORMER_REGION_TEXT = f'{VP_START}{REGION_PLACEHOLDER}<pos>{VP_END}'


def format_qformer_prompt(question: str) -> str:
    """The temporal Q-Former text of a question: every ``<mask>`` becomes ``<vp><mask><pos></vp>``."""
    return question.replace(REGION_PLACEHOLDER, QFORMER_REGION_TEXT)


def region_masks(mask: Tensor, box: bool = True, grid_size: int = 16, mask_size: int = 112,
                 ensure_nonempty: bool = True) -> Tuple[Tensor, Tensor]:
    """The two masks of a region prompt: the token-grid mask (pooling) and the shape mask (box MLP).

    Args:
        mask (Tensor): ``[Hm, Wm]`` binary mask of the region in one frame (non-zero = inside).
        box (bool): Replace the mask by its filled bounding box (min/max of the non-zero pixels), as in training
            and SAMA-Bench-G; ``False`` keeps the raw mask (SAMA-Bench-C).
        grid_size (int): Token grid side (16 for 256 LLM tokens per frame).
        mask_size (int): Side of the shape mask (112 -> a 12544-d MLP input).
        ensure_nonempty (bool): A region smaller than a grid cell can vanish in a nearest resize; then fall back
            to the cells the region touches (max-pool resize) instead of returning an empty mask, which pooling
            rejects. (The released code pools a zero vector in that case.)

    Returns:
        tuple[Tensor, Tensor]: float 0/1 masks ``[grid_size, grid_size]`` and ``[mask_size, mask_size]``
        (nearest resize).

    Raises:
        ValueError: If ``mask`` is not 2-D or has no non-zero pixel.
    """
    mask = torch.as_tensor(mask)
    if mask.ndim != 2:
        raise ValueError(f'region mask must be 2-D [H, W], got shape {tuple(mask.shape)}')
    inside = mask != 0
    if not bool(inside.any()):
        raise ValueError('region mask is empty')
    if box:
        rows = inside.any(dim=1).nonzero().flatten()
        cols = inside.any(dim=0).nonzero().flatten()
        inside = torch.zeros_like(inside)
        inside[int(rows[0]):int(rows[-1]) + 1, int(cols[0]):int(cols[-1]) + 1] = True
    full = inside.to(torch.float32)[None, None]
    outs = []
    for size in (grid_size, mask_size):
        resized = F.interpolate(full, size=(size, size), mode='nearest')[0, 0]
        if ensure_nonempty and not bool(resized.any()):
            resized = (F.adaptive_max_pool2d(full, (size, size))[0, 0] > 0).to(torch.float32)
        outs.append(resized)
    return outs[0], outs[1]
