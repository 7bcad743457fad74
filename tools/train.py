#!/usr/bin/env python
"""Train a model from a config with the MMEngine Runner (MMDetection's tools/train.py interface)."""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

from sama_mm.engine.checkpoint import trusted_checkpoint_loading
from sama_mm.registry import RUNNERS
from sama_mm.utils import register_all_modules
from sama_mm.utils.cli import add_common_args, load_config


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
        if cfg.optim_wrapper.get('type', 'OptimWrapper') in ('AmpOptimWrapper', 'DeepSpeedOptimWrapper'):
            print(f'--amp: optim_wrapper is already {cfg.optim_wrapper.type}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.dtype = 'bfloat16'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = build_cfg(args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    with trusted_checkpoint_loading():
        runner.train()


if __name__ == '__main__':
    main()
