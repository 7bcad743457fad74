# The toy regression run with TensorBoard logging on, as configs/_base_/default_runtime.py documents.
from mmengine.config import read_base

with read_base():
    from .toy_regression import *  # noqa: F401,F403

visualizer.vis_backends.append(dict(type=TensorboardVisBackend))  # noqa: F405
