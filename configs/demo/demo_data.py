# The demo data on its own: `python tools/check_dataset.py configs/demo/demo_data.py`.
from mmengine.config import read_base

with read_base():
    from .._base_.datasets.demo import *  # noqa: F401,F403
    from .._base_.default_runtime import *  # noqa: F401,F403
