# SAMA-1B on the reference mixture with DeepSpeed ZeRO-2, as the reference trains it (8 GPUs:
# bash tools/dist_train.sh configs/sama/sama_1b_mixture_zero2.py 8). Any other leaf config takes a strategy the
# same way: add the file of configs/_base_/strategies/ (deepspeed_zero2/3, fsdp) after its other bases.
from mmengine.config import read_base

with read_base():
    from .sama_1b_mixture import *  # noqa: F401,F403
    from .._base_.strategies.deepspeed_zero2 import *  # noqa: F401,F403
