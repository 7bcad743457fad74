# The Sa2VA-style tiny model (no context aggregator: neck=None, so no context or region tokens) on the demo
# referring-VOS clips; everything else as sama_tiny_demo.py.
from mmengine.config import read_base

with read_base():
    from .sama_tiny_demo import *  # noqa: F401,F403

model.update(neck=None)  # noqa: F405
# Without the aggregator the prompts carry no context tokens and there is no Q-Former input to build.
rvos_train_pipeline = [dict(step, context_tokens=False) if 'context_tokens' in step else step  # noqa: F405
                       for step in rvos_train_pipeline if 'grid_size' not in step]  # noqa: F405
test_pipeline = [dict(step, context_tokens=False) if 'context_tokens' in step else step  # noqa: F405
                 for step in test_pipeline if 'grid_size' not in step]  # noqa: F405
train_dataloader.dataset.datasets = [dict(mevis_demo_train, pipeline=rvos_train_pipeline),  # noqa: F405
                                     dict(rvos_demo_train, pipeline=rvos_train_pipeline)]  # noqa: F405
val_dataloader.dataset.pipeline = test_pipeline  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
