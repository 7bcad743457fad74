"""Time SAM2SegHead.predict per frame (random weights, CPU by default); prints one JSON line.

Usage: ``python benchmarks/sam2_head_predict.py [--config CFG] [--frames T] [--objects K] [--repeats R]``.
The default config is SAM2-Hiera-T at 256 px. CPU timings are noisy on shared machines: the minimum of the
repeats is reported next to the median.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time

import torch
from mmengine.config import Config

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from sama_mm.models.heads.sam2_seg_head import SAM2SegHead  # noqa: E402
from sama_mm.registry import MODELS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default='configs/_base_/models/sam2_tiny_256.py')
    parser.add_argument('--frames', type=int, default=10)
    parser.add_argument('--objects', type=int, default=3)
    parser.add_argument('--chunk-size', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()

    cfg = Config.fromfile(args.config).seg_head
    cfg.update(llm_hidden_size=64)
    torch.manual_seed(0)
    head: SAM2SegHead = MODELS.build(cfg).eval().to(args.device)
    size = head.image_size
    video = torch.randn(args.frames, 3, size, size)
    prompts = torch.randn(args.objects, 256)
    head.predict(video[:2], prompts, cond_frames=[0], out_size=(size, size))  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        head.predict(video, prompts, cond_frames=[0], out_size=(size, size), chunk_size=args.chunk_size)
        times.append((time.perf_counter() - start) / args.frames)
    print(json.dumps(dict(benchmark='sam2_head_predict', config=args.config, image_size=size, frames=args.frames,
                          objects=args.objects, device=args.device, threads=torch.get_num_threads(),
                          s_per_frame_min=round(min(times), 4), s_per_frame_median=round(statistics.median(times), 4))))


if __name__ == '__main__':
    main()
