# The demo data set written by `python data_converters/build_demo_data.py` (default: data/demo/).
# The same clips in three layouts: SAMA-239K conversations, MeViS and Ref-YouTube-VOS.
from mmengine.dataset import ConcatDataset, DefaultSampler

from sama_mm.datasets import RefVOSDataset, SAMA239KDataset

demo_root = 'data/demo/'

sama239k_demo = dict(
    type=SAMA239KDataset,
    data_root=demo_root,
    ann_file='sama239k_train_final.json',
    mask_dicts=dict(mevis='mevis_train_mask_dict.json'),
    pipeline=[])
mevis_demo_train = dict(
    type=RefVOSDataset,
    data_root=demo_root + 'mevis/train/',
    ann_file='meta_expressions.json',
    mask_file='mask_dict.json',
    pipeline=[])
rvos_demo_train = dict(
    type=RefVOSDataset,
    data_root=demo_root + 'rvos/',
    ann_file='meta_expressions/train/meta_expressions.json',
    data_prefix=dict(video='train/JPEGImages'),
    mask_dir='train/Annotations',
    pipeline=[])
mevis_demo_valid_u = dict(
    type=RefVOSDataset,
    data_root=demo_root + 'mevis/valid_u/',
    ann_file='meta_expressions.json',
    mask_file='mask_dict.json',
    test_mode=True,
    pipeline=[])
rvos_demo_valid = dict(
    type=RefVOSDataset,
    data_root=demo_root + 'rvos/',
    ann_file='meta_expressions/valid/meta_expressions.json',
    data_prefix=dict(video='valid/JPEGImages'),
    test_mode=True,
    pipeline=[])

train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=ConcatDataset, ignore_keys=['dataset_name'],
                 datasets=[sama239k_demo, mevis_demo_train, rvos_demo_train]))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=mevis_demo_valid_u)
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=rvos_demo_valid)
