"""The whole gradient path: the tiny SAMA learns one demo sample's answer text and its masks exactly."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from sama_mm.registry import DATASETS, MODELS
from tests.conftest import REPO_ROOT

CONFIG = f'{REPO_ROOT}/configs/demo/sama_tiny_demo.py'


def _iou(pred: torch.Tensor, gt: torch.Tensor) -> float:
    pred, gt = pred.bool(), gt.bool()
    return (pred & gt).sum().item() / max((pred | gt).sum().item(), 1)


@pytest.mark.slow
def test_tiny_sama_overfits_one_sample(demo_root):
    torch.manual_seed(0)
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset.datasets[0])
    ds_cfg.data_root = f'{demo_root}/mevis/train/'
    sample = DATASETS.build(ds_cfg)[0]
    data = model.data_preprocessor(pseudo_collate([sample]), True)
    gt = data['data_samples'][0].gt_masks  # [1, D, H, W]
    assert gt.shape[0] == 1 and gt.any()

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-3)
    model.train()
    for step in range(300):
        losses = model.loss(**data)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if losses['loss_lm'].item() < 0.01 and losses['loss_dice'].item() < 0.05:
            break
    # Frozen parts got no gradient; every trainable part did.
    for name, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, name
    assert all(p.grad is not None for p in model.seg_head.text_hidden_fcs.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.seg_head.sam2_model.sam_mask_decoder.parameters())
    assert all(p.grad is None for p in model.seg_head.sam2_model.image_encoder.parameters())

    # Inference on the same sample: the prompt up to the answer, SAM2 prompted on the dense frames.
    model.eval()
    inputs = data['inputs']
    answer_start = int((inputs['labels'][0] != -100).nonzero()[0])
    sample_ds = data['data_samples'][0]
    sample_ds.set_metainfo(dict(sam2_frame_indices=list(sample_ds.dense_frame_indices)))
    predict_inputs = dict(inputs, input_ids=inputs['input_ids'][:, :answer_start],
                          attention_mask=inputs['attention_mask'][:, :answer_start])
    out = model.predict(predict_inputs, [sample_ds])[0]
    assert out.pred_text == ['It is [SEG].'], (step, out.pred_text)
    assert out.pred_masks.shape == (1, ) + tuple(gt.shape[1:])
    ious = [_iou(out.pred_masks[0, f], gt[0, f]) for f in range(gt.shape[1])]
    assert min(ious) >= 0.8, (step, ious)
