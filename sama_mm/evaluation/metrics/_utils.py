"""Helpers shared by the metric classes: reading data samples, compact mask storage, ground-truth loading."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from ...datasets.errors import DataError
from ...datasets.mask_dict import frame_masks
from ...structures import MaskFormatError, decode_rle, decode_segmentation


def get_field(sample: Any, name: str, default: Any = None) -> Any:
    """A field or meta value of a data sample, given as a ``SAMADataSample`` or as its ``to_dict()``."""
    if isinstance(sample, dict):
        if name in sample:
            return sample[name]
        return sample.get('_' + name, default)
    return getattr(sample, name, default)


def as_bool_array(masks: Any) -> Optional[np.ndarray]:
    """Masks (torch tensor, numpy array or nested lists) as a boolean numpy array; None stays None."""
    if masks is None:
        return None
    if hasattr(masks, 'detach'):
        masks = masks.detach().cpu().numpy()
    return np.asarray(masks).astype(bool, copy=False)


def encode_track(track: np.ndarray) -> List[dict]:
    """Compressed RLE (``counts`` as bytes) of every frame of a boolean ``[T, H, W]`` track."""
    track = np.asarray(track, dtype=np.uint8)
    if track.ndim != 3:
        raise ValueError(f'expected a [T, H, W] track, got shape {track.shape}')
    if track.shape[0] == 0:
        return []
    return list(mask_utils.encode(np.asfortranarray(track.transpose(1, 2, 0))))


def decode_track(rles: Sequence[dict], shape: Tuple[int, int]) -> np.ndarray:
    """Boolean ``[T, H, W]`` track from :func:`encode_track` output."""
    if not rles:
        return np.zeros((0,) + tuple(shape), bool)
    out = mask_utils.decode(list(rles))
    return out.transpose(2, 0, 1).astype(bool)


def mask_dict_track(masks: Dict[str, Any], keys: Sequence[Any], num_frames: int,
                    shape: Optional[Tuple[int, int]], mask_file: str, record: Any) -> np.ndarray:
    """The OR of the mask-dict tracks of ``keys`` over ``num_frames`` frames (missing frames are empty).

    Args:
        masks: The loaded mask dict ``{key: [RLE or None per frame]}``.
        keys: Keys to OR (str or int).
        num_frames: Frames of the video.
        shape: ``(H, W)`` if known; otherwise taken from the first RLE.
        mask_file: The mask dict's path, for errors.
        record: The record the keys belong to, for errors.

    Returns:
        A boolean ``[num_frames, H, W]`` track.

    Raises:
        DataError: For an unknown key, a track longer than the video, an undecodable RLE, a size mismatch or
            when no size is known at all.
    """
    frames: List[List[Any]] = []
    for key in keys:
        if str(key) not in masks:
            raise DataError('unknown_mask_key', mask_file, f'object key {key!r} is not in the mask dict', record)
        track = frame_masks(masks[str(key)])
        if not isinstance(track, list):
            raise DataError('invalid_mask_dict', mask_file, f'mask key {key!r}: expected a per-frame list', record)
        if len(track) > num_frames:
            raise DataError('frame_count_mismatch', mask_file, f'mask key {key!r} has {len(track)} frame masks '
                            f'for a video of {num_frames} frames', record)
        frames.append(track)
    if shape is None:
        for track in frames:
            for rle in track:
                if isinstance(rle, dict) and 'size' in rle:
                    shape = tuple(int(v) for v in rle['size'])
                    break
            if shape is not None:
                break
    if shape is None:
        raise DataError('unknown_size', mask_file, f'no mask of keys {list(keys)} gives the frame size', record)
    out = np.zeros((num_frames,) + tuple(shape), bool)
    for key, track in zip(keys, frames):
        for t, rle in enumerate(track):
            if rle is None or rle == {} or rle == []:
                continue
            try:
                m = decode_rle(rle, f'mask key {key!r} frame {t}')
            except ValueError as exc:
                raise DataError('malformed_rle', mask_file, str(exc), record) from None
            if m.ndim == 3:
                m = m.sum(-1)
            if m.shape != out.shape[1:]:
                raise DataError('size_mismatch', mask_file, f'mask key {key!r} frame {t} is {m.shape} (HxW), '
                                f'expected {out.shape[1:]}', record)
            out[t] |= m.astype(bool)
    return out


def check_same_keys(gt_keys, pred_keys, what: str, gt_name: str):
    """Raise a :class:`DataError` (a ValueError) on ``gt_name`` naming the keys found on one side only (and
    duplicate predictions).

    Args:
        gt_keys: Keys of the ground truth (a set).
        pred_keys: Keys of the predictions, in arrival order (duplicates are errors).
        what: What a key is (``'expression'``, ``'question'``), for the message.
        gt_name: The ground-truth file, for the message.
    """
    seen, dups = set(), []
    for key in pred_keys:
        if key in seen:
            dups.append(key)
        seen.add(key)
    gt = set(gt_keys)
    missing, extra = sorted(gt - seen, key=str), sorted(seen - gt, key=str)
    if not (dups or missing or extra):
        return
    parts = []
    if missing:
        parts.append(f'{len(missing)} {what}(s) have no prediction: {_preview(missing)}')
    if extra:
        parts.append(f'{len(extra)} predicted {what}(s) are not in the ground truth: {_preview(extra)}')
    if dups:
        parts.append(f'{len(dups)} {what}(s) predicted more than once: {_preview(sorted(set(dups), key=str))}')
    raise DataError('prediction_set_mismatch', gt_name, 'predictions and ground truth differ: ' + '; '.join(parts))


def _preview(keys, limit: int = 10) -> str:
    shown = ', '.join(str(k) for k in keys[:limit])
    return shown + (f', ... (+{len(keys) - limit} more)' if len(keys) > limit else '')


def read_id_png(path: str) -> np.ndarray:
    """An indexed (palette) or grey PNG as a ``[H, W]`` array of object ids.

    Raises:
        DataError: If the file cannot be read or holds colour pixels.
    """
    from PIL import Image
    try:
        with Image.open(path) as img:
            if img.mode not in ('P', 'L', '1', 'I', 'I;16'):
                raise DataError('bad_mask_mode', path, f'PNG mode {img.mode!r} holds colours, not object ids')
            return np.array(img).astype(np.int64)
    except DataError:
        raise
    except Exception as exc:
        raise DataError('unreadable_mask', path, f'cannot read PNG mask: {exc}') from None


def coco_annotation_mask(ann: dict, height: int, width: int, path: str) -> np.ndarray:
    """The ``bool [H, W]`` mask of a COCO annotation's ``segmentation`` (polygons or RLE), for the metrics that
    read COCO ground truth.

    Raises:
        DataError: A missing or malformed segmentation, or an RLE of another size; names ``path`` and the
            annotation id.
    """
    try:
        return decode_segmentation(ann.get('segmentation'), height, width,
                                   f'annotation {ann.get("id")!r}').astype(bool)
    except MaskFormatError as exc:
        raise DataError('malformed_segmentation', path, str(exc), ann.get('id')) from None
