"""Shared helpers of the inference tests: a tiny model, a small frame folder, a quick overfit."""
import os
import os.path as osp

import cv2
import numpy as np
import torch

from tests.conftest import REPO_ROOT

# The Sa2VA-style tiny model (neck=None); the SAMA demo model with the aggregator is SAMA_TINY_CONFIG.
TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'sa2va_tiny_demo.py')
SAMA_TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'sama_tiny_demo.py')


def write_frame_folder(root: str, num_frames: int = 8, height: int = 40, width: int = 56) -> str:
    """A folder of PNG frames: a moving bright square on a gradient (deterministic)."""
    os.makedirs(root, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    for t in range(num_frames):
        img = np.stack([(xx * 4) % 256, (yy * 5) % 256, np.full_like(xx, 60)], -1).astype(np.uint8)
        x0 = 4 + 3 * t
        img[10:22, x0:x0 + 12] = (250, 40, 40)
        cv2.imwrite(osp.join(root, f'{t:05d}.png'), img[..., ::-1])
    return root


def build_tiny_model(seed: int = 0):
    """The demo config's tiny SAMA with seeded random weights."""
    from mmengine.config import Config

    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(seed)
    cfg = Config.fromfile(TINY_CONFIG)
    return MODELS.build(cfg.model).eval(), cfg


#: ``fit_llm`` trains until the LM loss of the answers is below this: low enough that every answer token wins the
#: greedy decoding by a wide margin, so that the taught answer does not depend on the machine's float kernels.
LM_LOSS_TARGET = 0.01


def fit_llm(model, embed, labels, max_steps: int, lr: float, loss_target: float = LM_LOSS_TARGET):
    """Train only the LLM of ``model`` with Adam on the LM loss of ``labels`` until the loss is below
    ``loss_target`` (or ``max_steps`` steps), then freeze it again and set eval mode.

    Args:
        embed: Called each step, returns the input embeddings ``[1, L, C]`` (so they see the updated weights).

    Returns:
        tests.learning.Converged: The steps taken and whether the loss target was reached.
    """
    from tests.learning import train_until
    backbone = model.backbone
    params = list(backbone.language_model.parameters())
    for p in params:
        p.requires_grad_(True)
    optim = torch.optim.Adam(params, lr=lr)
    last = {}

    def step():
        hidden, _ = backbone.forward_llm(embed())
        loss = backbone.lm_loss(hidden, labels)
        optim.zero_grad()
        loss.backward()
        optim.step()
        last['loss'] = loss.item()  # the loss before this step's update: a conservative criterion

    run = train_until(step, lambda: last['loss'] < loss_target, max_steps)
    for p in params:
        p.requires_grad_(False)
    model.eval()
    return run


def overfit_answer(inferencer, video: str, rounds, max_steps: int = 180, lr: float = 3e-3):
    """Teach the tiny LLM a conversation about ``video`` (LM loss on the answers only).

    Args:
        rounds: ``[(question, answer), ...]``, built as the test pipeline builds a chat (every round closed, the
            ids and labels training gives it).
    """
    model = inferencer.model
    session = inferencer.open(video)
    inputs, _ = session.model_inputs([dict(question=q, answer=a) for q, a in rounds], generation=False)
    visual = session.visual.detach()
    fill = visual[session.dense_positions].flatten(0, 1)
    if model.with_neck:
        fill = torch.cat([fill, model.neck(visual, inputs['neck_turns'][0]).detach()])
    return fit_llm(model, lambda: model.embed_turn(inputs['input_ids'], fill), inputs['labels'], max_steps, lr)
