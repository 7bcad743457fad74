# Evaluate SAMA-1B on Ref-DAVIS17 valid (J, F, J&F).
# Sets: configs/_base_/datasets/rvos_test.py; the 1B model and pipelines: sama_1b_eval.py.
#   python tools/test.py configs/sama/sama_1b_test_refdavis17_valid.py CHECKPOINT [--out metrics.json]
from mmengine.config import read_base

with read_base():
    from .sama_1b_eval import *  # noqa: F401,F403

test_dataloader = refdavis17_valid_loader  # noqa: F405
test_evaluator = refdavis17_valid_metric  # noqa: F405
