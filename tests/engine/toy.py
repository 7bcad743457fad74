"""A toy training set-up with the sama_mm engine parts, for fast in-process and subprocess fault tests."""
import argparse
import os
import signal
import uuid

import torch
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.runner import Runner

from sama_mm.datasets import ResumableInfiniteSampler
from sama_mm.engine import GuardedOptimWrapper, NonFiniteLossHook, ResumableCheckpointHook, StepSeedHook
from sama_mm.engine.loops import ResumableIterBasedTrainLoop
from tests.toy_components import ToyRegressionDataset, ToyRegressor


class NoisyToyRegressor(ToyRegressor):
    """The toy regressor with dropout (random numbers in the forward), NaN losses at the iterations ``nan_at``
    and finite losses with NaN gradients at the iterations ``bad_grad_at``."""

    def __init__(self, nan_at=(), bad_grad_at=()):
        super().__init__()
        self.nan_at = set(nan_at)
        self.bad_grad_at = set(bad_grad_at)
        self.dropout = torch.nn.Dropout(0.3)

    def forward(self, inputs, target=None, mode='tensor', **kwargs):
        if mode != 'loss':
            return super().forward(inputs, target, mode, **kwargs)
        inputs, target = (torch.stack(x) if isinstance(x, list) else x for x in (inputs, target))
        out = self.linear(self.dropout(inputs))
        aux = (out - target).abs().mean()
        iteration = MessageHub.get_current_instance().get_info('iter')
        if iteration in self.nan_at:
            aux = aux * float('nan')
        if iteration in self.bad_grad_at:
            aux = aux + torch.sqrt((out * 0).abs().sum())  # value 0, gradient inf * 0 = NaN
        return dict(loss_mse=torch.nn.functional.mse_loss(out, target), loss_aux=aux)


def make_runner(work_dir, max_iters=6, nan_at=(), bad_grad_at=(), action='raise', optim_wrapper=GuardedOptimWrapper,
                interval=2, max_keep_ckpts=-1, resume=False, step_seed=True, sampler=ResumableInfiniteSampler):
    """A Runner training NoisyToyRegressor with the sama_mm checkpoint, seed and non-finite hooks."""
    return Runner(
        model=dict(type=NoisyToyRegressor, nan_at=nan_at, bad_grad_at=bad_grad_at),  # built after seeding
        work_dir=str(work_dir),
        experiment_name=f'toy_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(batch_size=2, num_workers=0, collate_fn=dict(type=default_collate),
                              sampler=dict(type=sampler, shuffle=True),
                              dataset=dict(type=ToyRegressionDataset, num_samples=10)),
        train_cfg=dict(type=ResumableIterBasedTrainLoop, max_iters=max_iters),
        optim_wrapper=dict(type=optim_wrapper, optimizer=dict(type=torch.optim.AdamW, lr=0.05)),
        default_hooks=dict(checkpoint=dict(type=ResumableCheckpointHook, by_epoch=False, interval=interval,
                                           max_keep_ckpts=max_keep_ckpts),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type=NonFiniteLossHook, action=action)] + [dict(type=StepSeedHook)] * step_seed,
        randomness=dict(seed=7),
        resume=resume,
        default_scope='sama_mm',
    )


def main():
    """Train in a subprocess: ``python -m tests.engine.toy WORK_DIR [--resume] [--die-saving N]``.

    ``--die-saving N`` SIGKILLs the process inside the atomic write of ``iter_N.pth``, after all its bytes are
    written and before the rename: the worst moment for a non-atomic writer.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--die-saving', type=int)
    parser.add_argument('--max-keep-ckpts', type=int, default=-1)
    args = parser.parse_args()
    if args.die_saving:
        real_fsync = os.fsync
        target = f'.iter_{args.die_saving}.pth.partial-'

        def fsync(fd):
            if target in os.readlink(f'/proc/self/fd/{fd}'):
                os.kill(os.getpid(), signal.SIGKILL)
            real_fsync(fd)
        os.fsync = fsync
    from sama_mm.engine.checkpoint import trusted_checkpoint_loading
    runner = make_runner(args.work_dir, max_keep_ckpts=args.max_keep_ckpts, resume=args.resume)
    with trusted_checkpoint_loading():
        runner.train()


if __name__ == '__main__':
    main()
