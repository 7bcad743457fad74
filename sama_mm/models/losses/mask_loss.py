"""Mask losses of the SAM2 segmentation head: uncertainty point sampling, sigmoid BCE and naive Dice.

The training recipe (reference §2.2) supervises the 256×256 low-resolution SAM2 logits on a set of sampled
points (Mask2Former-style "uncertain points with randomness") with a sigmoid binary cross-entropy and a
"naive" Dice loss.

mmdet and detectron2 already provide ``point_sample`` and ``get_uncertain_point_coords_with_randomness``, but
mmdet's versions go through ``mmcv.ops.point_sample``, which needs the compiled ``mmcv._ext`` ops that the
``mmcv-lite`` wheel we install does not ship. The few lines are therefore written here on top of
``torch.nn.functional.grid_sample`` (the same operation mmcv's pure-PyTorch path performs).

All functions are pure: no module state, no registry.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def point_sample(inputs: Tensor, point_coords: Tensor, align_corners: bool = False) -> Tensor:
    """Bilinearly sample feature maps at normalised point coordinates.

    Args:
        inputs: Feature maps, shape ``[N, C, H, W]``.
        point_coords: Points in ``[0, 1] x [0, 1]`` as ``(x, y)`` (x along the width), shape ``[N, P, 2]``.
            ``(0, 0)`` is the top-left corner of the top-left pixel (``align_corners=False`` convention), so
            the centre of pixel ``(i, j)`` is ``((j + 0.5) / W, (i + 0.5) / H)``.
        align_corners: Passed to :func:`torch.nn.functional.grid_sample`.

    Returns:
        Sampled values, shape ``[N, C, P]``. Points outside the map read zeros.
    """
    grid = point_coords.to(inputs.dtype).unsqueeze(2) * 2.0 - 1.0  # [N, P, 1, 2] in [-1, 1]
    out = F.grid_sample(inputs, grid, mode='bilinear', padding_mode='zeros', align_corners=align_corners)
    return out.squeeze(3)


def uncertainty_from_logits(logits: Tensor) -> Tensor:
    """Uncertainty of a binary logit: ``-|logit|`` (highest at the decision boundary)."""
    return -logits.abs()


def sample_uncertain_points(mask_logits: Tensor,
                            num_points: int,
                            oversample_ratio: float = 3.0,
                            importance_sample_ratio: float = 0.75,
                            generator: Optional[torch.Generator] = None) -> Tensor:
    """Choose training points: the most uncertain of an oversampled random set, plus uniform random points.

    ``int(num_points * oversample_ratio)`` points are drawn uniformly, the logits are read there, the
    ``int(importance_sample_ratio * num_points)`` points with the highest uncertainty (``-|logit|``) are kept,
    and the rest of the ``num_points`` are drawn uniformly again.

    Args:
        mask_logits: Mask logits, shape ``[N, 1, H, W]``.
        num_points: Points per mask.
        oversample_ratio: Oversampling factor (>= 1).
        importance_sample_ratio: Share of the points chosen by uncertainty, in ``[0, 1]``.
        generator: Optional random generator (for reproducible sampling).

    Returns:
        Point coordinates in ``[0, 1]`` as ``(x, y)``, shape ``[N, num_points, 2]``, without gradient.
    """
    if oversample_ratio < 1:
        raise ValueError(f'oversample_ratio must be >= 1, got {oversample_ratio}')
    if not 0 <= importance_sample_ratio <= 1:
        raise ValueError(f'importance_sample_ratio must be in [0, 1], got {importance_sample_ratio}')
    n = mask_logits.shape[0]
    device = mask_logits.device
    num_sampled = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    with torch.no_grad():
        candidates = torch.rand(n, num_sampled, 2, device=device, generator=generator)
        scores = uncertainty_from_logits(point_sample(mask_logits.detach().float(), candidates))[:, 0]  # [N, S]
        top = scores.topk(num_uncertain, dim=1).indices  # [N, num_uncertain]
        chosen = candidates.gather(1, top.unsqueeze(-1).expand(-1, -1, 2))
        if num_random > 0:
            extra = torch.rand(n, num_random, 2, device=device, generator=generator)
            chosen = torch.cat([chosen, extra], dim=1)
    return chosen


def pixel_centre_coords(height: int, width: int, device=None) -> Tensor:
    """Normalised ``(x, y)`` coordinates of every pixel centre in row-major order, shape ``[H*W, 2]``."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=-1)


def sigmoid_bce_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Sigmoid binary cross-entropy averaged over every element (masks × points).

    Args:
        logits: Logits, shape ``[N, P]``.
        targets: Targets in ``[0, 1]`` (soft targets allowed), same shape.

    Returns:
        Scalar loss.
    """
    return F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction='mean')


def dice_loss(logits: Tensor, targets: Tensor, eps: float = 1.0) -> Tensor:
    """"Naive" Dice loss ``1 - (2 Σ σ(x)·y + ε) / (Σ σ(x) + Σ y + ε)`` per mask, averaged over masks.

    Args:
        logits: Logits, shape ``[N, P]`` (any trailing shape is flattened per mask).
        targets: Targets in ``[0, 1]``, same shape.
        eps: Smoothing term added to numerator and denominator (1.0 in the reference recipe).

    Returns:
        Scalar loss (0 for ``N == 0``, kept in the graph).
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    probs = logits.float().sigmoid().flatten(1)
    targets = targets.float().flatten(1)
    numerator = 2.0 * (probs * targets).sum(1) + eps
    denominator = probs.sum(1) + targets.sum(1) + eps
    return (1.0 - numerator / denominator).mean()


def point_sampled_mask_losses(mask_logits: Tensor,
                              gt_masks: Tensor,
                              num_points: int = 12544,
                              oversample_ratio: float = 3.0,
                              importance_sample_ratio: float = 0.75,
                              point_coords: Optional[Tensor] = None,
                              dice_eps: float = 1.0,
                              generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Unweighted BCE and Dice losses of mask logits against masks of the same size, on sampled points.

    The points are chosen on the logits (:func:`sample_uncertain_points`) unless ``point_coords`` is given;
    logits and targets are both read there with bilinear :func:`point_sample` (so targets may be soft at
    object borders, as in Mask2Former).

    Args:
        mask_logits: Logits, shape ``[N, H, W]``.
        gt_masks: Binary (or soft) targets, shape ``[N, H, W]`` (already resized to the logits' size).
        num_points: Points per mask.
        oversample_ratio: See :func:`sample_uncertain_points`.
        importance_sample_ratio: See :func:`sample_uncertain_points`.
        point_coords: Optional fixed points, ``[P, 2]`` (shared) or ``[N, P, 2]``.
        dice_eps: Dice smoothing term.
        generator: Optional random generator for the point sampling.

    Returns:
        ``(bce, dice)``: the BCE averaged over masks × points and the Dice averaged over masks.
    """
    if mask_logits.shape != gt_masks.shape:
        raise ValueError(f'logits {tuple(mask_logits.shape)} and targets {tuple(gt_masks.shape)} differ')
    n = mask_logits.shape[0]
    if n == 0:
        zero = mask_logits.sum() * 0.0
        return zero, zero
    logits = mask_logits.float().unsqueeze(1)
    targets = gt_masks.float().unsqueeze(1)
    if point_coords is None:
        point_coords = sample_uncertain_points(logits, num_points, oversample_ratio, importance_sample_ratio,
                                               generator=generator)
    elif point_coords.dim() == 2:
        point_coords = point_coords.unsqueeze(0).expand(n, -1, -1)
    point_coords = point_coords.to(logits.device)
    with torch.no_grad():
        point_targets = point_sample(targets, point_coords)[:, 0]
    point_logits = point_sample(logits, point_coords)[:, 0]
    return sigmoid_bce_loss(point_logits, point_targets), dice_loss(point_logits, point_targets, eps=dice_eps)
