"""Optimizer wrappers that never apply an update computed from a non-finite loss or non-finite gradients.

A single NaN/inf loss (a corrupt sample, an overflow) back-propagates NaN into every gradient, and one
optimizer step then turns all trainable weights into NaN; later checkpoints are silently worthless. The
guarded wrappers check the loss before ``backward`` and the gradients before ``step``; when either is not
finite on any rank, every rank skips the update (the decision is all-reduced, so DDP/FSDP ranks stay in step)
and the wrapper records what happened in ``nonfinite``. :class:`~sama_mm.engine.hooks.NonFiniteLossHook` then
stops training with a message naming the iteration and the loss terms (default) or logs the skip.
"""
import logging
from typing import Dict, Optional

import torch
import torch.distributed as torch_dist
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmengine.logging import MessageHub, print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from ..registry import OPTIM_WRAPPERS


def _any_rank(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is True on any rank."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
    return bool(value.item() > 0)


class NonFiniteGuardMixin:
    """Skip the update of any step whose loss or gradients are not finite (see the module docstring).

    With gradient accumulation, a non-finite micro-batch spoils the whole window: its gradients are dropped
    and the window's optimizer step is skipped.

    Attributes:
        nonfinite (dict | None): What the last ``update_params`` call found: ``None`` when all was finite, else
            ``dict(iter=..., what='loss' | 'gradients', local=bool)`` (``local``: this rank's own values were
            non-finite, not only another rank's).
        skipped_steps (int): Optimizer steps skipped so far.
    """

    check_gradients = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nonfinite: Optional[Dict] = None
        self.skipped_steps = 0
        self._window_spoiled = False

    def _record(self, what: str, local: bool) -> None:
        iteration = MessageHub.get_current_instance().get_info('iter')
        self.nonfinite = dict(iter=iteration, what=what, local=local)
        print_log(f'non-finite {what} at iteration {iteration}'
                  f'{"" if local else " of another rank"}: the optimizer step is skipped', logger='current',
                  level=logging.WARNING)

    def update_params(self, loss: torch.Tensor, step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        self.nonfinite = None
        local = not bool(torch.isfinite(loss.detach()).all())
        if _any_rank(local, loss.device):
            self._record('loss', local)
            self._window_spoiled = True
            # Still run a backward pass (of zero) so that DDP's gradient reduction completes on every rank;
            # the resulting gradients (possibly NaN through the graph) are discarded below.
            loss = self.scale_loss(torch.nan_to_num(loss, nan=0.0, posinf=0.0, neginf=0.0) * 0.0)
            self.backward(loss)
            self.zero_grad(**(zero_kwargs or {}))
        else:
            self.backward(self.scale_loss(loss))
        if self.should_update():
            if self._window_spoiled:
                self.skipped_steps += 1
            else:
                self.step(**(step_kwargs or {}))
            self._window_spoiled = False
            self.zero_grad(**(zero_kwargs or {}))

    def step(self, **kwargs) -> None:
        if self.check_gradients:
            grads = [p.grad for group in self.optimizer.param_groups for p in group['params'] if p.grad is not None]
            local = bool(grads) and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
            device = grads[0].device if grads else torch.device(get_device())
            if _any_rank(local, device):
                self._record('gradients', local)
                self.skipped_steps += 1
                return
        super().step(**kwargs)


@OPTIM_WRAPPERS.register_module()
class GuardedOptimWrapper(NonFiniteGuardMixin, OptimWrapper):
    """MMEngine's ``OptimWrapper`` (same arguments) that skips non-finite updates (see the module docstring)."""


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(NonFiniteGuardMixin, AmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` (same arguments) that skips steps with a non-finite loss.

    Non-finite gradients are left to its loss scaler, which already skips those steps and lowers the scale (in
    float16 that is routine in the first steps, not an error).
    """

    check_gradients = False
