"""Golden samples: our SAMA-Bench-G/C test samples against the official inference dataset classes.

The fixtures (``tests/data/official_bench/samples.{json,npz}`` and the fake bench under ``data/``) were written by
``tools/dev/record_official_bench.py --samples``, which ran the two official ``GCGVideoInferenceDataset`` classes
(``video_gcg_eval_video_wise.py`` with one QA round per sample, ``video_region_cap_eval_video_wise.py`` with one
description per sample; sunye23/SAMA 7c75e44) on the fake bench. Here ``SAMABenchDataset`` with the test
pipelines' steps replays every sample: ids, question text (with the segmentation suffix where the official adds
it), reference answer, the number of sparse frames, the ground-truth tracks of every ``[SEG]`` (read by
``SAMABenchGMetric``) and the 16x16 / 112x112 region prompt masks (boxes for G, raw masks for C) on every frame
we sample must be identical. No official code runs here.

Known difference: the official script shuffles the samples with a fixed seed; ours come in file order (the
samples are compared by id).
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from sama_mm.datasets import SAMABenchDataset
from sama_mm.datasets.sama_bench import SAMA_BENCH_MASK_DICTS, lvvis_folder
from sama_mm.datasets.transforms import LoadRegionMasks, SAMA239KToRounds, SampleFrames, VideoInit
from sama_mm.evaluation.metrics import SAMABenchGMetric
from sama_mm.structures.region_prompt import region_masks
from sama_mm.utils import register_all_modules

register_all_modules(init_default_scope=False)

FIXTURES = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data', 'official_bench')
DATA = osp.join(FIXTURES, 'data')
TASKS = {'grounding': ('conversation', True, 'question_id'), 'caption': ('description', False, 'description_id')}


@pytest.fixture(scope='module')
def official():
    with open(osp.join(FIXTURES, 'samples.json'), encoding='utf-8') as f:
        samples = json.load(f)['samples']
    with np.load(osp.join(FIXTURES, 'samples.npz')) as data:
        arrays = {k: data[k] for k in data.files}
    return samples, arrays


def unpack(arrays, key):
    shape = tuple(int(v) for v in arrays[key + '_shape'])
    return np.unpackbits(arrays[key])[:int(np.prod(shape))].reshape(shape).astype(bool)


def ours(task):
    rounds_task, box, id_key = TASKS[task]
    dataset = SAMABenchDataset(data_root=DATA, ann_file='bench.json', task=task,
                               pipeline=[dict(type=VideoInit), dict(type=SampleFrames),
                                         dict(type=SAMA239KToRounds, task=rounds_task),
                                         dict(type=LoadRegionMasks, box=box)])
    return {dataset[i][id_key]: dataset[i] for i in range(len(dataset))}


@pytest.mark.parametrize('task', ['grounding', 'caption'])
def test_bench_samples_match_the_official_classes(task, official):
    samples, arrays = official
    _, box, id_key = TASKS[task]
    expected = [s for s in samples if s['task'] == task]
    mine = ours(task)
    assert sorted(mine) == sorted(s[id_key] for s in expected)
    for s in expected:
        out = mine[s[id_key]]
        assert out['video_path'] == osp.join(DATA, lvvis_folder(s['video'])), s['key']
        assert out['num_frames'] == s['num_frames']
        (rnd,) = out['rounds']
        assert rnd['question'] == s['question'], s['key']
        assert rnd['answer'].strip() == s['answer'], s['key']
        if task == 'grounding':
            assert len(out['frame_indices']) == s['sparse_len'], s['key']  # context tokens: one per sparse frame
        n_regions = sum(s['mask_count'])
        assert len(out['region_masks']) == n_regions, s['key']
        if not n_regions:
            continue
        m16, m112 = unpack(arrays, s['key'] + '/prompt16'), unpack(arrays, s['key'] + '/prompt112')
        for r in range(n_regions):
            for k, frame in enumerate(out['frame_indices']):
                if not out['region_masks'][r, k].any():  # no mask on this frame: empty prompts on both sides
                    assert not m16[r, frame].any() and not m112[r, frame].any(), (s['key'], r, frame)
                    continue
                a16, a112 = region_masks(torch.from_numpy(out['region_masks'][r, k]), box=box, grid_size=16,
                                         mask_size=112)
                assert np.array_equal(np.asarray(a16).astype(bool), m16[r, frame]), (s['key'], r, frame)
                assert np.array_equal(np.asarray(a112).astype(bool), m112[r, frame]), (s['key'], r, frame)


def test_bench_g_ground_truth_tracks_match_the_official_class(official):
    samples, arrays = official
    metric = SAMABenchGMetric(ann_file=osp.join(DATA, 'bench.json'),
                              mask_dicts={k: osp.join(DATA, v) for k, v in SAMA_BENCH_MASK_DICTS.items()})
    checked = 0
    for s in samples:
        if s['task'] != 'grounding':
            continue
        q = metric.questions[s['question_id']]
        tracks = metric._gt_tracks(q, s['question_id'], None)
        expected = unpack(arrays, s['key'] + '/gt')
        assert tracks.shape == expected.shape, s['key']
        assert np.array_equal(tracks, expected), s['key']
        checked += len(tracks)
    assert checked == 6  # every [SEG] of the fake bench, one of them the OR of two objects
