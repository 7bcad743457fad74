"""The demo pipelines of configs/_base_/datasets/sama_pipelines.py on every demo sample."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from sama_mm.datasets import RefVOSDataset, SAMA239KDataset
from sama_mm.datasets.transforms import ChatTokenize, PackSAMAInputs, QFormerPrompts, SAM2ImageTransform
from sama_mm.tokenizers import build_qformer_tokenizer
from sama_mm.structures import SAMADataSample
from tests.conftest import REPO_ROOT
from tests.datasets.tiny_tokenizer import make_tiny_tokenizer

CONFIG = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'sama_pipelines.py')


@pytest.fixture(scope='module')
def tok():
    return make_tiny_tokenizer()


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(CONFIG)


def pipeline_of(cfg, name, tok, sam2_size=None):
    """The config's pipeline with the tiny tokenizer (and, to keep tests fast, a smaller SAM2 input)."""
    steps = copy.deepcopy([dict(step) for step in cfg[name]])
    for step in steps:
        if step['type'] is ChatTokenize:
            step['tokenizer'] = tok
        if step['type'] is QFormerPrompts:
            step['tokenizer'] = build_qformer_tokenizer(tiny=True)
        if step['type'] is SAM2ImageTransform and sam2_size:
            step['image_size'] = sam2_size
    return steps


def check_packed(packed, tok, context_tokens=True, num_image_tokens=256, generation=False):
    inputs, sample = packed['inputs'], packed['data_samples']
    assert isinstance(sample, SAMADataSample)
    meta = sample.metainfo
    T, D = len(meta['frame_indices']), len(meta['dense_frame_indices'])
    assert inputs['pixel_values'].dtype == torch.float32 and inputs['pixel_values'].shape == (T, 3, 448, 448)
    assert inputs['dense_positions'].dtype == torch.int64 and inputs['dense_positions'].shape == (D, )
    assert [meta['frame_indices'][p] for p in inputs['dense_positions'].tolist()] == meta['dense_frame_indices']
    ids, labels = inputs['input_ids'], inputs['labels']
    assert ids.dtype == labels.dtype == torch.int64 and ids.shape == labels.shape and ids.ndim == 1
    assert bool(((labels == -100) | (labels == ids)).all())
    seg = tok.convert_tokens_to_ids('[SEG]')
    n_seg = int((ids == seg).sum())
    regions = sum(len(r) for r in meta['region_keys'])
    rounds = len(meta['questions'])
    expected_ctx = D * num_image_tokens + (rounds * T + 2 * regions if context_tokens else 0)
    assert int((ids == tok.convert_tokens_to_ids('<IMG_CONTEXT>')).sum()) == expected_ctx
    if 'gt_masks' in sample:
        gt = sample.gt_masks
        assert gt.dtype == torch.uint8 and gt.shape[1:] == (D, *meta['ori_shape'])
        if not generation:
            assert gt.shape[0] == n_seg
    vp = int((ids == tok.convert_tokens_to_ids('<vp>')).sum())
    assert vp == regions
    if 'region_masks' in inputs:
        assert inputs['region_masks'].dtype == torch.uint8
        assert inputs['region_masks'].shape == (regions, T, *meta['ori_shape'])
    if 'sam2_pixel_values' in inputs:
        assert inputs['sam2_pixel_values'].dtype == torch.float32
        assert inputs['sam2_pixel_values'].shape[:2] == (D, 3)
    return n_seg


def test_sama239k_conversation_pipeline(demo_root, cfg, tok):
    dataset = SAMA239KDataset(ann_file='sama239k_train_final.json', data_root=str(demo_root) + '/',
                              mask_dicts=dict(mevis='mevis_train_mask_dict.json'),
                              pipeline=pipeline_of(cfg, 'sama239k_train_pipeline', tok, sam2_size=64))
    total_seg = 0
    for i in range(len(dataset)):
        packed = dataset[i]
        total_seg += check_packed(packed, tok)
        meta = packed['data_samples'].metainfo
        assert meta['sample_idx'] == i and meta['num_frames'] == 24 and meta['video_id']
        assert meta['frame_indices'] == [0, 3, 6, 9, 12, 15, 18, 21] and meta['dense_frame_indices'] == [0, 3, 6,
                                                                                                          12, 15]
        assert packed['inputs']['sam2_pixel_values'].shape == (5, 3, 64, 64)
        assert packed['data_samples'].gt_masks.sum() > 0
        assert 'region_masks' in packed['inputs']
        for q, a in zip(meta['questions'], meta['answers']):
            assert q.endswith('Response with interleaved segmentation masks.') == ('[SEG]' in a)
    assert total_seg > 0


def test_sama239k_full_size_sam2_input(demo_root, cfg, tok):
    dataset = SAMA239KDataset(ann_file='sama239k_train_final.json', data_root=str(demo_root) + '/',
                              mask_dicts=dict(mevis='mevis_train_mask_dict.json'),
                              pipeline=pipeline_of(cfg, 'sama239k_train_pipeline', tok))
    packed = dataset[0]
    check_packed(packed, tok)
    assert packed['inputs']['sam2_pixel_values'].shape == (5, 3, 1024, 1024)


def test_sama239k_description_pipeline(demo_root, cfg, tok):
    from sama_mm.datasets.transforms import SAMA239KToRounds
    steps = pipeline_of(cfg, 'sama239k_train_pipeline', tok, sam2_size=64)
    steps = [dict(type=SAMA239KToRounds, task='description', max_rounds=3) if s['type'] is SAMA239KToRounds else s
             for s in steps]
    dataset = SAMA239KDataset(ann_file='sama239k_train_final.json', data_root=str(demo_root) + '/',
                              mask_dicts=dict(mevis='mevis_train_mask_dict.json'), pipeline=steps)
    for i in range(len(dataset)):
        packed = dataset[i]
        assert check_packed(packed, tok) == 0
        meta = packed['data_samples'].metainfo
        assert packed['data_samples'].gt_masks.shape[0] == 0
        assert all(r and len(r) == 1 for r in meta['region_keys'])
        assert all(q == 'Please describe the region <mask> in the video in detail.' for q in meta['questions'])


@pytest.mark.parametrize('layout', ['mevis', 'rvos'])
def test_rvos_train_pipeline(demo_root, cfg, tok, layout):
    # The official training sample: one per video, 5 expressions drawn, official templates and answers.
    from sama_mm.datasets.transforms.formatting_text import SEG_ANSWERS
    steps = pipeline_of(cfg, 'rvos_train_pipeline', tok, sam2_size=64)
    if layout == 'mevis':
        dataset = RefVOSDataset(ann_file='meta_expressions.json', data_root=str(demo_root / 'mevis' / 'train') + '/',
                                mask_file='mask_dict.json', samples_per='video', pipeline=steps)
    else:
        dataset = RefVOSDataset(ann_file='meta_expressions/train/meta_expressions.json',
                                data_root=str(demo_root / 'rvos') + '/', data_prefix=dict(video='train/JPEGImages'),
                                mask_dir='train/Annotations', samples_per='video', pipeline=steps)
    assert len(dataset) >= 2
    for i in range(len(dataset)):
        packed = dataset[i]
        assert check_packed(packed, tok) == 5
        meta = packed['data_samples'].metainfo
        exps = [e['expression'] for e in dataset.get_data_info(i)['expressions']]
        assert len(meta['questions']) == 5
        assert all(q in exps or any(e.replace('.', '').strip().lower() in q for e in exps) for q in meta['questions'])
        assert all(a in SEG_ANSWERS for a in meta['answers'])
        gt = packed['data_samples'].gt_masks
        assert gt.shape[0] == 5 and gt.sum() > 0


def test_rvos_test_pipeline(demo_root, cfg, tok):
    dataset = RefVOSDataset(ann_file='meta_expressions/valid/meta_expressions.json',
                            data_root=str(demo_root / 'rvos') + '/', data_prefix=dict(video='valid/JPEGImages'),
                            test_mode=True, pipeline=pipeline_of(cfg, 'test_pipeline', tok))
    for i in range(len(dataset)):
        packed = dataset[i]
        assert check_packed(packed, tok, generation=True) == 0
        assert 'gt_masks' not in packed['data_samples'] and 'sam2_pixel_values' not in packed['inputs']
        assert packed['data_samples'].metainfo['dense_frame_indices'] == [0, 3, 6, 9, 12]  # dense_policy='first'
        assert bool((packed['inputs']['labels'] == -100).all())
        assert tok.decode(packed['inputs']['input_ids']).endswith('<|im_end|>\n<|im_start|>assistant\n')


def test_pack_without_optional_keys():
    results = dict(pixel_values=torch.zeros(2, 3, 4, 4), dense_positions=[1], frame_indices=[0, 5],
                   input_ids=[1, 2, 3], labels=[-100, 2, 3], rounds=[dict(question='q', answer='a')],
                   video_id='v', ori_shape=(4, 6), num_frames=9)
    packed = PackSAMAInputs()(results)
    assert set(packed['inputs']) == {'pixel_values', 'dense_positions', 'input_ids', 'labels'}
    meta = packed['data_samples'].metainfo
    assert meta['dense_frame_indices'] == [5] and meta['questions'] == ['q'] and meta['ori_shape'] == (4, 6)
    assert 'gt_masks' not in packed['data_samples']
    with pytest.raises(ValueError, match='differ in length'):
        PackSAMAInputs()(dict(results, labels=[1]))


def test_qformer_prompts_pooling_frame_first_or_seeded_random():
    """'first': the first non-empty dense frame; 'random' (released inference rule): a non-empty dense frame drawn
    from a seeded generator, the same in every run, never an empty one."""
    track = np.zeros((1, 6, 32, 32), np.uint8)
    for t in (1, 3, 4, 5):
        track[0, t, 4:12, 4:12] = 1
    results = lambda: dict(rounds=[dict(question='What is <mask>?')], dense_positions=[0, 2, 3, 4, 5],  # noqa: E731
                           region_masks=track, video_id='v')
    qtok = build_qformer_tokenizer(tiny=True)
    first = QFormerPrompts(qtok, grid_size=4, mask_size=8)(results())['neck_turns'][0]['regions'][0]['frame']
    assert first == 3
    drawn = [QFormerPrompts(qtok, grid_size=4, mask_size=8, pooling_frame='random', seed=s)(results())
             ['neck_turns'][0]['regions'][0]['frame'] for s in range(20)]
    assert set(drawn) == {3, 4, 5}  # non-empty dense frames only, each drawn for some seed
    again = [QFormerPrompts(qtok, grid_size=4, mask_size=8, pooling_frame='random', seed=s)(results())
             ['neck_turns'][0]['regions'][0]['frame'] for s in range(20)]
    assert again == drawn
    with pytest.raises(ValueError, match='pooling_frame'):
        QFormerPrompts(qtok, pooling_frame='any')
