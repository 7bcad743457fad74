"""The new dataset classes on the real demo data (MeViS and Ref-YouTube-VOS layouts, SAMA-239K JSON)."""
import os
import shutil

import pytest

from sama_mm.datasets import DataError
from sama_mm.datasets.transforms import LoadSegMasks, RefVOSToRounds, SampleFrames, VideoDecode, VideoInit
from sama_mm.registry import DATASETS

PIPELINE = [dict(type=VideoInit), dict(type=SampleFrames), dict(type=VideoDecode), dict(type=RefVOSToRounds),
            dict(type=LoadSegMasks)]


def test_mevis_and_ref_ytvos_on_demo(demo_root):
    mevis = DATASETS.build(dict(type='MeViSDataset', data_root=str(demo_root / 'mevis' / 'train'),
                                data_prefix=dict(video='JPEGImages'), pipeline=PIPELINE))
    rvos = DATASETS.build(dict(type='RefYouTubeVOSDataset', data_root=str(demo_root / 'rvos'),
                               ann_file='meta_expressions/train/meta_expressions.json',
                               data_prefix=dict(video='train/JPEGImages'), mask_dir='train/Annotations',
                               pipeline=PIPELINE))
    for ds in (mevis, rvos):
        assert len(ds) > 10 and ds.check().ok
        sample = ds[0]
        assert sample['gt_masks'].shape[:2] == (1, 5) and sample['gt_masks'].sum() > 0
    sama = DATASETS.build(dict(type='SAMA239KIndexedDataset', data_root=str(demo_root),
                               ann_file='sama239k_train_final.json', mask_dicts=dict(mevis='mevis_train_mask_dict.json')))
    from data_converters.build_demo_data import CLIPS, RECORDS_PER_CLIP
    records = RECORDS_PER_CLIP * sum(c.split == 'train' for c in CLIPS)  # conversations per training clip
    assert len(sama) == records and sama.check().ok and len(sama.modality_lengths()) == records


def test_mevis_missing_frames_skip_bad(demo_root, tmp_path):
    root = tmp_path / 'mevis'
    shutil.copytree(demo_root / 'mevis' / 'train', root)
    folder = root / 'JPEGImages' / 'bikes_a'
    os.remove(folder / sorted(os.listdir(folder))[3])
    cfg = dict(type='MeViSDataset', data_root=str(root), data_prefix=dict(video='JPEGImages'), pipeline=PIPELINE)
    ds = DATASETS.build(cfg)
    bad = [i for i in range(len(ds)) if ds.get_data_info(i)['video_id'] == 'bikes_a']
    with pytest.raises(DataError, match=r'bikes_a.*record bikes_a/'):
        ds[bad[0]]
    robust = DATASETS.build(dict(cfg, skip_bad=True))
    with pytest.warns(UserWarning, match='missing_frames'):
        sample = robust[bad[0]]
    assert sample['video_id'] != 'bikes_a' and robust.skip_summary()['missing_frames'] >= 1
