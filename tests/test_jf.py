"""J and F on hand-computed cases, and per frame against vos-benchmark (the DAVIS 2017 code) as an oracle."""
import math

import numpy as np
import pytest

from sama_mm.evaluation.functional import (boundary_f_measure, boundary_map, boundary_precision_recall,
                                           boundary_tolerance, disk, jf_per_object, region_similarity)


def square(h, w, top, left, size):
    m = np.zeros((h, w), bool)
    m[top:top + size, left:left + size] = True
    return m


def test_identical_masks_score_one():
    m = np.stack([square(40, 50, 5, 5, 12), square(40, 50, 20, 30, 9)])
    assert np.allclose(region_similarity(m, m), 1)
    assert np.allclose(boundary_f_measure(m, m), 1)
    assert jf_per_object(m, m) == {'J': 1.0, 'F': 1.0, 'J&F': 1.0}


def test_disjoint_masks_score_zero():
    pred = square(60, 60, 2, 2, 10)
    gt = square(60, 60, 40, 40, 10)
    assert region_similarity(pred, gt) == 0
    assert boundary_f_measure(pred, gt) == 0
    assert boundary_precision_recall(pred, gt) == (0, 0)


def test_empty_conventions():
    empty = np.zeros((30, 30), bool)
    full = square(30, 30, 5, 5, 10)
    assert region_similarity(empty, empty) == 1
    assert boundary_precision_recall(empty, empty) == (1, 1)
    assert boundary_f_measure(empty, empty) == 1
    # empty prediction of an object: precision 1, recall 0
    assert region_similarity(empty, full) == 0
    assert boundary_precision_recall(empty, full) == (1, 0)
    assert boundary_f_measure(empty, full) == 0
    # object predicted where there is none: precision 0, recall 1
    assert boundary_precision_recall(full, empty) == (0, 1)
    assert boundary_f_measure(full, empty) == 0
    assert jf_per_object(np.stack([empty, full]), np.stack([empty, empty])) == {'J': 0.5, 'F': 0.5, 'J&F': 0.5}


@pytest.mark.parametrize('shift', [1, 3, 7])
def test_shifted_square_has_analytic_j(shift):
    size = 10
    gt = square(32, 41, 8, 8, size)
    pred = square(32, 41, 8, 8 + shift, size)
    inter = size * (size - shift)
    assert region_similarity(pred, gt) == pytest.approx(inter / (2 * size * size - inter))


def test_one_pixel_shift_within_tolerance_gives_f_one():
    gt = square(100, 100, 30, 30, 20)
    pred = square(100, 100, 31, 31, 20)  # one pixel down and right
    assert boundary_tolerance(100, 100) == 2  # ceil(0.008 * 141.4)
    assert boundary_f_measure(pred, gt) == 1
    # A 1-pixel disk (a cross) covers a horizontal 1-pixel shift but not the diagonal one above.
    assert boundary_f_measure(square(100, 100, 30, 31, 20), gt, bound_th=1) == 1
    assert boundary_f_measure(pred, gt, bound_th=1) < 1
    far = square(100, 100, 30, 35, 20)  # 5 pixels right: vertical edges are out of a 2-pixel reach
    assert boundary_f_measure(far, gt) < 1
    assert boundary_f_measure(far, gt, bound_th=5) == 1


def test_tolerance_and_disk():
    assert boundary_tolerance(480, 854) == math.ceil(0.008 * math.hypot(480, 854)) == 8
    assert boundary_tolerance(10, 10, bound_th=3) == 3
    assert disk(1).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert disk(0).tolist() == [[1]]


def test_single_frame_returns_float_and_track_returns_array():
    m = square(20, 20, 2, 2, 5)
    assert isinstance(region_similarity(m, m), float)
    assert isinstance(boundary_f_measure(m, m), float)
    assert region_similarity(m[None], m[None]).shape == (1,)
    with pytest.raises(ValueError, match='shape'):
        region_similarity(m, m[:10])


def test_boundary_map_border_rules():
    m = np.ones((4, 5), bool)
    assert not boundary_map(m).any()  # the image border is no boundary
    m = np.zeros((4, 5), bool)
    m[1:3, 1:3] = True
    # Pixels differing from their right, lower or lower-right neighbour; (1, 1) has only foreground there.
    expected = np.zeros((4, 5), bool)
    for y, x in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)]:
        expected[y, x] = True
    assert (boundary_map(m) == expected).all()


def test_against_vos_benchmark_per_frame():
    from skimage.morphology import disk as sk_disk
    from vos_benchmark.evaluator import Evaluator
    from vos_benchmark.utils import _seg2bmap

    for r in range(10):
        assert (disk(r) == sk_disk(r)).all()
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 25, 2)
        m = rng.random((h, w)) < rng.random()
        assert (boundary_map(m) == _seg2bmap(m.copy()).astype(bool)).all()

    # Ellipses of random size and place; some frames leave one side empty.
    h, w = 67, 91
    yy, xx = np.mgrid[:h, :w]
    tracks = {'pred': [], 'gt': []}
    for t in range(12):
        for key in tracks:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ay, ax = rng.uniform(2, 30, 2)
            m = ((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1
            if rng.random() < 0.15:
                m[:] = False
            tracks[key].append(m)
    pred, gt = np.stack(tracks['pred']), np.stack(tracks['gt'])
    ev = Evaluator()
    ev.objects_in_gt.add(1)  # score object 1 from the first frame even where it is absent
    for p, g in zip(pred, gt):
        ev.feed_frame(p.astype(np.uint8), g.astype(np.uint8))
    np.testing.assert_allclose(region_similarity(pred, gt), ev.object_iou[1], atol=1e-12)
    np.testing.assert_allclose(boundary_f_measure(pred, gt), ev.boundary_f[1], atol=1e-12)
