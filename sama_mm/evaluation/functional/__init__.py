"""Pure metric functions on numpy arrays (no files, no registries)."""
from .jf import (boundary_f_measure, boundary_map, boundary_precision_recall, boundary_tolerance, disk,
                 jf_per_object, region_similarity)

__all__ = ['region_similarity', 'boundary_f_measure', 'boundary_precision_recall', 'boundary_map',
           'boundary_tolerance', 'disk', 'jf_per_object']
