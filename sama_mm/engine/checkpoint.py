"""Loading MMEngine checkpoints under ``torch.load(weights_only=True)`` with an explicit allow-list.

torch>=2.6 loads with ``weights_only=True`` by default, which rejects MMEngine's own checkpoints: their
``message_hub`` holds ``HistoryBuffer`` objects and numpy arrays. Turning the check off
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` or ``weights_only=False``) would let any downloaded ``.pth`` run code.
Instead we allow exactly the extra types that MMEngine writes into checkpoints: every other global still makes
the load fail. Foreign weights (released models) are read from safetensors, never through this path.

The weights-only unpickler calls every allow-listed global with arguments taken from the file and lets it fill
plain dicts, so an allowed global must not hand out anything beyond data. Two of the names an MMEngine
checkpoint uses are therefore not given their real objects:

* ``builtins.getattr`` (protocol 2 pickles ``HistoryBuffer.min`` as ``getattr(HistoryBuffer, 'min')``) resolves
  to :func:`checkpoint_getattr`, which answers only those four statistics lookups. The real ``getattr`` reaches
  ``getattr.__self__`` (the builtins module, hence ``exec``) and ``function.__globals__`` (a dict a pickle can
  write into), which is enough to run code during ``torch.load``.
* ``mmengine.logging.history_buffer.HistoryBuffer`` resolves to :class:`CheckedHistoryBuffer`: MMEngine's
  ``HistoryBuffer.__setstate__`` writes the pickled ``statistics_methods`` into the *class* dict that every
  buffer of the process calls later, so the state is checked first (only MMEngine's own methods, only the
  attributes MMEngine writes) and the object becomes a plain ``HistoryBuffer`` afterwards.

The other entries (numpy's array and scalar reconstruction, numpy dtypes, ``ConfigDict``) only build data
objects from data; none of them stores into a class, a module or a function.
"""
import contextlib
import pickle
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

# The HistoryBuffer statistics an MMEngine checkpoint pickles by name (``HistoryBuffer._set_default_statistics``).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')
# The attributes ``HistoryBuffer.__getstate__`` writes.
HISTORY_BUFFER_STATE_KEYS = ('max_length', '_log_history', '_count_history', 'statistics_methods')
GETATTR_NAME = 'builtins.getattr'
HISTORY_BUFFER_NAME = 'mmengine.logging.history_buffer.HistoryBuffer'


class BlockedCheckpointObject(pickle.UnpicklingError):
    """A checkpoint asked the allow-list for something it refuses; the message names what was asked."""


def _describe(obj: Any) -> str:
    """A short name for an object taken from a pickle, without calling anything the object defines."""
    if obj is CheckedHistoryBuffer or obj is checkpoint_getattr:  # named as the pickle names them
        return HISTORY_BUFFER_NAME if obj is CheckedHistoryBuffer else GETATTR_NAME
    if isinstance(obj, (type, type(len), type(_describe))):
        return f'{getattr(obj, "__module__", None) or "builtins"}.{getattr(obj, "__qualname__", "?")}'
    if isinstance(obj, (str, int, float, bool, type(None))):
        text = repr(obj)
        return text if len(text) <= 60 else text[:57] + '...'
    return f'a {type(obj).__module__}.{type(obj).__qualname__} object'


def checkpoint_getattr(obj: Any, name: Any, *default: Any) -> Callable:
    """What ``builtins.getattr`` means inside a checkpoint: ``HistoryBuffer.min/max/mean/current`` only.

    Raises:
        BlockedCheckpointObject: For any other lookup, naming the object and the attribute asked for.
    """
    if (not default and (obj is HistoryBuffer or obj is CheckedHistoryBuffer) and type(name) is str
            and name in HISTORY_BUFFER_STATISTICS):
        return getattr(HistoryBuffer, name)
    args = ', '.join(_describe(a) for a in (obj, name, *default))
    raise BlockedCheckpointObject(
        f'getattr({args}) is blocked: a checkpoint may only look up HistoryBuffer.'
        f'{"/".join(HISTORY_BUFFER_STATISTICS)}')


def check_history_buffer_state(state: Any) -> None:
    """Refuse a pickled ``HistoryBuffer`` state holding more than MMEngine writes.

    Raises:
        BlockedCheckpointObject: For a state that is not a dict, an attribute MMEngine does not write, or a
            statistics method other than MMEngine's own ``HistoryBuffer.min/max/mean/current``.
    """
    if type(state) is not dict:
        raise BlockedCheckpointObject(f'HistoryBuffer state {_describe(state)} is blocked: expected a dict')
    for key in state:
        if not (type(key) is str and key in HISTORY_BUFFER_STATE_KEYS):
            raise BlockedCheckpointObject(f'HistoryBuffer state key {_describe(key)} is blocked: only '
                                          f'{", ".join(HISTORY_BUFFER_STATE_KEYS)} are restored')
    methods = state.get('statistics_methods', {})
    if type(methods) is not dict:
        raise BlockedCheckpointObject(f'HistoryBuffer statistics_methods {_describe(methods)} is blocked: '
                                      'expected a dict')
    for name, method in methods.items():
        if not (type(name) is str and name in HISTORY_BUFFER_STATISTICS and method is getattr(HistoryBuffer, name)):
            raise BlockedCheckpointObject(
                f'HistoryBuffer statistics method {_describe(name)} = {_describe(method)} is blocked: only '
                f'MMEngine\'s own HistoryBuffer.{"/".join(HISTORY_BUFFER_STATISTICS)} are restored')


class CheckedHistoryBuffer(HistoryBuffer):
    """What the ``HistoryBuffer`` global of a checkpoint resolves to under :func:`trusted_checkpoint_loading`.

    Pickles restore a buffer as ``__new__`` + ``__setstate__``: the state is checked with
    :func:`check_history_buffer_state`, handed to MMEngine's ``__setstate__``, and the object then becomes a
    plain ``HistoryBuffer`` (saved again under MMEngine's name; a second ``__setstate__`` from the same pickle is
    refused by the unpickler). Calling the class, which no MMEngine checkpoint does, is refused.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise BlockedCheckpointObject('HistoryBuffer(...) called from a checkpoint is blocked: MMEngine '
                                      'checkpoints restore a HistoryBuffer from its state')

    def __setstate__(self, state: Any) -> None:
        check_history_buffer_state(state)
        HistoryBuffer.__setstate__(self, state)
        self.__class__ = HistoryBuffer


def mmengine_checkpoint_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The non-tensor globals an MMEngine training checkpoint needs, and nothing more.

    ``(obj, name)`` entries make the pickle's global ``name`` resolve to ``obj`` (see the module docstring).
    """
    from mmengine.config.config import ConfigDict
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]
    reconstruct = np.core.multiarray._reconstruct
    scalar = np.core.multiarray.scalar
    return [(CheckedHistoryBuffer, HISTORY_BUFFER_NAME), (checkpoint_getattr, GETATTR_NAME), ConfigDict,
            np.ndarray, np.dtype, reconstruct, scalar, *dtypes]


def _safe_global_name(entry: Union[Callable, Tuple[Callable, str]]) -> str:
    return entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'


@contextlib.contextmanager
def trusted_checkpoint_loading() -> Iterator[None]:
    """Within this context, ``torch.load`` accepts MMEngine checkpoints and still rejects anything else.

    Nested uses are fine (the inner one leaves the outer one's entries in place).

    Raises:
        RuntimeError: If torch's safe globals already map one of our names (``builtins.getattr``, MMEngine's
            ``HistoryBuffer``) to another object: which of the two torch would use is undefined.
    """
    ours = mmengine_checkpoint_globals()
    current = torch.serialization.get_safe_globals()
    for entry in current:
        name = _safe_global_name(entry)
        if name in (GETATTR_NAME, HISTORY_BUFFER_NAME) and entry not in ours:
            found = _describe(entry[0] if isinstance(entry, tuple) else entry)
            raise RuntimeError(f'torch.serialization safe globals allow {name} as {found}, which '
                               'lets a checkpoint run code; remove it (sama_mm/engine/checkpoint.py allows a '
                               'restricted version)')
    with torch.serialization.safe_globals([entry for entry in ours if entry not in current]):
        yield


def checkpoint_to_load(runner) -> Optional[str]:
    """The checkpoint ``runner.load_or_resume()`` reads: the ``resume`` path, the latest one of the work dir
    (``resume=True`` without ``load_from``) or ``load_from``; None when it reads none."""
    resume, load_from = getattr(runner, '_resume', False), getattr(runner, '_load_from', None)
    if isinstance(resume, str):  # FlexibleRunner accepts the path as ``resume``
        return resume
    if resume and load_from is None:
        from mmengine.runner.checkpoint import find_latest_checkpoint
        return find_latest_checkpoint(runner.work_dir)
    return load_from


def report_unreadable_checkpoint(runner) -> None:
    """Make ``runner`` load or resume under the allow-list, stopping with one line when the checkpoint is unreadable.

    ``Runner.train/val/test`` call ``load_or_resume`` once the optimizer and schedulers are built; this wraps that
    call on this runner: it runs within :func:`trusted_checkpoint_loading`, and a checkpoint that is broken,
    missing or refused by the allow-list raises ``SystemExit('error: <path>: cannot read the checkpoint: ...')``
    (see :func:`sama_mm.utils.weights.unreadable_checkpoint_error`) instead of torch's multi-line traceback.
    Other errors (e.g. an optimizer state that does not fit) are left as they are.
    """
    from sama_mm.utils.weights import unreadable_checkpoint_error, unreadable_checkpoint_exceptions
    load_or_resume = runner.load_or_resume
    if getattr(load_or_resume, 'reports_unreadable_checkpoint', False):
        return

    def checked_load_or_resume():
        try:
            with trusted_checkpoint_loading():
                return load_or_resume()
        except (*unreadable_checkpoint_exceptions(), FileNotFoundError) as exc:
            checkpoint = checkpoint_to_load(runner) or 'checkpoint'
            raise SystemExit(f'error: {unreadable_checkpoint_error(checkpoint, exc)}') from None

    checked_load_or_resume.reports_unreadable_checkpoint = True
    runner.load_or_resume = checked_load_or_resume


def is_safetensors_weights(path: str) -> bool:
    """Whether ``path`` names released-format weights: a converted folder or a ``.safetensors`` file."""
    import os.path as osp
    return osp.isdir(path) or path.endswith('.safetensors')


def register_safetensors_loading() -> None:
    """Let MMEngine's checkpoint loading (``load_from``, ``tools/test.py CHECKPOINT``) read safetensors weights.

    MMEngine picks a loader per path prefix and reads every local path with ``torch.load``, so a converted
    release (a folder of safetensors, or one ``.safetensors`` file) had to be re-saved as a ``.pth`` first. The
    local loader is replaced by one that reads those with :func:`sama_mm.utils.weights.read_checkpoint` (no
    unpickling) and hands every other path to MMEngine's own loader. Calling it again changes nothing.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    mmengine_local = CheckpointLoader._schemes['']
    if getattr(mmengine_local, 'reads_safetensors', False):
        return

    def load_local(filename, map_location=None):
        if not is_safetensors_weights(filename):
            return mmengine_local(filename, map_location)
        from sama_mm.utils.weights import read_checkpoint
        state = read_checkpoint(filename)
        if isinstance(map_location, (str, torch.device)) and str(map_location) != 'cpu':
            state = {k: v.to(map_location) for k, v in state.items()}
        return dict(state_dict=state)

    load_local.reads_safetensors = True
    CheckpointLoader.register_scheme(prefixes='', loader=load_local, force=True)
