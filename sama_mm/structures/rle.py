"""Checked compressed-RLE masks (pycocotools format).

Masks in every data set we read are pycocotools RLE dicts ``{"size": [H, W], "counts": ...}`` where
``counts`` is either the compressed ASCII string or a list of run lengths. pycocotools decodes them in C
without any bounds check: a malformed ``counts`` string silently yields a wrong mask or writes past its
buffer. ``check_rle`` therefore parses the run lengths itself (the same 6-bit variable-length code as
pycocotools' ``rleFrString``) and verifies that they cover exactly ``H * W`` pixels before pycocotools sees
the mask. Decoding and encoding are delegated to pycocotools.
"""
from typing import Any, List, Optional, Tuple

import numpy as np
from pycocotools import mask as mask_utils


class MaskFormatError(ValueError):
    """A mask record is not a valid RLE; the message names where it came from."""


def _run_lengths_from_string(counts: str) -> List[int]:
    """Parse pycocotools' compressed counts string into run lengths (raises ValueError when malformed)."""
    runs: List[int] = []
    pos = 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos >= len(counts):
                raise ValueError('counts string ends inside a run length')
            code = ord(counts[pos]) - 48
            if not 0 <= code < 64:
                raise ValueError(f'character {counts[pos]!r} at {pos} is outside the RLE alphabet')
            value |= (code & 0x1F) << (5 * shift)
            more = bool(code & 0x20)
            pos += 1
            shift += 1
            if not more and code & 0x10:
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise ValueError(f'run {len(runs)} has negative length {value}')
        runs.append(value)
    return runs


def check_rle(rle: Any, where: str = 'mask') -> Tuple[int, int]:
    """Validate an RLE dict and return its ``(height, width)``.

    Args:
        rle: The object read from an annotation file.
        where: Where it came from (file, record, key, frame), used in the error message.

    Returns:
        tuple[int, int]: The mask size.

    Raises:
        MaskFormatError: If ``rle`` is not a dict with an integer ``size`` pair and ``counts`` whose run
            lengths add up to exactly ``height * width``.
    """
    if not isinstance(rle, dict) or 'size' not in rle or 'counts' not in rle:
        raise MaskFormatError(f'{where}: expected an RLE dict with "size" and "counts", got {_short(rle)}')
    size = rle['size']
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise MaskFormatError(f'{where}: RLE "size" must be [height, width] positive integers, got {size!r}')
    counts = rle['counts']
    try:
        if isinstance(counts, bytes):
            counts = counts.decode('ascii')
        if isinstance(counts, str):
            runs = _run_lengths_from_string(counts)
        elif isinstance(counts, list) and all(isinstance(v, int) and v >= 0 for v in counts):
            runs = counts
        else:
            raise ValueError(f'"counts" must be a string or a list of non-negative ints, got {_short(counts)}')
    except (ValueError, UnicodeDecodeError) as exc:
        raise MaskFormatError(f'{where}: malformed RLE counts: {exc}') from None
    total = sum(runs)
    if total != size[0] * size[1]:
        raise MaskFormatError(f'{where}: malformed RLE counts: runs cover {total} pixels, '
                              f'size {size[0]}x{size[1]} needs {size[0] * size[1]}')
    return int(size[0]), int(size[1])


def decode_rle(rle: Any, where: str = 'mask') -> np.ndarray:
    """Check and decode one RLE into a ``uint8`` ``[H, W]`` mask of 0/1."""
    check_rle(rle, where)
    if isinstance(rle['counts'], list):
        rle = mask_utils.frPyObjects(rle, *rle['size'])
    elif isinstance(rle['counts'], str):
        rle = dict(size=rle['size'], counts=rle['counts'].encode('ascii'))
    return mask_utils.decode(rle)


def encode_mask(mask: np.ndarray) -> dict:
    """Encode a binary ``[H, W]`` mask as a JSON-ready compressed RLE (``counts`` as str)."""
    if mask.ndim != 2:
        raise ValueError(f'expected a 2-D mask, got shape {mask.shape}')
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(v) for v in rle['size']], counts=rle['counts'].decode('ascii'))


def _short(obj: Optional[Any], limit: int = 60) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + '...'
