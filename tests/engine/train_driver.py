"""tools/train.py with test-only faults: ``python tests/engine/train_driver.py [--kill-at-iter N] [--epochs N]
CONFIG [train.py arguments]``.

``--kill-at-iter N`` kills the process with SIGKILL right after iteration N (no cleanup, no exit handlers: what a
preempted job or the OOM killer does). ``--epochs N`` trains the tiny demo config epoch by epoch on its first
two MeViS expressions (2 iterations per epoch at batch 1) with the resumable epoch loop and sampler, so that a kill
falls in the middle of an epoch.
"""
import argparse
import os
import signal
import sys

from mmengine.hooks import Hook

from sama_mm.engine.checkpoint import trusted_checkpoint_loading
from sama_mm.utils import register_all_modules
from tools.train import build_cfg, build_runner, parse_args


class KillAtIterHook(Hook):
    """SIGKILL this process after iteration ``at`` (after every other hook, checkpoints included)."""

    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def epoch_based(cfg, epochs: int) -> None:
    # Types by registry name: a class put into a loaded config cannot be printed into the checkpoint's meta.
    source = cfg.train_dataloader.dataset.datasets[1]  # MeViS train, one round per sample
    source.indices = 2
    cfg.train_dataloader.dataset = source
    cfg.train_dataloader.sampler = dict(type='ResumableDefaultSampler', shuffle=True)
    cfg.train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=epochs, val_interval=epochs + 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--kill-at-iter', type=int)
    parser.add_argument('--epochs', type=int)
    ours, rest = parser.parse_known_args()
    register_all_modules(init_default_scope=False)
    cfg = build_cfg(parse_args(rest))
    if ours.epochs:
        epoch_based(cfg, ours.epochs)
    runner = build_runner(cfg)
    if ours.kill_at_iter:
        runner.register_hook(KillAtIterHook(ours.kill_at_iter))
    with trusted_checkpoint_loading():
        runner.train()


if __name__ == '__main__':
    sys.exit(main())
