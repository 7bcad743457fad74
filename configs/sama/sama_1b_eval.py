# SAMA-1B with every evaluation set of configs/_base_/datasets/{rvos,image,sama_bench}_test.py, their test
# pipelines bound to this model's tokenizer and chat template. The base of the sama_1b_test_<set>.py leaves,
# which pick one loader and its metric. For SAMA-4B/8B, copy this file with their mixture config imported.
from mmengine.config import read_base
from mmengine.runner import TestLoop

from sama_mm.utils.pipeline import update_transforms

with read_base():
    from .._base_.datasets.image_test import *  # noqa: F401,F403
    from .._base_.datasets.rvos_test import *  # noqa: F401,F403
    from .._base_.datasets.sama_bench_test import *  # noqa: F401,F403
    from .sama_1b_mixture import *  # noqa: F401,F403

test_cfg = dict(type=TestLoop)
# Every ChatTokenize of this config, the evaluation sets' included, takes this model's tokenizer and template
# (.build(): the function itself, as imports are lazy while MMEngine reads a config).
update_transforms.build()(globals(), 'ChatTokenize', tokenizer=backbone['tokenizer'],  # noqa: F405
                          template=backbone_template)  # noqa: F405
