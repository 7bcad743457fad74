"""Training hooks."""
from .data_skip_hook import DataSkipSummaryHook

__all__ = ['DataSkipSummaryHook']
