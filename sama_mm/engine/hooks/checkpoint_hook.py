"""A checkpoint hook whose checkpoints are never half-written and carry what an exact resume needs."""
import os
import os.path as osp

from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import CheckpointHook

from ...registry import HOOKS
from ..fileio import atomic_write, stale_partials
from ..rng import RNG_STATES_KEY, get_rng_state


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` (same arguments) made safe to kill and exact to resume from.

    Differences:

    * **Atomic files.** Checkpoints in a local folder are written through
      :class:`~sama_mm.engine.fileio.AtomicLocalBackend` (temporary file, fsync, rename) unless ``backend_args``
      names another backend, and ``last_checkpoint`` is replaced atomically too. MMEngine's hook also deletes the
      oldest checkpoint (``max_keep_ckpts``) *before* writing the new one, so a run killed while saving with
      ``max_keep_ckpts=1`` had no checkpoint left; here the outdated one is deleted only after the new one and
      ``last_checkpoint`` are complete. Temporary files of killed runs are removed when training starts.
    * **Random state.** Before every save, each rank's python/numpy/torch/CUDA generator state is gathered and
      stored in the message hub (``rng_states``, one entry per rank), which the checkpoint keeps and
      ``--resume`` restores; the resumable loops (:mod:`sama_mm.engine.loops`) put it back just before the first
      resumed batch.
    * A warning when checkpoints fall inside a gradient-accumulation window (their partial gradients are not
      saved, so a run resumed from one differs from an uninterrupted run).

    Args:
        atomic (bool): Write local checkpoints atomically. Defaults to True.
        save_rng_state (bool): Save every rank's random state. Defaults to True.
        **kwargs: ``CheckpointHook`` arguments (``interval``, ``by_epoch``, ``max_keep_ckpts``, ...).
    """

    def __init__(self, *args, atomic: bool = True, save_rng_state: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.atomic = atomic
        self.save_rng_state = save_rng_state

    def before_train(self, runner) -> None:
        out_dir = self.out_dir or runner.work_dir
        local = '://' not in str(out_dir)  # no URI scheme (s3://, petrel://, ...): a local folder
        if self.atomic and local and self.backend_args is None and self.file_client_args is None:
            self.backend_args = dict(backend='atomic_local')
        super().before_train(runner)
        if local and is_main_process():
            for path in stale_partials(self.out_dir):
                runner.logger.info(f'removing {path}, left by a run killed while writing a checkpoint')
                os.remove(path)
        counts = getattr(runner.optim_wrapper, '_accumulative_counts', 1)
        if not self.by_epoch and counts > 1 and self.interval % counts:
            runner.logger.warning(
                f'checkpoints every {self.interval} iterations but gradients accumulate over {counts}: a checkpoint '
                'written inside an accumulation window does not hold its partial gradients, so a run resumed from '
                f'it differs from an uninterrupted one; use an interval divisible by {counts}')

    def _save_checkpoint_with_step(self, runner, step, meta):
        # The same steps as CheckpointHook._save_checkpoint_with_step, reordered: save, point
        # last_checkpoint at the new file, and only then delete the outdated checkpoint.
        if self.save_rng_state:
            runner.message_hub.update_info(RNG_STATES_KEY, all_gather_object(get_rng_state()))
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args,
                               save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                               meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), str(self.last_ckpt).encode())
        if outdated is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed checkpoints are folders
                self.file_backend.rmtree(path)

