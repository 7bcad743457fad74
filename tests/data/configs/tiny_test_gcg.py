# The tiny demo SAMA evaluated like configs/sama/sama_1b_test_* on gcg (see tiny_eval_base.py).
from mmengine.config import read_base

with read_base():
    from .tiny_eval_base import *  # noqa: F401,F403

test_dataloader = tiny_gcg_loader  # noqa: F405
test_evaluator = tiny_gcg_metric  # noqa: F405
