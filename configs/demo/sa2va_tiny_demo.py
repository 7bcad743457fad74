# The Sa2VA-style tiny model (no context aggregator, so no context or region tokens) on the demo referring-VOS
# clips; everything else as sama_tiny_demo.py.
from mmengine.config import read_base

from sama_mm.utils.pipeline import without_neck

with read_base():
    from .sama_tiny_demo import *  # noqa: F401,F403

# One switch: the model loses its neck and every pipeline of this config its QFormerPrompts step and the
# context tokens of ChatTokenize.
without_neck.build()(globals())  # .build(): the function itself (imports are lazy while a config is read)
# The SAMA-239K region conversations ask about <mask> regions, which only the neck reads: train on the
# referring-VOS clips alone.
train_dataloader.dataset.datasets = [dict(mevis_demo_train, pipeline=rvos_train_pipeline),  # noqa: F405
                                     dict(rvos_demo_train, pipeline=rvos_train_pipeline)]  # noqa: F405
