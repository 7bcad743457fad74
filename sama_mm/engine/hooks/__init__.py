"""Training hooks."""
from .checkpoint_hook import ResumableCheckpointHook
from .data_skip_hook import DataSkipSummaryHook
from .nonfinite_hook import NonFiniteLossHook
from .progress_hook import ProgressBarHook
from .step_seed_hook import StepSeedHook
from .strict_load_hook import StrictLoadHook, add_strict_load_hook, check_checkpoint_fits

__all__ = ['DataSkipSummaryHook', 'NonFiniteLossHook', 'ProgressBarHook', 'ResumableCheckpointHook', 'StepSeedHook', 'StrictLoadHook',
           'add_strict_load_hook', 'check_checkpoint_fits']
