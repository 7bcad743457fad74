"""The demo builder is deterministic, and its masks are exactly what it composited."""
import hashlib
import json
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from data_converters.build_demo_data import (COLOURS, NUM_FRAMES, RECORDS_PER_CLIP, ObjectSpec, build,
                                             visible_masks)
from sama_mm.structures import decode_rle
from tests.conftest import run_tool


def _tree_digest(root):
    digest = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                digest[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digest


def _manifest(root):
    with open(root / 'manifest.json') as f:
        return json.load(f)


def test_builder_is_deterministic(demo_root, tmp_path):
    again = tmp_path / 'again'
    build(str(again), seed=0, progress=False)
    first, second = _tree_digest(demo_root), _tree_digest(again)
    assert len(first) > 300
    assert first == second
    other = tmp_path / 'other'
    build(str(other), seed=1, progress=False)
    assert _manifest(other)['clips'] != _manifest(demo_root)['clips']


def test_layouts_are_written(demo_root):
    manifest = _manifest(demo_root)
    train = [c for c, v in manifest['clips'].items() if v['split'] == 'train']
    valid = [c for c, v in manifest['clips'].items() if v['split'] == 'valid']
    assert train and valid
    for clip in train:
        assert len(os.listdir(demo_root / 'mevis/train/JPEGImages' / clip)) == NUM_FRAMES
        assert len(os.listdir(demo_root / 'rvos/train/Annotations' / clip)) == NUM_FRAMES
    for clip in valid:
        assert len(os.listdir(demo_root / 'mevis/valid_u/JPEGImages' / clip)) == NUM_FRAMES
        assert not (demo_root / 'rvos/valid/Annotations').exists()  # server split: no public masks
    from sama_mm.datasets.decord_backend import decord
    for clip in manifest['clips']:
        reader = decord.VideoReader(str(demo_root / 'videos' / f'{clip}.mp4'))
        assert len(reader) == NUM_FRAMES
        assert reader[0].shape[:2] == (manifest['clips'][clip]['height'], manifest['clips'][clip]['width'])


def test_masks_match_the_composited_objects(demo_root):
    manifest = _manifest(demo_root)
    with open(demo_root / 'mevis/train/mask_dict.json') as f:
        masks = json.load(f)
    with open(demo_root / 'mevis/valid_u/mask_dict.json') as f:
        masks.update(json.load(f))
    with open(demo_root / 'mevis_train_mask_dict.json') as f:
        sama_masks = json.load(f)
    late_entries = 0
    for clip, info in manifest['clips'].items():
        objects = [ObjectSpec(**dict(o, start=tuple(o['start']), velocity=tuple(o['velocity'])))
                   for o in info['objects']]
        h, w = info['height'], info['width']
        split = 'train' if info['split'] == 'train' else 'valid_u'
        for t in range(NUM_FRAMES):
            expected = visible_masks(objects, t, h, w)
            frame = cv2.imread(str(demo_root / f'mevis/{split}/JPEGImages/{clip}/{t:05d}.jpg'))
            label = (np.asarray(Image.open(demo_root / f'rvos/train/Annotations/{clip}/{t:05d}.png'))
                     if info['split'] == 'train' else None)
            for i, (obj, anno_id) in enumerate(zip(objects, info['anno_ids'])):
                rle = masks[anno_id][t]
                if not expected[i].any():
                    assert rle is None
                    late_entries += t < obj.first_frame
                    continue
                np.testing.assert_array_equal(decode_rle(rle), expected[i])
                if info['split'] == 'train':
                    assert sama_masks[anno_id][t] == rle
                    np.testing.assert_array_equal(label == i + 1, expected[i] > 0)
                # The written frame shows the object's colour inside its (eroded) mask.
                inner = cv2.erode(expected[i], np.ones((5, 5), np.uint8)) > 0
                if inner.sum() >= 20:
                    mean = frame[inner].astype(np.float32).mean(0)
                    assert np.abs(mean - np.array(COLOURS[obj.colour])).max() < 25, (clip, t, obj.name)
    assert late_entries > 0  # some objects enter late, so some frames have no mask


def test_sama239k_records_are_consistent(demo_root):
    with open(demo_root / 'sama239k_train_final.json') as f:
        records = json.load(f)
    manifest = _manifest(demo_root)
    assert len(records) == RECORDS_PER_CLIP * sum(v['split'] == 'train' for v in manifest['clips'].values())
    n_region_rounds = n_two_seg = n_follow_ups = 0
    for rec in records:
        conv = rec['conversation']
        assert len(conv) >= 6 and len(conv) % 2 == 0  # multi-turn: at least 3 rounds
        n_two_seg += sum(t['value'].count('[SEG]') == 2 for t in conv[1::2])
        n_follow_ups += sum(t['value'] in ('What colour is it?', 'Which way does it move?') for t in conv[::2])
        assert [t['from'] for t in conv] == ['human', 'gpt'] * (len(conv) // 2)
        for r in range(len(conv) // 2):
            assert conv[2 * r]['value'].count('<mask>') == len(rec['obj_masks'][r])
            assert conv[2 * r + 1]['value'].count('[SEG]') == len(rec['groundtruth'][r])
            n_region_rounds += bool(rec['obj_masks'][r])
        assert set(rec['description']) == {f'obj{i}' for i in range(len(rec['anno_map']))}
    assert n_region_rounds > 0 and n_two_seg > 0 and n_follow_ups > 0


def test_cli_is_idempotent_and_never_overwrites_foreign_folders(tmp_path):
    out = tmp_path / 'demo'
    run_tool('data_converters/build_demo_data.py', '--out', out, check=True)
    second = run_tool('data_converters/build_demo_data.py', '--out', out, check=True)
    assert 'up to date' in second.stdout
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('my own data')
    refused = run_tool('data_converters/build_demo_data.py', '--out', mine)
    assert refused.returncode == 1 and 'refusing' in refused.stderr
    assert (mine / 'notes.txt').read_text() == 'my own data'


@pytest.mark.parametrize('seed', [0, 3])
def test_every_clip_has_two_to_four_objects(tmp_path, seed):
    out = tmp_path / 'd'
    manifest = build(str(out), seed=seed, progress=False)
    assert all(2 <= len(c['objects']) <= 4 for c in manifest['clips'].values())


def test_held_out_clips_show_unseen_backgrounds():
    from data_converters.build_demo_data import CLIPS
    train = [c for c in CLIPS if c.split == 'train']
    valid = [c for c in CLIPS if c.split == 'valid']
    assert len(valid) >= 4 and len(train) >= 20

    def frames(c):
        # carphone_distorted is the same scene as carphone_pristine
        return {(c.source.replace('distorted', 'pristine'), c.first + c.stride * k) for k in range(NUM_FRAMES)}

    seen = set().union(*map(frames, train))
    for clip in valid:
        assert not frames(clip) & seen, clip.name
