"""Random choices of a training sample that are reproducible (seeded) or replayed (injected).

Some official training datasets draw parts of a sample at random each time it is read (which objects and
question templates a Ref-SAV sample uses, which frames a ChatUniVi sample shows). For the datasets built on
:class:`DrawsMixin` (Ref-SAV, ChatUniVi) those choices go through a :class:`SeededDraws` object that the
dataset puts into the data info under ``draws``. (The referring-VOS and SAMA-239K datasets are built on it too:
their ``RefVOSToRounds`` and ``SAMA239KToRounds`` steps draw from it.)
A :class:`SeededDraws`:

* in training draws from a generator seeded with ``(draw_seed, index, repeat round)``, so a run is
  reproducible, every repeat of a source (``MultitaskMixture`` repeats) draws afresh, and data loader workers
  agree with the main process;
* in tests replays recorded values (the draws the official code made), so a sample can be compared token for
  token with the official one.

Draws are named (``'objects'``, ``'answers'``, ...); each name is a stream of integers consumed in order.
"""
import copy
from typing import Any, Dict, List, Optional

import numpy as np

from .errors import DataError


class SeededDraws:
    """Named integer draws of one sample: from a generator, or replayed from recorded lists.

    Args:
        rng (numpy.random.Generator, optional): Source of fresh draws.
        replay (dict[str, list[int]], optional): Recorded values per name, consumed in order (a copy is kept).
        record (str): The sample, named in errors.

    Attributes:
        drawn (dict[str, list[int]]): Every value handed out, per name (for inspection and recording).
    """

    def __init__(self, rng: Optional[np.random.Generator] = None, replay: Optional[Dict[str, List[int]]] = None,
                 record: Any = '?'):
        if (rng is None) == (replay is None):
            raise ValueError('SeededDraws needs exactly one of rng (fresh draws) and replay (recorded draws)')
        self.rng = rng
        self.replay = {k: list(v) for k, v in copy.deepcopy(replay).items()} if replay is not None else None
        self.record = record
        self.drawn: Dict[str, List[int]] = {}

    def integer(self, name: str, low: int, high: int) -> int:
        """One integer of stream ``name`` in ``[low, high)`` (uniform when drawn fresh).

        Raises:
            DataError: A replayed stream is exhausted or holds a value outside ``[low, high)``.
        """
        if high <= low:
            raise ValueError(f'empty range [{low}, {high}) for draw {name!r}')
        if self.replay is None:
            value = int(self.rng.integers(low, high))
        else:
            stream = self.replay.get(name) or []
            if not stream:
                raise DataError('replay_exhausted', '?', f'no recorded value left for draw {name!r}', self.record)
            value = int(stream.pop(0))
            if not low <= value < high:
                raise DataError('replay_out_of_range', '?', f'recorded draw {name!r} = {value} is outside '
                                f'[{low}, {high})', self.record)
        self.drawn.setdefault(name, []).append(value)
        return value

    def integers(self, name: str, low: int, high: int, size: int) -> List[int]:
        """``size`` integers of stream ``name`` in ``[low, high)``."""
        return [self.integer(name, low, high) for _ in range(size)]


class DrawsMixin:
    """For datasets whose pipeline draws at random: puts a :class:`SeededDraws` under ``draws`` in the data info.

    Call :meth:`_init_draws` in ``__init__``. :meth:`prepare_data` accepts recorded ``draws`` (a dict of lists) to
    replay; :class:`~sama_mm.datasets.MultitaskMixture` calls :meth:`get_item_in_round` so that each repeat of the
    source draws differently.
    """

    draw_seed: int = 0
    _draw_round: int = 0

    def _init_draws(self, draw_seed: int = 0) -> None:
        if not isinstance(draw_seed, int):
            raise ValueError(f'draw_seed must be an int, got {draw_seed!r}')
        self.draw_seed = draw_seed
        self._draw_round = 0

    def sample_draws(self, idx: int, replay: Optional[Dict[str, List[int]]] = None) -> SeededDraws:
        """The draws of sample ``idx`` in the current repeat round (or the replayed ones)."""
        if replay is not None:
            return SeededDraws(replay=replay, record=idx)
        seed = [self.draw_seed & 0xFFFFFFFF, int(idx), int(self._draw_round)]
        return SeededDraws(rng=np.random.default_rng(seed), record=idx)

    def prepare_data(self, idx: int, draws: Optional[Dict[str, List[int]]] = None) -> Any:
        """The pipeline output of sample ``idx``; ``draws`` replays recorded choices instead of drawing."""
        info = self.get_data_info(idx)
        info['draws'] = self.sample_draws(idx, draws)
        return self.pipeline(info)

    def get_item_in_round(self, idx: int, draw_round: int) -> Any:
        """``self[idx]`` with the draws of repeat round ``draw_round`` (0 for the first copy of the source)."""
        self._draw_round = int(draw_round)
        try:
            return self[idx]
        finally:
            self._draw_round = 0
