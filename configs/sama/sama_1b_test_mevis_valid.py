# Evaluate SAMA-1B on mevis_valid.
# Sets: configs/_base_/datasets/rvos_test.py; the 1B model and pipelines: sama_1b_eval.py.
#   python tools/test.py configs/sama/sama_1b_test_mevis_valid.py CHECKPOINT
from mmengine.config import read_base

with read_base():
    from .sama_1b_eval import *  # noqa: F401,F403

test_dataloader = mevis_valid_loader  # noqa: F405
test_evaluator = mevis_valid_metric  # noqa: F405
