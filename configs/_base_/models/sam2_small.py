# SAM2-Hiera-S segmentation head (~46.0M SAM2 parameters): the large head's settings with another SAM2
# size (see sam2_large.py for every option).
from mmengine.config import read_base

with read_base():
    from .sam2_large import *  # noqa: F401,F403

seg_head.update(sam2_config='configs/sam2/sam2_hiera_s.yaml')  # noqa: F405
