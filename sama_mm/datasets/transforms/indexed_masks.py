"""Mask loading from mask dicts that may be on-disk indexes (``data_converters/build_annotation_index.py``).

:class:`LoadIndexedSegMasks` and :class:`LoadIndexedRegionMasks` behave exactly like :class:`LoadSegMasks` and
:class:`LoadRegionMasks` (same keys, same errors), except that a ``mask_file`` that is an index folder is read
one key at a time (:class:`~sama_mm.datasets.lazy_index.LazyMaskDict`) instead of parsing the whole JSON, which
for the released SAMA-239K dicts is gigabytes per data loader worker. A plain JSON ``mask_file`` still works.
"""
from typing import Any, Dict, List, Sequence

import numpy as np

from ...registry import TRANSFORMS
from ..errors import DataError
from ..lazy_index import open_mask_source
from ._utils import record_of
from .masks import LoadRegionMasks, LoadSegMasks, box_masks, decode_track


@TRANSFORMS.register_module()
class LoadIndexedSegMasks(LoadSegMasks):
    """:class:`LoadSegMasks` reading index-folder mask dicts per key (see the module docstring).

    Required Keys, Added Keys and errors: as :class:`LoadSegMasks`.
    """

    @staticmethod
    def _from_mask_dict(mask_file: str, groups: List[List[Any]], raw: Sequence[int], out: np.ndarray,
                        record: str) -> None:
        masks = open_mask_source(mask_file, record)
        for k, group in enumerate(groups):
            for key in group:
                out[k] |= decode_track(masks, mask_file, key, raw, out.shape[2:], record)


@TRANSFORMS.register_module()
class LoadIndexedRegionMasks(LoadRegionMasks):
    """:class:`LoadRegionMasks` reading index-folder mask dicts per key (see the module docstring).

    Required Keys, Added Keys and errors: as :class:`LoadRegionMasks`.
    """

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        keys = [key for rnd in results['rounds'] for key in rnd.get('region_keys', [])]
        raw = [int(i) for i in results['frame_indices']]
        height, width = (int(v) for v in results['ori_shape'])
        out = np.zeros((len(keys), len(raw), height, width), np.uint8)
        if keys:
            mask_file = results.get('mask_file')
            if not mask_file:
                raise DataError('no_ground_truth', str(results.get('video_path', '?')),
                                f'the sample has {len(keys)} region prompts but no "mask_file"', record)
            masks = open_mask_source(mask_file, record)
            for r, key in enumerate(keys):
                out[r] = decode_track(masks, mask_file, key, raw, (height, width), record)
            if self.box:
                out = box_masks(out)
        results['region_masks'] = out
        return results
