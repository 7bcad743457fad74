"""Training loops for the tests that assert a model *learns* something.

Such a test must not sit on its threshold: the floating-point kernels of another CPU (or another thread count)
change the trajectory a little, and a test asserting a level at a fixed step then fails on one machine and passes
on the next. These tests therefore train until a criterion *stricter* than the asserted bar holds (e.g. IoU 0.9
for an asserted 0.8), checked every few steps, up to a step cap; the step at which the criterion held is reported
(``Converged``) so that a slow drift towards the cap shows up in the logs long before it fails.

The fixture that fixes the thread count and the seeds is ``deterministic`` in ``tests/conftest.py``.
"""
import dataclasses
from typing import Callable


@dataclasses.dataclass
class Converged:
    """How a :func:`train_until` run ended.

    Attributes:
        steps: Optimisation steps taken.
        reached: Whether the criterion held (False: the step cap was hit first).
    """
    steps: int
    reached: bool

    def __str__(self) -> str:
        return f'criterion {"reached" if self.reached else "NOT reached"} after {self.steps} steps'


def train_until(step: Callable[[], None], criterion: Callable[[], bool], max_steps: int,
                check_every: int = 1) -> Converged:
    """Call ``step()`` until ``criterion()`` holds or ``max_steps`` steps are done.

    Args:
        step: One optimisation step.
        criterion: Returns True once training has gone far enough; called after every ``check_every`` steps and
            after the last step. It may switch the model to eval mode: ``step`` is expected to set train mode.
        max_steps: The step cap.
        check_every: Steps between two criterion checks (checks that run inference are costly).

    Returns:
        Converged: The number of steps taken and whether the criterion held.
    """
    for i in range(1, max_steps + 1):
        step()
        if (i % check_every == 0 or i == max_steps) and criterion():
            result = Converged(i, True)
            break
    else:
        result = Converged(max_steps, False)
    print(f'[learning] {result}')  # shown with -rA / -s; the asserting test also puts it in its messages
    return result
