# Evaluate SAMA-1B on Ref-DAVIS17 valid (J, F, J&F).
# Sets: configs/_base_/datasets/rvos_test.py; for 4B/8B import their config instead of sama_1b_mixture.
#   python tools/test.py configs/sama/sama_1b_test_refdavis17_valid.py CHECKPOINT [--out metrics.json]
from mmengine.config import read_base
from mmengine.runner import TestLoop

with read_base():
    from .._base_.datasets.rvos_test import *  # noqa: F401,F403
    from .sama_1b_mixture import *  # noqa: F401,F403

test_dataloader = refdavis17_valid_loader  # noqa: F405
test_evaluator = refdavis17_valid_metric  # noqa: F405
test_cfg = dict(type=TestLoop)
# The test pipelines default to the 1B tokenizer and template: bind the imported model's (4B/8B).
for _dataset in test_dataloader['dataset'].get('datasets', [test_dataloader['dataset']]):
    for _step in _dataset['pipeline']:
        if 'tokenizer' in _step and 'template' in _step:
            _step.update(tokenizer=backbone['tokenizer'], template=backbone_template)  # noqa: F405
del _dataset, _step
