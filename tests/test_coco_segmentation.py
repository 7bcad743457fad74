"""One COCO segmentation decoder for the image datasets and the metrics that read COCO ground truth."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sama_mm.datasets import DataError
from sama_mm.evaluation.metrics._utils import coco_annotation_mask
from sama_mm.structures import MaskFormatError, check_segmentation, decode_segmentation, encode_mask

H, W = 12, 16


def _square(y0, x0, size=4):
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y0 + size, x0:x0 + size] = 1
    return mask


def _uncompressed(mask):
    """The run-length list form of an RLE (column-major runs starting with zeros), as COCO crowd annotations."""
    flat = mask.flatten(order='F')
    runs, value, count = [], 0, 0
    for v in flat:
        if v == value:
            count += 1
        else:
            runs.append(count)
            value, count = v, 1
    runs.append(count)
    return dict(size=[H, W], counts=runs)


def test_every_form_decodes_to_the_same_mask():
    mask = _square(2, 3)
    polygon = [[3, 2, 7, 2, 7, 6, 3, 6]]  # x, y corners of the square
    from_polygon = decode_segmentation(polygon, H, W, 'polygon')
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(
        [[float(v) for v in polygon[0]]], H, W)))
    assert np.array_equal(from_polygon, expected)
    assert np.array_equal(decode_segmentation(encode_mask(mask), H, W, 'rle'), mask)
    assert np.array_equal(decode_segmentation(_uncompressed(mask), H, W, 'list rle'), mask)
    union = dict(union=[encode_mask(mask), encode_mask(_square(7, 10))])
    assert np.array_equal(decode_segmentation(union, H, W, 'union'), mask | _square(7, 10))
    assert check_segmentation(union, 'union') == (H, W) and check_segmentation(polygon, 'polygon') is None


def test_bad_segmentations_are_refused():
    with pytest.raises(MaskFormatError, match="mask 'x': mask is 12x16 but the image is 10x16"):
        decode_segmentation(encode_mask(_square(0, 0)), 10, W, "mask 'x'")
    with pytest.raises(MaskFormatError, match='expected polygons'):
        decode_segmentation([[1, 2, 3]], H, W, 'short polygon')


def test_metrics_decode_like_the_datasets_and_name_the_file():
    ann = dict(id=7, segmentation=encode_mask(_square(1, 1)))
    assert np.array_equal(coco_annotation_mask(ann, H, W, 'gt.json'), _square(1, 1).astype(bool))
    with pytest.raises(DataError, match='gt.json') as info:
        coco_annotation_mask(dict(id=8, segmentation='not a mask'), H, W, 'gt.json')
    assert 'annotation 8' in str(info.value)
    with pytest.raises(DataError, match='gt.json'):
        coco_annotation_mask(dict(id=9), H, W, 'gt.json')  # no segmentation at all
