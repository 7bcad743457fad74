"""Region-prompt building blocks: masked average pooling of visual tokens and the box-shape MLP."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def masked_average_pool(features: Tensor, mask: Tensor) -> Tensor:
    """Area-normalised average of token features inside a binary mask.

    Args:
        features (Tensor): ``[N, C]`` tokens of one frame on a ``g x g`` grid, row-major (``N = g * g``).
        mask (Tensor): ``[g, g]`` mask; every value ``> 0`` counts as inside.

    Returns:
        Tensor: ``[C]``, the mean of the features inside the mask.

    Raises:
        ValueError: If the mask is empty or its size does not match the token grid.
    """
    if mask.numel() != features.shape[0]:
        raise ValueError(f'mask of shape {tuple(mask.shape)} does not match {features.shape[0]} tokens')
    weights = (mask.reshape(-1) > 0).to(torch.float32)
    area = float(weights.sum())
    if area == 0:
        raise ValueError('region mask is empty')
    weights = (weights / area).to(device=features.device, dtype=features.dtype)
    return weights @ features


class RegionMLP(nn.Module):
    """A stack of linear layers (``layers.{i}``) with ReLU between them, none after the last.

    SAMA encodes a region's flattened box-shape mask with it (``Qformer_mask_proj`` / ``Qformer_mask_proj_st``).

    Args:
        dims (Sequence[int]): Input width, hidden widths, output width (``len(dims) - 1`` layers).
    """

    def __init__(self, dims: Sequence[int]):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:])])

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x
