"""Loading MMEngine checkpoints under ``torch.load(weights_only=True)`` with an explicit allow-list.

torch>=2.6 loads with ``weights_only=True`` by default, which rejects MMEngine's own checkpoints: their
``message_hub`` holds ``HistoryBuffer`` objects and numpy arrays. Turning the check off
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` or ``weights_only=False``) would let any downloaded ``.pth`` run code.
Instead we allow exactly the extra types that MMEngine writes into checkpoints: every other global still makes
the load fail. Foreign weights (released models) are read from safetensors, never through this path.
"""
import contextlib
from typing import Iterator, List

import numpy as np
import torch


def mmengine_checkpoint_globals() -> List:
    """The non-tensor globals an MMEngine training checkpoint needs, and nothing more."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.config.config import ConfigDict
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]
    reconstruct = np.core.multiarray._reconstruct
    scalar = np.core.multiarray.scalar
    # HistoryBuffer pickles its statistics methods as ``getattr(HistoryBuffer, 'min')``. Allowing ``getattr``
    # does not open a code path: the weights-only unpickler only *calls* allow-listed globals, so an attribute
    # looked up with it can be stored as data but never invoked.
    return [HistoryBuffer, ConfigDict, np.ndarray, np.dtype, reconstruct, scalar, getattr, *dtypes]


@contextlib.contextmanager
def trusted_checkpoint_loading() -> Iterator[None]:
    """Within this context, ``torch.load`` accepts MMEngine checkpoints and still rejects anything else."""
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        yield


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
