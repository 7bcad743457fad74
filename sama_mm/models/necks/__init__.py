"""Necks: optional parts between the video LLM's visual tokens and the LLM input.

:class:`BaseNeck` is the contract (``forward(visual, turns, spatial=None)``, ``num_tokens``, optional
``encode_spatial``); :class:`STAggregator` is SAMA's spatio-temporal context aggregator.
"""
from .base_neck import BaseNeck
from .st_aggregator import NO_REGION_BIAS_MODES, STAggregator

__all__ = ['BaseNeck', 'STAggregator', 'NO_REGION_BIAS_MODES']
