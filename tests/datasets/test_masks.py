"""LoadSegMasks: exactly the demo ground truth on the dense frames; clear errors on bad masks."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sama_mm.datasets import DataError, RefVOSDataset, SAMA239KDataset
from sama_mm.datasets.transforms import ChatTokenize, LoadRegionMasks, LoadSegMasks, RefVOSToRounds, SAMA239KToRounds, SampleFrames, VideoInit
from sama_mm.datasets.transforms import masks as masks_module


def direct_decode(entry):
    """Decode one demo RLE with pycocotools directly (None -> None)."""
    if entry is None:
        return None
    return mask_utils.decode(dict(size=entry['size'], counts=entry['counts'].encode('ascii')))


def expected_from_dict(mask_dict, groups, raw, shape):
    out = np.zeros((len(groups), len(raw), *shape), np.uint8)
    for k, group in enumerate(groups):
        for d, t in enumerate(raw):
            for key in group:
                m = direct_decode(mask_dict[str(key)][t])
                if m is not None:
                    out[k, d] |= m
    return out


def sample(info, to_rounds, dense_policy='uniform'):
    results = VideoInit()(dict(info))
    results = SampleFrames(dense_policy=dense_policy)(results)
    results = to_rounds(results)
    return LoadSegMasks()(results)


def sama_dataset(root, ann='sama239k_train_final.json', mask='mevis_train_mask_dict.json'):
    return SAMA239KDataset(ann_file=ann, data_root=str(root) + '/', mask_dicts=dict(mevis=mask), pipeline=[])


def test_sama239k_gt_equals_mask_dict(demo_root):
    dataset = sama_dataset(demo_root)
    mask_dict = json.load(open(demo_root / 'mevis_train_mask_dict.json'))
    with open(demo_root / 'sama239k_train_final.json') as f:
        assert len(dataset) == len(json.load(f))  # sample_mode='record': one sample per record
    for i in range(len(dataset)):
        results = sample(dataset.get_data_info(i), SAMA239KToRounds())
        groups = [g for r in results['rounds'] for g in r['gt_keys']]
        raw = [results['frame_indices'][p] for p in results['dense_positions']]
        gt = results['gt_masks']
        assert gt.dtype == np.uint8 and gt.shape == (len(groups), 5, *results['ori_shape'])
        np.testing.assert_array_equal(gt, expected_from_dict(mask_dict, groups, raw, results['ori_shape']))
        assert gt.sum() > 0


def test_mevis_and_rvos_gt(demo_root):
    mevis = RefVOSDataset(ann_file='meta_expressions.json', data_root=str(demo_root / 'mevis' / 'train') + '/',
                          mask_file='mask_dict.json', pipeline=[])
    mask_dict = json.load(open(demo_root / 'mevis' / 'train' / 'mask_dict.json'))
    for i in range(len(mevis)):
        info = mevis.get_data_info(i)
        results = sample(info, RefVOSToRounds())
        raw = [results['frame_indices'][p] for p in results['dense_positions']]
        np.testing.assert_array_equal(results['gt_masks'],
                                      expected_from_dict(mask_dict, [info['anno_ids']], raw, results['ori_shape']))
    rvos = RefVOSDataset(ann_file='meta_expressions/train/meta_expressions.json',
                         data_root=str(demo_root / 'rvos') + '/', data_prefix=dict(video='train/JPEGImages'),
                         mask_dir='train/Annotations', pipeline=[])
    for i in range(len(rvos)):
        info = rvos.get_data_info(i)
        results = sample(info, RefVOSToRounds(), dense_policy='first')
        raw = [results['frame_indices'][p] for p in results['dense_positions']]
        for d, t in enumerate(raw):
            png = osp.join(demo_root, 'rvos', 'train', 'Annotations', info['video_id'], f'{t:05d}.png')
            label = np.asarray(Image.open(png))
            np.testing.assert_array_equal(results['gt_masks'][0, d], label == int(info['obj_ids'][0]))
        # The same object through the MeViS mask dict (the demo writes both layouts of the same clips).
        manifest = json.load(open(demo_root / 'manifest.json'))
        anno_id = manifest['clips'][info['video_id']]['anno_ids'][int(info['obj_ids'][0]) - 1]
        np.testing.assert_array_equal(results['gt_masks'],
                                      expected_from_dict(mask_dict, [[anno_id]], raw, results['ori_shape']))


def test_raw_refvos_info_without_rounds(demo_root):
    mevis = RefVOSDataset(ann_file='meta_expressions.json', data_root=str(demo_root / 'mevis' / 'train') + '/',
                          mask_file='mask_dict.json', pipeline=[])
    info = mevis.get_data_info(len(mevis) - 1)  # the "all objects" expression: several anno_ids, one [SEG]
    assert len(info['anno_ids']) > 1
    results = LoadSegMasks()(SampleFrames()(VideoInit()(dict(info))))
    with_rounds = sample(info, RefVOSToRounds())
    np.testing.assert_array_equal(results['gt_masks'], with_rounds['gt_masks'])
    assert results['gt_masks'].shape[0] == 1


@pytest.fixture()
def corrupt_root(demo_root, tmp_path):
    """A copy of the SAMA-239K annotation and mask dict to corrupt (frames stay in the shared demo)."""
    root = tmp_path / 'corrupt'
    root.mkdir()
    shutil.copy(demo_root / 'sama239k_train_final.json', root)
    shutil.copy(demo_root / 'mevis_train_mask_dict.json', root)
    (root / 'mevis').symlink_to(demo_root / 'mevis')
    return root


def test_malformed_rle_names_file_and_record(corrupt_root):
    dataset = sama_dataset(corrupt_root)
    info = dataset.get_data_info(0)
    key = info['rounds'][0]['gt_keys'][0][0]
    mask_path = corrupt_root / 'mevis_train_mask_dict.json'
    mask_dict = json.load(open(mask_path))
    for t, rle in enumerate(mask_dict[str(key)]):
        if rle is not None:
            mask_dict[str(key)][t] = dict(size=rle['size'], counts=rle['counts'][:-3])
    json.dump(mask_dict, open(mask_path, 'w'))
    masks_module.clear_mask_dict_cache()
    with pytest.raises(DataError) as err:
        sample(info, SAMA239KToRounds())
    assert err.value.kind == 'malformed_rle'
    assert err.value.file == str(mask_path)
    assert err.value.record == f'0 ({info["video_id"]})'
    assert f'mask key {key!r} frame ' in str(err.value)


def test_missing_key_and_size_mismatch(corrupt_root):
    dataset = sama_dataset(corrupt_root)
    info = dataset.get_data_info(1)
    info['rounds'] = [dict(info['rounds'][0], gt_keys=[[12345]])] + info['rounds'][1:]
    info['rounds'][0]['answer'] = '<p> x </p> [SEG].'
    with pytest.raises(DataError, match=r'mevis_train_mask_dict\.json record 1 \(.*\).*12345') as err:
        sample(info, SAMA239KToRounds())
    assert err.value.kind == 'unknown_mask_key'
    info = dataset.get_data_info(1)
    results = SampleFrames()(VideoInit()(dict(info)))
    results['ori_shape'] = (10, 10)
    with pytest.raises(DataError, match='size_mismatch') as err:
        LoadSegMasks()(SAMA239KToRounds()(results))
    assert err.value.record == f'1 ({info["video_id"]})'


def test_mask_dict_loaded_once(demo_root, monkeypatch):
    masks_module.clear_mask_dict_cache()
    loads = []
    real = masks_module.load_mask_dict
    monkeypatch.setattr(masks_module, 'load_mask_dict', lambda path: loads.append(path) or real(path))
    dataset = sama_dataset(demo_root)
    for i in range(len(dataset)):
        sample(dataset.get_data_info(i), SAMA239KToRounds())
    assert loads == [str(demo_root / 'mevis_train_mask_dict.json')]


def test_region_masks_are_boxes_of_the_mask_dict_on_sparse_frames(demo_root):
    from sama_mm.datasets.transforms.masks import box_masks
    from tests.datasets.tiny_tokenizer import make_tiny_tokenizer
    dataset = sama_dataset(demo_root)
    mask_dict = json.load(open(demo_root / 'mevis_train_mask_dict.json'))
    tok = make_tiny_tokenizer()
    for i in range(len(dataset)):
        results = sample(dataset.get_data_info(i), SAMA239KToRounds())
        keys = [k for r in results['rounds'] for k in r['region_keys']]
        raw = results['frame_indices']
        for box in (False, True):
            out = LoadRegionMasks(box=box)(dict(results))['region_masks']
            expected = expected_from_dict(mask_dict, [[k] for k in keys], raw, results['ori_shape'])
            np.testing.assert_array_equal(out, box_masks(expected) if box else expected)
            assert out.shape == (len(keys), len(raw), *results['ori_shape'])
        # Rounds dropped for length take their regions with them.
        lengths = [len(ChatTokenize(tok, num_image_tokens=4, context_tokens=True)(dict(
            {k: v for k, v in results.items() if k != 'gt_masks'}, rounds=results['rounds'][:1]))['input_ids'])]
        short = ChatTokenize(tok, num_image_tokens=4, context_tokens=True, max_length=lengths[0])(dict(results))
        assert short['kept_rounds'] == 1 and short['gt_masks'].shape[0] == len(short['rounds'][0]['gt_keys'])
        out = LoadRegionMasks()(short)['region_masks']
        assert out.shape[0] == len(short['rounds'][0]['region_keys'])


def test_box_masks():
    from sama_mm.datasets.transforms.masks import box_masks
    m = np.zeros((2, 5, 6), np.uint8)
    m[0, 1, 2] = m[0, 3, 4] = 1
    expected = np.zeros_like(m)
    expected[0, 1:4, 2:5] = 1
    np.testing.assert_array_equal(box_masks(m), expected)


def test_changed_or_missing_mask_dict(corrupt_root):
    dataset = sama_dataset(corrupt_root)
    info = dataset.get_data_info(0)
    first = sample(info, SAMA239KToRounds())['gt_masks']
    mask_path = corrupt_root / 'mevis_train_mask_dict.json'
    mask_dict = json.load(open(mask_path))
    for key in mask_dict:
        mask_dict[key] = [None] * len(mask_dict[key])
    json.dump(mask_dict, open(mask_path, 'w'), indent=1)  # a different size, so a different stamp
    assert first.sum() > 0 and sample(info, SAMA239KToRounds())['gt_masks'].sum() == 0
    mask_path.unlink()
    with pytest.raises(DataError, match=r'mevis_train_mask_dict\.json record 0 \(.*\): mask dict file not found'):
        sample(info, SAMA239KToRounds())


def test_index_past_a_track_is_an_error_in_training(tmp_path):
    from sama_mm.datasets.transforms.masks import decode_track
    m = np.zeros((4, 6), np.uint8)
    m[1:3, 2:4] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle['counts'] = rle['counts'].decode()
    masks = {'7': [rle, None]}  # a track of 2 frames
    out = decode_track(masks, 'm.json', 7, [0, 1, 3], (4, 6), 'rec', past_track='empty')
    assert out[0].sum() == 4 and out[1:].sum() == 0  # SAMA-Bench rule: missing frames are empty
    with pytest.raises(DataError, match=r'mask_track_too_short\] m\.json record rec: mask key 7 has 2 frame masks'):
        decode_track(masks, 'm.json', 7, [0, 1, 3], (4, 6), 'rec', past_track='error')
    with open(tmp_path / 'm.json', 'w') as f:
        json.dump(masks, f)
    results = dict(rounds=[dict(gt_keys=[['7']])], mask_file=str(tmp_path / 'm.json'), frame_indices=[0, 3],
                   dense_positions=[0, 1], ori_shape=(4, 6), video_id='v')
    with pytest.raises(DataError, match='mask_track_too_short'):
        LoadSegMasks()(dict(results))  # no rule in the info: training's 'error'
    assert LoadSegMasks()(dict(results, past_track='empty'))['gt_masks'].sum() == 4
    assert LoadSegMasks(past_track='empty')(dict(results))['gt_masks'].sum() == 4
    with pytest.raises(ValueError, match='past_track'):
        LoadRegionMasks(past_track='zero')
