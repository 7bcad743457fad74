"""Stop training (or log the skipped step) when a loss is NaN or infinite."""
import math
from typing import Any, Dict, Optional

from mmengine.hooks import Hook

from ...registry import HOOKS


def _value(v: Any) -> float:
    return float(v.detach().float().mean()) if hasattr(v, 'detach') else float(v)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Report a non-finite loss or gradient by iteration and loss term, and stop (default) or go on.

    With a guarded optimizer wrapper (:class:`~sama_mm.engine.GuardedOptimWrapper` or
    :class:`~sama_mm.engine.GuardedAmpOptimWrapper`) the update has already been skipped by the time this hook
    runs, so the weights in memory and in every checkpoint are those of the last finite step. With another
    wrapper the hook can only detect the non-finite loss after the update, and always stops.

    Args:
        action (str): ``'raise'`` stops with a ``FloatingPointError`` naming the iteration and the non-finite
            loss terms; ``'skip'`` logs the same as a warning and trains on. Defaults to ``'raise'``.
        max_consecutive_skips (int, optional): With ``'skip'``, raise after this many skipped steps in a row
            (a run whose every step is skipped is not training). Defaults to 100; None means never.
    """

    priority = 'ABOVE_NORMAL'  # before the logger and the checkpoint hook

    def __init__(self, action: str = 'raise', max_consecutive_skips: Optional[int] = 100):
        if action not in ('raise', 'skip'):
            raise ValueError(f"NonFiniteLossHook: action must be 'raise' or 'skip', got {action!r}")
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.consecutive = 0
        self.skipped = 0
        self.guarded = True

    def before_train(self, runner) -> None:
        self.guarded = hasattr(runner.optim_wrapper, 'nonfinite')
        if not self.guarded:
            runner.logger.warning(
                f'NonFiniteLossHook: the optimizer wrapper {type(runner.optim_wrapper).__name__} is not guarded, so a '
                'non-finite loss is only detected after it has changed the weights; use GuardedOptimWrapper or '
                'GuardedAmpOptimWrapper to skip such updates')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        terms = {k: _value(v) for k, v in (outputs or {}).items() if k.startswith('loss')}
        found = getattr(runner.optim_wrapper, 'nonfinite', None)
        if not self.guarded and not all(map(math.isfinite, terms.values())):
            found = dict(what='loss', local=True)
        if not found:
            self.consecutive = 0
            return
        self.consecutive += 1
        self.skipped += 1
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        where = (f'loss terms {", ".join(f"{k}={v}" for k, v in bad.items())}' if bad else
                 f'{found["what"]} ({"this rank" if found["local"] else "another rank"}; loss terms here: '
                 f'{", ".join(f"{k}={v:.4g}" for k, v in terms.items())})')
        message = f'non-finite {found["what"]} at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): {where}'
        if not self.guarded:
            raise FloatingPointError(
                f'{message}. The optimizer wrapper is not guarded, so this update was applied: the weights in '
                'memory are spoiled, the last checkpoint is from before it (use GuardedOptimWrapper or '
                'GuardedAmpOptimWrapper to skip such updates).')
        if self.action == 'raise':
            raise FloatingPointError(
                f'{message}. The update was not applied: the weights in memory and in the checkpoints are those '
                'of the last finite step. To skip such steps instead, use NonFiniteLossHook(action="skip").')
        runner.logger.warning(f'{message}; step skipped ({self.skipped} so far)')
        if self.max_consecutive_skips is not None and self.consecutive >= self.max_consecutive_skips:
            raise FloatingPointError(f'{self.consecutive} consecutive steps had non-finite losses or gradients '
                                     f'(last: {message}); stopping')
