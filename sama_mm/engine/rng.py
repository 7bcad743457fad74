"""The random-number state of a process (python, numpy, torch CPU and CUDA) as checkpoint-safe data.

The state is stored as lists, ints and tensors only, so a checkpoint holding it still loads under
``torch.load(weights_only=True)`` with the allow-list of :mod:`sama_mm.engine.checkpoint` (no extra globals).
"""
import random
from typing import Any, Dict

import numpy as np
import torch

# The message-hub key under which ResumableCheckpointHook saves every rank's state (a list indexed by rank).
RNG_STATES_KEY = 'rng_states'


def get_rng_state() -> Dict[str, Any]:
    """This process's generator states: ``python``, ``numpy``, ``torch`` and ``cuda`` (one per device)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return dict(
        python=[version, list(internal), gauss],
        numpy=[name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    )


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the states returned by :func:`get_rng_state` (CUDA ones only when the device count matches)."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
