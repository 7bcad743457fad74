#!/usr/bin/env python
"""Write a few packed samples of a config's dataset as pictures, to see what the model is trained on.

    python tools/browse_dataset.py CONFIG [--split train] [--num 5] [--out DIR] [--force] [--cfg-options k=v ...]

For each sample (indices spread evenly over the dataset) it writes ``sample_<k>_<index>.png``: the dense frames
with the ground-truth masks of the ``[SEG]`` tokens overlaid (one colour per ``[SEG]``) and the region prompts of
the ``<mask>`` tokens drawn as outlines, next to the conversation text; and ``sample_<k>_<index>.gif`` running
over all sparse frames. Frames are the packed ``pixel_values`` (448 px, de-normalised); masks are resized to
them. It refuses to write into an existing non-empty folder unless ``--force`` is given.
"""
import argparse
import os
import os.path as osp
import sys
import textwrap

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                    (70, 240, 240), (240, 50, 230)], np.uint8)
TILE = 224


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write packed samples of a dataset as images and gifs.')
    parser.add_argument('config')
    parser.add_argument('--split', default='train', choices=['train', 'val', 'test'])
    parser.add_argument('--num', type=int, default=5, help='number of samples (spread over the dataset)')
    parser.add_argument('--out', default='work_dirs/browse_dataset', help='output folder')
    parser.add_argument('--force', action='store_true', help='write into a non-empty output folder')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    return parser.parse_args(argv)


def frames_of(pixel_values) -> np.ndarray:
    """``float32 [T, 3, S, S]`` InternVL-normalised -> ``uint8 [T, S, S, 3]`` RGB."""
    from sama_mm.datasets.transforms.image import IMAGENET_MEAN, IMAGENET_STD
    x = pixel_values.float().numpy().transpose(0, 2, 3, 1)
    x = x * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    import cv2
    return cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)


def overlay(frame: np.ndarray, masks, regions) -> np.ndarray:
    """A frame with filled ``[SEG]`` masks (alpha 0.45) and region outlines, resized to ``TILE``."""
    import cv2
    out = frame.astype(np.float32)
    size = frame.shape[0]
    for k, mask in enumerate(masks):
        m = _resize_mask(mask, size).astype(bool)
        out[m] = 0.55 * out[m] + 0.45 * PALETTE[k % len(PALETTE)]
    out = np.ascontiguousarray(out.astype(np.uint8))
    for r, mask in enumerate(regions):
        m = _resize_mask(mask, size)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        color = tuple(int(c) for c in PALETTE[(len(PALETTE) - 1 - r) % len(PALETTE)])
        cv2.drawContours(out, contours, -1, color, 3)
        if contours:
            x, y, _, _ = cv2.boundingRect(contours[0])
            cv2.putText(out, f'R{r + 1}', (x + 4, y + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 2)
    return cv2.resize(out, (TILE, TILE), interpolation=cv2.INTER_AREA)


def text_panel(lines, height: int, width: int = 520) -> np.ndarray:
    """White panel with the wrapped text lines (cv2 Hershey font; non-ASCII shown as '?')."""
    import cv2
    wrapped = []
    for line in lines:
        wrapped += textwrap.wrap(line.encode('ascii', 'replace').decode('ascii'), 68) or ['']
    height = max(height, 16 * len(wrapped) + 16)
    panel = np.full((height, width, 3), 255, np.uint8)
    for i, line in enumerate(wrapped):
        cv2.putText(panel, line, (8, 20 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA)
    return panel


def conversation_lines(meta: dict, index: int) -> list:
    lines = [f'#{index} {meta.get("video_id", "")}  frames {meta.get("frame_indices")}',
             f'dense {meta.get("dense_frame_indices")}', '']
    for q, a in zip(meta.get('questions', []), meta.get('answers', [])):
        lines += [f'USER: {q}', f'ASSISTANT: {a}', '']
    return lines


def render(packed: dict, index: int):
    """``(png image, gif frames)`` of one packed sample."""
    inputs, sample = packed['inputs'], packed['data_samples']
    frames = frames_of(inputs['pixel_values'])
    dense = inputs['dense_positions'].tolist()
    gt = sample.gt_masks.numpy() if 'gt_masks' in sample else np.zeros((0, len(dense), 1, 1), np.uint8)
    regions = inputs['region_masks'].numpy() if 'region_masks' in inputs else np.zeros((0, len(frames), 1, 1))
    tiles, gif = [], []
    for t, frame in enumerate(frames):
        d = dense.index(t) if t in dense else None
        masks = [gt[k, d] for k in range(len(gt))] if d is not None else []
        tile = overlay(frame, masks, [regions[r, t] for r in range(len(regions))])
        gif.append(tile)
        if d is not None:
            tiles.append(tile)
    strip = np.concatenate(tiles, axis=1) if tiles else np.zeros((TILE, TILE, 3), np.uint8)
    panel = text_panel(conversation_lines(sample.metainfo, index), strip.shape[0])
    if panel.shape[0] > strip.shape[0]:
        strip = np.concatenate([strip, np.full((panel.shape[0] - strip.shape[0], strip.shape[1], 3), 255,
                                               np.uint8)])
    return np.concatenate([strip, panel], axis=1), gif


def main(argv=None) -> int:
    args = parse_args(argv)
    if osp.isdir(args.out) and os.listdir(args.out) and not args.force:
        print(f'error: {args.out} exists and is not empty; use --force to write into it', file=sys.stderr)
        return 1
    from mmengine.config import Config, DictAction
    from PIL import Image

    from sama_mm.registry import DATASETS
    from sama_mm.utils import register_all_modules

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        opts = argparse.ArgumentParser()
        opts.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(opts.parse_args(['--o', *args.cfg_options]).o)
    register_all_modules()
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader:
        print(f'error: the config has no {args.split}_dataloader', file=sys.stderr)
        return 1
    dataset = DATASETS.build(loader['dataset'])
    n = len(dataset)
    indices = sorted({i * n // max(1, args.num) for i in range(min(args.num, n))})
    os.makedirs(args.out, exist_ok=True)
    for k, index in enumerate(indices):
        image, gif = render(dataset[index], index)
        stem = osp.join(args.out, f'sample_{k:02d}_{index}')
        Image.fromarray(image).save(stem + '.png')
        Image.fromarray(gif[0]).save(stem + '.gif', save_all=True, append_images=[Image.fromarray(g) for g in gif[1:]],
                                     duration=300, loop=0)
        print(f'wrote {stem}.png and .gif')
    return 0


if __name__ == '__main__':
    sys.exit(main())
