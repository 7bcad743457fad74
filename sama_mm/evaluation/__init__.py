"""Evaluation: pure metric functions (``functional``) and ``BaseMetric`` wrappers (``metrics``).

Importing this package registers the metrics in :data:`sama_mm.registry.METRICS`.
"""
from . import metrics  # noqa: F401  (registers the metric classes)
from .metrics import *  # noqa: F401,F403
