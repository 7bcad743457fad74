"""A mask head that is not SAM2, defined here alone, trains, tests and chats through the standard tools.

``TinyConvMaskHead`` follows the :class:`~sama_mm.models.heads.BaseSegHead` contract: its prompt is the
``[SEG]`` hidden state projected to ``feat_dim``; a two-layer convolution turns every frame (the SAM2 input of
the pipeline, downsampled) into per-pixel features; a mask is the dot product of the two. Nothing outside this
file knows about it: the tiny demo config gets ``model.seg_head = dict(type='TinyConvMaskHead')``.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

from sama_mm.models.heads import BaseSegHead
from sama_mm.models.heads.frame_access import FrameAccess
from sama_mm.registry import MODELS
from sama_mm.structures import SAMADataSample

DEMO_CONFIG = 'configs/demo/sama_tiny_demo.py'


@MODELS.register_module(force=True)
class TinyConvMaskHead(BaseSegHead):
    """Masks as the dot product of a projected ``[SEG]`` hidden state and per-pixel conv features.

    Args:
        llm_hidden_size (int): LLM width (filled in by SAMA).
        feat_dim (int): Width of the prompt and of the pixel features.
        work_size (int): Side the frames are resized to before the convolutions.
    """

    def __init__(self, llm_hidden_size: int, feat_dim: int = 8, work_size: int = 32):
        super().__init__(llm_hidden_size)
        self.work_size = work_size
        self.prompt = nn.Linear(llm_hidden_size, feat_dim)
        self.pixels = nn.Sequential(nn.Conv2d(3, feat_dim, 3, padding=1), nn.ReLU(), nn.Conv2d(feat_dim, feat_dim, 1))

    def _logits(self, seg_hidden, frames):
        """``[K, F, s, s]`` logits of K prompts on F frames ``[F, 3, S, S]``."""
        weight = self.prompt.weight
        frames = F.interpolate(frames.to(weight), size=(self.work_size, ) * 2, mode='bilinear', align_corners=False)
        return torch.einsum('kc,fchw->kfhw', self.prompt(seg_hidden.to(weight)), self.pixels(frames))

    def loss(self, seg_hidden, inputs, data_samples):
        logits, targets = [], []
        for b, (hidden, gt) in enumerate(zip(seg_hidden, self.match_targets(seg_hidden, data_samples))):
            if gt is None:
                continue
            pred = self._logits(hidden, inputs['sam2_pixel_values'][b])
            logits.append(pred.flatten(0, 1))
            targets.append(F.interpolate(gt.float(), size=pred.shape[-2:], mode='nearest').flatten(0, 1))
        if not logits:
            return self.zero_losses(['loss_mask'])
        return dict(loss_mask=F.binary_cross_entropy_with_logits(torch.cat(logits), torch.cat(targets).to(
            logits[0].device)))

    @torch.no_grad()
    def predict(self, seg_hidden, frames, prompt_positions, out_size, num_frames, chunk_size=None):
        frames = FrameAccess(frames, num_frames)
        chunk = chunk_size or 4
        masks = []
        for start in range(0, frames.num_frames, chunk):
            indices = list(range(start, min(start + chunk, frames.num_frames)))
            logits = self._logits(seg_hidden, frames.get(indices))
            logits = F.interpolate(logits.float(), size=tuple(out_size), mode='bilinear', align_corners=False)
            masks.append(logits.sigmoid() > 0.5)
        return torch.cat(masks, dim=1).cpu()


def _config(tmp_path, demo_root, monkeypatch):
    """The tiny demo config with the conv head, written as a file the tools read, run in a folder with the data."""
    from tests.conftest import REPO_ROOT
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'demo').symlink_to(demo_root)
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(f'{REPO_ROOT}/{DEMO_CONFIG}')
    cfg.model.seg_head = dict(type='TinyConvMaskHead', feat_dim=8)
    cfg.custom_imports = dict(imports=[__name__], allow_failed_imports=False)
    path = tmp_path / 'conv_head_demo.py'
    cfg.dump(str(path))
    return cfg, path


def test_the_head_gets_hidden_states_and_owns_its_targets():
    head = TinyConvMaskHead(llm_hidden_size=6)
    sample = SAMADataSample(metainfo=dict(video_id='v', sample_idx=3))
    sample.gt_masks = torch.ones(2, 2, 8, 8, dtype=torch.uint8)
    inputs = dict(sam2_pixel_values=[torch.rand(2, 3, 16, 16)])
    losses = head.loss([torch.randn(2, 6)], inputs, [sample])
    losses['loss_mask'].backward()
    assert head.prompt.weight.grad is not None
    with pytest.raises(ValueError, match=r"video 'v', sample_idx 3: 1 \[SEG\] tokens but 2 ground-truth"):
        head.loss([torch.randn(1, 6)], inputs, [sample])
    empty = SAMADataSample(metainfo=dict(video_id='v'))
    zero = head.loss([torch.randn(0, 6)], inputs, [empty])['loss_mask']
    assert zero.item() == 0 and zero.requires_grad
    masks = head.predict(torch.randn(3, 6), lambda idx: torch.rand(len(idx), 3, 16, 16), [0], (5, 7), 6, 4)
    assert masks.shape == (3, 6, 5, 7) and masks.dtype == torch.bool
    with pytest.raises(NotImplementedError, match='as a mask'):
        head.prompt_from_region(np.zeros((4, 4, 3), np.uint8), box=[0, 0, 2, 2])


@pytest.mark.slow
def test_a_new_head_trains_tests_and_chats_through_the_tools(tmp_path, demo_root, monkeypatch):
    from tools.test import main as test_main
    from tools.train import main as train_main

    cfg, path = _config(tmp_path, demo_root, monkeypatch)
    work = tmp_path / 'work'
    train_main([str(path), '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=2',
                'train_cfg.val_interval=100'])
    ckpt = work / 'iter_2.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert {k for k in state if k.startswith('seg_head.')} == {
        'seg_head.prompt.weight', 'seg_head.prompt.bias', 'seg_head.pixels.0.weight', 'seg_head.pixels.0.bias',
        'seg_head.pixels.2.weight', 'seg_head.pixels.2.bias'}

    metrics = tmp_path / 'metrics.json'
    test_main([str(path), str(ckpt), '--work-dir', str(work), '--out', str(metrics)])
    values = json.loads(metrics.read_text())
    assert 0 <= values['rvos/J&F'] <= 100

    from sama_mm.apis import SAMAInferencer
    from sama_mm.utils.weights import load_state_dict_strict
    from tests.apis.helpers import write_frame_folder
    model = MODELS.build(cfg.model)
    load_state_dict_strict(model, state)
    inferencer = SAMAInferencer.from_model(model.eval(), cfg, max_new_tokens=4)
    session = inferencer.open(write_frame_folder(str(tmp_path / 'clip'), num_frames=6))
    turn = session.ask('Please segment the red square.', answer='It is [SEG].')
    assert isinstance(model.seg_head, TinyConvMaskHead)
    assert turn.masks.shape == (1, 6, *session.ori_shape) and turn.masks.dtype == torch.bool
