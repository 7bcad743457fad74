"""Mask loading from mask dicts that may be on-disk indexes (``data_converters/build_annotation_index.py``).

:class:`LoadIndexedSegMasks` and :class:`LoadIndexedRegionMasks` behave exactly like :class:`LoadSegMasks` and
:class:`LoadRegionMasks` (same keys, same errors), except that a ``mask_file`` that is an index folder is read
one key at a time (:class:`~sama_mm.datasets.lazy_index.LazyMaskDict`) instead of parsing the whole JSON, which
for the released SAMA-239K dicts is gigabytes per data loader worker. A plain JSON ``mask_file`` still works.
"""
from ...registry import TRANSFORMS
from ..lazy_index import open_mask_source
from .masks import LoadRegionMasks, LoadSegMasks


@TRANSFORMS.register_module()
class LoadIndexedSegMasks(LoadSegMasks):
    """:class:`LoadSegMasks` reading index-folder mask dicts per key (see the module docstring).

    Required Keys, Added Keys and errors: as :class:`LoadSegMasks`.
    """

    open_masks = staticmethod(open_mask_source)


@TRANSFORMS.register_module()
class LoadIndexedRegionMasks(LoadRegionMasks):
    """:class:`LoadRegionMasks` reading index-folder mask dicts per key (see the module docstring).

    Required Keys, Added Keys and errors: as :class:`LoadRegionMasks`.
    """

    open_masks = staticmethod(open_mask_source)
