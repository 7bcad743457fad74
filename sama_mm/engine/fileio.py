"""Atomic local file writes for checkpoints: a reader sees the old file or the complete new one, never a part.

MMEngine's ``LocalBackend`` writes a checkpoint in place, so a process killed while writing (preemption, OOM
killer, a full disk) leaves a truncated ``iter_N.pth`` that ``--resume`` then fails on. Here the bytes go to a
hidden temporary file in the same folder, are flushed to disk, and only then renamed over the target with
``os.replace`` (atomic on POSIX file systems). A process killed before the rename leaves only the temporary
file (``.NAME.partial-PID``), which :class:`~sama_mm.engine.hooks.ResumableCheckpointHook` removes when the
next run starts.
"""
import glob
import os
import os.path as osp
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

PARTIAL_MARK = '.partial-'


def partial_path(filepath: str) -> str:
    """The temporary file :func:`atomic_write` writes ``filepath`` through (per process)."""
    folder, name = osp.split(osp.abspath(filepath))
    return osp.join(folder, f'.{name}{PARTIAL_MARK}{os.getpid()}')


def atomic_write(filepath: Union[str, os.PathLike], data: bytes) -> None:
    """Write ``data`` to ``filepath`` so that the file is either unchanged or completely replaced."""
    filepath = os.fspath(filepath)
    os.makedirs(osp.dirname(osp.abspath(filepath)), exist_ok=True)
    tmp = partial_path(filepath)
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    # Make the rename itself durable (best effort: not every file system lets a folder be opened).
    try:
        fd = os.open(osp.dirname(osp.abspath(filepath)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_partials(folder: str) -> List[str]:
    """Temporary files that :func:`atomic_write` calls of dead processes left in ``folder``."""
    found = []
    for path in glob.glob(osp.join(folder, f'.*{PARTIAL_MARK}*')):
        pid = path.rsplit(PARTIAL_MARK, 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            found.append(path)
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend whose ``put`` and ``put_text`` are atomic (see the module docstring).

    Select it with ``backend_args=dict(backend='atomic_local')`` wherever MMEngine takes ``backend_args``.
    """

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike], encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj.encode(encoding))


register_backend('atomic_local', AtomicLocalBackend, force=True)
