"""The evaluation configs (configs/sama/sama_1b_test_*.py) on a scaled-down fake of the real data layout.

Every new leaf config is loaded with ``Config.fromfile``, its test dataset built (without the pipeline, whose
tokenizer is the released one) from ``data/`` of a temporary folder, and its evaluator built too; the ids the
dataset hands to the model must be exactly the ids the metric reads from the ground-truth files. ReVOS and
Ref-DAVIS17 are also scored with the ground truth as prediction (100 everywhere), which checks that the
dataset and the metric agree on which masks belong to an expression (counter keys for DAVIS).
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from sama_mm.datasets.mask_dict import load_mask_dict
from sama_mm.evaluation.metrics._utils import mask_dict_track
from sama_mm.registry import DATASETS, METRICS
from sama_mm.structures import SAMADataSample
from sama_mm.utils import register_all_modules
from tests.conftest import REPO_ROOT
from tests.datasets.fakes import H, W, box, rle, write_json
from tests.evaluation.eval_fixtures import build_eval_tree

register_all_modules(init_default_scope=False)


@pytest.fixture(scope='module')
def eval_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('eval')
    build_eval_tree(root)
    return root


def _without_pipeline(cfg):
    cfg = dict(cfg)
    if 'datasets' in cfg:
        cfg['datasets'] = [_without_pipeline(d) for d in cfg['datasets']]
    else:
        cfg['pipeline'] = []
    return cfg


def build_from_leaf(name, root, monkeypatch):
    """The test dataset and evaluator of configs/sama/sama_1b_test_<name>.py, with paths below ``root``."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sama', f'sama_1b_test_{name}.py'))
    monkeypatch.chdir(root)
    dataset = DATASETS.build(_without_pipeline(cfg.test_dataloader.dataset.to_dict()))
    metric = METRICS.build(cfg.test_evaluator.to_dict())
    return dataset, metric


def infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


REFCOCO_LEAVES = ['refcoco_val', 'refcoco_testA', 'refcoco_testB', 'refcocoplus_val', 'refcocoplus_testA',
                  'refcocoplus_testB', 'refcocog_val', 'refcocog_test']


@pytest.mark.parametrize('name', REFCOCO_LEAVES)
def test_refcoco_configs(name, eval_root, monkeypatch):
    dataset, metric = build_from_leaf(name, eval_root, monkeypatch)
    samples = infos(dataset)
    # The fake's evaluation ref has two sentences: one sample each, naming the ref's COCO annotation.
    assert [(s['ann_id'], s['rounds'][0]['question']) for s in samples] == [
        (12, 'Please segment middle box in this image.'), (12, 'Please segment the box in this image.')]
    assert metric.prefix == name.replace('plus', '+') and metric.ann_file.endswith('/instances.json')
    gt = metric._gt_from_file(12, (H, W))
    assert gt.sum() == 10 * 20  # the fake polygon(5, 15, 5, 25) as pycocotools rasterises it


@pytest.mark.parametrize('split,images', [('val', ['v1', 'v2']), ('test', ['t1'])])
def test_gcg_configs(split, images, eval_root, monkeypatch):
    dataset, metric = build_from_leaf(f'gcg_{split}', eval_root, monkeypatch)
    samples = infos(dataset)
    assert [s['image_id'] for s in samples] == images == sorted(metric.coco)
    assert all(osp.isfile(s['img_path']) for s in samples)
    assert metric.coco[images[0]]['labels'] == ['a cat', 'a dog'] and len(metric.coco[images[0]]['anns']) == 2


def test_sama_bench_configs(eval_root, monkeypatch):
    g_data, g_metric = build_from_leaf('sama_bench_g', eval_root, monkeypatch)
    g = infos(g_data)
    assert sorted(s['question_id'] for s in g) == sorted(g_metric.questions) == ['q0', 'q1', 'q2']
    assert all(len(s['rounds']) == 1 for s in g)
    lvvis = next(s for s in g if s['question_id'] == 'q2')
    assert lvvis['video_path'].endswith('lvvis/val/JPEGImages/00007') and osp.isdir(lvvis['video_path'])
    assert lvvis['mask_file'].endswith('LVVIS_mask_dict_val.json')
    assert g_metric.questions['q2']['mask_file'] == lvvis['mask_file']

    c_data, c_metric = build_from_leaf('sama_bench_c', eval_root, monkeypatch)
    c = {s['description_id']: s for s in infos(c_data)}
    assert sorted(c) == sorted(c_metric.references) == ['d0', 'd1', 'd2']
    assert c['d2']['descriptions'] == {'8': 'A large block.'} and c['d1']['descriptions'] == {
        '101': 'A bar at the bottom right.'}


def _gt_prediction(info):
    """The expression's ground truth (from the dataset's own keys) as a prediction of every frame."""
    masks = load_mask_dict(info['mask_file'])
    track = mask_dict_track(masks, info['anno_ids'], len(info['frames']), None, info['mask_file'], info['exp_id'])
    sample = SAMADataSample(metainfo=dict(video_id=info['video_id'], exp_id=info['exp_id']))
    sample.pred_masks = torch.from_numpy(track[None])
    return sample.to_dict()


@pytest.mark.parametrize('name,expected', [
    ('revos_valid', {'J', 'F', 'J&F', 'A', 'R'} | {f'{k}_{t}' for k in ('J', 'F', 'J&F', 'A', 'R')
                                                  for t in ('referring', 'reasoning')}),
    ('refdavis17_valid', {'J', 'F', 'J&F'})])
def test_rvos_configs_score_their_ground_truth_100(name, expected, eval_root, monkeypatch):
    dataset, metric = build_from_leaf(name, eval_root, monkeypatch)
    samples = infos(dataset)
    assert len(samples) == (6 if name == 'revos_valid' else 5)
    metric.process({}, [_gt_prediction(s) for s in samples])
    out = metric.evaluate(len(samples))
    assert {k.split('/', 1)[1] for k in out} == expected
    assert all(v == pytest.approx(100.0) for v in out.values())


def test_revos_metric_accuracy_and_robustness_by_hand(tmp_path):
    """A and R on one two-frame expression, against numbers worked out by hand."""
    write_json(tmp_path / 'meta.json', dict(videos=dict(v=dict(frames=['0', '1'], expressions={
        '0': dict(exp='a', anno_id=['1'], type_id=0)}))))
    write_json(tmp_path / 'masks.json', {'1': [rle(box(0, 4, 0, 4, 8, 8)), None]})
    write_json(tmp_path / 'fg.json', dict(v=dict(masks_rle=[rle(box(0, 4, 0, 8, 8, 8)), rle(box(0, 8, 0, 8, 8, 8))])))
    metric = METRICS.build(dict(type='RVOSMetric', ann_file=str(tmp_path / 'meta.json'),
                                mask_file=str(tmp_path / 'masks.json'), foreground_file=str(tmp_path / 'fg.json')))
    pred = np.zeros((1, 2, 8, 8), bool)
    pred[0, 0, 0:4, 0:6] = True   # frame 0: the 16 GT pixels and 8 false positives (foreground 32 pixels)
    pred[0, 1, 0:2, 0:8] = True   # frame 1: no GT, 16 false positives (foreground 64 pixels)
    sample = SAMADataSample(metainfo=dict(video_id='v', exp_id='0'))
    sample.pred_masks = torch.from_numpy(pred)
    metric.process({}, [sample.to_dict()])
    out = metric.evaluate(1)
    # A: frame 0 (64 - 8) / 64, frame 1 (64 - 16) / 64. R: frame 0 1 - 8/32, frame 1 1 - 16/64.
    assert out['rvos/A'] == pytest.approx(100 * (56 / 64 + 48 / 64) / 2)
    assert out['rvos/R'] == pytest.approx(100 * (0.75 + 0.75) / 2)
    assert out['rvos/A_referring'] == out['rvos/A'] and 'rvos/A_reasoning' not in out
    # J: frame 0 16/24, frame 1 0 (prediction where there is nothing).
    assert out['rvos/J'] == pytest.approx(100 * (16 / 24 + 0) / 2)


def test_bench_metric_needs_one_mask_source():
    with pytest.raises(ValueError, match='exactly one'):
        METRICS.build(dict(type='SAMABenchGMetric', ann_file='a.json'))
    with pytest.raises(ValueError, match='exactly one'):
        METRICS.build(dict(type='SAMABenchGMetric', ann_file='a.json', mask_file='m.json', mask_dicts={'x': 'y'}))


def test_leaf_configs_dump(tmp_path):
    """The Runner writes the config into the work dir, which fails on a function defined in a config file: the
    base files delete their helpers. Every leaf is checked for leftovers (cheap), one is dumped for real."""
    import glob
    for path in sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_test_*.py'))):
        cfg = Config.fromfile(path)
        assert [k for k in cfg.keys() if k.startswith('_')] == [], path
        assert 'test_dataloader' in cfg and 'test_evaluator' in cfg, path
    Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_test_revos_valid.py')).dump(
        str(tmp_path / 'config.py'))
    assert (tmp_path / 'config.py').stat().st_size > 0


def test_bench_meta_reaches_the_data_sample(eval_root, monkeypatch):
    """The tiny test pipelines (the released ones, rebound to the tiny model) pack the ids the metrics need."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'tests', 'data', 'configs', 'tiny_eval_base.py'))
    monkeypatch.chdir(eval_root)
    expected = dict(tiny_bench_g_loader=('question_id', 'q0'), tiny_bench_c_loader=('description_id', 'd0'),
                    tiny_refcoco_loader=('ann_id', 12), tiny_gcg_loader=('image_id', 'v1'),
                    tiny_refdavis17_loader=('exp_id', '0'))
    for loader, (key, value) in expected.items():
        dataset = DATASETS.build(cfg[loader]['dataset'].to_dict())
        packed = dataset[0]
        sample = packed['data_samples']
        assert sample.metainfo[key] == value, loader
        if loader == 'tiny_bench_g_loader':  # one region prompt, boxes on every sparse frame
            assert packed['inputs']['region_masks'].shape[0] == 1
            assert sample.questions == ['What is <mask> next to? Response with interleaved segmentation masks.']
        if loader == 'tiny_bench_c_loader':
            assert sample.questions == ['Please describe the region <mask> in the video in detail.']


def test_format_only_is_refused_for_locally_scored_sets():
    from tools.test import check_format_only
    with pytest.raises(SystemExit, match='RefCOCOMetric has no submission format'):
        check_format_only(dict(type='RefCOCOMetric', ann_file='x.json'))
    check_format_only(dict(type='RVOSMetric', ann_file='x.json'))  # writes server submissions: accepted


def test_sama_bench_bad_records_name_file_and_record(tmp_path):
    from sama_mm.datasets import DataError
    from tests.datasets.fakes import make_sama_bench
    make_sama_bench(str(tmp_path))
    records = json.loads((tmp_path / 'mevis.json').read_text())
    del records[0]['conversation'][2]['question_id']
    records[0]['description_id']['obj5'] = 'd9'
    write_json(tmp_path / 'mevis.json', records)
    for task, message in (('grounding', 'human turn 2 has no question_id'), ('caption', "names 'obj5'")):
        with pytest.raises(DataError) as exc:
            DATASETS.build(dict(type='SAMABenchDataset', data_root=str(tmp_path), ann_file='mevis.json', task=task))
        assert message in str(exc.value) and 'mevis.json' in str(exc.value) and '0 (m0)' in str(exc.value)


def test_gcg_metric_scores_the_glamm_pair_of_files(eval_root, monkeypatch):
    """GCG val through its leaf config's metric: the ground-truth masks as prediction give mIoU 1."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_test_gcg_val.py'))
    monkeypatch.chdir(eval_root)
    metric = METRICS.build(dict(cfg.test_evaluator.to_dict(), similarity=None, meteor=False))
    samples = []
    for image_id in ('v1', 'v2'):
        masks = np.stack([box(4 * k, 4 * k + 6, 2, 20) for k in range(2)]).astype(bool)  # as make_gcg_eval
        sample = SAMADataSample(metainfo=dict(image_id=image_id))
        sample.pred_text = [f'<p> A cat </p> [SEG] sits next to <p> a dog </p> [SEG] in picture {image_id}.']
        sample.pred_masks = torch.from_numpy(masks[:, None])
        samples.append(sample.to_dict())
    metric.process({}, samples)
    out = metric.evaluate(2)
    assert out['gcg_val/mIoU'] == pytest.approx(1.0)
    assert out['gcg_val/BLEU-1'] == pytest.approx(1.0, abs=1e-6)  # the cleaned prediction is the caption


def test_mevis_configs_write_the_mevis_layout():
    """Every MeViS split formats its predictions as MeViS ``<video>/<exp>/<frame>.png`` (no ``Annotations/``)."""
    for split in ('mevis_valid_u', 'mevis_valid'):
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sama', f'sama_1b_test_{split}.py'))
        assert cfg.test_evaluator['server'] == 'mevis', split
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_test_refytvos_valid.py'))
    assert cfg.test_evaluator['server'] == 'refytvos'


def test_sama_bench_c_prompts_with_raw_masks():
    """Bench-C region prompts are the raw masks in both region encoders (the official caption evaluation),
    Bench-G prompts are boxes (issue 21 item 4)."""
    from sama_mm.datasets.transforms import LoadRegionMasks, QFormerPrompts
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/sama_pipelines.py'))
    for name, box in (('sama_bench_c_test_pipeline', False), ('sama_bench_g_test_pipeline', True)):
        steps = [s for s in cfg[name] if s['type'] in (LoadRegionMasks, QFormerPrompts)
                 or s['type'] in ('LoadRegionMasks', 'QFormerPrompts')]
        assert len(steps) == 2, name
        assert all(s.get('box', True) is box for s in steps), (name, steps)
