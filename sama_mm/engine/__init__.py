"""Training-engine components: hooks, optimizer wrappers, atomic checkpoint files, strategies.

The resumable training loops live in :mod:`sama_mm.engine.loops`, which is not imported here: it needs
``mmengine.runner``, whose import pulls in DeepSpeed (seconds, and a warning on stdout) for every tool that only
registers modules. The ``LOOPS`` registry names that module in its locations.
"""
from .fileio import AtomicLocalBackend
from .hooks import DataSkipSummaryHook, NonFiniteLossHook, ResumableCheckpointHook, StepSeedHook
from .optim_wrappers import GuardedAmpOptimWrapper, GuardedOptimWrapper

__all__ = ['AtomicLocalBackend', 'DataSkipSummaryHook', 'NonFiniteLossHook', 'ResumableCheckpointHook',
           'StepSeedHook', 'GuardedAmpOptimWrapper', 'GuardedOptimWrapper']
