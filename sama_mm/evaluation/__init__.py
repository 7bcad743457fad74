"""Evaluation: pure metric functions (``functional``) and ``BaseMetric`` wrappers (``metrics``)."""
