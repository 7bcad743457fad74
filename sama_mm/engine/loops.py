"""Training loops that resume exactly where a checkpoint was written, even in the middle of an epoch.

After ``runner.resume`` MMEngine's loops know the iteration but not the data position:

* ``IterBasedTrainLoop`` replays every batch already trained on through the data pipeline (for SAMA, hours of
  video decoding after a late interruption), and by then the random state differs from the interrupted run's;
* ``EpochBasedTrainLoop`` starts the interrupted epoch again from its first batch: with SAMA's one-epoch recipe
  and a checkpoint every 1000 iterations, a resumed run trains twice on everything before the checkpoint.

These loops tell a resumable sampler (:mod:`sama_mm.datasets.samplers`) how many of this rank's samples were
already used, so the data loader starts at the next batch without loading the skipped ones, and then restore
the rank's random state saved with the checkpoint (by :class:`~sama_mm.engine.hooks.ResumableCheckpointHook`)
just before the first batch is loaded. A resumed run therefore sees the same batches, with the same random
numbers, as an uninterrupted one. With a sampler that cannot skip they fall back to loading and discarding the
trained batches (MMEngine's behaviour), with a warning.

``run`` and ``run_epoch`` are re-stated here rather than extended because MMEngine's versions do the replay /
the restart inside the same method as the training loop, with no point to hook into between them.
"""
import logging
from typing import Iterator, Optional

from mmengine.dataset import InfiniteSampler
from mmengine.dist import get_rank, get_world_size
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator

from ..registry import LOOPS
from .rng import RNG_STATES_KEY, set_rng_state


def _sampler(dataloader):
    """The index sampler of a data loader (the one inside its batch sampler when it has one)."""
    return getattr(dataloader.batch_sampler, 'sampler', None) or dataloader.sampler


def restore_rng_state(runner) -> bool:
    """Restore this rank's random state saved with the resumed checkpoint; False (and a warning) if there is none."""
    states = runner.message_hub.get_info(RNG_STATES_KEY)
    if not states:
        print_log('the resumed checkpoint holds no random state (not written by ResumableCheckpointHook): '
                  'random numbers after resuming differ from an uninterrupted run', logger='current',
                  level=logging.WARNING)
        return False
    if len(states) != get_world_size():
        print_log(f'the resumed checkpoint was written by {len(states)} rank(s), this run has {get_world_size()}: '
                  'the samples and random numbers after resuming differ from those of an uninterrupted run',
                  logger='current', level=logging.WARNING)
        return False
    set_rng_state(states[get_rank()])
    return True


def _skip_batches(dataloader, batches: int) -> bool:
    """Make the data loader's next iterator start ``batches`` batches in; False if its sampler cannot skip."""
    sampler = _sampler(dataloader)
    if batches == 0:
        return True
    if not hasattr(sampler, 'skip') or dataloader.batch_size is None:
        return False
    sampler.skip(batches * dataloader.batch_size)
    return True


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """MMEngine's ``IterBasedTrainLoop`` (same arguments) that resumes at the exact data position.

    With an infinite sampler (:class:`~sama_mm.datasets.ResumableInfiniteSampler`) the position is
    ``iter * batch_size`` samples into this rank's stream; with an epoch sampler restarted at each pass
    (:class:`~sama_mm.datasets.ResumableDefaultSampler`) it is pass ``iter // len(dataloader)``, batch
    ``iter % len(dataloader)``.
    """

    def run(self):
        self.runner.call_hook('before_train')
        # The whole run is one big epoch for the hooks, as in MMEngine.
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            self._resume_data_position()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _resume_data_position(self) -> None:
        sampler = _sampler(self.dataloader)
        if isinstance(sampler, InfiniteSampler):
            passes, batches = 0, self._iter
        else:
            passes, batches = divmod(self._iter, len(self.dataloader))
        if _skip_batches(self.dataloader, batches):
            if passes and hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(passes)
            # A fresh iterator: the one made when the loop was built may already have prefetched from the start.
            self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
            self.dataloader_iterator._epoch = passes
            print_log(f'resuming at iteration {self._iter}: the data loader starts {batches} batch(es) into '
                      f'pass {passes} without loading the skipped ones', logger='current')
        else:
            print_log(f'{type(sampler).__name__} cannot skip samples: loading and discarding {self._iter} '
                      'trained batches (use ResumableInfiniteSampler to avoid it)', logger='current',
                      level=logging.WARNING)
            for _ in range(self._iter):
                next(self.dataloader_iterator)
        restore_rng_state(self.runner)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """MMEngine's ``EpochBasedTrainLoop`` (same arguments) that resumes in the middle of an epoch.

    A checkpoint written by iteration inside epoch ``e`` records ``iter``; the resumed epoch starts at batch
    ``iter - e * len(dataloader)`` (hooks see the true ``batch_idx``), where MMEngine's loop would start the
    epoch over.
    """

    def run(self):
        self._resume_pending = self._iter > 0
        return super().run()

    def run_epoch(self) -> None:
        done = 0
        if getattr(self, '_resume_pending', False):
            self._resume_pending = False
            done = self._iter - self._epoch * len(self.dataloader)
            if not 0 <= done <= len(self.dataloader):
                raise RuntimeError(f'cannot resume iteration {self._iter} in epoch {self._epoch}: the epoch has '
                                   f'{len(self.dataloader)} batches (did the data set or batch size change?)')
            if done == 0:
                restore_rng_state(self.runner)
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batches = self._resumed_epoch(done) if done else iter(self.dataloader)
        for idx, data_batch in enumerate(batches, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _resumed_epoch(self, done: int) -> Iterator:
        """An iterator over the rest of the epoch after ``done`` batches, with the random state restored."""
        skipped = _skip_batches(self.dataloader, done)
        batches: Optional[Iterator] = iter(self.dataloader)
        if skipped:
            print_log(f'resuming epoch {self._epoch + 1} at batch {done}/{len(self.dataloader)} without loading '
                      'the batches before it', logger='current')
        else:
            print_log(f'{type(_sampler(self.dataloader)).__name__} cannot skip samples: loading and discarding '
                      f'the first {done} batches of epoch {self._epoch + 1} (use ResumableDefaultSampler or '
                      'LengthGroupedSampler to avoid it)', logger='current', level=logging.WARNING)
            for _ in range(done):
                next(batches)
        restore_rng_state(self.runner)
        return batches
