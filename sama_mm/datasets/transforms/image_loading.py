"""Images as one-frame videos, and the masks of image datasets.

:class:`ImageInit` lets the video pipeline run unchanged on images: after it, ``SampleFrames`` picks frame 0 as
the only sparse and dense frame and ``VideoDecode`` reads the image. :class:`LoadImageMasks` decodes the COCO
segmentations carried by image data infos (see ``sama_mm/datasets/image/base.py``) for the ``[SEG]``
ground truth and the ``<mask>`` region prompts. The ViT input of an image is made by ``InternVLImageTransform``
(one 448 px view) or ``DynamicTiles`` (InternVL's dynamic tiles, as the released training; see ``tiles.py``).
"""
import os.path as osp
from typing import Dict, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures import MaskFormatError, decode_segmentation
from ..errors import DataError, VideoReadError
from ._utils import record_of
from .masks import box_masks


@TRANSFORMS.register_module()
class ImageInit(BaseTransform):
    """Open an image as a video of one frame (reads the header only).

    Required Keys:

        - img_path (str): The image file.

    Added Keys:

        - video_path (str): ``img_path``.
        - frame_files (list[str]): ``[img_path]`` (the handle :class:`VideoDecode` reads).
        - num_frames (int): 1.
        - ori_shape (tuple[int, int]): ``(H, W)`` of the image.

    Raises:
        VideoReadError: The image is missing or unreadable, naming the file and the record.
    """

    def transform(self, results: Dict) -> Dict:
        path = results['img_path']
        record = record_of(results)
        if not osp.isfile(path):
            raise VideoReadError('missing_image', path, 'image file not found', record)
        from PIL import Image
        try:
            with Image.open(path) as img:
                width, height = img.size
        except OSError as exc:
            raise VideoReadError('unreadable_image', path, f'cannot read image: {exc}', record) from None
        results.update(video_path=path, frame_files=[path], num_frames=1, ori_shape=(height, width))
        return results


@TRANSFORMS.register_module()
class LoadImageMasks(BaseTransform):
    """Decode the masks of an image sample: ``[SEG]`` ground truth and/or ``<mask>`` region prompts.

    Required Keys:

        - masks (dict): Object key -> COCO segmentation (polygons or RLE, or ``{"union": [...]}``).
        - rounds (list[dict]): ``gt_keys`` (one key list per ``[SEG]``, OR-ed) and ``region_keys``.
        - ori_shape (tuple[int, int]): ``(H, W)``.
        - frame_indices, dense_positions (list[int]): From :class:`SampleFrames` (one frame for an image).

    Added Keys:

        - gt_masks (np.ndarray): ``uint8 [K, D, H, W]`` (``'gt'`` in ``targets``).
        - region_masks (np.ndarray): ``uint8 [R, T, H, W]`` (``'region'`` in ``targets``), boxes when ``box``.

    After :class:`~sama_mm.datasets.transforms.DynamicTiles` (``num_tiles`` set) ``gt_masks`` has one frame (the
    image SAM2 sees) and a region is drawn on the thumbnail tile only (the released code places visual prompts
    on the thumbnail too), so the aggregator pools it where the whole image is.

    Args:
        targets (Sequence[str]): ``'gt'`` (put before ``ChatTokenize``) and/or ``'region'`` (after it, so that
            regions of rounds dropped for length go too). Defaults to ``('gt',)``.
        box (bool): Region prompts as their bounding boxes (SAMA training). Defaults to True.

    Raises:
        DataError: ``unknown_object`` for a key without a mask, ``malformed_rle`` for a bad segmentation,
            naming the annotation file and the record.
    """

    def __init__(self, targets: Sequence[str] = ('gt', ), box: bool = True):
        bad = set(targets) - {'gt', 'region'}
        if bad or not targets:
            raise ValueError(f"targets must be a non-empty subset of ('gt', 'region'), got {targets!r}")
        self.targets = tuple(targets)
        self.box = box

    def _decode(self, results: Dict, key, shape, record) -> np.ndarray:
        ann_file = str(results.get('ann_file', '?'))
        masks = results.get('masks') or {}
        if str(key) not in masks or masks[str(key)] is None:
            raise DataError('unknown_object', ann_file, f'object {key!r} has no mask', record)
        try:
            return decode_segmentation(masks[str(key)], shape[0], shape[1], f'mask {key!r}')
        except MaskFormatError as exc:
            raise DataError('malformed_rle', ann_file, str(exc), record) from None

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        shape = tuple(int(v) for v in results['ori_shape'])
        tiles = int(results.get('num_tiles') or 0)
        # With DynamicTiles the [SEG] targets stay on the one image (SAM2's frame); region prompts go on the
        # thumbnail (the last tile, the only one showing the whole image), empty on the grid tiles.
        num_dense = 1 if tiles else len(results['dense_positions'])
        num_sparse = len(results['frame_indices'])
        region_at = [num_sparse - 1] if tiles > 1 else list(range(num_sparse))
        if 'gt' in self.targets:
            groups = [g for rnd in results['rounds'] for g in rnd.get('gt_keys', [])]
            gt = np.zeros((len(groups), num_dense, *shape), np.uint8)
            for k, group in enumerate(groups):
                for key in group:
                    gt[k] |= self._decode(results, key, shape, record)[None]
            results['gt_masks'] = gt
        if 'region' in self.targets:
            keys = [key for rnd in results['rounds'] for key in rnd.get('region_keys', [])]
            region = np.zeros((len(keys), num_sparse, *shape), np.uint8)
            for r, key in enumerate(keys):
                mask = self._decode(results, key, shape, record)[None]
                region[r, region_at] = box_masks(mask) if self.box else mask
            results['region_masks'] = region
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(targets={self.targets}, box={self.box})'
