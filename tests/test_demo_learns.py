"""A shortened quickstart recipe keeps learning: the tiny SAMA reads the expression to pick the object.

Two referring questions about two objects of one demo training clip ("Please segment the <colour> <shape>."), in
the demo conversation format (answer: the object named back, then its ``[SEG]``), trained together with the
quickstart's config and learning rate. Each question must get its own answer and a mask on *its* object: a model
that ignores the expression can satisfy at most one of them.

Trains until a criterion stricter than the asserted bar holds (``tests/learning.py``), within a step cap.
"""
import json
import os

import pytest
import torch
from mmengine.config import Config

from data_converters import demo_texts as texts
from sama_mm.datasets import sama_collate
from sama_mm.registry import DATASETS, MODELS
from tests.conftest import REPO_ROOT
from tests.learning import train_until

CONFIG = f'{REPO_ROOT}/configs/demo/sama_tiny_demo.py'
#: Training stops once both answers are right and every dense-frame IoU with the named object reaches
#: ``TARGET_IOU``; the test asserts ``BAR_IOU``, and that each mask overlaps its own object more than the other.
TARGET_IOU, BAR_IOU = 0.6, 0.5
MAX_STEPS = 300
CHECK_EVERY = 10


def _iou(pred: torch.Tensor, gt: torch.Tensor) -> float:
    pred, gt = pred.bool(), gt.bool()
    return (pred & gt).sum().item() / max((pred | gt).sum().item(), 1)


def _two_referring_records(demo_root, out_dir):
    """A SAMA-239K annotation file with one referring round per object for the first two objects of a clip."""
    with open(demo_root / 'manifest.json') as f:
        manifest = json.load(f)
    with open(demo_root / 'sama239k_train_final.json') as f:
        record = json.load(f)[0]
    info = manifest['clips'][record['video_id']]
    records = []
    for i in range(2):
        name = f"{info['objects'][i]['colour']} {info['objects'][i]['shape']}"
        question = texts.REFER_QUESTION.format(exp=texts.the(name))
        records.append(dict(record, conversation=[dict(value=question, **{'from': 'human'}),
                                                  dict(value=texts.refer_answer(name), **{'from': 'gpt'})],
                            obj_masks=[[]], groundtruth=[[[record['anno_map'][i]]]]))
    os.makedirs(out_dir, exist_ok=True)
    with open(out_dir / 'sama239k_train_final.json', 'w') as f:
        json.dump(records, f)
    for name in ('mevis_train_mask_dict.json', 'mevis'):
        os.symlink(demo_root / name, out_dir / name)
    return [texts.refer_answer(f"{o['colour']} {o['shape']}") for o in info['objects'][:2]]


def _predict(model, data):
    """Greedy answer and masks of a one-sample batch, SAM2 prompted on and tracking over the dense frames."""
    model.eval()
    inputs = data['inputs']
    answer_start = int((inputs['labels'][0] != -100).nonzero()[0])
    sample = data['data_samples'][0]
    sample.set_metainfo(dict(sam2_frame_indices=list(sample.dense_frame_indices)))
    predict_inputs = dict(inputs, input_ids=inputs['input_ids'][:, :answer_start],
                          attention_mask=inputs['attention_mask'][:, :answer_start])
    with torch.no_grad():
        return model.predict(predict_inputs, [sample])[0]


@pytest.mark.slow
def test_the_expression_picks_the_object(demo_root, tmp_path, deterministic):
    cfg = Config.fromfile(CONFIG)
    answers = _two_referring_records(demo_root, tmp_path / 'two')
    ds_cfg = dict(cfg.train_dataloader.dataset.datasets[0], data_root=f'{tmp_path}/two/')
    dataset = DATASETS.build(ds_cfg)
    model = MODELS.build(cfg.model)
    packed = [dataset[0], dataset[1]]
    batch = model.data_preprocessor(sama_collate(packed), True)
    singles = [model.data_preprocessor(sama_collate([p]), True) for p in packed]
    gts = [s['data_samples'][0].gt_masks[0] for s in singles]  # [D, H, W] of each named object
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    seen = {}

    def step():
        model.train()
        losses = model.loss(**batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    def grounded(bar):
        seen['texts'], seen['own'], seen['other'] = [], [], []
        for k, data in enumerate(singles):
            out = _predict(model, data)
            seen['texts'].append(out.pred_text[0])
            masks = out.pred_masks
            if masks.shape[0] < 1 or masks.shape[1:] != gts[k].shape:
                return False
            seen['own'].append(min(_iou(masks[0, f], gts[k][f]) for f in range(gts[k].shape[0])))
            seen['other'].append(max(_iou(masks[0, f], gts[1 - k][f]) for f in range(gts[k].shape[0])))
        return seen['texts'] == answers and min(seen['own']) >= bar

    run = train_until(step, lambda: grounded(TARGET_IOU), MAX_STEPS, CHECK_EVERY)
    assert seen['texts'] == answers, (str(run), seen['texts'])
    assert min(seen['own']) >= BAR_IOU, (str(run), seen['own'])
    assert all(own > other for own, other in zip(seen['own'], seen['other'])), (str(run), seen)


def test_region_answers_are_checked_by_colour_and_shape():
    from data_converters.build_demo_data import COLOURS, SHAPES
    ok = texts.region_answer('magenta diamond', 'to the left')
    assert texts.names_object(ok, 'magenta', 'diamond', list(COLOURS), SHAPES)
    assert not texts.names_object(texts.region_answer('blue triangle', 'upwards'), 'magenta', 'diamond',
                                  list(COLOURS), SHAPES)
    # Naming a second object, or only the colour, is not an answer about the region.
    assert not texts.names_object('The magenta diamond and the red circle.', 'magenta', 'diamond', list(COLOURS),
                                  SHAPES)
    assert not texts.names_object('It is magenta.', 'magenta', 'diamond', list(COLOURS), SHAPES)


def test_report_matches_masks_by_video_iou():
    import numpy as np

    from tools.analysis.demo_report import format_report, video_iou
    a = np.zeros((3, 8, 8), bool)
    a[:, :4] = True
    b = np.zeros((3, 8, 8), bool)
    b[:2, :4] = True
    assert video_iou(a, b) == 2 / 3 and video_iou(a, a) == 1.0 and video_iou(~a & a, ~a & a) == 0.0
    transcript = [dict(question='Please segment the red circle.', answer='<p> The red circle </p> [SEG].',
                       region=None, masks=[dict(index=0, object='red circle', iou=0.81)])]
    quality = dict(demo_referring_acc=1.0, demo_region_caption_acc=0.5, questions=[
        dict(kind='referring', correct=True), dict(kind='region', correct=True), dict(kind='region', correct=False)])
    report = format_report({'rvos/J&F': 71.25}, quality, 'bikes_b', transcript, ['summary.png'])
    assert 'J&F 71.2' in report and '1/1 masks' in report and '1/2 answers' in report
    assert 'mask 1 -> red circle (IoU 0.81)' in report


def test_progress_bar_shows_the_time_left():
    from sama_mm.engine.hooks import ProgressBarHook
    line = ProgressBarHook(width=10).line(done=100, total=400, elapsed=50.0, ran=100)
    assert line == '[##........] 100/400 it, 0.50 s/it, 2:30 left'
