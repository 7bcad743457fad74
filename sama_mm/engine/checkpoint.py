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
