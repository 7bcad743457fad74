# SAM2-Hiera-B+ segmentation head (~80.8M SAM2 parameters): the large head's settings with another SAM2
# size (see sam2_large.py for every option).
from mmengine.config import read_base

with read_base():
    from .sam2_large import *  # noqa: F401,F403

seg_head.update(sam2_config='configs/sam2/sam2_hiera_b+.yaml')  # noqa: F405
