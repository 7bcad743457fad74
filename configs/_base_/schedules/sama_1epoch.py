# The reference recipe (all sizes): AdamW lr 4e-5, weight decay 0.05, grad clip 1.0, 5% linear warm-up then
# cosine to 0 over one epoch, bf16 mixed precision, 4 accumulation steps (2 per GPU x 4 x 8 GPUs = 64).
from mmengine.optim import CosineAnnealingLR, LinearLR
from torch.optim import AdamW

from sama_mm.engine import GuardedAmpOptimWrapper
from sama_mm.engine.loops import ResumableEpochBasedTrainLoop

lr = 4e-5
max_epochs = 1
warmup_ratio = 0.05
accumulative_counts = 4

optim_wrapper = dict(
    type=GuardedAmpOptimWrapper,
    dtype='bfloat16',
    loss_scale='dynamic',
    optimizer=dict(type=AdamW, lr=lr, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, error_if_nonfinite=False),
    accumulative_counts=accumulative_counts)

param_scheduler = [
    dict(type=LinearLR, start_factor=1e-5, by_epoch=True, begin=0, end=warmup_ratio * max_epochs,
         convert_to_iter_based=True),
    dict(type=CosineAnnealingLR, eta_min=0.0, by_epoch=True, begin=warmup_ratio * max_epochs, end=max_epochs,
         convert_to_iter_based=True),
]

# Resumes mid-epoch at the next batch (MMEngine's loop would restart the epoch).
train_cfg = dict(type=ResumableEpochBasedTrainLoop, max_epochs=max_epochs)
