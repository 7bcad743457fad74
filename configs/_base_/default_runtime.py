# Runtime shared by every config: scope, hooks, logging, checkpointing, seed and environment.
from mmengine.hooks import DistSamplerSeedHook, IterTimerHook, LoggerHook, ParamSchedulerHook
from mmengine.runner import LogProcessor
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend, Visualizer  # noqa: F401

from sama_mm.engine.hooks import NonFiniteLossHook, ResumableCheckpointHook, StepSeedHook

default_scope = 'sama_mm'

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, interval=10),
    param_scheduler=dict(type=ParamSchedulerHook),
    # Atomic checkpoint files that also hold every rank's random state (exact --resume).
    checkpoint=dict(type=ResumableCheckpointHook, by_epoch=False, interval=1000, max_keep_ckpts=3),
    sampler_seed=dict(type=DistSamplerSeedHook),
    # Random numbers of a step depend on (seed, step, rank) only: per-rank streams, resume-exact.
    step_seed=dict(type=StepSeedHook),
    # A NaN/inf loss stops training with the iteration and loss terms (action='skip' to skip the step instead);
    # with a Guarded*OptimWrapper the bad update is never applied.
    nonfinite=dict(type=NonFiniteLossHook, action='raise'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# Experiment tracking. Every logged scalar (loss terms, lr, grad norm, time) goes to each vis backend; the local
# one writes <work_dir>/<timestamp>/vis_data/scalars.json (plot it with tools/analysis/plot_logs.py).
# TensorBoard (its package comes with the "train" extra): in a config that inherits this file, add
#     visualizer.vis_backends.append(dict(type=TensorboardVisBackend))
# (tests/data/configs/toy_tensorboard.py does so); event files then appear next to scalars.json, in
# <work_dir>/<timestamp>/vis_data/, and `tensorboard --logdir <work_dir>` shows them. MMEngine's
# WandbVisBackend and MLflowVisBackend are added the same way (install wandb / mlflow yourself).
visualizer = dict(type=Visualizer, vis_backends=[dict(type=LocalVisBackend)])
log_processor = dict(type=LogProcessor, window_size=10, by_epoch=False)
log_level = 'INFO'

load_from = None
resume = False
# A fixed seed: the reference trains with seed=None, which makes runs irreproducible.
randomness = dict(seed=42, deterministic=False)
# DDP (MMEngine's default wrapper reads this): a batch without region prompts gives the aggregator no gradient,
# and one without [SEG] (LLaVA chat) gives none to the SAM2 decoder, so DDP must not wait for their gradients.
find_unused_parameters = True
