"""The on-disk annotation index, bad inputs (each error names file and record), skip_bad, the mixture."""
import copy
import json
import os
import os.path as osp
import pickle
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from data_converters.build_annotation_index import build as build_index
from sama_mm.datasets import DataError, MultitaskMixture, PickleInputError, SAMA239KIndexedDataset
from sama_mm.datasets.lazy_index import LazyRecordIndex
from sama_mm.datasets.transforms import (ChatTokenize, InternVLImageTransform, LoadIndexedRegionMasks,
                                         LoadIndexedSegMasks, PackSAMAInputs, SAMA239KToRounds, SampleFrames,
                                         VideoDecode, VideoInit)
from sama_mm.engine.hooks import DataSkipSummaryHook
from sama_mm.registry import DATASETS
from tests.datasets import fakes
from tests.datasets.tiny_tokenizer import make_tiny_tokenizer


@pytest.fixture(scope='module')
def tok():
    return make_tiny_tokenizer()


def pipeline(tok, max_length=8192):
    return [dict(type=VideoInit), dict(type=SampleFrames), dict(type=VideoDecode),
            dict(type=SAMA239KToRounds, task='conversation', max_rounds=4), dict(type=LoadIndexedSegMasks),
            dict(type=InternVLImageTransform, image_size=448),
            dict(type=ChatTokenize, tokenizer=tok, template='qwen_chat', num_image_tokens=256, context_tokens=True,
                 max_length=max_length),
            dict(type=LoadIndexedRegionMasks), dict(type=PackSAMAInputs)]


BAD = {1: 'unreadable_video', 2: 'missing_frames', 3: 'malformed_rle', 4: 'unknown_mask_key',
       5: 'empty_conversation', 6: 'sample_too_long'}


@pytest.fixture(scope='module')
def bad_root(demo_root, tmp_path_factory):
    """SAMA-239K layout with a good record (0, 7) and one record per kind of bad input (1-6), JSON + index."""
    root = tmp_path_factory.mktemp('bad') / 'sama'
    os.makedirs(root / 'mevis' / 'train')
    os.symlink(demo_root / 'mevis' / 'train' / 'JPEGImages', root / 'mevis' / 'train' / 'JPEGImages')
    os.makedirs(root / 'mevis' / 'videos')
    data = open(demo_root / 'videos' / 'bunny_a.mp4', 'rb').read()
    with open(root / 'mevis' / 'videos' / 'broken.mp4', 'wb') as f:
        f.write(data[:len(data) // 3])
    masks = json.load(open(demo_root / 'mevis_train_mask_dict.json'))
    masks['99'] = [{'size': [64, 64], 'counts': '!!bad'}] * 24
    fakes.write_json(root / 'mevis_train_mask_dict.json', masks)
    good = json.load(open(demo_root / 'sama239k_train_final.json'))
    recs = [copy.deepcopy(good[0]) for _ in range(7)] + [copy.deepcopy(good[1])]
    recs[1].update(video='mevis/videos/broken.mp4', frames=None, video_id='broken')
    recs[2]['frames'] = recs[2]['frames'][:-1] + ['00099']
    recs[3]['groundtruth'][0] = [['99']]
    recs[4]['groundtruth'][0] = [['777']]
    recs[5]['conversation'], recs[5]['obj_masks'], recs[5]['groundtruth'] = [], [], []
    recs[5]['description'] = None
    recs[6]['conversation'][1]['value'] = '<p> The blue diamond </p> [SEG] ' + 'very long answer ' * 2000
    for i, r in enumerate(recs):
        r['video_id'] = f'{r["video_id"]}_{i}'
    fakes.write_json(root / 'sama239k_train_final.json', recs)
    build_index(str(root / 'sama239k_train_final.json'))
    build_index(str(root / 'mevis_train_mask_dict.json'))
    return root


def indexed(root, tok, **kwargs):
    cfg = dict(type='SAMA239KIndexedDataset', data_root=str(root), index_file='sama239k_train_final.index',
               mask_dicts=dict(mevis='mevis_train_mask_dict.index'), pipeline=pipeline(tok, max_length=4096))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_index_reads_like_json(bad_root, tok):
    ds = indexed(bad_root, tok)
    assert len(ds) == 8 and ds.data_list == []
    plain = SAMA239KIndexedDataset(ann_file='sama239k_train_final.json', data_root=str(bad_root),
                                   mask_dicts=dict(mevis='mevis_train_mask_dict.json'), skip_bad=True)
    info = ds.get_data_info(7)
    assert info['rounds'] == plain.get_data_info(len(plain) - 1)['rounds']
    a, b = ds[0], ds[7]
    assert a['data_samples'].gt_masks.sum() > 0 and b['inputs']['region_masks'].shape[0] > 0
    assert len(pickle.dumps(ds)) < 20000
    assert len(ds.modality_lengths()) == 8 and (ds.modality_lengths() >= 1290).all()


@pytest.mark.parametrize('index,kind', sorted(BAD.items()))
def test_bad_input_names_file_and_record(bad_root, tok, index, kind):
    ds = indexed(bad_root, tok)
    with pytest.raises(DataError) as err:
        ds[index]
    assert err.value.kind == kind
    text = str(err.value)
    assert f'{index} (' in text, text  # the record: index (video_id)
    expected_file = {1: 'broken.mp4', 2: 'JPEGImages', 3: 'mevis_train_mask_dict.index',
                     4: 'mevis_train_mask_dict.index', 5: 'sama239k_train_final.index', 6: 'JPEGImages'}[index]
    assert expected_file in err.value.file, text


def test_skip_bad_skips_and_counts(bad_root, tok):
    ds = indexed(bad_root, tok, skip_bad=True)
    with pytest.warns(UserWarning, match='skipping sample'):
        samples = [ds[i] for i in range(len(ds))]
    for s in samples:
        assert s['data_samples'].metainfo['video_id'].split('_')[-1] in ('0', '7')
    assert set(BAD.values()) <= set(ds.skip_summary())
    assert sum(ds.skip_counts.values()) >= 6
    again = ds[3]
    assert again['data_samples'].metainfo['video_id'] == samples[3]['data_samples'].metainfo['video_id']
    assert samples[1]['data_samples'].metainfo['skipped_bad'][0] == 'unreadable_video'
    # The hook adds up what the batches carry and the records dropped while loading.
    hook = DataSkipSummaryHook()
    hook.before_train_epoch(None)
    hook.after_train_iter(None, 0, dict(data_samples=[s['data_samples'] for s in samples]))
    logs = []
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(dataset=ds),
                             logger=SimpleNamespace(info=logs.append))
    hook.after_train_epoch(runner)
    assert set(BAD.values()) <= set(hook.last_summary['samples']) and 'skipped' in logs[0]


def test_skip_bad_at_load_time(bad_root):
    cfg = dict(type='SAMA239KIndexedDataset', data_root=str(bad_root), ann_file='sama239k_train_final.json',
               mask_dicts=dict(mevis='mevis_train_mask_dict.json'))
    with pytest.raises(DataError, match=r'sama239k_train_final.json record 5 \(bunny_a_5\)'):
        DATASETS.build(cfg)
    with pytest.warns(UserWarning, match='skipped 1 bad record'):
        ds = DATASETS.build(dict(cfg, skip_bad=True))
    assert len(ds) == 7 and ds.skip_summary() == {'load:empty_conversation': 1}


def test_index_of_many_records_is_lazy(tmp_path):
    src = tmp_path / 'sama239k_train_final.json'
    with open(src, 'w') as f:
        f.write('[\n' + ',\n'.join(json.dumps(fakes.sama239k_record(i)) for i in range(5000)) + '\n]')
    result = build_index(str(src))
    assert result['count'] == 5000 and result['kind'] == 'records'
    ds = DATASETS.build(dict(type='SAMA239KIndexedDataset', data_root=str(tmp_path),
                             index_file='sama239k_train_final.index', mask_dicts=dict(mevis='m.json')))
    assert len(ds) == 5000 and ds.get_data_info(4321)['video_id'] == 'v4321'
    assert ds.data_list == [] and ds._records._fh is not None
    assert len(pickle.dumps(ds)) < 20000
    with pytest.raises(FileExistsError):
        build_index(str(src))
    # A truncated index is refused with a pointer to rebuilding it.
    with open(tmp_path / 'sama239k_train_final.index' / 'records.jsonl', 'r+b') as f:
        f.truncate(1000)
    with pytest.raises(DataError, match='truncated_index'):
        LazyRecordIndex(str(tmp_path / 'sama239k_train_final.index'))


def test_index_converter_refuses_pickles(tmp_path):
    src = tmp_path / 'mask_dict.pkl'
    with open(src, 'wb') as f:
        pickle.dump({1: [None, {'size': [2, 2], 'counts': b'04'}]}, f)
    with pytest.raises(PickleInputError, match='trust-pickle-code-execution'):
        build_index(str(src))
    assert not osp.exists(tmp_path / 'mask_dict.index')
    result = build_index(str(src), trust_pickle=True)
    from sama_mm.datasets import LazyMaskDict
    assert result['kind'] == 'mask_dict' and LazyMaskDict(result['out'])['1'][1]['counts'] == '04'
    shutil.rmtree(result['out'])


def test_mixture_repeats_and_lengths(tmp_path):
    root = tmp_path / 'llava'
    fakes.make_llava(str(root), str(root / 'llava_images'))
    llava = dict(type='LLaVADataset', data_root=str(root), ann_file='llava_v1_5_mix665k.json',
                 data_prefix=dict(img='llava_images'))
    ref = tmp_path / 'ref'
    fakes.make_refcoco(str(ref), str(tmp_path / 'coco'))
    refcoco = dict(type='RefCOCODataset', data_root=str(ref), ann_file='refs_unc.json',
                   data_prefix=dict(img=str(tmp_path / 'coco')), split='val', test_mode=True)
    mix = DATASETS.build(dict(type='MultitaskMixture', datasets=[llava, refcoco], repeats=[3, 4],
                              names=['llava', 'refcoco']))
    assert len(mix) == 3 * 1 + 4 * 2
    assert [mix.locate(i) for i in (0, 2, 3, 4, 5, 10)] == [(0, 0), (0, 0), (1, 0), (1, 1), (1, 0), (1, 1)]
    lengths = mix.modality_lengths()
    assert lengths.shape == (11, ) and (lengths > 258).all()
    assert len(set(lengths[:3].tolist())) == 1 and lengths[3] == lengths[5]
    assert mix.modality_length == lengths.tolist()
    assert [s['samples'] for s in mix.summary()] == [3, 8]
    assert mix.get_data_info(4)['sent_id'] == 4
    with pytest.raises(ValueError, match='repeats'):
        MultitaskMixture([llava], repeats=[0])
    assert np.isclose(sum(s['share'] for s in mix.summary()), 1.0)
