# DeepSpeed ZeRO-3 on GPUs: parameters sharded too (for models whose bf16 weights do not fit one GPU, e.g. 8B on
# 40 GB cards). As deepspeed_zero2.py otherwise; the checkpoint gathers full 16-bit weights on save.
from mmengine.config import read_base

with read_base():
    from .deepspeed_zero2 import *  # noqa: F401,F403

strategy = dict(strategy,  # noqa: F405
                zero_optimization=dict(stage=3, overlap_comm=True, contiguous_gradients=True,
                                       stage3_gather_16bit_weights_on_model_save=True))
