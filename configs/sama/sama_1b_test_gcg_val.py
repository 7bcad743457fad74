# Evaluate SAMA-1B on GCG (GranD-f) val (mIoU, recall, caption scores).
# Sets: configs/_base_/datasets/image_test.py; the 1B model and pipelines: sama_1b_eval.py.
#   python tools/test.py configs/sama/sama_1b_test_gcg_val.py CHECKPOINT [--out metrics.json]
from mmengine.config import read_base

with read_base():
    from .sama_1b_eval import *  # noqa: F401,F403

test_dataloader = gcg_val_loader  # noqa: F405
test_evaluator = gcg_val_metric  # noqa: F405
model.update(max_new_tokens=2048)  # noqa: F405  the released inference's limit (a long caption is not cut)
