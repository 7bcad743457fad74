# Trains tests/toy_components.ToyRegressor: exercises tools/train.py and tools/test.py in the tests.
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.optim import OptimWrapper
from torch.optim import SGD

from tests.toy_components import ToyMAE, ToyRegressionDataset, ToyRegressor

with read_base():
    from ....configs._base_.default_runtime import *  # noqa: F401,F403

model = dict(type=ToyRegressor)
train_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=True),
                        collate_fn=dict(type=default_collate), dataset=dict(type=ToyRegressionDataset))
val_dataloader = dict(batch_size=4, num_workers=0, sampler=dict(type=DefaultSampler, shuffle=False),
                      collate_fn=dict(type=default_collate), dataset=dict(type=ToyRegressionDataset, num_samples=8))
test_dataloader = val_dataloader
val_evaluator = dict(type=ToyMAE)
test_evaluator = val_evaluator
train_cfg = dict(by_epoch=False, max_iters=8, val_interval=4)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=SGD, lr=0.1))
default_hooks.checkpoint.interval = 4  # noqa: F405
default_hooks.logger.interval = 2  # noqa: F405
