"""SampleFrames: exact sparse/dense indices, hand-computed, and their invariants for every length."""
import pytest

from sama_mm.datasets.transforms import SampleFrames
from sama_mm.datasets.transforms.sampling import dense_positions, sparse_indices
from sama_mm.registry import TRANSFORMS

# (num_frames, sparse frame_indices, uniform dense_positions) with interval 3, max 32, min 8, 5 dense.
EXPECTED = [
    # Shorter than min_frames: every frame; T <= 5 -> every frame is dense.
    (3, [0, 1, 2], [0, 1, 2]),
    (5, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]),
    # Exactly min_frames: range(0,8,3) = 0,3,6 plus the official top-up int((j+1)*8/6) = 1,2,4,5,6 -> 7 frames
    # (frame 7 is never chosen). Dense: b = [i*6//5] = 0,1,2,3,4,6 -> centres 0,1,2,3,4.
    (8, [0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4]),
    # range(0,20,3) has 7 frames; the official top-up adds int(1*20/2) = 10.
    (20, [0, 3, 6, 9, 10, 12, 15, 18], [0, 1, 2, 4, 5]),
    # range(0,24,3) has exactly 8.
    (24, [0, 3, 6, 9, 12, 15, 18, 21], [0, 1, 2, 4, 5]),
    # range(0,100,3) has 34 > 32: positions i*34//32 skip position 16 (frame 48). Dense for T=32: b =
    # 0,6,12,18,24,31 -> 2,8,14,20,27 (the reference's values).
    (100, list(range(0, 46, 3)) + list(range(51, 97, 3)), [2, 8, 14, 20, 27]),
    # range(0,300,3) has 100: positions i*100//32 = 0,3,6,9,12,15,18,21,25,28,... times 3.
    (300, [0, 9, 18, 27, 36, 45, 54, 63, 75, 84, 93, 102, 111, 120, 129, 138, 150, 159, 168, 177, 186, 195, 204,
           213, 225, 234, 243, 252, 261, 270, 279, 288], [2, 8, 14, 20, 27]),
]


@pytest.mark.parametrize('num_frames,sparse,dense', EXPECTED)
def test_exact_indices(num_frames, sparse, dense):
    out = SampleFrames()(dict(num_frames=num_frames))
    assert out['frame_indices'] == sparse
    assert out['dense_positions'] == dense


@pytest.mark.parametrize('num_frames,sparse', [(e[0], e[1]) for e in EXPECTED])
def test_first_policy(num_frames, sparse):
    out = SampleFrames(dense_policy='first')(dict(num_frames=num_frames))
    assert out['frame_indices'] == sparse
    assert out['dense_positions'] == list(range(min(5, len(sparse))))


def test_official_topup_matches_the_official_formula():
    for n in range(1, 400):
        for interval in (3, 32):
            s = list(range(0, n, interval))
            if len(s) > 32:
                s = [s[int(i * len(s) / 32)] for i in range(32)]
            if len(s) < 8:
                s = sorted(set(s + [int((j + 1) * n / (8 - len(s) + 1)) for j in range(8 - len(s))]))
            assert sparse_indices(n, interval) == s, (n, interval)


def test_distinct_topup():
    # The 'distinct' top-up: from the frames not chosen yet, always min(n, min_frames) frames or more.
    assert sparse_indices(8, topup='distinct') == list(range(8))
    assert sparse_indices(20, topup='distinct') == [0, 3, 6, 9, 10, 12, 15, 18]
    with pytest.raises(ValueError, match='topup'):
        SampleFrames(topup='random')


def test_invariants_for_every_length():
    for n in range(1, 400):
        s = sparse_indices(n, topup='distinct')
        assert s == sorted(set(s)), n
        assert all(0 <= i < n for i in s), n
        assert min(n, 8) <= len(s) <= 32, n
        for policy in ('uniform', 'first'):
            d = dense_positions(len(s), 5, policy)
            assert d == sorted(set(d)), (n, policy)
            assert all(0 <= p < len(s) for p in d), (n, policy)
            assert len(d) == min(5, len(s)), (n, policy)


def test_dense_matches_reference_rule_above_five():
    import numpy as np
    for t in range(6, 64):
        b = np.linspace(0, t - 1, 6).astype(int)
        assert dense_positions(t) == [int((b[i] + b[i + 1] - 1) // 2) for i in range(5)], t


def test_built_from_config_and_deterministic():
    sampler = TRANSFORMS.build(dict(type='SampleFrames', interval=2, max_frames=4, min_frames=2, num_dense=2))
    first = sampler(dict(num_frames=9))
    # range(0,9,2) = 0,2,4,6,8 -> positions i*5//4 = 0,1,2,3 -> 0,2,4,6; dense b = 0,1,3 -> 0,1.
    assert first['frame_indices'] == [0, 2, 4, 6] and first['dense_positions'] == [0, 1]
    assert all(sampler(dict(num_frames=9)) == first for _ in range(3))


def test_bad_arguments():
    with pytest.raises(ValueError, match='dense_policy'):
        SampleFrames(dense_policy='random')
    with pytest.raises(ValueError, match='min_frames'):
        SampleFrames(max_frames=4, min_frames=8)


def test_sparse_policy_first_keeps_the_first_frames():
    """``sparse_policy='first'`` with ``interval=1, max_frames=5``: frames 0-4 (the released Sa2VA inference)."""
    assert sparse_indices(24, 1, 5, 5, policy='first') == [0, 1, 2, 3, 4]
    assert sparse_indices(24, 1, 5, 5) == [0, 4, 9, 14, 19]  # 'spread'
    assert sparse_indices(3, 1, 5, 5, policy='first') == [0, 1, 2]
    out = SampleFrames(interval=1, max_frames=5, min_frames=5, dense_policy='first', sparse_policy='first')(
        dict(num_frames=40))
    assert out['frame_indices'] == [0, 1, 2, 3, 4] and out['dense_positions'] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match='sparse_policy'):
        SampleFrames(sparse_policy='last')
