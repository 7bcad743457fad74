"""A one-line progress bar of an iteration-based training run, with the time left."""
import sys
import time
from typing import Optional

from mmengine.hooks import Hook

from ...registry import HOOKS


def format_seconds(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration in seconds."""
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Print ``[#####.....] 120/400 it, 1.21 s/it, 5:38 left`` while training.

    The time left is the mean time of the iterations of this run so far times the iterations still to go. On a
    terminal the bar is redrawn in place after every iteration; otherwise (a log file, a pipe) a line is printed
    every ``interval`` iterations. The logger hook's lines are unchanged.

    Args:
        interval (int): Iterations between two printed lines when the output is not a terminal. Defaults to 25.
        width (int): Characters of the bar. Defaults to 30.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 25, width: int = 30):
        if interval < 1 or width < 1:
            raise ValueError(f'interval and width must be positive, got {interval} and {width}')
        self.interval = interval
        self.width = width
        self._start: Optional[float] = None
        self._first_iter = 0

    def before_train(self, runner) -> None:
        self._start = time.perf_counter()
        self._first_iter = runner.iter

    def line(self, done: int, total: int, elapsed: float, ran: int) -> str:
        """The bar after ``done`` of ``total`` iterations, ``ran`` of them in ``elapsed`` seconds of this run."""
        filled = int(self.width * done / max(total, 1))
        per_iter = elapsed / ran if ran else 0.0
        left = per_iter * (total - done)
        return (f'[{"#" * filled}{"." * (self.width - filled)}] {done}/{total} it, {per_iter:.2f} s/it, '
                f'{format_seconds(left)} left')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done, total = runner.iter + 1, runner.max_iters
        ran = done - self._first_iter
        tty = sys.stdout.isatty()
        if not tty and done % self.interval and done != total:
            return
        text = self.line(done, total, time.perf_counter() - (self._start or time.perf_counter()), ran)
        if tty:
            sys.stdout.write('\r' + text + ('\n' if done == total else ''))
        else:
            sys.stdout.write(text + '\n')
        sys.stdout.flush()
