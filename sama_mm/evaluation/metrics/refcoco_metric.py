"""Referring image segmentation (RefCOCO / RefCOCO+ / RefCOCOg): cIoU and gIoU."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from ...datasets.errors import DataError
from ...datasets.io import load_json
from ...registry import METRICS
from ..functional.grounding import ciou_giou, mask_intersection_union
from ._utils import as_bool_array, coco_annotation_mask, get_field


@METRICS.register_module()
class RefCOCOMetric(BaseMetric):
    """cIoU (sum of intersections / sum of unions over the split) and gIoU (mean per-sample IoU, an empty
    union counting 1) of referring segmentation, reported x100.

    Each data sample is one referring sentence: ``pred_masks`` ``[K, H, W]`` or ``[K, 1, H, W]`` at the image
    resolution, of which the first track is the answer (K = 0 is an empty prediction). The ground truth is
    the OR of the COCO annotations named by the sample's meta ``ann_id`` (int or list) in ``ann_file`` (the
    split's ``instances.json``, polygons or RLE), loaded lazily; without ``ann_file`` the sample's own
    ``gt_masks`` (first track) is used. Intersections and unions are computed in :meth:`process`, so no mask
    is kept in memory.

    Args:
        ann_file (str, optional): COCO ``instances.json`` of the images.
        collect_device (str): See :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): Metric-name prefix (default ``refcoco``).
    """

    default_prefix = 'refcoco'

    def __init__(self, ann_file: Optional[str] = None, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self._anns = None

    def _gt_from_file(self, ann_ids, shape) -> np.ndarray:
        if self._anns is None:
            data = load_json(self.ann_file)
            self._anns = {str(a['id']): a for a in data.get('annotations', [])}
            self._images = {str(i['id']): i for i in data.get('images', [])}
        out = np.zeros(shape, bool)
        for aid in ann_ids if isinstance(ann_ids, (list, tuple)) else [ann_ids]:
            ann = self._anns.get(str(aid))
            if ann is None:
                raise DataError('unknown_annotation', self.ann_file, f'annotation id {aid!r} not found')
            img = self._images.get(str(ann.get('image_id')), {})
            h, w = int(img.get('height', shape[0])), int(img.get('width', shape[1]))
            if (h, w) != tuple(shape):
                raise DataError('size_mismatch', self.ann_file, f'image of annotation {aid} is {(h, w)} (HxW), the '
                                f'prediction {tuple(shape)}', aid)
            out |= coco_annotation_mask(ann, h, w, self.ann_file)
        return out

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            pred = as_bool_array(get_field(sample, 'pred_masks'))
            shape = get_field(sample, 'ori_shape')
            if pred is not None and pred.ndim == 4:
                pred = pred[:, 0]
            if pred is not None and pred.ndim != 3:
                raise ValueError(f'pred_masks must be [K, H, W] or [K, 1, H, W], got {pred.shape}')
            if pred is not None:
                shape = pred.shape[1:]
            if self.ann_file is not None:
                ann_id = get_field(sample, 'ann_id', get_field(sample, 'ann_ids'))
                if ann_id is None or shape is None:
                    raise ValueError('RefCOCOMetric with ann_file needs meta ann_id and pred_masks or ori_shape')
                gt = self._gt_from_file(ann_id, tuple(shape))
            else:
                gt = as_bool_array(get_field(sample, 'gt_masks'))
                if gt is None:
                    raise ValueError('RefCOCOMetric without ann_file needs gt_masks in every data sample')
                gt = gt.reshape((-1,) + gt.shape[-2:])[0]
            p = pred[0] if pred is not None and len(pred) else np.zeros(gt.shape, bool)
            self.results.append(mask_intersection_union(p, gt))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        scores = ciou_giou([i for i, _ in results], [u for _, u in results])
        return {k: 100 * v for k, v in scores.items()}
