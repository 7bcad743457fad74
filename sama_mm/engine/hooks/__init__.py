"""Training hooks."""
from .checkpoint_hook import ResumableCheckpointHook
from .data_skip_hook import DataSkipSummaryHook
from .nonfinite_hook import NonFiniteLossHook
from .step_seed_hook import StepSeedHook

__all__ = ['DataSkipSummaryHook', 'NonFiniteLossHook', 'ResumableCheckpointHook', 'StepSeedHook']
