"""Training-engine components: hooks, loops and optimizer wrappers."""
from .hooks import DataSkipSummaryHook

__all__ = ['DataSkipSummaryHook']
