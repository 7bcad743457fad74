# Runtime shared by every config: scope, hooks, logging, checkpointing, seed and environment.
from mmengine.hooks import (CheckpointHook, DistSamplerSeedHook, IterTimerHook, LoggerHook,
                            ParamSchedulerHook)
from mmengine.runner import LogProcessor
from mmengine.visualization import LocalVisBackend, Visualizer

default_scope = 'sama_mm'

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, interval=10),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(type=CheckpointHook, by_epoch=False, interval=1000, max_keep_ckpts=3),
    sampler_seed=dict(type=DistSamplerSeedHook),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

visualizer = dict(type=Visualizer, vis_backends=[dict(type=LocalVisBackend)])
log_processor = dict(type=LogProcessor, window_size=10, by_epoch=False)
log_level = 'INFO'

load_from = None
resume = False
# A fixed seed: the reference trains with seed=None, which makes runs irreproducible.
randomness = dict(seed=42, deterministic=False)
