import numpy as np
import pytest

from sama_mm.structures import MaskFormatError, check_rle, decode_rle, encode_mask


def _mask(h=13, w=17, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((h, w)) > 0.6).astype(np.uint8)


def test_round_trip_and_size():
    mask = _mask()
    rle = encode_mask(mask)
    assert isinstance(rle['counts'], str)
    assert check_rle(rle) == (13, 17)
    np.testing.assert_array_equal(decode_rle(rle), mask)


def test_uncompressed_counts_are_accepted():
    mask = _mask(seed=1)
    # Build an uncompressed RLE by hand: runs of the column-major flattening, starting with zeros.
    flat = mask.flatten(order='F')
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    np.testing.assert_array_equal(decode_rle({'size': [13, 17], 'counts': counts}), mask)


@pytest.mark.parametrize('rle, message', [
    ({'size': [4, 4]}, 'expected an RLE dict'),
    ('not a dict', 'expected an RLE dict'),
    ({'size': [4], 'counts': '0'}, '"size" must be'),
    ({'size': [4, -1], 'counts': '0'}, '"size" must be'),
    ({'size': [4, 4], 'counts': 3.5}, 'malformed RLE counts'),
    ({'size': [4, 4], 'counts': [3, 4]}, 'cover 7 pixels'),
    ({'size': [4, 4], 'counts': [3, -1, 14]}, 'malformed RLE counts'),
    ({'size': [4, 4], 'counts': 'a~~'}, 'outside the RLE alphabet'),
    ({'size': [4, 4], 'counts': 'o'}, 'ends inside a run length'),
])
def test_malformed_rle_is_a_clear_error(rle, message):
    with pytest.raises(MaskFormatError, match=message) as info:
        check_rle(rle, 'file.json record 3')
    assert 'file.json record 3' in str(info.value)


def test_truncated_real_rle_is_caught_before_pycocotools():
    rle = encode_mask(_mask(40, 50, seed=2))
    broken = dict(rle, counts=rle['counts'][:len(rle['counts']) // 2])
    with pytest.raises(MaskFormatError, match='malformed RLE counts'):
        decode_rle(broken)
    wrong_size = dict(rle, size=[50, 50])
    with pytest.raises(MaskFormatError, match='needs 2500'):
        decode_rle(wrong_size)
