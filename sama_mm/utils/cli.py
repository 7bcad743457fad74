"""What tools/train.py and tools/test.py share: their common flags, how they change the config, and the
process group of a distributed run (gloo on a machine without CUDA, torn down when the run ends); and
:func:`prepare_out_path`, the check of an ``--out FILE`` that every tool runs before any work, and
:func:`emit_report`, how the evaluation tools end."""
import argparse
import os
import os.path as osp
import sys
from typing import Optional

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


def use_cpu_ddp(cfg: Config, job: str) -> None:
    """For a distributed launch (``cfg.launcher`` not ``'none'``) on a machine without CUDA: DDP on the CPU.

    Sets the gloo backend and a DistributedDataParallel wrapper without device ids, and says so on stdout
    (``job``: what runs, e.g. ``'training'``). Anything else is left as it is.
    """
    import torch
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    print(f'no CUDA device: distributed {job} on CPU (gloo backend)')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel', find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def init_cpu_process_group(cfg: Config) -> None:
    """Initialise the gloo process group of a torchrun-launched run (``cfg.launcher == 'pytorch'``) without CUDA.

    MMEngine's ``init_dist`` selects a CUDA device before ``init_process_group``; on CPU the group is initialised
    here from torchrun's environment, and the runner then finds it initialised.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher') == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def close_process_group() -> None:
    """After a finished distributed run: wait for every rank, then destroy the process group.

    Without it the ranks leave the interpreter with the process group alive, the first to finish while rank 0 still
    writes the last checkpoint or metrics; its C++ teardown can then abort ("terminate called without an active
    exception", SIGABRT: 3 of 8 bare two-rank gloo runs here), turning a finished run into a failed launch.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def prepare_out_path(path: str) -> str:
    """Check an output file path before any work is done, and create its parent folder.

    For the ``--out FILE`` of the command-line tools: call it right after parsing the arguments, so that a bad
    output location stops the run at once instead of after the whole job. An existing path is never
    overwritten; a missing parent folder is created (with its parents), as the tools do for their work dirs.

    Args:
        path: The output file.

    Returns:
        ``path``, unchanged, for chaining (``args.out = prepare_out_path(args.out)``).

    Raises:
        FileExistsError: If ``path`` exists (message: ``<path> already exists; refusing to overwrite it``).
        NotADirectoryError: If ``path`` ends with a path separator (it names a folder, not a file), or a file
            is in the way of its parent folder.
        OSError: If the parent folder cannot be created for another reason (e.g. ``PermissionError``); the
            message names the folder and ``path``.

    Every error is an ``OSError`` with a one-line message: a tool catches ``OSError`` and prints
    ``error: <message>``.
    """
    if osp.lexists(path):
        raise FileExistsError(f'{path} already exists; refusing to overwrite it')
    if path.endswith((os.sep, '/')) or osp.basename(path) in ('', '.', '..'):
        raise NotADirectoryError(f'{path} names a folder; give the path of a file to write')
    parent = osp.dirname(osp.abspath(path))
    blocker = parent
    while blocker != osp.dirname(blocker) and not osp.isdir(blocker):
        if osp.lexists(blocker):
            raise NotADirectoryError(f'cannot create the folder {parent} for {path}: {blocker} is a file')
        blocker = osp.dirname(blocker)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise type(exc)(f'cannot create the folder {parent} for {path}: {reason}') from None
    return path


def emit_report(text: str, out: Optional[str] = None) -> None:
    """The end of a tool that reports one JSON text: print it and, with ``--out``, write it to that file.

    The file is created, never overwritten (mode ``'x'``): the tool checked the path with :func:`out_path_usable`
    or :func:`prepare_out_path` before its work, so an existing file here means something else wrote it since.

    Args:
        text: The report (written with a trailing newline).
        out: The ``--out`` file, or None to print only.
    """
    if out:
        with open(out, 'x', encoding='utf-8') as f:
            f.write(text + '\n')
    print(text)


def out_path_usable(path: str) -> bool:
    """:func:`prepare_out_path` for a tool whose ``main`` returns its exit status: False (after printing
    ``error: <message>`` to stderr) when ``path`` cannot be written, True once its folder exists."""
    try:
        prepare_out_path(path)  # before any work: refuses an existing file, creates a missing folder
    except OSError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return False
    return True


def _user_error_hook(exc_type, exc, tb, _default=sys.excepthook) -> None:
    """Print a user error (bad data, bad config, refusing to overwrite) as one line; anything else as usual."""
    from sama_mm.datasets.errors import DataError
    if issubclass(exc_type, (DataError, ConfigError, FileExistsError)):
        print(f'error: {exc}', file=sys.stderr)
    else:
        _default(exc_type, exc, tb)


def install_user_error_hook() -> None:
    """Make uncaught user errors end a command-line run with ``error: <message>`` instead of a traceback.

    User errors are :class:`~sama_mm.datasets.errors.DataError` (a data file, record and what is wrong with
    it), :class:`~sama_mm.utils.config_check.ConfigError` and ``FileExistsError`` (an output that would be
    overwritten); their messages already say where the problem is. The exit status stays 1. Other exceptions
    (bugs) keep their traceback.
    """
    sys.excepthook = _user_error_hook


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the common flags: launcher, overrides and the work dir.

    The config (after ``--cfg-options``) is checked before anything is built or written
    (:func:`sama_mm.utils.config_check.check_config`), and a ``checkpoint`` argument must name an existing file.
    A problem ends the program with a one-line ``error: ...`` message naming the file or config key (exit
    status 1), before the work dir is touched. Data errors found later (while the Runner builds the datasets or
    evaluates) are printed the same way (:func:`install_user_error_hook`).
    """
    install_user_error_hook()
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
        cfg.work_dir = osp.join('./work_dirs', _config_name(args.config))
    return cfg


def _config_name(config: str) -> str:
    """The name of a config for its default work dir: the file name, or a converted folder's name."""
    from sama_mm.utils.data_config import DATA_CONFIG_FILE
    path = osp.normpath(osp.abspath(config))
    if osp.basename(path) == DATA_CONFIG_FILE:
        path = osp.dirname(path)
    return osp.splitext(osp.basename(path))[0] if osp.isfile(path) else osp.basename(path)


def config_or_converted_folder(config: Optional[str], checkpoint: Optional[str]) -> str:
    """The ``--config`` of chat and the web demo, defaulting to the converted folder that ``--checkpoint`` names.

    A converted folder carries a data-only config (``sama_mm_config.json``, read without running any code), so
    ``--checkpoint FOLDER`` alone is enough.

    Raises:
        SystemExit: ``error: ...`` when neither is given, or the checkpoint is not a converted folder.
    """
    from sama_mm.utils.data_config import DATA_CONFIG_FILE
    if config is not None:
        return config
    if checkpoint is not None and osp.isfile(osp.join(checkpoint, DATA_CONFIG_FILE)):
        return checkpoint
    where = f' ({checkpoint} has no {DATA_CONFIG_FILE})' if checkpoint is not None else ''
    raise SystemExit(f'error: give --config, or a converted folder (holding {DATA_CONFIG_FILE}) as --checkpoint'
                     f'{where}')
