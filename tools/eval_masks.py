#!/usr/bin/env python
"""Score predicted video masks against ground-truth masks with J, F and J&F (DAVIS 2017 definitions).

    python tools/eval_masks.py --gt DIR --pred DIR [--layout davis|rvos] [--out FILE] [--skip-first-last]
                               [--allow-missing] [--ignore-extra]

Layouts (every ``*.png`` in a ground-truth folder is an evaluated frame; other files are ignored; frames are
ordered by their names with numbers compared as numbers, ``2.png`` before ``10.png``, which decides the frames
``--skip-first-last`` leaves out):

* ``davis``: ``<sequence>/<frame>.png`` indexed PNGs (palette or grey) holding object ids, 0 = background.
  The objects of a sequence are the ids found in any of its ground-truth frames. A prediction saved as a binary
  mask (values 0/255, or 16-bit 0/257 or 0/65535) that holds none of these ids is refused with an error naming
  the file, instead of scoring 0: save object ids, as the ground truth does. Each object is scored over all
  the sequence's frames; a sequence scores the mean over its objects, and the data set the mean over *all
  objects of all sequences*, as the DAVIS 2017 semi-supervised evaluation (davis2017-evaluation, vos-benchmark)
  does, so sequences with more objects weigh more.
* ``rvos``: ``<video>/<expression>/<frame>.png`` binary masks (any non-zero value is foreground). An expression
  scores the mean over its ground-truth frames; a video the mean over its expressions; the data set the mean
  over all expressions.

The prediction *set* must match the ground truth: by default a ground-truth sequence (expression) folder without a
prediction folder, and a prediction folder without ground truth, stop the evaluation with an error that lists
them (exit status 1). ``--allow-missing`` scores a missing folder as all-empty (listed in ``missing_sequences``;
its frames are not repeated in ``missing_frames``), as ``evaluate_davis`` / ``evaluate_rvos`` always do;
``--ignore-extra`` leaves out prediction folders without ground truth (listed in ``extra_sequences``). Within a
predicted folder, a missing prediction frame counts as an empty mask: it is listed in ``missing_frames`` and
counted in a warning on stderr, never left out of the means. Prediction frames without a ground-truth PNG are
never an error: only annotated frames are scored. Unreadable PNGs and size mismatches stop the evaluation with
an error naming the file (exit status 1).

Prints one JSON object: ``J``, ``F``, ``J&F`` (means in 0..1), per-sequence (and per-object or per-expression)
values, and the missing predictions. ``--out FILE`` also writes it to FILE, which must not exist yet (its
folder is created when missing).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

from sama_mm.datasets.errors import DataError
from sama_mm.datasets.io import natural_sorted
from sama_mm.evaluation.functional import jf_per_object


def read_mask_png(path: str) -> np.ndarray:
    """Read an indexed (palette), grey or 1-bit PNG mask as a ``[H, W]`` integer array of ids.

    Raises:
        DataError: If the file cannot be decoded or holds colour (RGB) pixels instead of ids.
    """
    from PIL import Image
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode not in ('P', 'L', '1', 'I', 'I;16', 'I;16B', 'I;16L'):
                raise DataError('bad_mask_mode', path,
                                f'PNG mode {mode!r} holds colours, not object ids; expected an indexed (palette) '
                                'or grey-level PNG')
            arr = np.array(img)
    except DataError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for broken files
        raise DataError('unreadable_mask', path, f'cannot read PNG mask: {exc}') from None
    if mode == '1':
        arr = arr.astype(np.uint8)
    return arr


def png_frames(folder: str) -> List[str]:
    """The ``*.png`` file names in ``folder``, in natural order (``2.png`` before ``10.png``)."""
    return natural_sorted(f for f in os.listdir(folder)
                          if f.lower().endswith('.png') and osp.isfile(osp.join(folder, f)))


def subfolders(folder: str) -> List[str]:
    """The names of the sub-folders of ``folder``, in natural order."""
    return natural_sorted(d for d in os.listdir(folder) if osp.isdir(osp.join(folder, d)))


def load_track(gt_dir: str, pred_dir: str, frames: List[str], missing: List[str],
               rel: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read the ground-truth and predicted masks of one sequence as ``[T, H, W]`` id arrays.

    A missing prediction frame (or a missing ``pred_dir``) becomes all zeros; missing frame files are appended
    to ``missing`` as ``rel/<frame>``.

    Raises:
        DataError: For an unreadable PNG, or a frame whose size differs from the first ground-truth frame or
            from its ground truth.
    """
    gts, preds = [], []
    pred_exists = osp.isdir(pred_dir)
    for name in frames:
        gt_path = osp.join(gt_dir, name)
        gt = read_mask_png(gt_path)
        if gts and gt.shape != gts[0].shape:
            raise DataError('size_mismatch', gt_path, f'is {gt.shape[1]}x{gt.shape[0]} (WxH) but the first frame '
                            f'{osp.join(gt_dir, frames[0])} is {gts[0].shape[1]}x{gts[0].shape[0]}')
        pred_path = osp.join(pred_dir, name)
        if pred_exists and osp.isfile(pred_path):
            pred = read_mask_png(pred_path)
            if pred.shape != gt.shape:
                raise DataError('size_mismatch', pred_path,
                                f'prediction is {pred.shape[1]}x{pred.shape[0]} (WxH) but its ground truth '
                                f'{gt_path} is {gt.shape[1]}x{gt.shape[0]}')
        else:
            if pred_exists:
                missing.append(f'{rel}/{name}')
            pred = np.zeros_like(gt)
        gts.append(gt)
        preds.append(pred)
    return np.stack(gts), np.stack(preds)


def _mean_scores(scores: List[Dict[str, float]]) -> Dict[str, Optional[float]]:
    if not scores:
        return {'J': None, 'F': None, 'J&F': None}
    j = float(np.mean([s['J'] for s in scores]))
    f = float(np.mean([s['F'] for s in scores]))
    return {'J': j, 'F': f, 'J&F': (j + f) / 2}


def _check_roots(gt_root: str, pred_root: str):
    if not osp.isdir(gt_root):
        raise DataError('missing_file', gt_root, 'ground-truth folder not found')
    if not osp.isdir(pred_root):
        raise DataError('missing_file', pred_root, 'prediction folder not found')


def _gt_frames(folder: str) -> List[str]:
    frames = png_frames(folder)
    if not frames:
        raise DataError('missing_frames', folder, 'ground-truth folder holds no PNG masks')
    return frames


#: Foreground values of binary masks saved as images: 8-bit 255, 16-bit 257 (255 scaled) and 65535.
BINARY_FOREGROUND = (255, 257, 65535)


def check_not_binary(gt: np.ndarray, pred: np.ndarray, pred_dir: str, frames: List[str], seq: str) -> None:
    """Refuse a ``davis`` prediction saved as a binary mask (0/255, 0/257, 0/65535) instead of object ids.

    Such a prediction matches no ground-truth object and would score J&F 0 without a word. It is recognised
    when the sequence's predicted non-zero values are all binary foreground values and none of them is an object
    id of the ground truth (a prediction holding any ground-truth id is scored as it is).

    Args:
        gt: The ground-truth ids ``[T, H, W]`` of the sequence.
        pred: The predicted ids ``[T, H, W]``.
        pred_dir: The sequence's prediction folder (to name the file).
        frames: The frame file names of ``gt`` and ``pred``.
        seq: The sequence name.

    Raises:
        DataError: ``binary_prediction``, naming the first prediction file holding a binary value.
    """
    pred_values = set(np.unique(pred).tolist()) - {0}
    gt_ids = set(np.unique(gt).tolist()) - {0}
    if not pred_values or pred_values & gt_ids or not pred_values <= set(BINARY_FOREGROUND):
        return
    t = next(t for t in range(len(pred)) if np.isin(pred[t], list(pred_values)).any())
    shown = ', '.join(str(v) for v in sorted({0} | pred_values))
    ids = ', '.join(str(v) for v in sorted(gt_ids))
    raise DataError('binary_prediction', osp.join(pred_dir, frames[t]),
                    f'prediction holds values {{{shown}}} but the ground-truth objects of {seq} are {{{ids}}}; '
                    f'the davis layout needs object ids (1..N, 0 = background) in each PNG, not a 0/'
                    f'{max(pred_values)} binary mask')


def evaluate_davis(gt_root: str, pred_root: str, bound_th: float = 0.008, skip_first_last: bool = False) -> dict:
    """Score a ``davis`` layout (one indexed PNG per frame, object ids) per object.

    Args:
        gt_root: Folder of ground-truth sequence folders.
        pred_root: Folder of predicted sequence folders (same sequence and frame names).
        bound_th: Boundary tolerance of F.
        skip_first_last: Leave out the first and last frame of every sequence, as the DAVIS semi-supervised
            protocol does (the first frame's masks are given to the method).

    Returns:
        The report: ``J``, ``F``, ``J&F`` (mean over all objects of all sequences, as DAVIS 2017 averages),
        ``num_objects``, ``sequences`` (each with its mean over objects and ``objects`` by id),
        ``missing_sequences``, ``missing_frames`` and ``extra_sequences`` (prediction folders without ground
        truth, not scored).

    Raises:
        DataError: For a missing or empty ground truth, an unreadable PNG, a size mismatch or a prediction saved
            as a binary 0/255 mask instead of object ids (:func:`check_not_binary`).
    """
    _check_roots(gt_root, pred_root)
    sequences, all_scores, missing_seqs, missing_frames = {}, [], [], []
    for seq in subfolders(gt_root):
        frames = _gt_frames(osp.join(gt_root, seq))
        if skip_first_last:
            if len(frames) < 3:
                raise DataError('missing_frames', osp.join(gt_root, seq),
                                f'{len(frames)} ground-truth frame(s): none left to score after --skip-first-last')
            frames = frames[1:-1]
        pred_dir = osp.join(pred_root, seq)
        if not osp.isdir(pred_dir):
            missing_seqs.append(seq)
        gt, pred = load_track(osp.join(gt_root, seq), pred_dir, frames, missing_frames, seq)
        check_not_binary(gt, pred, pred_dir, frames, seq)
        objects = {}
        for obj in np.unique(gt).tolist():
            if obj != 0:
                objects[str(obj)] = jf_per_object(pred == obj, gt == obj, bound_th)
        all_scores.extend(objects.values())
        sequences[seq] = dict(_mean_scores(list(objects.values())), objects=objects)
    if not sequences:
        raise DataError('missing_sequences', gt_root, 'no sequence folders found')
    if not all_scores:
        raise DataError('no_objects', gt_root, 'no ground-truth frame holds any object id')
    return dict(layout='davis', **_mean_scores(all_scores), num_objects=len(all_scores), sequences=sequences,
                missing_sequences=missing_seqs, missing_frames=missing_frames,
                extra_sequences=natural_sorted(set(subfolders(pred_root)) - set(subfolders(gt_root))))


def evaluate_rvos(gt_root: str, pred_root: str, bound_th: float = 0.008) -> dict:
    """Score an ``rvos`` layout (``<video>/<expression>/<frame>.png``, non-zero = foreground) per expression.

    Args:
        gt_root: Folder of ground-truth video folders.
        pred_root: Folder of predicted video folders (same video, expression and frame names).
        bound_th: Boundary tolerance of F.

    Returns:
        The report: ``J``, ``F``, ``J&F`` (mean over all expressions), ``num_expressions``, ``sequences``
        (each video with its mean over expressions and ``expressions`` by name), ``missing_sequences``
        (``video/expression`` without any prediction folder), ``missing_frames`` and ``extra_sequences``
        (prediction ``video`` or ``video/expression`` folders without ground truth, not scored).

    Raises:
        DataError: For a missing or empty ground truth, an unreadable PNG or a size mismatch.
    """
    _check_roots(gt_root, pred_root)
    sequences, all_scores, missing_seqs, missing_frames = {}, [], [], []
    for video in subfolders(gt_root):
        expressions = {}
        for expr in subfolders(osp.join(gt_root, video)):
            gt_dir = osp.join(gt_root, video, expr)
            pred_dir = osp.join(pred_root, video, expr)
            if not osp.isdir(pred_dir):
                missing_seqs.append(f'{video}/{expr}')
            gt, pred = load_track(gt_dir, pred_dir, _gt_frames(gt_dir), missing_frames, f'{video}/{expr}')
            expressions[expr] = jf_per_object(pred != 0, gt != 0, bound_th)
        if not expressions:
            raise DataError('missing_expressions', osp.join(gt_root, video), 'video folder holds no expression folders')
        all_scores.extend(expressions.values())
        sequences[video] = dict(_mean_scores(list(expressions.values())), expressions=expressions)
    if not sequences:
        raise DataError('missing_sequences', gt_root, 'no video folders found')
    extra = []
    for video in subfolders(pred_root):
        gt_video = osp.join(gt_root, video)
        if not osp.isdir(gt_video):
            extra.append(video)
            continue
        extra += [f'{video}/{e}' for e in subfolders(osp.join(pred_root, video))
                  if not osp.isdir(osp.join(gt_video, e))]
    return dict(layout='rvos', **_mean_scores(all_scores), num_expressions=len(all_scores), sequences=sequences,
                missing_sequences=missing_seqs, missing_frames=missing_frames, extra_sequences=extra)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='J, F and J&F of predicted video masks against ground truth.')
    parser.add_argument('--gt', required=True, help='ground-truth mask folder')
    parser.add_argument('--pred', required=True, help='predicted mask folder, laid out like --gt')
    parser.add_argument('--layout', choices=['davis', 'rvos'], default='davis',
                        help='davis: <seq>/<frame>.png object ids; rvos: <video>/<expression>/<frame>.png binary')
    parser.add_argument('--out', help='also write the JSON report to this file '
                        '(must not exist; a missing folder is created)')
    parser.add_argument('--bound-th', type=float, default=0.008,
                        help='F boundary tolerance: fraction of the image diagonal if < 1, else pixels')
    parser.add_argument('--skip-first-last', action='store_true',
                        help='davis layout: leave out the first and last frame (DAVIS semi-supervised protocol)')
    parser.add_argument('--allow-missing', action='store_true',
                        help='score missing prediction folders as empty masks instead of stopping')
    parser.add_argument('--ignore-extra', action='store_true',
                        help='leave out prediction folders without ground truth instead of stopping')
    return parser.parse_args(argv)


def _preview(items: List[str], limit: int = 5) -> str:
    shown = ', '.join(items[:limit])
    return shown + (f', ... (+{len(items) - limit} more)' if len(items) > limit else '')


def check_prediction_set(report: dict, pred_root: str, allow_missing: bool, ignore_extra: bool) -> None:
    """Raise a DataError on ``pred_root`` listing missing / extra prediction folders that the flags do not allow.

    Missing frames inside a predicted folder are not a set mismatch: they score as empty masks (see the module).
    """
    parts = []
    if not allow_missing and report['missing_sequences']:
        parts.append(f"{len(report['missing_sequences'])} ground-truth folder(s) have no prediction folder: "
                     f"{_preview(report['missing_sequences'])}")
    if parts:
        parts[-1] += ' (--allow-missing scores them as empty masks)'
    if not ignore_extra and report['extra_sequences']:
        parts.append(f"{len(report['extra_sequences'])} prediction folder(s) have no ground truth: "
                     f"{_preview(report['extra_sequences'])} (--ignore-extra leaves them out)")
    if parts:
        raise DataError('prediction_set_mismatch', pred_root, '; '.join(parts))


def main(argv=None) -> int:
    args = parse_args(argv)
    from sama_mm.utils.cli import emit_report, out_path_usable
    if args.out and not out_path_usable(args.out):
        return 2
    try:
        if args.layout == 'davis':
            report = evaluate_davis(args.gt, args.pred, args.bound_th, args.skip_first_last)
        else:
            if args.skip_first_last:
                print('error: --skip-first-last only applies to the davis layout', file=sys.stderr)
                return 2
            report = evaluate_rvos(args.gt, args.pred, args.bound_th)
        check_prediction_set(report, args.pred, args.allow_missing, args.ignore_extra)
    except DataError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    if report['missing_frames']:
        print(f"warning: {len(report['missing_frames'])} ground-truth frame(s) have no prediction PNG and score as "
              f"empty masks: {_preview(report['missing_frames'])}", file=sys.stderr)
    report = dict(gt=args.gt, pred=args.pred, **report)
    text = json.dumps(report, indent=2)
    emit_report(text, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
