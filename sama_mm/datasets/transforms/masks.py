"""Ground-truth masks of the ``[SEG]`` tokens of a sample, on its dense frames only.

Sources:

* a mask dict (SAMA-239K source dicts, MeViS/ReVOS ``mask_dict.json``): ``key -> [RLE or None per frame]``,
  a track may be shorter than the video (missing frames are empty);
* a folder of indexed PNGs (Ref-YouTube-VOS ``Annotations/<video_id>/<frame>.png``) whose pixel values are
  object ids.

Each mask-dict file is loaded once per process: :func:`cached_mask_dict` keeps the parsed JSON of the last few
files, keyed by path, modification time and size. This stands in for the lazy per-key index planned for the
full-size dicts (gigabytes of JSON), which will replace it behind the same function.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures import MaskFormatError, decode_rle
from ..errors import DataError
from ..mask_dict import frame_masks, load_mask_dict
from ._utils import record_of

_CACHE: 'OrderedDict[str, Tuple[Tuple[int, int], Dict[str, Any]]]' = OrderedDict()
_CACHE_SIZE = 4


def cached_mask_dict(path: str, record: Any = None) -> Dict[str, Any]:
    """The parsed mask dict at ``path``, read from disk only when it is new or changed (mtime, size).

    Args:
        path: The mask dict file.
        record: The sample asking for it, named in errors.

    Raises:
        DataError: The file is missing, a pickle, or not a JSON object.
    """
    path = osp.abspath(path)
    try:
        stat = os.stat(path)
    except OSError:
        raise DataError('missing_file', path, 'mask dict file not found', record) from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        _CACHE.move_to_end(path)
        return cached[1]
    try:
        data = load_mask_dict(path)
    except DataError as exc:
        raise type(exc)(exc.kind, exc.file, exc.message, record) from None
    _CACHE[path] = (stamp, data)
    _CACHE.move_to_end(path)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return data


def clear_mask_dict_cache() -> None:
    """Forget every cached mask dict (tests, or after rewriting files in place within one mtime tick)."""
    _CACHE.clear()


def _is_empty(rle: Any) -> bool:
    return rle is None or rle == {} or rle == []


#: What a frame index past the end of an object's mask track gives: an error, or an empty mask.
PAST_TRACK = ('error', 'empty')


def past_track_rule(results: Dict, override: Any = None) -> str:
    """The past-track rule of a sample: the transform's ``override``, else the info's ``past_track``, else
    ``'error'`` (training data: a track shorter than the sampled frames means misaligned annotations)."""
    rule = override or results.get('past_track') or 'error'
    if rule not in PAST_TRACK:
        raise ValueError(f'past_track must be one of {PAST_TRACK}, got {rule!r}')
    return rule


def decode_track(masks: Dict[str, Any], mask_file: str, key: Any, raw: Sequence[int], shape: Tuple[int, int],
                 record: str, past_track: str = 'empty') -> np.ndarray:
    """Decode object ``key`` of a mask dict on the raw frames ``raw``: ``uint8 [len(raw), H, W]``.

    Args:
        past_track: A frame index past the end of the track: ``'empty'`` (an empty mask, the SAMA-Bench rule)
            or ``'error'`` (a ``mask_track_too_short`` error).

    Raises:
        DataError: ``unknown_mask_key``, ``invalid_mask_dict``, ``malformed_rle``, ``size_mismatch`` or
            ``mask_track_too_short``, naming ``mask_file`` and ``record``.
    """
    if str(key) not in masks:
        raise DataError('unknown_mask_key', mask_file, f'object key {key!r} is not in the mask dict', record)
    track = frame_masks(masks[str(key)])
    if not isinstance(track, list):
        raise DataError('invalid_mask_dict', mask_file, f'mask key {key!r}: expected a list of per-frame RLE/None, '
                        f'got {type(track).__name__}', record)
    height, width = shape
    if past_track == 'error' and raw and max(raw) >= len(track):
        raise DataError('mask_track_too_short', mask_file, f'mask key {key!r} has {len(track)} frame masks but '
                        f'frame {max(raw)} was sampled (frames {list(raw)})', record)
    out = np.zeros((len(raw), height, width), np.uint8)
    for d, t in enumerate(raw):
        rle = track[t] if t < len(track) else None
        if _is_empty(rle):
            continue
        try:
            mask = decode_rle(rle, f'mask key {key!r} frame {t}')
        except MaskFormatError as exc:
            raise DataError('malformed_rle', mask_file, str(exc), record) from None
        if mask.shape != (height, width):
            raise DataError('size_mismatch', mask_file, f'mask key {key!r} frame {t}: mask is {mask.shape[0]}x'
                            f'{mask.shape[1]} but the frames are {height}x{width} (HxW)', record)
        out[d] = mask
    return out


def box_masks(masks: np.ndarray) -> np.ndarray:
    """Each ``[H, W]`` mask of ``[..., H, W]`` replaced by its filled bounding box (empty stays empty)."""
    out = np.zeros_like(masks)
    flat_in, flat_out = masks.reshape(-1, *masks.shape[-2:]), out.reshape(-1, *masks.shape[-2:])
    for m, o in zip(flat_in, flat_out):
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        if rows.size:
            o[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = 1
    return out


@TRANSFORMS.register_module()
class LoadSegMasks(BaseTransform):
    """Decode the ground truth of every ``[SEG]`` of the sample on the D dense frames.

    The k-th ``[SEG]`` (over the rounds, in order) gets the OR of the masks of its keys. Only the dense frames
    are decoded: they are the frames SAM2 is supervised on.

    Required Keys:

        - rounds (list[dict]): Each with ``gt_keys``: one list of object keys per ``[SEG]`` of the answer (from
          :class:`SAMA239KToRounds`, :class:`RefVOSToRounds` or the SAMA-239K data info). When absent, a
          referring-VOS info's ``anno_ids`` (mask dict) or ``obj_ids`` (PNG masks) form one ``[SEG]``.
        - mask_file (str) or mask_dir (str): The mask dict, or the folder of per-video PNG folders.
        - frames (list[str]): Frame names, for PNG masks (``mask_dir/<video_id>/<frame>.png``).
        - video_id (str): For PNG masks.
        - frame_indices (list[int]): Raw indices of the sparse frames.
        - dense_positions (list[int]): Positions of the dense frames in ``frame_indices``.
        - ori_shape (tuple[int, int]): ``(H, W)`` of the frames; every mask must have it.

    Added Keys:

        - gt_masks (np.ndarray): ``uint8 [K, D, H, W]`` of 0/1; K = number of ``[SEG]`` (0 for samples
          without one).

    Args:
        past_track (str, optional): A sampled frame past the end of a mask track: ``'error'`` or ``'empty'``.
            Defaults to None: the data info's ``past_track``, else ``'error'``.

    Raises:
        DataError: A key is not in the mask dict or absent from the PNGs (``unknown_mask_key``), an RLE is
            malformed (``malformed_rle``), a mask's size differs from the frames (``size_mismatch``), or a PNG
            is missing, or a sampled frame is past a mask track (``mask_track_too_short``, unless
            ``past_track='empty'``); every message names the mask file and the record.
    """

    def __init__(self, past_track: Optional[str] = None):
        if past_track is not None and past_track not in PAST_TRACK:
            raise ValueError(f'past_track must be one of {PAST_TRACK} or None, got {past_track!r}')
        self.past_track = past_track

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        groups = self._gt_groups(results, record)
        raw = [int(results['frame_indices'][p]) for p in results['dense_positions']]
        height, width = (int(v) for v in results['ori_shape'])
        out = np.zeros((len(groups), len(raw), height, width), np.uint8)
        if groups:
            if results.get('mask_file'):
                self._from_mask_dict(results['mask_file'], groups, raw, out, record,
                                     past_track_rule(results, self.past_track))
            elif results.get('mask_dir'):
                self._from_pngs(results, groups, raw, out, record)
            else:
                raise DataError('no_ground_truth', str(results.get('video_path') or results.get('frame_dir')),
                                f'the sample has {len(groups)} [SEG] but neither "mask_file" nor "mask_dir"', record)
        results['gt_masks'] = out
        return results

    @staticmethod
    def _gt_groups(results: Dict, record: str) -> List[List[Any]]:
        rounds = results.get('rounds')
        if rounds is not None:
            return [list(g) for rnd in rounds for g in rnd.get('gt_keys', [])]
        if results.get('mask_file') and results.get('anno_ids'):
            return [list(results['anno_ids'])]
        if results.get('mask_dir') and results.get('obj_ids'):
            return [list(results['obj_ids'])]
        raise DataError('no_ground_truth', str(results.get('mask_file') or results.get('mask_dir')),
                        'the sample has no "rounds" with "gt_keys" and no "anno_ids"/"obj_ids"', record)

    #: How a mask dict file is opened: parsed JSON, cached per process (subclasses may read an index instead).
    open_masks = staticmethod(cached_mask_dict)

    def _from_mask_dict(self, mask_file: str, groups: List[List[Any]], raw: Sequence[int], out: np.ndarray,
                        record: str, past_track: str = 'error') -> None:
        masks = self.open_masks(mask_file, record)
        for k, group in enumerate(groups):
            for key in group:
                out[k] |= decode_track(masks, mask_file, key, raw, out.shape[2:], record, past_track)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(past_track={self.past_track!r})'

    @staticmethod
    def _from_pngs(results: Dict, groups: List[List[Any]], raw: Sequence[int], out: np.ndarray,
                   record: str) -> None:
        from PIL import Image
        folder = osp.join(results['mask_dir'], str(results['video_id']))
        frames = results.get('frames')
        height, width = out.shape[2:]
        for d, t in enumerate(raw):
            name = frames[t] if frames else f'{t:05d}'
            path = osp.join(folder, name + '.png')
            try:
                with Image.open(path) as img:
                    label = np.asarray(img)
            except FileNotFoundError:
                raise DataError('missing_frames', path, 'mask PNG of a sampled frame is missing', record) from None
            except OSError as exc:
                raise DataError('unreadable_mask', path, f'cannot read PNG: {exc}', record) from None
            if label.shape[:2] != (height, width):
                raise DataError('size_mismatch', path, f'mask is {label.shape[0]}x{label.shape[1]} but the frames '
                                f'are {height}x{width} (HxW)', record)
            # An object absent from a frame is an empty mask there (checking that it appears somewhere in the
            # video is tools/check_dataset.py's job).
            for k, group in enumerate(groups):
                out[k, d] = np.isin(label, [int(o) for o in group])


@TRANSFORMS.register_module()
class LoadRegionMasks(BaseTransform):
    """Masks of the ``<mask>`` region prompts of the questions, on every sparse frame.

    Put it after :class:`ChatTokenize`, so that the regions of rounds dropped for length are dropped too.
    The aggregator pools region features from these masks (the reference trains, and evaluates SAMA-Bench-G,
    with box masks; SAMA-Bench-C uses the raw masks).

    Required Keys:

        - rounds (list[dict]): ``region_keys`` per round, one key per ``<mask>`` of the question, in order.
        - mask_file (str): The mask dict (SAMA-239K region prompts always come from one).
        - frame_indices (list[int]): Raw indices of the T sparse frames.
        - ori_shape (tuple[int, int]): ``(H, W)``.

    Added Keys:

        - region_masks (np.ndarray): ``uint8 [R, T, H, W]`` of 0/1, R = number of ``<mask>`` over the rounds,
          in order of occurrence (round by round).

    Args:
        box (bool): Replace every frame's mask by its filled bounding box. Defaults to True.
        past_track (str, optional): As :class:`LoadSegMasks`. Defaults to None (the info's, else ``'error'``).
    """

    #: How a mask dict file is opened: parsed JSON, cached per process (subclasses may read an index instead).
    open_masks = staticmethod(cached_mask_dict)

    def __init__(self, box: bool = True, past_track: Optional[str] = None):
        if past_track is not None and past_track not in PAST_TRACK:
            raise ValueError(f'past_track must be one of {PAST_TRACK} or None, got {past_track!r}')
        self.box = box
        self.past_track = past_track

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        keys = [key for rnd in results['rounds'] for key in rnd.get('region_keys', [])]
        raw = [int(i) for i in results['frame_indices']]
        height, width = (int(v) for v in results['ori_shape'])
        out = np.zeros((len(keys), len(raw), height, width), np.uint8)
        if keys:
            mask_file = results.get('mask_file')
            if not mask_file:
                raise DataError('no_ground_truth', str(results.get('video_path', '?')),
                                f'the sample has {len(keys)} region prompts but no "mask_file"', record)
            masks = self.open_masks(mask_file, record)
            for r, key in enumerate(keys):
                out[r] = decode_track(masks, mask_file, key, raw, (height, width), record,
                                      past_track_rule(results, self.past_track))
            if self.box:
                out = box_masks(out)
        results['region_masks'] = out
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(box={self.box}, past_track={self.past_track!r})'
