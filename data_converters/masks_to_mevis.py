#!/usr/bin/env python
"""Convert videos with indexed PNG masks and referring expressions into the MeViS layout that sama_mm reads.

Input (what DAVIS / YouTube-VOS style annotation tools export; ``make_toy_videos.py`` writes an example):

    VIDEOS/<video>.mp4  or  VIDEOS/<video>/<frame>.jpg|png   the video, a file or a folder of frames
    MASKS/<video>/<frame>.png                                  one indexed PNG per frame (0 = background,
                                                               k = object k; palette or grey values)
    EXPRESSIONS (JSON)                                         {"<video>": [{"exp": "...", "obj_id": [k, ...]}]}

For an mp4, ``<frame>`` is the 0-based frame index with five digits (``00000.png``); for a frame folder it is
the frame file's name without extension. Every frame needs a mask PNG of the frame's size: a missing or
mis-sized mask is an error naming the file (an unannotated frame is not the same as an empty one).

Output (``--out``), one folder per split (``train``, and ``valid_u`` for the videos named with ``--valid``):

    OUT/<split>/JPEGImages/<video>/<frame>.jpg
    OUT/<split>/meta_expressions.json   {"videos": {video: {"frames": [...], "expressions": {id: {exp,
                                        obj_id, anno_id}}}}}
    OUT/<split>/mask_dict.json          {anno_id: [RLE or null per frame]}, one anno_id per (video, object)

which ``RefVOSDataset`` (``mask_file='mask_dict.json'``), ``RVOSMetric`` and ``tools/check_dataset.py`` read.

Usage:
    python data_converters/masks_to_mevis.py --videos DIR --masks DIR --expressions FILE --out DIR \
        [--valid VIDEO ...]
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Tuple

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from sama_mm.datasets.io import natural_sorted  # noqa: E402
from sama_mm.structures import encode_mask  # noqa: E402

VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
FRAME_EXTS = ('.jpg', '.jpeg', '.png')


def find_video(videos_dir: str, name: str) -> str:
    """The video file or frame folder of ``name`` in ``videos_dir``."""
    folder = osp.join(videos_dir, name)
    if osp.isdir(folder):
        return folder
    for ext in VIDEO_EXTS:
        if osp.isfile(folder + ext):
            return folder + ext
    raise SystemExit(f'{videos_dir}: no video file ({"/".join(VIDEO_EXTS)}) or frame folder for {name!r}')


def read_frames(path: str) -> Tuple[List[str], List[np.ndarray]]:
    """Frame names and BGR frames of a video file (sama_mm's video backend) or a frame folder (natural order)."""
    if osp.isdir(path):
        files = natural_sorted(f for f in os.listdir(path) if f.lower().endswith(FRAME_EXTS))
        if not files:
            raise SystemExit(f'{path}: no frames ({"/".join(FRAME_EXTS)})')
        frames = []
        for f in files:
            img = cv2.imread(osp.join(path, f), cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f'{osp.join(path, f)}: not a readable image')
            frames.append(img)
        return [osp.splitext(f)[0] for f in files], frames
    from sama_mm.datasets.video_backends import VideoBackendError, open_video
    try:
        reader = open_video(path)
        rgb = reader.get_batch(range(len(reader)))
    except VideoBackendError as exc:
        raise SystemExit(f'{path}: cannot decode the video ({exc})') from None
    return [f'{t:05d}' for t in range(len(rgb))], [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in rgb]


def read_label(path: str, shape: Tuple[int, int]) -> np.ndarray:
    """An indexed mask PNG as object ids (palette indices, or grey values for a grey PNG)."""
    from PIL import Image
    if not osp.isfile(path):
        raise SystemExit(f'{path}: missing mask (every frame needs one; an empty frame is an all-zero PNG)')
    with Image.open(path) as img:
        if img.mode not in ('P', 'L'):
            raise SystemExit(f'{path}: mode {img.mode}, expected an indexed (P) or grey (L) PNG of object ids')
        label = np.array(img)
    if label.shape != tuple(shape):
        raise SystemExit(f'{path}: mask is {label.shape[1]}x{label.shape[0]}, the frame is {shape[1]}x{shape[0]}')
    return label


def convert_video(name: str, exps: List[dict], videos_dir: str, masks_dir: str, split_dir: str,
                  mask_dict: Dict[str, list], expressions_file: str) -> dict:
    """Write one video's frames into ``split_dir`` and its tracks into ``mask_dict``; return its meta entry."""
    frame_names, frames = read_frames(find_video(videos_dir, name))
    labels = [read_label(osp.join(masks_dir, name, f + '.png'), frames[0].shape[:2]) for f in frame_names]
    object_ids = sorted(int(i) for i in np.unique(np.stack(labels)) if i != 0)
    anno_ids = {}
    for obj in object_ids:
        anno_id = str(len(mask_dict))
        masks = [label == obj for label in labels]
        mask_dict[anno_id] = [encode_mask(m) if m.any() else None for m in masks]
        anno_ids[obj] = anno_id
    if not isinstance(exps, list) or not exps:
        raise SystemExit(f'{expressions_file}: {name!r} needs a non-empty list of {{"exp", "obj_id"}} entries')
    expressions = {}
    for i, e in enumerate(exps):
        where = f'{expressions_file}: {name!r} expression {i}'
        if not isinstance(e, dict) or not isinstance(e.get('exp'), str) or not e['exp'].strip():
            raise SystemExit(f'{where}: needs "exp", a non-empty string')
        ids = e.get('obj_id')
        ids = [ids] if isinstance(ids, int) else ids
        if not isinstance(ids, list) or not ids or not all(isinstance(k, int) for k in ids):
            raise SystemExit(f'{where}: "obj_id" must be an object id or a list of them (the mask values)')
        unknown = [k for k in ids if k not in anno_ids]
        if unknown:
            raise SystemExit(f'{where}: object(s) {unknown} appear in no mask of {name!r} '
                             f'(its masks hold ids {object_ids})')
        expressions[str(i)] = dict(exp=e['exp'].strip(), obj_id=ids, anno_id=[anno_ids[k] for k in ids])
    out = osp.join(split_dir, 'JPEGImages', name)
    os.makedirs(out, exist_ok=True)
    for f, img in zip(frame_names, frames):
        cv2.imwrite(osp.join(out, f + '.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return dict(frames=frame_names, expressions=expressions)


def convert(videos_dir: str, masks_dir: str, expressions_file: str, out_dir: str, valid=()) -> Dict[str, int]:
    """Convert every video of ``expressions_file``; returns the number of videos per split."""
    with open(expressions_file, encoding='utf-8') as f:
        try:
            all_exps = json.load(f)
        except json.JSONDecodeError as exc:
            raise SystemExit(f'{expressions_file}: not valid JSON ({exc})') from None
    if not isinstance(all_exps, dict) or not all_exps:
        raise SystemExit(f'{expressions_file}: expected {{"<video>": [{{"exp": ..., "obj_id": [...]}}, ...]}}')
    unknown = sorted(set(valid) - set(all_exps))
    if unknown:
        raise SystemExit(f'--valid names videos that {expressions_file} does not list: {unknown}')
    counts = {}
    for split in ('train', 'valid_u'):
        names = [n for n in sorted(all_exps) if (n in valid) == (split == 'valid_u')]
        if not names:
            continue
        split_dir = osp.join(out_dir, split)
        mask_dict, videos = {}, {}
        for name in names:
            videos[name] = convert_video(name, all_exps[name], videos_dir, masks_dir, split_dir, mask_dict,
                                         expressions_file)
        for file, obj in (('meta_expressions.json', dict(videos=videos)), ('mask_dict.json', mask_dict)):
            with open(osp.join(split_dir, file), 'w', encoding='utf-8') as f:
                json.dump(obj, f)
        counts[split] = len(names)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--videos', required=True, help='folder of <video>.mp4 files or <video>/ frame folders')
    parser.add_argument('--masks', required=True, help='folder of <video>/<frame>.png indexed masks')
    parser.add_argument('--expressions', required=True, help='JSON {"<video>": [{"exp": ..., "obj_id": [...]}]}')
    parser.add_argument('--out', required=True, help='output folder (must be empty or absent)')
    parser.add_argument('--valid', nargs='+', default=[], metavar='VIDEO',
                        help='videos that form the valid_u split (scored locally); the others form train')
    args = parser.parse_args(argv)
    if osp.exists(args.out) and os.listdir(args.out):
        print(f'[masks_to_mevis] refusing to write into {args.out}: it is not empty', file=sys.stderr)
        return 1
    counts = convert(args.videos, args.masks, args.expressions, args.out, set(args.valid))
    print(f'[masks_to_mevis] wrote ' + ', '.join(f'{split}: {n} video(s)' for split, n in counts.items())
          + f' to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
