"""The multi-task training mixture: several datasets, each repeated a whole number of times (reference §2.5).

The reference lists a dataset several times in its ``ConcatDataset`` (RefCOCO 4x, ReVOS 10x, SAMA-239K 5x,
...); :class:`MultitaskMixture` does the same without building each dataset several times: source ``s`` of
length ``n_s`` with repeat factor ``r_s`` covers ``r_s * n_s`` consecutive indices, so an epoch draws it with
weight ``r_s * n_s / total``.

It is written here rather than using MMEngine's ``ConcatDataset`` + ``RepeatDataset`` because those require
equal ``metainfo`` across sources (or a list of keys to ignore), and they expose no per-sample lengths for
length-grouped sampling; everything else (lazy building, ``full_init``) follows MMEngine's wrappers.

Two more things the official mixture has, kept here for exact reproduction:

* Sources that draw parts of a sample at random (:class:`~sama_mm.datasets.draws.DrawsMixin`) are read with
  their repeat round, so that the ``r_s`` copies of a video draw different objects/frames, as the official
  datasets (``__len__`` = items x repeats, each read drawing afresh) do.
* ``official_lengths``: the length list the official xtuner sampler reads (``modality_length`` of each official
  dataset): constants per family, and for some sources one entry per item *without* the repeats. Only
  :class:`~sama_mm.datasets.samplers.LengthGroupedSampler` with ``emulate_official=True`` reads it.
"""
import bisect
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..registry import DATASETS
from .lengths import info_length


def dataset_lengths(dataset: Any) -> np.ndarray:
    """Estimated token length of every sample of a dataset (``modality_lengths()`` when it has one)."""
    if hasattr(dataset, 'modality_lengths'):
        return np.asarray(dataset.modality_lengths(), dtype=np.int32)
    return np.asarray([info_length(dataset.get_data_info(i)) for i in range(len(dataset))], dtype=np.int32)


@DATASETS.register_module()
class MultitaskMixture:
    """A weighted mixture of datasets with integer repeat factors and per-sample lengths.

    Args:
        datasets (list[dict | Dataset]): The sources (configs are built with the ``DATASETS`` registry).
        repeats (list[int], optional): Repeat factor per source (reference: RefCOCO/+/g 4, MeViS 4, ReVOS 10,
            Ref-YTVOS 4, GranD-f 10, SAMA-239K 5 for 1B/8B or 3 for 4B, others 1). Defaults to 1 each.
        names (list[str], optional): A name per source, for :meth:`summary`. Defaults to the class names.
        lazy_init (bool): Build the index map on first use. Defaults to False.
        official_lengths (list[tuple[int, bool]], optional): Per source ``(length, with_repeats)``: the constant
            length its official dataset reports for every item and whether that list covers the repeats (False:
            one entry per item only, as the official MeViS/ReVOS/Ref-YTVOS and Ref-SAV datasets). See
            :meth:`official_modality_lengths`. Defaults to None.

    Attributes:
        modality_length (list[int]): Estimated token length of every index (negative for text-only samples),
            the attribute length-grouped samplers read (LLaVA/xtuner convention).
    """

    def __init__(self, datasets: Sequence[Union[dict, Any]], repeats: Optional[Sequence[int]] = None,
                 names: Optional[Sequence[str]] = None, lazy_init: bool = False,
                 official_lengths: Optional[Sequence[Sequence]] = None):
        self.datasets = [DATASETS.build(d) if isinstance(d, dict) else d for d in datasets]
        if not self.datasets:
            raise ValueError('MultitaskMixture needs at least one dataset')
        repeats = [1] * len(self.datasets) if repeats is None else list(repeats)
        if len(repeats) != len(self.datasets) or not all(isinstance(r, int) and r >= 1 for r in repeats):
            raise ValueError(f'repeats must be one positive int per dataset ({len(self.datasets)}), got {repeats}')
        self.repeats = repeats
        self.names = list(names) if names is not None else [type(d).__name__ for d in self.datasets]
        if len(self.names) != len(self.datasets):
            raise ValueError(f'names must have one entry per dataset ({len(self.datasets)}), got {self.names}')
        if official_lengths is not None:
            official_lengths = [tuple(v) for v in official_lengths]
            if len(official_lengths) != len(self.datasets) or not all(
                    len(v) == 2 and isinstance(v[0], int) and v[0] != 0 for v in official_lengths):
                raise ValueError('official_lengths must be one (non-zero length, with_repeats) pair per dataset '
                                 f'({len(self.datasets)}), got {official_lengths}')
        self.official_lengths = official_lengths
        self._fully_initialized = False
        self._lengths: Optional[np.ndarray] = None
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return dict(dataset_name='MultitaskMixture', sources=list(self.names), repeats=list(self.repeats))

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        for d in self.datasets:
            if hasattr(d, 'full_init'):
                d.full_init()
        self.sizes = [len(d) for d in self.datasets]
        empty = [(name, d) for name, d, n in zip(self.names, self.datasets, self.sizes) if n == 0]
        if empty:  # a silently smaller mixture would change what the run trains on
            from .errors import DataError
            name, d = empty[0]
            raise DataError('empty_source', getattr(d, 'ann_file', name),
                            f'mixture source {name!r} has no samples (of {len(empty)} empty: '
                            f'{[n for n, _ in empty]}); check its files or leave it out of the mixture')
        self.cumulative = np.cumsum([r * n for r, n in zip(self.repeats, self.sizes)]).tolist()
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return int(self.cumulative[-1]) if self.cumulative else 0

    def locate(self, idx: int) -> tuple:
        """``(source, index inside the source)`` of mixture index ``idx``."""
        source, inner, _ = self.locate_round(idx)
        return source, inner

    def locate_round(self, idx: int) -> tuple:
        """``(source, index inside the source, repeat round)`` of mixture index ``idx``."""
        self.full_init()
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} outside a mixture of {len(self)} samples')
        source = bisect.bisect_right(self.cumulative, idx)
        start = self.cumulative[source - 1] if source else 0
        repeat, inner = divmod(idx - start, self.sizes[source])
        return source, inner, repeat

    def __getitem__(self, idx: int) -> Any:
        source, inner, repeat = self.locate_round(idx)
        dataset = self.datasets[source]
        if hasattr(dataset, 'get_item_in_round'):  # sources with random draws: each repeat draws afresh
            return dataset.get_item_in_round(inner, repeat)
        return dataset[inner]

    def get_data_info(self, idx: int) -> dict:
        source, inner = self.locate(idx)
        return self.datasets[source].get_data_info(inner)

    @property
    def modality_length(self) -> List[int]:
        return self.modality_lengths().tolist()

    def modality_lengths(self) -> np.ndarray:
        """``int32 [len(self)]``: each source's lengths tiled by its repeat factor (computed once)."""
        self.full_init()
        if self._lengths is None:
            parts = [np.tile(dataset_lengths(d), r) for d, r in zip(self.datasets, self.repeats)]
            self._lengths = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, np.int32)
        return self._lengths

    def official_modality_lengths(self) -> List[int]:
        """The length list the official xtuner sampler builds from the official datasets (``official_lengths``).

        Source ``s`` contributes ``[length_s] * (r_s * n_s)``, or ``[length_s] * n_s`` when its official list leaves
        out the repeats; the list is then shorter than the mixture by ``sum((r_s - 1) * n_s)`` over those sources.

        Raises:
            ValueError: The mixture was built without ``official_lengths``.
        """
        if self.official_lengths is None:
            raise ValueError('this MultitaskMixture has no official_lengths; set them to emulate the official '
                             'sampler (see configs/_base_/datasets/sama_mixture.py)')
        self.full_init()
        out: List[int] = []
        for (length, with_repeats), n, r in zip(self.official_lengths, self.sizes, self.repeats):
            out += [int(length)] * (n * r if with_repeats else n)
        return out

    def summary(self) -> List[Dict[str, Any]]:
        """Per source: name, size, repeat factor, samples per epoch and share of the epoch."""
        total = len(self)
        return [dict(name=name, size=n, repeat=r, samples=r * n, share=(r * n / total if total else 0.0))
                for name, n, r in zip(self.names, self.sizes, self.repeats)]
