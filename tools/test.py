#!/usr/bin/env python
"""Evaluate a checkpoint with the MMEngine Runner (MMDetection's tools/test.py interface).

    python tools/test.py CONFIG CHECKPOINT [--out metrics.json]
    python tools/test.py CONVERTED_FOLDER [--out metrics.json]

CONFIG may be a converted folder (or its ``sama_mm_config.json``): its data-only config is read without running
any code, and CHECKPOINT then defaults to the folder. The checkpoint is loaded strictly: a missing, unexpected or
mis-shaped key is an error listing them (:class:`sama_mm.engine.hooks.StrictLoadHook`).
"""
import argparse
import json
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.runner import Runner

from sama_mm.engine.checkpoint import register_safetensors_loading, trusted_checkpoint_loading
from sama_mm.engine.hooks import add_strict_load_hook
from sama_mm.registry import RUNNERS
from sama_mm.utils import register_all_modules
from sama_mm.utils.cli import (add_common_args, close_process_group, init_cpu_process_group, load_config,
                              prepare_out_path, use_cpu_ddp)
from sama_mm.utils.data_config import data_config_path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a SAMA model')
    parser.add_argument('config', help='test config file path, or a converted folder (or its sama_mm_config.json, '
                        'read as data: nothing in it runs)')
    parser.add_argument('checkpoint', nargs='?', help='a .pth written by tools/train.py, or converted release '
                        'weights (a safetensors folder or file); default: CONFIG when it is a converted folder')
    parser.add_argument('--out', help='write the metrics to this JSON file, or with --format-only the '
                        'submission to this folder (the metric\'s outfile_prefix)')
    parser.add_argument('--format-only', action='store_true',
                        help='write the predictions in the benchmark server layout instead of scoring them')
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.checkpoint is None:
        found = data_config_path(args.config)
        if found is None:
            parser.error('CHECKPOINT is required unless CONFIG is a converted folder (holding sama_mm_config.json)')
        args.checkpoint = osp.dirname(found) or '.'
    return args


def check_test_set(cfg, config: str) -> None:
    """Refuse, before anything is built, a config without a test set (a converted release has none)."""
    missing = [k for k in ('test_dataloader', 'test_evaluator') if not cfg.get(k)]
    if missing:
        raise SystemExit(f'error: {config} has no {" or ".join(missing)} to evaluate on; give a benchmark config '
                         f'and the weights instead (tools/test.py configs/sama/sama_1b_test_<set>.py {config})')


def check_format_only(evaluator) -> None:
    """Refuse --format-only for a metric that has no submission format (it would fail on an unknown argument)."""
    import inspect

    from sama_mm.registry import METRICS
    metric = evaluator.get('type')
    cls = METRICS.get(metric) if isinstance(metric, str) else metric
    if cls is not None and inspect.isclass(cls) and 'format_only' not in inspect.signature(cls).parameters:
        raise SystemExit(f'--format-only: {cls.__name__} has no submission format (its set is scored locally); '
                         'run tools/test.py without --format-only')


def check_submission_target(evaluator) -> None:
    """Refuse, before any inference, a --format-only run whose submission folder or zip already exists."""
    from sama_mm.evaluation.metrics.rvos_metric import submission_paths
    prefix = evaluator.get('outfile_prefix')
    if not prefix or evaluator.get('overwrite', False):
        return
    existing = [p for p in submission_paths(prefix) if osp.lexists(p)]
    if existing:
        raise SystemExit(f'error: {" and ".join(existing)} already exist(s); refusing to overwrite a submission '
                         '(choose another --out, or set overwrite=True in the evaluator)')


def load_checkpoint(runner, checkpoint: str) -> None:
    """Load the weights now, so an unreadable checkpoint is a one-line error naming it, not a traceback."""
    import pickle
    import zipfile

    from safetensors import SafetensorError

    from sama_mm.utils.weights import StateDictMismatchError, unreadable_checkpoint_error
    try:
        with trusted_checkpoint_loading():
            runner.load_or_resume()
    except StateDictMismatchError as exc:
        raise SystemExit(f'error: {exc}') from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, RuntimeError, SafetensorError,
            FileNotFoundError) as exc:
        raise SystemExit(f'error: {unreadable_checkpoint_error(checkpoint, exc)}') from None


def format_metrics(metrics: dict) -> str:
    """The metrics as a table; a benchmark reporting ``official/...`` numbers gets them beside ours.

    SAMA-Bench-G/C report both definitions (docs/evaluation.md): ours under the plain names and the official
    scripts' under ``<prefix>/official/<name>``; each row shows one name with both values (``-`` where only one
    side has it).
    """
    rows, seen = [], set()
    for key, value in metrics.items():
        if '/official/' in key:
            continue
        prefix, _, name = key.rpartition('/')
        twin = f'{prefix}/official/{name}' if prefix else f'official/{name}'
        rows.append((key, value, metrics.get(twin, '-')))
        seen.add(twin)
    rows += [(key.replace('/official/', '/'), '-', value) for key, value in metrics.items()
             if '/official/' in key and key not in seen]
    if not any(other != '-' for _, _, other in rows):
        return '\n'.join(f'{key}: {_fmt(value)}' for key, value, _ in rows)
    width = max(len(key) for key, _, _ in rows)
    lines = [f'{"metric":<{width}}  {"ours":>12}  {"official":>12}']
    lines += [f'{key:<{width}}  {_fmt(mine):>12}  {_fmt(other):>12}' for key, mine, other in rows]
    return '\n'.join(lines)


def _fmt(value) -> str:
    return f'{value:.6f}' if isinstance(value, float) else str(value)


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    register_safetensors_loading()
    if args.out and not args.format_only:
        try:
            prepare_out_path(args.out)  # before any work: an existing file or an impossible folder stops here
        except OSError as exc:
            raise SystemExit(f'error: --out {exc}') from None
    cfg = load_config(args)
    check_test_set(cfg, args.config)
    cfg.load_from = args.checkpoint
    if args.format_only:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
        for evaluator in evaluators:
            check_format_only(evaluator)
            evaluator['format_only'] = True
            if args.out:
                evaluator['outfile_prefix'] = args.out
            check_submission_target(evaluator)
    use_cpu_ddp(cfg, 'testing')
    init_cpu_process_group(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    add_strict_load_hook(runner)
    load_checkpoint(runner, args.checkpoint)
    metrics = runner.test()  # the weights are loaded already (load_checkpoint)
    if is_main_process() and metrics:
        print(format_metrics(metrics))
    if args.out and not args.format_only and is_main_process():  # every rank holds the same metrics
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(metrics, f, indent=1, default=float)
        print(f'metrics written to {args.out}')
    close_process_group()


if __name__ == '__main__':
    main()
