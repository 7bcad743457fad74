"""The whole gradient path: the tiny SAMA (with its context aggregator) learns one demo sample exactly.

One referring-VOS sample (answer "It is [SEG]." and its masks) and one region-prompt sample (a referential
caption of a ``<mask>`` region, learned word for word through the aggregator's region tokens).
"""
import copy

import pytest
import torch
from mmengine.config import Config

from sama_mm.datasets import sama_collate
from sama_mm.datasets.transforms import SAMA239KToRounds
from sama_mm.registry import DATASETS, MODELS
from tests.conftest import REPO_ROOT

CONFIG = f'{REPO_ROOT}/configs/demo/sama_tiny_demo.py'


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


def _train(model, data, steps):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    for step in range(steps):
        losses = model.loss(**data)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        if losses['loss_lm'].item() < 0.01 and losses['loss_dice'].item() < 0.05:
            break
    return step


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
def test_learns_a_grounded_answer_and_its_masks(demo_root):
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(sama_collate([_sample(cfg, demo_root, 'rvos')]), True)
    gt = data['data_samples'][0].gt_masks  # [1, D, H, W]
    assert gt.shape[0] == 1 and gt.any()
    step = _train(model, data, 300)
    # Frozen parts got no gradient; the trainable head parts did.
    for name, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, name
    assert all(p.grad is not None for p in model.seg_head.text_hidden_fcs.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.seg_head.sam2_model.sam_mask_decoder.parameters())
    assert all(p.grad is None for p in model.seg_head.sam2_model.image_encoder.parameters())

    # Inference: the prompt up to the answer, SAM2 prompted on (and tracking over) the dense frames.
    out = _predict(model, data, data['data_samples'][0].dense_frame_indices)
    assert out.pred_text == ['It is [SEG].'], (step, out.pred_text)
    assert out.pred_masks.shape == (1, ) + tuple(gt.shape[1:])
    ious = [_iou(out.pred_masks[0, f], gt[0, f]) for f in range(gt.shape[1])]
    assert min(ious) >= 0.8, (step, ious)


@pytest.mark.slow
def test_learns_a_referential_caption_through_the_region_tokens(demo_root):
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    packed = _sample(cfg, demo_root, 'region')
    turn = packed['inputs']['neck_turns'][0]
    assert len(turn['regions']) == 1  # the question has one <mask> region
    data = model.data_preprocessor(sama_collate([packed]), True)
    caption = data['data_samples'][0].answers[0]
    model.max_new_tokens = 64  # the caption is longer than the demo config's generation limit
    step = _train(model, data, 300)
    # The aggregator's region encoders were trained through the LLM loss.
    assert model.neck.Qformer_mask_pooling_proj.weight.grad is not None
    assert model.neck.Qformer_mask_proj.layers[0].weight.grad is not None
    out = _predict(model, data, data['data_samples'][0].dense_frame_indices)
    assert out.pred_text == [caption], (step, out.pred_text)
