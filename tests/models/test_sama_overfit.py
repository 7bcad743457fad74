"""The whole gradient path: the tiny SAMA (with its context aggregator) learns one demo sample exactly.

One referring-VOS sample (answer "It is [SEG]." and its masks) and one region-prompt sample (a referential
caption of a ``<mask>`` region, learned word for word through the aggregator's region tokens).

Both train until a criterion stricter than the asserted bar holds (``tests/learning.py``), within a step cap.
"""
import copy

import pytest
import torch
from mmengine.config import Config

from sama_mm.datasets import sama_collate
from sama_mm.datasets.transforms import SAMA239KToRounds
from sama_mm.registry import DATASETS, MODELS
from tests.conftest import REPO_ROOT
from tests.learning import train_until

CONFIG = f'{REPO_ROOT}/configs/demo/sama_tiny_demo.py'
#: The masks must reach IoU ``TARGET_IOU`` on every frame before training stops; the test asserts ``BAR_IOU``.
#: Where the IoU levels off decides the target: the tiny SAM2 (256 px input) predicts 64x64 low-res masks and its
#: memory modules are random, so on this sample the IoU levels off near 0.89 on the prompted frame and 0.80 on the
#: tracked one (seed 0, measured every 20 steps up to 200). The target sits below that level, the bar well below it.
TARGET_IOU, BAR_IOU = 0.78, 0.7
#: Step cap (seeds 0-2 reach the criteria within a few tens of steps; the step is in the assertion messages).
MAX_STEPS = 400
#: Inference runs every CHECK_EVERY steps to test the criterion.
CHECK_EVERY = 10
#: The caption test stops once its teacher-forced LM loss is below this (and the greedy caption is right).
LM_LOSS_TARGET = 0.01


def _iou(pred: torch.Tensor, gt: torch.Tensor) -> float:
    pred, gt = pred.bool(), gt.bool()
    return (pred & gt).sum().item() / max((pred | gt).sum().item(), 1)


def _sample(cfg, demo_root, kind):
    datasets = cfg.train_dataloader.dataset.datasets
    if kind == 'rvos':
        ds_cfg = copy.deepcopy(datasets[1])
        ds_cfg.data_root = f'{demo_root}/mevis/train/'
    else:  # a region description: one round "Please describe the region <mask> ..." -> the caption
        ds_cfg = copy.deepcopy(datasets[0])
        ds_cfg.data_root = f'{demo_root}/'
        for step in ds_cfg.pipeline:
            if step['type'] is SAMA239KToRounds:
                step.update(task='description', max_rounds=1)
    return DATASETS.build(ds_cfg)[0]


def _step(model, data, optimizer):
    """A closure doing one AdamW step of ``model`` on ``data`` (in train mode)."""
    def step():
        model.train()
        losses = model.loss(**data)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    return step


def _optimizer(model):
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)


def _predict(model, data, sam2_frames):
    model.eval()
    inputs = data['inputs']
    answer_start = int((inputs['labels'][0] != -100).nonzero()[0])
    sample = data['data_samples'][0]
    sample.set_metainfo(dict(sam2_frame_indices=list(sam2_frames)))
    predict_inputs = dict(inputs, input_ids=inputs['input_ids'][:, :answer_start],
                          attention_mask=inputs['attention_mask'][:, :answer_start])
    return model.predict(predict_inputs, [sample])[0]


@pytest.mark.slow
def test_learns_a_grounded_answer_and_its_masks(demo_root, deterministic):
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(sama_collate([_sample(cfg, demo_root, 'rvos')]), True)
    gt = data['data_samples'][0].gt_masks  # [1, D, H, W]
    assert gt.shape[0] == 1 and gt.any()
    dense = data['data_samples'][0].dense_frame_indices
    seen = {}

    def grounded(bar):
        # Inference: the prompt up to the answer, SAM2 prompted on (and tracking over) the dense frames.
        out = seen['out'] = _predict(model, data, dense)
        seen['ious'] = [_iou(out.pred_masks[0, f], gt[0, f]) for f in range(gt.shape[1])] \
            if out.pred_masks.shape == (1, ) + tuple(gt.shape[1:]) else []
        return out.pred_text == ['It is [SEG].'] and bool(seen['ious']) and min(seen['ious']) >= bar

    run = train_until(_step(model, data, _optimizer(model)), lambda: grounded(TARGET_IOU), MAX_STEPS, CHECK_EVERY)
    # Frozen parts got no gradient; the trainable head parts did.
    for name, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, name
    assert all(p.grad is not None for p in model.seg_head.text_hidden_fcs.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.seg_head.sam2_model.sam_mask_decoder.parameters())
    assert all(p.grad is None for p in model.seg_head.sam2_model.image_encoder.parameters())

    out = seen['out']
    assert out.pred_text == ['It is [SEG].'], (str(run), out.pred_text)
    assert out.pred_masks.shape == (1, ) + tuple(gt.shape[1:])
    assert min(seen['ious']) >= BAR_IOU, (str(run), seen['ious'])


@pytest.mark.slow
def test_learns_a_referential_caption_through_the_region_tokens(demo_root, deterministic):
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    packed = _sample(cfg, demo_root, 'region')
    turn = packed['inputs']['neck_turns'][0]
    assert len(turn['regions']) == 1  # the question has one <mask> region
    data = model.data_preprocessor(sama_collate([packed]), True)
    caption = data['data_samples'][0].answers[0]
    model.max_new_tokens = 64  # the caption is longer than the demo config's generation limit
    dense = data['data_samples'][0].dense_frame_indices
    seen = {}

    def captioned():
        # Margin: the greedy caption is right *and* the teacher-forced loss is low, so that its tokens win by a
        # wide margin (a caption decoded right at a high loss could flip on another machine).
        seen['text'] = _predict(model, data, dense).pred_text
        with torch.no_grad():
            loss = model.loss(**data)['loss_lm'].item()
        return seen['text'] == [caption] and loss < LM_LOSS_TARGET

    run = train_until(_step(model, data, _optimizer(model)), captioned, MAX_STEPS, CHECK_EVERY)
    # The aggregator's region encoders were trained through the LLM loss.
    assert model.neck.Qformer_mask_pooling_proj.weight.grad is not None
    assert model.neck.Qformer_mask_proj.layers[0].weight.grad is not None
    assert seen['text'] == [caption], (str(run), seen['text'])
