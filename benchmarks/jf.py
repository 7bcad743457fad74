#!/usr/bin/env python
"""Time our J&F against vos-benchmark's on real demo masks and check that both give identical numbers.

    python benchmarks/jf.py [--repeats 3] [--demo DIR]

The demo data set (``data_converters.build_demo_data.build``) is built into a temporary folder unless
``--demo`` names an existing build. Every object track of the MeViS-layout mask dicts (train and valid_u)
whose ground truth is present in the first frame is used (vos-benchmark only starts scoring an object once it
has appeared; starting from frame 0 makes both score the same frames). Each track gets two deterministic
perturbed predictions: shifted by (2, 3) pixels and eroded with a 5x5 square. Both implementations score the
same in-memory masks; the time is the best of ``--repeats`` runs. Prints one JSON line with ``jf_speedup`` =
vos-benchmark time / our time, both timings and the largest per-object difference (must be below 1e-9).
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from sama_mm.evaluation.functional.jf import jf_per_object  # noqa: E402
from sama_mm.structures import decode_rle  # noqa: E402


def load_tracks(demo: str):
    """Ground-truth tracks ``[T, H, W]`` of every object present in frame 0."""
    tracks = []
    for split in ('train', 'valid_u'):
        with open(osp.join(demo, 'mevis', split, 'mask_dict.json')) as f:
            mask_dict = json.load(f)
        for key in sorted(mask_dict, key=int):
            frames = mask_dict[key]
            shape = next(tuple(r['size']) for r in frames if r)
            track = np.stack([decode_rle(r).astype(bool) if r else np.zeros(shape, bool) for r in frames])
            if track[0].any():
                tracks.append(track)
    return tracks


def perturb(track: np.ndarray):
    """Two deterministic predictions of a track: shifted by (2, 3) pixels and eroded."""
    shifted = np.zeros_like(track)
    shifted[:, 2:, 3:] = track[:, :-2, :-3]
    kernel = np.ones((5, 5), np.uint8)
    eroded = np.stack([cv2.erode(f.astype(np.uint8), kernel).astype(bool) for f in track])
    return [shifted, eroded]


def ours(pairs):
    return [jf_per_object(pred, gt) for pred, gt in pairs]


def theirs(pairs):
    from vos_benchmark.evaluator import Evaluator
    out = []
    for pred, gt in pairs:
        ev = Evaluator()
        for p, g in zip(pred.astype(np.uint8), gt.astype(np.uint8)):
            ev.feed_frame(p, g)
        iou, f = ev.conclude()
        out.append({'J': iou[1] / 100, 'F': f[1] / 100})
    return out


def best_time(fn, pairs, repeats):
    best, result = float('inf'), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(pairs)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--demo', help='an existing demo build (default: build one in a temporary folder)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        demo = args.demo
        if demo is None:
            from data_converters.build_demo_data import build
            demo = osp.join(tmp, 'demo')
            build(demo, seed=0, progress=False)
        tracks = load_tracks(demo)
    pairs = [(pred, gt) for gt in tracks for pred in perturb(gt)]
    t_ours, r_ours = best_time(ours, pairs, args.repeats)
    t_theirs, r_theirs = best_time(theirs, pairs, args.repeats)
    diff = max(max(abs(a['J'] - b['J']), abs(a['F'] - b['F'])) for a, b in zip(r_ours, r_theirs))
    jf = lambda rs: float(np.mean([(r['J'] + r['F']) / 2 for r in rs]))  # noqa: E731
    report = {'frames': int(sum(p.shape[0] for p, _ in pairs)), 'objects': len(pairs),
              'ours_s': round(t_ours, 4), 'vos_benchmark_s': round(t_theirs, 4),
              'jf_speedup': round(t_theirs / t_ours, 2), 'J&F_ours': jf(r_ours), 'J&F_vos_benchmark': jf(r_theirs),
              'max_abs_diff': diff, 'identical': bool(diff < 1e-9)}
    print(json.dumps(report))
    return 0 if report['identical'] else 1


if __name__ == '__main__':
    sys.exit(main())
