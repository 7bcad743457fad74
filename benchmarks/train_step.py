#!/usr/bin/env python
"""Time and memory of one SAMA training step, with and without gradient checkpointing, in one run.

Models:

* ``demo``: ``configs/demo/sama_tiny_demo.py`` on a demo SAMA-239K sample as its pipeline packs it.
* ``1b_4layers``: the SAMA-1B architecture (``configs/sama/sama_1b_mixture.py``: real widths of the
  ViT, projector, Qwen2.5-0.5B LLM, aggregator and head) with 4 LLM layers; to fit these CPUs the ViT keeps
  2 of its 24 layers and SAM2 is Hiera-T at 512 px (both frozen, so they hold no activations for backward),
  and all weights are random. The sample is
  realistic: 32 sparse frames at 448 px (32 context tokens), 5 dense frames (5 x 256 visual tokens, SAM2 on
  them), a question with one region prompt and a 200-token answer with 2 ``[SEG]`` (about 1,560 tokens).

Each (model, checkpointing) pair runs in a fresh subprocess: one warm-up step, then timed steps. Memory is the
process RSS sampled every millisecond by a thread: *held* is the RSS just before the step, *peak* the highest
RSS seen during it, and activation memory is peak - held. ``ckpt_act_mem_ratio`` = checkpointed / plain
activation memory of ``1b_4layers`` (aim <= 0.6); ``ckpt_time_ratio`` the same for step time. The cost of the
context aggregator: ``neck_time_ratio`` and ``neck_act_mem_ratio`` = with / without the neck (``neck=None``, the
same sample without its context and region tokens), plain, on ``1b_4layers`` (and ``demo_neck_time_ratio``). Peak - held also
counts the gradients and the optimizer's temporaries of the trainable parameters (about 200 M in SAMA-1B, most
of them the aggregator's), which checkpointing cannot change, so the run also reports what the forward pass
leaves saved for backward (memory after the forward - held; ``ckpt_forward_saved_ratio``).

On a GPU (``--device cuda``) the models are ``1b_4layers`` and ``1b_full`` (the whole SAMA-1B: 24 ViT
layers, 24 LLM layers, SAM2-Hiera-L at 1024 px), in bf16 autocast with fp32 master weights (as AmpOptimWrapper
trains), and memory comes from the CUDA allocator (peak allocated during the step minus allocated before).

Usage:
    python benchmarks/train_step.py [--steps 2] [--demo-root data/demo] [--device cuda]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _memory import PeakRSS  # noqa: E402
from _memory import rss_bytes as _rss_bytes  # noqa: E402




def _realistic_1b_batch(model, tokenizer, sam2_size: int, with_neck: bool = True):
    """One packed sample of the realistic shape, made of random pixels and a synthetic conversation."""
    import torch

    from sama_mm.structures import SAMADataSample
    from sama_mm.structures.chat_template import get_chat_template
    from sama_mm.structures.region_prompt import region_masks
    from sama_mm.structures.tokens import IMG_CONTEXT, IMG_END, IMG_START, SEG_TOKEN, VP_END, VP_START

    gen = torch.Generator().manual_seed(0)
    num_sparse, dense = 32, [3, 9, 15, 22, 28]
    template = get_chat_template(model.backbone.template.name)
    frames = '\n'.join(IMG_START + IMG_CONTEXT * 256 + IMG_END for _ in dense)
    question = (frames + IMG_CONTEXT * num_sparse + f'What is {VP_START}{IMG_CONTEXT * 2}{VP_END} doing?'
                if with_neck else frames + 'What is the person on the left doing?')
    words = ' '.join(['word'] * 194)
    answer = f'<p> The person </p> {SEG_TOKEN} holds <p> a knife </p> {SEG_TOKEN} and {words}.'
    prompt_ids = tokenizer(template.user_turn(question), add_special_tokens=False)['input_ids']
    answer_ids = tokenizer(answer + template.suffix, add_special_tokens=False)['input_ids']
    answer_ids = answer_ids[:200] if len(answer_ids) > 200 else answer_ids
    input_ids = prompt_ids + answer_ids
    labels = [-100] * len(prompt_ids) + answer_ids
    box = torch.zeros(300, 400)
    box[50:200, 100:300] = 1
    mask16, mask112 = region_masks(box)
    qformer_ids = torch.randint(0, 30000, (24, ), generator=gen)
    qformer_ids[5:7] = torch.tensor([30523, 30524])
    inputs = dict(
        pixel_values=torch.randn(num_sparse, 3, 448, 448, generator=gen),
        dense_positions=torch.tensor(dense), input_ids=torch.tensor(input_ids), labels=torch.tensor(labels),
        sam2_pixel_values=torch.randn(len(dense), 3, sam2_size, sam2_size, generator=gen))
    if with_neck:
        inputs['neck_turns'] = [dict(qformer_input_ids=qformer_ids,
                                     qformer_attention_mask=torch.ones(24, dtype=torch.long),
                                     regions=[dict(frame=dense[0], mask16=mask16, mask112=mask112)])]
    sample = SAMADataSample(metainfo=dict(video_id='synthetic'))
    sample.gt_masks = (torch.rand(2, len(dense), 300, 400, generator=gen) > 0.5).to(torch.uint8)
    return dict(inputs=[inputs], data_samples=[sample]), len(input_ids)


def run_one(name: str, checkpointing: bool, steps: int, demo_root: str, device: str = 'cpu',
            with_neck: bool = True) -> dict:
    """Build the model, make its batch and time ``steps`` training steps (after one warm-up step)."""
    import torch
    from mmengine.config import Config

    from sama_mm.datasets import sama_collate
    from sama_mm.registry import DATASETS, MODELS
    from sama_mm.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(0)
    if name == 'demo':
        demo = 'sama_tiny_demo.py' if with_neck else 'sa2va_tiny_demo.py'
        cfg = Config.fromfile(osp.join(REPO, 'configs/demo', demo))
        cfg.model.backbone.use_activation_checkpointing = checkpointing
        model = MODELS.build(cfg.model)
        # A referring-VOS sample: the same clip and question for both models (the neck adds its tokens).
        ds_cfg = cfg.train_dataloader.dataset.datasets[-1]
        ds_cfg.data_root = osp.join(demo_root, 'rvos') + '/'
        batch = sama_collate([DATASETS.build(ds_cfg)[0]])
        tokens = len(batch['inputs'][0]['input_ids'])
    else:
        from sama_mm.tokenizers import build_tiny_tokenizer
        cfg = Config.fromfile(osp.join(REPO, 'configs/sama/sama_1b_mixture.py'))
        backbone = cfg.model.backbone
        backbone.tokenizer = build_tiny_tokenizer(vocab_size=2048, template=backbone.template)
        backbone.torch_dtype = 'float32'  # fp32 master weights; bf16 compute comes from autocast on the GPU
        backbone.use_activation_checkpointing = checkpointing
        cfg.model.data_preprocessor.pixel_dtype = 'float32'
        if not with_neck:
            cfg.model.neck = None
        sam2_size = 1024
        if name == '1b_4layers':
            backbone.llm.config.num_hidden_layers = 4
            if device == 'cpu':
                sam2_size = 512
                backbone.vision.num_hidden_layers = 2
                sam2 = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sam2_tiny.py')).seg_head
                sam2.hydra_overrides = ['++model.image_size=512',
                                        '++model.memory_attention.layer.self_attention.feat_sizes=[32,32]',
                                        '++model.memory_attention.layer.cross_attention.feat_sizes=[32,32]']
                cfg.model.seg_head = sam2
        with torch.device(device):
            model = MODELS.build(cfg.model)
        batch, tokens = _realistic_1b_batch(model, model.backbone.tokenizer, sam2_size, with_neck)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    cuda = device.startswith('cuda')

    after_forward = []

    def step():
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=cuda):
            data = model.data_preprocessor(batch, True)
            losses = model.loss(**data)
        after_forward.append(torch.cuda.memory_allocated() if cuda else _rss_bytes())
        optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()

    step()  # warm-up: optimizer state and lazy buffers exist before anything is measured
    times, activations, held = [], [], 0
    for _ in range(steps):
        if cuda:
            held = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
            activations.append(torch.cuda.max_memory_allocated() - held)
            continue
        held = _rss_bytes()
        with PeakRSS() as peak:
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        activations.append(peak.peak - held)
    out = dict(model=name, checkpointing=checkpointing, neck=with_neck, tokens=tokens, step_s=min(times),
               held_mb=held / 2**20, activation_mb=min(activations) / 2**20,
               forward_saved_mb=(after_forward[-1] - held) / 2**20,
               trainable_params=sum(p.numel() for p in params), device=device)
    if cuda:
        out.update(gpu=torch.cuda.get_device_name(), peak_mb=torch.cuda.max_memory_allocated() / 2**20)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=2, help='timed steps per configuration (min is reported)')
    parser.add_argument('--demo-root', default=osp.join(REPO, 'data/demo'), help='the demo data set')
    parser.add_argument('--device', default='cpu', help="'cpu' (demo and 1b_4layers) or 'cuda' (1b_4layers, 1b_full)")
    parser.add_argument('--child', nargs=3, metavar=('MODEL', 'CKPT', 'NECK'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child[0], args.child[1] == '1', args.steps, args.demo_root, args.device,
                                 args.child[2] == '1')))
        return
    names = ('demo', '1b_4layers') if args.device == 'cpu' else ('1b_4layers', '1b_full')
    if 'demo' in names and not osp.isfile(osp.join(args.demo_root, 'manifest.json')):
        raise SystemExit(f'{args.demo_root}: no demo data (python data_converters/build_demo_data.py)')
    results = {}
    runs = [(name, ckpt, True) for name in names for ckpt in (False, True)]
    runs += [(name, False, False) for name in names if name != '1b_full']  # the same model without the neck
    env = dict(os.environ, HF_HUB_OFFLINE='1',
               PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    for name, ckpt, neck in runs:
        key = f'{name}_{"ckpt" if ckpt else "plain"}' + ('' if neck else '_noneck')
        print(f'[train_step] {key} ...', file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, '--child', name, str(int(ckpt)), str(int(neck)), '--steps',
                              str(args.steps), '--demo-root', args.demo_root, '--device', args.device],
                             capture_output=True, text=True, cwd=REPO, env=env)
        if out.returncode != 0:
            raise SystemExit(f'{key} failed:\n{out.stderr[-3000:]}')
        results[key] = json.loads(out.stdout.strip().splitlines()[-1])
    plain, ckpt = results['1b_4layers_plain'], results['1b_4layers_ckpt']
    noneck = results['1b_4layers_plain_noneck']
    other = 'demo' if args.device == 'cpu' else '1b_full'
    figures = dict(
        ckpt_act_mem_ratio=round(ckpt['activation_mb'] / plain['activation_mb'], 3),
        ckpt_forward_saved_ratio=round(ckpt['forward_saved_mb'] / plain['forward_saved_mb'], 3),
        ckpt_time_ratio=round(ckpt['step_s'] / plain['step_s'], 3),
        neck_time_ratio=round(plain['step_s'] / noneck['step_s'], 3),
        neck_act_mem_ratio=round(plain['activation_mb'] / noneck['activation_mb'], 3),
        device=args.device, gpu=plain.get('gpu', ''), tokens_1b=plain['tokens'])
    figures[f'{other}_ckpt_act_mem_ratio'] = round(
        results[f'{other}_ckpt']['activation_mb'] / results[f'{other}_plain']['activation_mb'], 3)
    figures[f'{other}_ckpt_forward_saved_ratio'] = round(
        results[f'{other}_ckpt']['forward_saved_mb'] / results[f'{other}_plain']['forward_saved_mb'], 3)
    if 'demo_plain_noneck' in results:
        figures['demo_neck_time_ratio'] = round(
            results['demo_plain']['step_s'] / results['demo_plain_noneck']['step_s'], 3)
    for key, value in results.items():
        for measure in ('step_s', 'activation_mb', 'forward_saved_mb', 'held_mb', 'peak_mb'):
            if measure in value:
                figures[f'{key}_{measure}'] = round(value[measure], 3)
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
