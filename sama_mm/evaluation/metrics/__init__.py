"""``BaseMetric`` wrappers registered in :data:`sama_mm.registry.METRICS`."""
from .bench_metrics import GCGMetric, SAMABenchCMetric, SAMABenchGMetric
from .refcoco_metric import RefCOCOMetric
from .rvos_metric import RVOSMetric

__all__ = ['RVOSMetric', 'SAMABenchGMetric', 'SAMABenchCMetric', 'RefCOCOMetric', 'GCGMetric']
