#!/usr/bin/env python
"""Train a model from a config with the MMEngine Runner (MMDetection's tools/train.py interface).

A config with a ``strategy`` (``configs/_base_/strategies/``: DeepSpeed ZeRO-2/3, FSDP) runs on MMEngine's
FlexibleRunner. Launched distributed on a machine without CUDA, DDP uses the gloo backend on CPU. ``load_from``
may name a converted release (a safetensors folder or file) as well as a ``.pth``. ``load_from`` and ``--resume``
are loaded strictly: a missing, unexpected or mis-shaped key stops the run with the list of them
(:class:`sama_mm.engine.hooks.StrictLoadHook`; missing LoRA matrices are accepted when the checkpoint has none),
and an unreadable or refused checkpoint stops it with one line naming the file.
"""
import argparse

import torch
from mmengine.config import Config
from mmengine.runner import FlexibleRunner, Runner

from sama_mm.engine.checkpoint import (is_safetensors_weights, register_safetensors_loading,
                                       report_unreadable_checkpoint, trusted_checkpoint_loading)
from sama_mm.engine.hooks import add_strict_load_hook
from sama_mm.engine.strategies import apply_strategy, strategy_name, type_name
from sama_mm.registry import RUNNERS
from sama_mm.utils import register_all_modules
from sama_mm.utils.cli import (add_common_args, close_process_group, init_cpu_process_group, load_config,
                              use_cpu_ddp)

# --amp: the mixed-precision counterpart of each full-precision optimizer wrapper.
AMP_COUNTERPART = {'OptimWrapper': 'AmpOptimWrapper', 'GuardedOptimWrapper': 'GuardedAmpOptimWrapper'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a SAMA model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='train with bf16 automatic mixed precision')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or, without a path, from the latest checkpoint in the work dir')
    add_common_args(parser)
    return parser.parse_args(argv)


def build_cfg(args) -> Config:
    """The config after the command-line overrides."""
    cfg = load_config(args)
    if args.amp:
        current = type_name(cfg.optim_wrapper.get('type', 'OptimWrapper'))
        if current in AMP_COUNTERPART:
            cfg.optim_wrapper.type = AMP_COUNTERPART[current]
            cfg.optim_wrapper.dtype = 'bfloat16'
        else:
            print(f'--amp: optim_wrapper is already {current}')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if is_safetensors_weights(args.resume):
            raise SystemExit(f'error: --resume {args.resume}: resuming needs a training checkpoint (.pth) written by '
                             f'tools/train.py; to start from these weights use --cfg-options load_from={args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume
    for note in apply_strategy(cfg):
        print(f'{strategy_name(cfg)}: {note}')
    if (args.launcher != 'none' and not torch.cuda.is_available()
            and strategy_name(cfg) in ('DeepSpeedStrategy', 'FSDPStrategy')):
        raise SystemExit(f'{strategy_name(cfg)} needs GPUs; this machine has no CUDA device')
    use_cpu_ddp(cfg, 'training')
    return cfg


def runner_class(cfg: Config) -> type:
    """The runner class ``cfg`` trains with: ``runner_type`` if set (e.g. FlexibleRunner for a strategy)."""
    runner_type = cfg.get('runner_type', 'Runner')
    return RUNNERS.get(runner_type) if isinstance(runner_type, str) else runner_type


def build_runner(cfg: Config):
    """The runner of ``cfg``, loading checkpoints strictly and reporting an unreadable one in one line."""
    init_cpu_process_group(cfg)
    cls = runner_class(cfg)
    runner = cls.from_cfg(cfg) if cls in (Runner, FlexibleRunner) else RUNNERS.build(cfg)
    add_strict_load_hook(runner)
    report_unreadable_checkpoint(runner)
    return runner


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    register_safetensors_loading()
    cfg = build_cfg(args)
    runner = build_runner(cfg)
    from sama_mm.utils.weights import StateDictMismatchError
    try:
        with trusted_checkpoint_loading():
            runner.train()
    except StateDictMismatchError as exc:  # raised by StrictLoadHook while loading load_from / --resume
        raise SystemExit(f'error: {exc}') from None
    close_process_group()


if __name__ == '__main__':
    main()
