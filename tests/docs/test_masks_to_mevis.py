"""data_converters/masks_to_mevis.py (the converter docs/custom_data.md uses) on small hand-made inputs."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from data_converters.masks_to_mevis import convert, main
from sama_mm.structures import decode_rle


def _layout(root, frames=3, size=(24, 32), ids=(1, 2)):
    """Two videos as frame folders with indexed masks: object k is a k-pixel-high band that moves right."""
    h, w = size
    exps = {}
    for v in ('a', 'b'):
        (root / 'videos' / v).mkdir(parents=True)
        (root / 'masks' / v).mkdir(parents=True)
        for t in range(frames):
            cv2.imwrite(str(root / 'videos' / v / f'{t:05d}.jpg'), np.full((h, w, 3), 40 * t, np.uint8))
            label = np.zeros((h, w), np.uint8)
            for k in ids:
                label[4 * k:4 * k + k, t:t + 5] = k
            img = Image.fromarray(label, mode='P')
            img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
            img.save(root / 'masks' / v / f'{t:05d}.png')
        exps[v] = [dict(exp='the first band', obj_id=[1]), dict(exp='both bands', obj_id=list(ids))]
    (root / 'expressions.json').write_text(json.dumps(exps))
    return root


def test_converts_to_the_mevis_layout(tmp_path):
    src = _layout(tmp_path / 'raw')
    counts = convert(str(src / 'videos'), str(src / 'masks'), str(src / 'expressions.json'), str(tmp_path / 'out'),
                     valid={'b'})
    assert counts == {'train': 1, 'valid_u': 1}
    meta = json.loads((tmp_path / 'out/train/meta_expressions.json').read_text())['videos']
    masks = json.loads((tmp_path / 'out/train/mask_dict.json').read_text())
    assert list(meta) == ['a'] and meta['a']['frames'] == ['00000', '00001', '00002']
    both = meta['a']['expressions']['1']
    assert both['exp'] == 'both bands' and both['obj_id'] == [1, 2] and len(both['anno_id']) == 2
    track = masks[both['anno_id'][1]]  # object 2: rows 8..9, columns t..t+4
    expected = np.zeros((24, 32), bool)
    expected[8:10, 1:6] = True
    assert len(track) == 3 and np.array_equal(decode_rle(track[1]).astype(bool), expected)
    assert sorted(p.name for p in (tmp_path / 'out/valid_u/JPEGImages/b').iterdir()) == [
        '00000.jpg', '00001.jpg', '00002.jpg']


@pytest.mark.parametrize('break_it, message', [
    (lambda r: (r / 'masks/a/00001.png').unlink(), '00001.png: missing mask'),
    (lambda r: Image.new('P', (8, 8)).save(r / 'masks/a/00002.png'), 'mask is 8x8, the frame is 32x24'),
    (lambda r: (r / 'expressions.json').write_text(json.dumps({'a': [dict(exp='x', obj_id=[7])]})),
     "object(s) [7] appear in no mask of 'a'"),
    (lambda r: (r / 'expressions.json').write_text(json.dumps({'a': [dict(exp='', obj_id=[1])]})),
     'needs "exp", a non-empty string'),
    (lambda r: (r / 'expressions.json').write_text('{"a": [}'), 'not valid JSON'),
])
def test_bad_input_names_the_file(tmp_path, break_it, message):
    src = _layout(tmp_path / 'raw')
    break_it(src)
    with pytest.raises(SystemExit, match=None) as exc:
        convert(str(src / 'videos'), str(src / 'masks'), str(src / 'expressions.json'), str(tmp_path / 'out'))
    assert message in str(exc.value)


def test_refuses_a_non_empty_output(tmp_path, capsys):
    src = _layout(tmp_path / 'raw')
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'mine.txt').write_text('keep me')
    args = ['--videos', str(src / 'videos'), '--masks', str(src / 'masks'), '--expressions',
            str(src / 'expressions.json'), '--out', str(tmp_path / 'out')]
    assert main(args) == 1
    assert 'not empty' in capsys.readouterr().err
    assert (tmp_path / 'out' / 'mine.txt').read_text() == 'keep me'
