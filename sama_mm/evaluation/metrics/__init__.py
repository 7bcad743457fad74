"""``BaseMetric`` wrappers registered in :data:`sama_mm.registry.METRICS`."""
from .rvos_metric import RVOSMetric

__all__ = ['RVOSMetric']
