"""COCO segmentations (polygons, RLE, or a union of several) checked and decoded in one place.

Used by the image datasets (their checks and :class:`~sama_mm.datasets.transforms.LoadImageMasks`) and by the
metrics that read COCO ground truth (RefCOCO, SAMA-Bench), so that the same record decodes to the same mask
everywhere and a malformed one is reported the same way.
"""
from typing import Any, Optional, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from .rle import MaskFormatError, check_rle, decode_rle


def check_segmentation(seg: Any, where: str) -> Optional[Tuple[int, int]]:
    """Validate a COCO segmentation without decoding it.

    Accepted: a list of polygons ``[[x0, y0, x1, y1, x2, y2, ...], ...]`` (each an even list of at least 6
    numbers), an RLE dict (compressed string or run-length list ``counts``), or ``{"union": [segmentation,
    ...]}`` (several masks OR-ed, e.g. a GCG phrase with several RLEs).

    Args:
        seg: The segmentation.
        where: Where it came from, for the error message (e.g. ``"mask '3'"``).

    Returns:
        ``(H, W)`` for RLE, None for polygons (which carry no size).

    Raises:
        MaskFormatError: None of the accepted forms.
    """
    if isinstance(seg, dict) and 'union' in seg:
        sizes = [check_segmentation(part, where) for part in seg['union']]
        return next((s for s in sizes if s is not None), None)
    if isinstance(seg, dict):
        return check_rle(seg, where)
    if isinstance(seg, list) and seg and all(
            isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p) for p in seg):
        return None
    raise MaskFormatError(f'{where}: expected polygons [[x0, y0, x1, y1, x2, y2, ...], ...] or an RLE dict, '
                          f'got {str(seg)[:60]}')


def decode_segmentation(seg: Any, height: int, width: int, where: str) -> np.ndarray:
    """Check and decode a COCO segmentation into a ``uint8 [H, W]`` 0/1 mask.

    Polygons are rasterised at ``height x width`` and merged; an RLE must have that size.

    Raises:
        MaskFormatError: A malformed segmentation, or an RLE whose size is not ``height x width``.
    """
    size = check_segmentation(seg, where)
    if isinstance(seg, dict) and 'union' in seg:
        out = np.zeros((height, width), np.uint8)
        for part in seg['union']:
            out |= decode_segmentation(part, height, width, where)
        return out
    if size is None:
        rles = mask_utils.frPyObjects([[float(v) for v in p] for p in seg], height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
    if size != (height, width):
        raise MaskFormatError(f'{where}: mask is {size[0]}x{size[1]} but the image is {height}x{width} (HxW)')
    return decode_rle(seg, where).astype(np.uint8)
