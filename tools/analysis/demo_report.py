#!/usr/bin/env python
"""What the tiny demo model has learnt, in a report read at a glance (the quickstart's last step).

    python tools/analysis/demo_report.py --config C --checkpoint CK [--demo-root data/demo] [--metrics M.json]
                                         [--out DIR] [--clip bikes_b] [--clips C ...] [--no-chat]

On the held-out clips of the demo data (``split == 'valid'`` in its ``manifest.json``: backgrounds and object
combinations no training clip shows) it asks, for every object,

* the referring question ``Please segment the <colour> <shape>.``: correct when the first mask of the answer has
  a video IoU (intersection over union summed over all frames) of at least 0.5 with the named object
  (``demo_referring_acc``);
* the region question ``What is <mask> doing in the video?`` with a box around the object on its first visible
  frame: correct when the answer names the object's colour and shape and no other (``demo_region_caption_acc``).

Then it chats with one held-out clip (``--clip``): a referring question per object, one question whose answer has
two ``[SEG]``, a region question and a follow-up, and writes into ``--out``:

* ``chat/``: ``answers.json``, ``masks.json``, ``overlay.mp4`` and ``overlay.gif`` (as ``tools/chat.py`` writes);
* ``summary.png``: a row per mask of the chat (a few frames each, the mask over the frame, labelled with the
  object it covers);
* ``report.md`` (also printed): the held-out J&F (from ``--metrics``, the JSON of ``tools/test.py --out``), the
  two accuracies and the transcript, each mask named by the ground-truth object it overlaps most (IoU);
* ``quality.json``: the numbers and every held-out question with its answer and IoU.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

import cv2  # noqa: E402  (before decord, see sama_mm/datasets/decord_backend.py)

from data_converters import demo_texts as texts  # noqa: E402
from data_converters.build_demo_data import COLOURS, SHAPES, ObjectSpec  # noqa: E402

REFERRING_IOU = 0.5
MATCH_IOU = 0.05  # a mask overlapping no object more than this covers 'no object' in the transcript
TILE_WIDTH = 200  # width of one frame in summary.png


class HeldOutClip:
    """A held-out demo clip: its video, objects and ground-truth mask tracks.

    Args:
        demo_root: The demo data folder.
        name: Clip name (a key of the manifest's ``clips``).
        info: The clip's manifest entry.
        mask_dict: ``anno_id -> per-frame RLE`` of the split.
    """

    def __init__(self, demo_root: str, name: str, info: dict, mask_dict: dict):
        from sama_mm.structures import decode_rle
        self.name = name
        self.video = osp.join(demo_root, 'videos', name + '.mp4')
        self.objects = [ObjectSpec(**dict(o, start=tuple(o['start']), velocity=tuple(o['velocity'])))
                        for o in info['objects']]
        shape = (info['height'], info['width'])
        self.gt = np.stack([np.stack([decode_rle(r).astype(bool) if r is not None else np.zeros(shape, bool)
                                      for r in mask_dict[a]]) for a in info['anno_ids']])

    def box(self, i: int) -> Tuple[int, Tuple[int, int, int, int]]:
        """``(frame, (x1, y1, x2, y2))``: the box of object ``i`` on the first frame it is visible in."""
        t = int(np.nonzero(self.gt[i].any(axis=(1, 2)))[0][0])
        ys, xs = np.nonzero(self.gt[i, t])
        return t, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)

    def match(self, track: np.ndarray) -> Tuple[int, float]:
        """The object a predicted ``[N, H, W]`` track overlaps most: ``(index, video IoU)``."""
        ious = [video_iou(track, g) for g in self.gt]
        best = int(np.argmax(ious))
        return best, ious[best]


def video_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two ``[N, H, W]`` mask tracks, summed over all frames (0 when both are empty)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 0.0


def held_out_clips(demo_root: str) -> List[HeldOutClip]:
    """Every held-out clip of a demo build."""
    with open(osp.join(demo_root, 'manifest.json'), encoding='utf-8') as f:
        manifest = json.load(f)
    with open(osp.join(demo_root, 'mevis', 'valid_u', 'mask_dict.json'), encoding='utf-8') as f:
        mask_dict = json.load(f)
    return [HeldOutClip(demo_root, name, info, mask_dict) for name, info in sorted(manifest['clips'].items())
            if info['split'] == 'valid']


def evaluate_heldout(inferencer, clips: Sequence[HeldOutClip]) -> Dict[str, object]:
    """Ask every held-out object's referring and region question, each in a fresh conversation.

    Returns:
        dict: ``demo_referring_acc``, ``demo_region_caption_acc`` and ``questions`` (one record per question).
    """
    records = []
    for clip in clips:
        session = inferencer.open(clip.video)
        for i, obj in enumerate(clip.objects):
            session.reset()
            question = texts.REFER_QUESTION.format(exp=texts.the(obj.name))
            turn = session.ask(question)
            masks = turn.masks.numpy()
            iou = video_iou(masks[0], clip.gt[i]) if len(masks) else 0.0
            records.append(dict(kind='referring', clip=clip.name, object=obj.name, question=question,
                                answer=turn.answer, iou=round(iou, 4), correct=iou >= REFERRING_IOU))
            session.reset()
            turn = session.ask(texts.REGION_QUESTION, regions=[clip.box(i)], segment=False)
            ok = texts.names_object(turn.answer, obj.colour, obj.shape, list(COLOURS), SHAPES)
            records.append(dict(kind='region', clip=clip.name, object=obj.name, question=texts.REGION_QUESTION,
                                answer=turn.answer, correct=bool(ok)))

    def accuracy(kind):
        hits = [r['correct'] for r in records if r['kind'] == kind]
        return round(float(np.mean(hits)), 4) if hits else 0.0

    return dict(demo_referring_acc=accuracy('referring'), demo_region_caption_acc=accuracy('region'),
                questions=records)


def chat_script(clip: HeldOutClip) -> List[Tuple[str, list]]:
    """The quickstart's conversation: a referring question per object, a two-object question, a region question
    about the first object and a follow-up."""
    turns = [(texts.REFER_QUESTION.format(exp=texts.the(o.name)), []) for o in clip.objects]
    a, b = clip.objects[0], clip.objects[1]
    turns.append((texts.PAIR_QUESTION.format(a=texts.the(a.name), b=texts.the(b.name)), []))
    turns.append((texts.REGION_QUESTION, [clip.box(0)]))
    turns.append((texts.COLOUR_FOLLOW_UP, []))
    return turns


def run_chat(inferencer, clip: HeldOutClip, out_dir: str) -> List[dict]:
    """Run :func:`chat_script` as one conversation, write ``chat/`` and return the transcript with matches."""
    from sama_mm.apis.chat_outputs import write_chat_outputs
    session = inferencer.open(clip.video)
    results, transcript = [], []
    for question, regions in chat_script(clip):
        turn = session.ask(question, regions=regions)
        results.append(turn)
        masks = []
        for k, track in enumerate(turn.masks.numpy()):
            best, iou = clip.match(track)
            masks.append(dict(index=k, object=clip.objects[best].name if iou >= MATCH_IOU else None,
                              iou=round(iou, 3)))
        region = None
        if regions:
            region = dict(frame=regions[0][0], box=list(regions[0][1]), object=clip.objects[0].name)
        transcript.append(dict(question=question, answer=turn.answer, region=region, masks=masks))
    write_chat_outputs(osp.join(out_dir, 'chat'), session, results, gif=True)
    return transcript


def write_summary(path: str, clip: HeldOutClip, chat_dir: str, transcript: List[dict], frames: int = 4) -> None:
    """``summary.png``: one row per mask of the chat, ``frames`` frames each, labelled with the matched object."""
    from sama_mm.structures import decode_rle
    from sama_mm.visualization.overlay import colour, overlay_frame
    with open(osp.join(chat_dir, 'masks.json'), encoding='utf-8') as f:
        objects = json.load(f)['objects']
    from sama_mm.datasets.video_backends import open_video
    with open_video(clip.video) as reader:
        n = len(reader)
        picks = np.linspace(0, n - 1, frames).round().astype(int).tolist()
        images = reader.get_batch(picks)
    images = np.asarray(images)
    height, width = images.shape[1:3]
    header = 22
    rows = []
    for k, obj in enumerate(objects):
        turn = transcript[obj['turn']]
        match = turn['masks'][obj['index']]
        title = (f"Q{obj['turn'] + 1} mask {obj['index'] + 1}: {match['object'] or 'nothing'} "
                 f"(IoU {match['iou']:.2f})")
        tiles = [overlay_frame(images[j], [decode_rle(obj['rle'][t]).astype(bool)], [''], colours=[colour(k)])
                 for j, t in enumerate(picks)]
        scale = min(1.0, TILE_WIDTH / width)
        tiles = [cv2.resize(tile, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
                 for tile in tiles]
        row = np.concatenate(tiles, axis=1)
        bar = np.full((header, row.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, title[:110], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([bar, row], axis=0))
    if not rows:
        rows = [np.full((header + 100, TILE_WIDTH * frames, 3), 255, np.uint8)]
    grid = np.concatenate(rows, axis=0)
    cv2.imwrite(path, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def format_report(metrics: Optional[dict], quality: Optional[dict], clip_name: str,
                  transcript: Optional[List[dict]], files: Sequence[str]) -> str:
    """The report as Markdown (short enough to read in the terminal)."""
    lines = ['# The tiny demo model on held-out clips', '']
    if metrics:
        jf = {k.split('/')[-1]: v for k, v in metrics.items() if isinstance(v, (int, float))}
        lines.append('Held-out J&F: ' + ', '.join(f'{k} {v:.1f}' for k, v in sorted(jf.items())))
    if quality:
        qs = quality['questions']
        ref = [q for q in qs if q['kind'] == 'referring']
        reg = [q for q in qs if q['kind'] == 'region']
        lines.append(f"Referring: {sum(q['correct'] for q in ref)}/{len(ref)} masks cover the named object "
                     f"(IoU >= {REFERRING_IOU}), demo_referring_acc {quality['demo_referring_acc']:.2f}")
        lines.append(f"Region questions: {sum(q['correct'] for q in reg)}/{len(reg)} answers name the right colour "
                     f"and shape, demo_region_caption_acc {quality['demo_region_caption_acc']:.2f}")
    if transcript:
        lines += ['', f'## Chat with the held-out clip {clip_name}', '']
        for i, turn in enumerate(transcript, 1):
            region = (f" [<mask> = box {turn['region']['box']} on frame {turn['region']['frame']}, the "
                      f"{turn['region']['object']}]" if turn['region'] else '')
            lines.append(f"Q{i}: {turn['question']}{region}")
            lines.append(f"A{i}: {turn['answer']}")
            for m in turn['masks']:
                lines.append(f"    mask {m['index'] + 1} -> {m['object'] or 'no object'} (IoU {m['iou']:.2f})")
    if files:
        lines += ['', 'Files: ' + ', '.join(files)]
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', required=True, help='the demo model config')
    parser.add_argument('--checkpoint', required=True, help='its trained checkpoint')
    parser.add_argument('--demo-root', default='data/demo', help='the demo data (default: data/demo)')
    parser.add_argument('--metrics', help='metrics.json of tools/test.py (the held-out J&F)')
    parser.add_argument('--out', default='work_dirs/quickstart', help='output folder')
    parser.add_argument('--clip', default='bikes_b', help='the held-out clip of the chat (default: bikes_b)')
    parser.add_argument('--clips', nargs='+', help='evaluate only these held-out clips (default: all)')
    parser.add_argument('--no-chat', action='store_true', help='only the held-out accuracies')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from sama_mm.apis import SAMAInferencer
    for path in (args.config, args.checkpoint, osp.join(args.demo_root, 'manifest.json')):
        if not osp.exists(path):
            print(f'error: {path} does not exist', file=sys.stderr)
            return 1
    if args.metrics and not osp.isfile(args.metrics):
        print(f'error: {args.metrics} does not exist', file=sys.stderr)
        return 1
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    clips = held_out_clips(args.demo_root)
    by_name = {c.name: c for c in clips}
    if args.clip not in by_name:
        print(f'error: --clip {args.clip} is not a held-out clip of {args.demo_root} '
              f'(held out: {", ".join(by_name)})', file=sys.stderr)
        return 1
    unknown = sorted(set(args.clips or []) - set(by_name))
    if unknown:
        print(f'error: --clips {" ".join(unknown)}: not held-out clips of {args.demo_root}', file=sys.stderr)
        return 1
    inferencer = SAMAInferencer(args.config, args.checkpoint, device='cpu')
    quality = evaluate_heldout(inferencer, [by_name[c] for c in args.clips] if args.clips else clips)
    files = ['quality.json', 'report.md']
    transcript = None
    if not args.no_chat:
        transcript = run_chat(inferencer, by_name[args.clip], args.out)
        write_summary(osp.join(args.out, 'summary.png'), by_name[args.clip], osp.join(args.out, 'chat'), transcript)
        files += ['summary.png', 'chat/overlay.gif', 'chat/overlay.mp4', 'chat/answers.json', 'chat/masks.json']
    metrics = None
    if args.metrics:
        with open(args.metrics, encoding='utf-8') as f:
            metrics = json.load(f)
    quality['seconds'] = round(time.perf_counter() - start, 1)
    with open(osp.join(args.out, 'quality.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(quality, metrics=metrics, chat=transcript), f, indent=1)
    report = format_report(metrics, quality, args.clip, transcript, [osp.join(args.out, p) for p in files])
    with open(osp.join(args.out, 'report.md'), 'w', encoding='utf-8') as f:
        f.write(report)
    print(report, end='')
    return 0


if __name__ == '__main__':
    sys.exit(main())
