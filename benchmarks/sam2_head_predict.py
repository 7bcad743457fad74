"""Time SAM2SegHead.predict per frame (random weights, CPU by default); prints one JSON line.

Usage: ``python benchmarks/sam2_head_predict.py [--config CFG] [--frames T] [--objects K] [--repeats R]
[--video MP4] [--device cuda] [--bf16]``.
The default config is SAM2-Hiera-T at 256 px on random frames; ``--video`` tracks through the first T frames of a
real video instead (read with OpenCV, so it also runs where decord is absent) and the output also gives frames/s.
CPU timings are noisy on shared machines: the minimum of the repeats is reported next to the median.
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
    parser.add_argument('--video', help='a real video to track through (default: random frames)')
    parser.add_argument('--bf16', action='store_true', help='bf16 autocast (CUDA), as the released code runs SAM2')
    args = parser.parse_args()

    cfg = Config.fromfile(args.config).seg_head
    cfg.update(llm_hidden_size=64)
    torch.manual_seed(0)
    head: SAM2SegHead = MODELS.build(cfg).eval().to(args.device)
    size = head.image_size
    out_size = (size, size)
    if args.video:
        import cv2
        import numpy as np
        capture, frames = cv2.VideoCapture(args.video), []
        while len(frames) < args.frames:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        if not frames:
            raise SystemExit(f'{args.video}: no frames could be read')
        args.frames = len(frames)
        out_size = frames[0].shape[:2]
        video = head.preprocess(np.stack(frames))
    else:
        video = torch.randn(args.frames, 3, size, size)
    prompts = torch.randn(args.objects, 256)
    autocast = torch.autocast('cuda', dtype=torch.bfloat16, enabled=args.bf16)

    def run(frames):
        with autocast:
            head.track(frames, prompts, cond_frames=[0], out_size=out_size, chunk_size=args.chunk_size)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()

    run(video[:2])  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run(video)
        times.append((time.perf_counter() - start) / args.frames)
    print(json.dumps(dict(benchmark='sam2_head_predict', config=args.config, image_size=size, frames=args.frames,
                          objects=args.objects, device=args.device, threads=torch.get_num_threads(),
                          video=args.video, bf16=args.bf16,
                          gpu=torch.cuda.get_device_name() if args.device.startswith('cuda') else '',
                          s_per_frame_min=round(min(times), 4), s_per_frame_median=round(statistics.median(times), 4),
                          frames_per_s=round(1.0 / min(times), 2))))


if __name__ == '__main__':
    main()
