"""ReVOS, Ref-DAVIS17 and the image datasets, built from configs on fakes in their real layouts."""
import os.path as osp

import numpy as np
import pytest

from sama_mm.datasets import DataError, PickleInputError
from sama_mm.datasets.transforms import (ChatTokenize, ImageInit, InternVLImageTransform, LoadImageMasks,
                                         LoadSegMasks, PackSAMAInputs, RefVOSToRounds, SampleFrames, VideoDecode,
                                         VideoInit)
from sama_mm.registry import DATASETS
from tests.datasets import fakes
from tests.datasets.tiny_tokenizer import make_tiny_tokenizer


@pytest.fixture(scope='module')
def tok():
    return make_tiny_tokenizer()


def image_pipeline(tok, max_length=8192):
    return [dict(type=ImageInit), dict(type=SampleFrames), dict(type=VideoDecode),
            dict(type=LoadImageMasks, targets=('gt', )), dict(type=InternVLImageTransform, image_size=448),
            dict(type=ChatTokenize, tokenizer=tok, template='qwen_chat', num_image_tokens=256, context_tokens=True,
                 context_sep='\n', max_length=max_length),
            dict(type=LoadImageMasks, targets=('region', )), dict(type=PackSAMAInputs)]


def rvos_pipeline():
    return [dict(type=VideoInit), dict(type=SampleFrames, min_frames=4), dict(type=VideoDecode),
            dict(type=RefVOSToRounds), dict(type=LoadSegMasks)]


def test_revos_from_config(tmp_path):
    root = tmp_path / 'revos'
    fakes.make_revos(str(root))
    cfg = dict(type='ReVOSDataset', data_root=str(root), ann_file='meta_expressions_train_.json',
               mask_file='mask_dict.json', foreground_file='mask_dict_foreground.json', pipeline=rvos_pipeline())
    ds = DATASETS.build(cfg)
    assert len(ds) == 6
    info = ds.get_data_info(0)
    assert info['video_id'] == 'LVOS/train/v0' and info['frame_dir'].endswith('revos/LVOS/train/v0')
    assert info['type_id'] == 0 and info['foreground_file'].endswith('mask_dict_foreground.json')
    sample = ds[1]
    assert sample['gt_masks'].shape == (1, 4, fakes.H, fakes.W) and sample['gt_masks'].sum() > 0
    report = ds.check()
    assert report.ok, report.format()
    assert report.counts['referring'] == 2 and report.counts['reasoning'] == 2
    only = DATASETS.build(dict(cfg, type_ids=[0, 1], ann_file='meta_expressions_valid_.json'))
    assert len(only) == 4 and {only.get_data_info(i)['type_id'] for i in range(4)} == {0, 1}


def test_revos_bad_foreground_reported(tmp_path):
    root = tmp_path / 'revos'
    fakes.make_revos(str(root))
    fakes.write_json(root / 'mask_dict_foreground.json', {'LVOS/train/v0': {'masks_rle': [{'size': [24, 32],
                                                                                            'counts': 'zz'}]}})
    ds = DATASETS.build(dict(type='ReVOSDataset', data_root=str(root), ann_file='meta_expressions_train_.json',
                             foreground_file='mask_dict_foreground.json', lazy_init=True))
    kinds = {(p.kind, p.record) for p in ds.check().problems}
    assert ('unknown_mask_key', 'MOSE/v1') in kinds
    assert any(k == 'malformed_rle' and r == 'LVOS/train/v0' for k, r in kinds)


def test_ref_davis17_counter_keys(tmp_path):
    root = tmp_path / 'davis17'
    fakes.make_davis(str(root))
    cfg = dict(type='RefDAVIS17Dataset', data_root=str(root), ann_file='meta_expressions/valid/meta_expressions.json',
               data_prefix=dict(video='valid/JPEGImages'), mask_file='valid/mask_dict.json', pipeline=rvos_pipeline())
    ds = DATASETS.build(cfg)
    keys = {(ds.get_data_info(i)['video_id'], ds.get_data_info(i)['exp_id']): ds.get_data_info(i)['anno_ids']
            for i in range(len(ds))}
    assert keys[('bike', '0')] == ['0'] and keys[('bike', '2')] == ['2'] and keys[('dogs', '1')] == ['4']
    gt = ds[4]['gt_masks']  # dogs/1 -> key 4: rows 4..7
    assert gt[0, 0, 4:8, 2:8].all() and gt[0, 0].sum() == 24
    assert ds.check().ok
    file_order = DATASETS.build(dict(cfg, type='CounterKeyedRefVOSDataset', video_order='file'))
    assert file_order.get_data_info(0)['video_id'] == 'dogs' and file_order.get_data_info(0)['anno_ids'] == ['0']
    with pytest.raises(PickleInputError, match='pickle'):
        DATASETS.build(dict(cfg, mask_file='valid/mask_dict.pkl'))


def test_refcoco_train_and_test(tmp_path, tok):
    root, images = tmp_path / 'ref_seg' / 'refcoco', tmp_path / 'coco' / 'train2014'
    fakes.make_refcoco(str(root), str(images))
    cfg = dict(type='RefCOCODataset', data_root=str(root), ann_file='refs_unc.json', instances_file='instances.json',
               data_prefix=dict(img=str(images)), split='train', num_rounds=5, rounds_mode='first',
               pipeline=image_pipeline(tok))
    ds = DATASETS.build(cfg)
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert [r['question'] for r in info['rounds']] == ['Please segment left square in this image.',
                                                      'Please segment right bar in this image.',
                                                      'Please segment the small one in this image.']
    packed = ds[0]
    gt = packed['data_samples'].gt_masks
    assert tuple(gt.shape) == (3, 1, fakes.H, fakes.W)
    assert gt[1, 0, 12:20, 12:30].all() and gt[0, 0].sum() > 0
    assert tuple(packed['inputs']['pixel_values'].shape) == (1, 3, 448, 448)
    assert ds.check().ok
    test = DATASETS.build(dict(cfg, split='val', test_mode=True, pipeline=[]))
    assert len(test) == 2 and [test.get_data_info(i)['sent_id'] for i in range(2)] == [3, 4]
    with pytest.raises(PickleInputError):
        DATASETS.build(dict(cfg, ann_file='refs(unc).p'))


def test_gcg_three_layouts(tmp_path, tok):
    root, images = tmp_path / 'glamm' / 'annotations', tmp_path / 'images'
    fakes.make_gcg(str(root), str(images))
    answers = {}
    for name in ('GranDf_HA_GCG_train.json', 'RefCOCOg_GCG_train.json', 'flickr_mergedGT_GCG_train.json'):
        ds = DATASETS.build(dict(type='GCGDataset', data_root=str(root), ann_file=name, flickr_min_size=0,
                                 data_prefix=dict(img=str(images)), pipeline=image_pipeline(tok)))
        assert len(ds) == 1 and ds.check().ok, ds.check().format()
        packed = ds[0]
        answers[name] = packed['data_samples'].metainfo['answers'][0]
        n_seg = answers[name].count('[SEG]')
        assert packed['data_samples'].gt_masks.shape[0] == n_seg == 2
    assert answers['GranDf_HA_GCG_train.json'] == '<p> A man </p> [SEG] rides <p> a red bike </p> [SEG] near a tree.'
    assert answers['RefCOCOg_GCG_train.json'] == '<p> the dog </p> [SEG] sits on <p> a mat </p> [SEG].'
    assert answers['flickr_mergedGT_GCG_train.json'].startswith('<p> Two kids </p> [SEG]')


def test_osprey_regions(tmp_path, tok):
    root = tmp_path / 'Osprey-724K'
    fakes.make_osprey(str(root), str(tmp_path / 'coco'))
    ds = DATASETS.build(dict(type='OspreyDataset', data_root=str(root), ann_file='osprey_conversation.json',
                             data_prefix=dict(img=str(tmp_path / 'coco')), pipeline=image_pipeline(tok)))
    info = ds.get_data_info(0)
    q0 = info['rounds'][0]['question']
    assert q0.startswith('There are 2 part regions in the picture: region1 <mask>, region2 <mask>.\nWhat is region1?')
    assert info['rounds'][1]['question'] == 'And region2 next to region1?'
    packed = ds[0]
    assert tuple(packed['inputs']['region_masks'].shape) == (2, 1, fakes.H, fakes.W)
    assert ds.check().ok


def test_llava_drops_text_only(tmp_path, tok):
    root = tmp_path / 'llava'
    fakes.make_llava(str(root), str(root / 'llava_images'))
    ds = DATASETS.build(dict(type='LLaVADataset', data_root=str(root), ann_file='llava_v1_5_mix665k.json',
                             data_prefix=dict(img='llava_images'), pipeline=image_pipeline(tok)))
    assert len(ds) == 1
    packed = ds[0]
    assert packed['data_samples'].metainfo['questions'] == ['What colour is it?']
    report = ds.check()
    assert report.ok and report.counts['text_only'] == 1


def test_image_mask_errors_name_file_and_record(tmp_path, tok):
    root = tmp_path / 'Osprey-724K'
    fakes.make_osprey(str(root), str(tmp_path / 'coco'))
    recs = fakes.__dict__['json'].load(open(root / 'osprey_conversation.json'))
    recs[0]['conversations'][0]['value'] = 'What is <region3>?'
    fakes.write_json(root / 'osprey_conversation.json', recs)
    cfg = dict(type='OspreyDataset', data_root=str(root), ann_file='osprey_conversation.json',
               data_prefix=dict(img=str(tmp_path / 'coco')), pipeline=image_pipeline(tok))
    with pytest.raises(DataError, match=r'osprey_conversation.json record 0 \(o1.jpg\).*region tags \[3\]'):
        DATASETS.build(cfg)
    recs[0]['conversations'][0]['value'] = 'What is <region1>?'
    recs[0]['annotations'][1]['segmentation'] = {'size': [24, 32], 'counts': '0'}
    fakes.write_json(root / 'osprey_conversation.json', recs)
    ds = DATASETS.build(cfg)
    with pytest.raises(DataError, match=r'\[malformed_rle\] .*osprey_conversation.json record 0 \(1\)'):
        ds[0]
    assert not ds.check().ok
    assert np.isfinite(1)
    assert osp.isfile(root / 'osprey_conversation.json')


def test_missing_image_names_file_and_record(tmp_path, tok):
    root, images = tmp_path / 'glamm' / 'annotations', tmp_path / 'images'
    fakes.make_gcg(str(root), str(images))
    (images / 'g1.jpg').unlink()
    ds = DATASETS.build(dict(type='GCGDataset', data_root=str(root), ann_file='GranDf_HA_GCG_train.json',
                             data_prefix=dict(img=str(images)), pipeline=image_pipeline(tok)))
    with pytest.raises(DataError, match=r'\[missing_image\] .*g1.jpg record 0 \(g1.jpg\)'):
        ds[0]
    problems = ds.check().problems
    assert [(p.kind, p.record) for p in problems] == [('missing_image', '0 (g1.jpg)')]
    assert 'GranDf_HA_GCG_train.json' in problems[0].file
