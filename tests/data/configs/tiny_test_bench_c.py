# The tiny demo SAMA evaluated like configs/sama/sama_1b_test_* on bench_c (see tiny_eval_base.py).
from mmengine.config import read_base

with read_base():
    from .tiny_eval_base import *  # noqa: F401,F403

test_dataloader = tiny_bench_c_loader  # noqa: F405
test_evaluator = tiny_bench_c_metric  # noqa: F405
