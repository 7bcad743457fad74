"""Seed the random generators before every training step from (seed, step, rank)."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook

from ...registry import HOOKS


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Reseed python, numpy and torch before every training iteration (as fairseq does per update).

    The seed of iteration ``i`` on rank ``r`` of ``W`` is derived (``numpy.random.SeedSequence``) from
    ``(seed, i * W + r)``: the position of the rank's micro-batch in the global order of micro-batches.
    Consequences:

    * **per-rank seeds**: ranks draw different random numbers (dropout, the mask loss's random points) although
      the runner seeds them all alike (``randomness.diff_rank_seed=False``, which the shared data order needs);
    * **exact resume**: the numbers of step ``i`` do not depend on what ran before, so a resumed run draws the
      same ones as an uninterrupted run;
    * **DDP = accumulation**: ``W`` ranks with batch ``b`` draw, micro-batch for micro-batch, the numbers one
      process with batch ``b`` and ``W`` accumulation steps (``W``x the iterations) draws.

    Data loading happens before the hook runs: worker processes are seeded by MMEngine, and the sama_mm
    transforms draw no random numbers.

    Args:
        seed (int, optional): Base seed. Defaults to the runner's seed (``randomness.seed``).
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed=None):
        self.seed = seed

    def step_seed(self, runner, iteration: int) -> int:
        """The 32-bit seed of ``iteration`` on this rank."""
        base = self.seed if self.seed is not None else runner.seed
        position = iteration * get_world_size() + get_rank()
        return int(np.random.SeedSequence([int(base) & 0xFFFFFFFF, position]).generate_state(1)[0])

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed = self.step_seed(runner, runner.iter)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # also seeds every CUDA device
