#!/usr/bin/env python
"""Chat and SAM2 inference costs, in one run: KV-cache turn speed-up, long-video memory, multi-object cost.

``turn_speedup``: a 10-turn chat about a demo video (``data/demo/videos/bunny_a.mp4``) on the SAMA-1B
architecture at its real widths with few layers: ``configs/sama/sama_1b_test_mevis_valid.py`` (the 1B model and
its test pipeline, which chat runs) with the tokenizer replaced by ``build_tiny_tokenizer(vocab_size=2048,
template=...)`` in the model and the pipeline, the LLM (Qwen2.5-0.5B widths) and the
ViT (InternViT-300M widths, 448 px) cut to ``num_hidden_layers=2`` each, ``torch_dtype='float32'``, the
real STAggregator neck and SAM2-Hiera-T (``configs/_base_/models/sam2_tiny.py`` seg_head); random weights.
The pipeline's ``QFormerPrompts`` uses the tiny Q-Former tokenizer (``build_qformer_tokenizer(tiny=True)``: no
BERT vocabulary offline). The session sees ``max_frames`` sparse frames (default 8) and 5 dense frames (1280
visual tokens in turn 1). Every turn is text only (``segment=False``) with the same short teacher-forced answer,
so both sides do the same work. *cached*: ``ChatSession.ask`` with the KV cache. *recompute*: before each ask
the context is rebuilt from scratch over the whole history (``ChatSession.truncate`` keeping every turn: all
turns' neck outputs and one LLM forward over all tokens), then the turn is asked. ``turn_speedup`` = mean over
turns 2-10 of recompute / cached turn latency (wall time); ``llm_turn_speedup`` the same for the time spent in
``backbone.forward_llm`` only. Each side runs in a fresh subprocess.

``multi_object_cost_ratio`` and ``long_video_mem_ratio`` (SAM2 propagation: 4 versus 1 object on a 60-frame
video, and the peak of tracked allocations on a 600- versus a 60-frame video) come from
``benchmarks/propagation.py``, run as a subprocess with ``--repeats`` rounds of fresh processes; its figures
(medians, spreads, per-configuration times and peaks) are merged into this script's JSON line. See that script
for the method.

Measured on 2 shared CPU cores (other jobs running; 8 sparse frames, 1843 context tokens after 10 turns with the
eval config's ``'\\n'`` after the context tokens), two runs: turn_speedup 11.4 and 12.1 (llm_turn_speedup 21.2,
21.3; 0.38 / 0.46 s vs 4.32 / 5.55 s per turn). The test pipeline's per-turn part (rounds, tokenization,
Q-Former prompts, packing) took 2-21 ms of a cached turn (1.3 % over turns 2-10).

Usage:
    python benchmarks/chat.py [--demo-root data/demo] [--turns 10] [--max-frames 8] [--repeats 3] [--skip-sam2]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

QUESTIONS = ['What is happening in the video?', 'Who is the main character?', 'What colour is the sky?',
             'Where does the scene take place?', 'What does the rabbit do next?', 'Is there any other animal?',
             'How does the video end?', 'What is the mood of the scene?', 'Describe the background.',
             'What time of day is it?', 'Anything else worth noting?', 'Summarise the video.']
ANSWER = 'The rabbit stands in a green meadow.'


# ------------------------------------------------------------------------------------------------ chat
def _build_1b_small():
    import torch
    from mmengine.config import Config

    from sama_mm.tokenizers import build_qformer_tokenizer, build_tiny_tokenizer
    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs/sama/sama_1b_test_mevis_valid.py'))
    backbone = cfg.model.backbone
    backbone.tokenizer = build_tiny_tokenizer(vocab_size=2048, template=backbone.template)
    for step in cfg.test_pipeline:  # chat builds its inputs with the test pipeline: the same tokenizers there
        name = getattr(step['type'], '__name__', step['type'])
        if name == 'ChatTokenize':
            step['tokenizer'] = backbone.tokenizer
        elif name == 'QFormerPrompts':
            step['tokenizer'] = dict(type=build_qformer_tokenizer, tiny=True)
    backbone.torch_dtype = 'float32'
    backbone.llm.config.num_hidden_layers = 2
    backbone.vision.num_hidden_layers = 2
    cfg.model.data_preprocessor.pixel_dtype = 'float32'
    cfg.model.seg_head = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sam2_tiny.py')).seg_head
    return MODELS.build(cfg.model).eval(), cfg


def run_chat(mode: str, video: str, turns: int, max_frames: int) -> dict:
    import torch

    from sama_mm.apis import SAMAInferencer
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, cfg = _build_1b_small()
    inferencer = SAMAInferencer.from_model(
        model, cfg, max_frames=max_frames, min_frames=min(4, max_frames), num_dense=5, vit_image_size=448,
        num_image_tokens=256, context_tokens=True, max_length=8192, max_new_tokens=16)
    backbone = model.backbone
    llm_time = [0.0]
    original = backbone.forward_llm

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        llm_time[0] += time.perf_counter() - start
        return out

    backbone.forward_llm = timed
    session = inferencer.open(video)
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
    parser.add_argument('--repeats', type=int, default=3, help='rounds of benchmarks/propagation.py (>= 3)')
    parser.add_argument('--long-frames', type=int, default=600)
    parser.add_argument('--short-frames', type=int, default=60)
    parser.add_argument('--skip-chat', action='store_true')
    parser.add_argument('--skip-sam2', action='store_true')
    parser.add_argument('--child-chat', nargs=2, metavar=('MODE', 'VIDEO'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_chat:
        print(json.dumps(run_chat(args.child_chat[0], args.child_chat[1], args.turns, args.max_frames)))
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
    if not args.skip_sam2:
        print('[sam2] benchmarks/propagation.py ...', file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, osp.join(REPO, 'benchmarks', 'propagation.py'), '--repeats',
                              str(args.repeats), '--long-frames', str(args.long_frames), '--short-frames',
                              str(args.short_frames)], capture_output=True, text=True, cwd=REPO, env=env)
        if out.returncode != 0:
            raise SystemExit(f'benchmarks/propagation.py failed:\n{out.stderr[-3000:]}')
        figures.update(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
