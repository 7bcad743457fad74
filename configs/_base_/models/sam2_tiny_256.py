# SAM2-Hiera-T at a 256-px input, for tests and the CPU demo (random weights).
# At 256 px the image embedding is 16x16, so both memory-attention RoPE tables are built for 16x16.
from mmengine.config import read_base

with read_base():
    from .sam2_tiny import *  # noqa: F401,F403

seg_head.update(  # noqa: F405
    hydra_overrides=[
        '++model.image_size=256',
        '++model.memory_attention.layer.self_attention.feat_sizes=[16,16]',
        '++model.memory_attention.layer.cross_attention.feat_sizes=[16,16]',
    ],
)
