# Evaluate SAMA-1B on SAMA-Bench-G (mIoU, recall, caption scores; ours and the official protocol's, official/...).
# Sets: configs/_base_/datasets/sama_bench_test.py; the 1B model and pipelines: sama_1b_eval.py.
#   python tools/test.py configs/sama/sama_1b_test_sama_bench_g.py CHECKPOINT [--out metrics.json]
from mmengine.config import read_base

with read_base():
    from .sama_1b_eval import *  # noqa: F401,F403

test_dataloader = sama_bench_g_loader  # noqa: F405
test_evaluator = sama_bench_g_metric  # noqa: F405
model.update(max_new_tokens=2048)  # noqa: F405  the released inference's limit (a long answer is not cut)
