# Training data of the released recipe that sama_mm reads today: SAMA-239K conversations (x5, as the 1B and 8B
# configs) and the referring-VOS sets MeViS (x4) and Ref-YouTube-VOS (x4, after converting its pickle mask dict
# with data_converters/pickle_to_json.py), under `data_root` (reference section 3 layouts).
from mmengine.config import read_base
from mmengine.dataset import ConcatDataset, DefaultSampler, RepeatDataset

from sama_mm.datasets import RefVOSDataset, SAMA239KDataset, sama_collate

with read_base():
    from .sama_pipelines import *  # noqa: F401,F403

data_root = 'data/'

sama239k_conversation = dict(
    type=RepeatDataset, times=5,
    dataset=dict(type=SAMA239KDataset, data_root=data_root + 'sama239k_data/', ann_file='sama239k_train_final.json',
                 mask_dicts=dict(mevis='mevis_train_mask_dict.json', lvvis='lvvis_train_mask_dict.json',
                                 ref_youtube_vos='ref_youtube_train_mask_dict.json', sav='SAV_mask_dict_train.json',
                                 VidSTG='VidSTG_mask_dict_train_updated.json'),
                 pipeline=sama239k_train_pipeline))  # noqa: F405
mevis_train = dict(
    type=RepeatDataset, times=4,
    dataset=dict(type=RefVOSDataset, data_root=data_root + 'video_datas/mevis/train/',
                 ann_file='meta_expressions.json', mask_file='mask_dict.json', pipeline=rvos_train_pipeline))  # noqa
refytvos_train = dict(
    type=RepeatDataset, times=4,
    dataset=dict(type=RefVOSDataset, data_root=data_root + 'video_datas/rvos/',
                 ann_file='meta_expressions/train/meta_expressions.json', data_prefix=dict(video='train/JPEGImages'),
                 mask_file='mask_dict.json', pipeline=rvos_train_pipeline))  # noqa: F405

train_dataloader = dict(
    batch_size=2, num_workers=4, persistent_workers=True, collate_fn=dict(type=sama_collate),
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=ConcatDataset, ignore_keys=['dataset_name'],
                 datasets=[sama239k_conversation, mevis_train, refytvos_train]))
