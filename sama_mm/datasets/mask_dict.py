"""Mask dicts: ``{key: [RLE or None per frame]}`` JSON files (MeViS, ReVOS, SAMA-239K, SAMA-Bench)."""
from typing import Any, Dict, Iterable, List

from ..structures import MaskFormatError, check_rle
from .errors import DataError
from .io import VideoInfo, load_json


def load_mask_dict(path: str) -> Dict[str, Any]:
    """Load a mask dict file (JSON only; a pickle is refused with a pointer to the converter)."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError('invalid_mask_dict', path, f'expected a JSON object key -> per-frame masks, '
                        f'got {type(data).__name__}')
    return data


def frame_masks(entry: Any) -> Any:
    """The per-frame list of a mask-dict entry (LV-VIS style entries wrap it in ``segmentations``)."""
    if isinstance(entry, dict) and 'segmentations' in entry:
        return entry['segmentations']
    return entry


def check_track(mask_file: str, key: str, entry: Any, video: VideoInfo, record: Any) -> List[DataError]:
    """Problems of one mask track: shape of the entry, RLE validity, frame count and mask size.

    A track may be shorter than the video (missing frames are empty masks), never longer.
    """
    track = frame_masks(entry)
    where = f'mask key {key!r}'
    if not isinstance(track, list):
        return [DataError('invalid_mask_dict', mask_file,
                          f'{where}: expected a list of per-frame RLE/None, got {type(track).__name__}', record)]
    problems = []
    if len(track) > video.num_frames:
        problems.append(DataError('frame_count_mismatch', mask_file,
                                  f'{where}: {len(track)} frame masks for a video of {video.num_frames} frames '
                                  f'({video.path})', record))
    for t, rle in enumerate(track):
        if rle is None or rle == {} or rle == []:
            continue
        try:
            height, width = check_rle(rle, f'{where} frame {t}')
        except MaskFormatError as exc:
            problems.append(DataError('malformed_rle', mask_file, str(exc), record))
            continue
        if (height, width) != (video.height, video.width):
            problems.append(DataError('size_mismatch', mask_file,
                                      f'{where} frame {t}: mask is {height}x{width} but the video {video.path} '
                                      f'is {video.height}x{video.width} (HxW)', record))
            break  # one size report per track is enough
    return problems


def missing_keys(mask_file: str, masks: Dict[str, Any], keys: Iterable[Any], record: Any) -> List[DataError]:
    """One ``unknown_mask_key`` problem per referenced key that the mask dict lacks."""
    return [DataError('unknown_mask_key', mask_file, f'object key {key!r} is not in the mask dict', record)
            for key in keys if str(key) not in masks]
