"""What tools/train.py and tools/test.py share: their common flags and how they change the config."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from sama_mm.utils.config_check import ConfigError, check_config, read_config


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank`` (MMDetection's names)."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics '
                        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs (e.g. train_cfg.max_iters=10)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the common flags: launcher, overrides and the work dir.

    The config (after ``--cfg-options``) is checked before anything is built or written
    (:func:`sama_mm.utils.config_check.check_config`), and a ``checkpoint`` argument must name an existing file.
    A problem ends the program with a one-line ``error: ...`` message naming the file or config key (exit
    status 1), before the work dir is touched.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    try:
        cfg = read_config(args.config)
        if args.cfg_options is not None:
            try:
                cfg.merge_from_dict(args.cfg_options)
            except (KeyError, TypeError, IndexError, AttributeError) as exc:
                text = str(exc).strip('"\'')
                text = text if len(text) <= 160 else text[:157] + '...'
                raise ConfigError('--cfg-options', f'cannot apply {args.cfg_options}: {text}') from None
        check_config(cfg)
    except ConfigError as exc:
        raise SystemExit(f'error: {exc}') from None
    checkpoint = getattr(args, 'checkpoint', None)
    if checkpoint is not None and '://' not in checkpoint and not osp.exists(checkpoint):
        raise SystemExit(f'error: {checkpoint}: checkpoint not found')
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
