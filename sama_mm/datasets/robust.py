"""Skipping bad samples deterministically (``skip_bad=True``) and counting what was skipped.

Without ``skip_bad`` a bad record raises its :class:`~sama_mm.datasets.errors.DataError` (naming the file and
the record) when the dataset loads or when the sample is read. With ``skip_bad=True``:

* format problems found while parsing the annotations drop their records, each counted and warned about once;
* a sample whose pipeline raises a ``DataError`` (corrupt or truncated video, missing frames, malformed RLE,
  unknown object ids, empty conversation, too long for ``max_length``) is replaced by another index chosen
  deterministically from ``(index, attempt)``, counted and warned about.

MMEngine's :class:`~mmengine.dataset.BaseDataset` already refetches when a pipeline returns None, but it draws
the replacement with the global ``np.random`` state (different in every worker and run) and swallows nothing
else, so this mixin replaces ``__getitem__`` instead of relying on ``max_refetch``.

Counts are kept per process in ``skip_counts``; because data loader workers are separate processes, each packed
sample also carries the kinds skipped to produce it in its meta info (``skipped_bad``), which
:class:`~sama_mm.engine.hooks.DataSkipSummaryHook` adds up and reports at the end of every epoch.
"""
import warnings
from collections import Counter
from typing import Any, Dict, List, Tuple

import numpy as np

from .check import raise_first
from .errors import DataError


class SkipBadMixin:
    """Mixin for :class:`~mmengine.dataset.BaseDataset` subclasses: ``skip_bad`` and ``max_skips`` options.

    Call :meth:`_init_skip_bad` in ``__init__`` before ``BaseDataset.__init__`` (which may load the data).
    """

    skip_bad: bool = False
    max_skips: int = 20

    def _init_skip_bad(self, skip_bad: bool = False, max_skips: int = 20) -> None:
        self.skip_bad = bool(skip_bad)
        self.max_skips = int(max_skips)
        self.skip_counts: Counter = Counter()

    # ------------------------------------------------------------------ loading
    def _accept_problems(self, problems: List[DataError]) -> None:
        """Raise the first problem, or (``skip_bad``) count and warn about every one."""
        if not problems:
            return
        if not self.skip_bad:
            raise_first(problems)
        for problem in problems:
            self.skip_counts[f'load:{problem.kind}'] += 1
        shown = '; '.join(str(p) for p in problems[:3])
        warnings.warn(f'{type(self).__name__}: skipped {len(problems)} bad record(s) while loading '
                      f'(skip_bad=True): {shown}' + (' ...' if len(problems) > 3 else ''))

    def load_data_list(self) -> List[dict]:
        infos, problems, _ = self.parse_annotations()
        self._accept_problems(problems)
        return infos

    # ------------------------------------------------------------------ reading
    def _replacement(self, index: int, attempt: int) -> int:
        """A deterministic replacement index for ``index`` after ``attempt`` failures."""
        rng = np.random.default_rng([int(index), int(attempt), 0x5a3a])
        return int(rng.integers(len(self)))

    def __getitem__(self, idx: int) -> Any:
        if not self._fully_initialized:
            self.full_init()
        if not self.skip_bad:
            data = self.prepare_data(idx)
            if data is None:
                raise DataError('pipeline_returned_none', str(getattr(self, 'ann_file', '?')),
                                'the pipeline dropped the sample (returned None)', idx)
            return data
        skipped: List[str] = []
        current = idx
        for attempt in range(self.max_skips + 1):
            try:
                data = self.prepare_data(current)
                if data is None:
                    raise DataError('pipeline_returned_none', str(getattr(self, 'ann_file', '?')),
                                    'the pipeline dropped the sample (returned None)', current)
            except DataError as exc:
                self.skip_counts[exc.kind] += 1
                skipped.append(exc.kind)
                warnings.warn(f'{type(self).__name__}: skipping sample {current} (skip_bad=True): {exc}')
                current = self._replacement(idx, attempt)
                continue
            if skipped:
                _tag_skipped(data, skipped)
            return data
        raise DataError('too_many_bad_samples', str(getattr(self, 'ann_file', '?')),
                        f'{self.max_skips + 1} samples in a row were bad (kinds: {dict(Counter(skipped))})', idx)

    def skip_summary(self) -> Dict[str, int]:
        """Counts of skipped records/samples in this process, by problem kind (``load:`` = while parsing)."""
        return dict(sorted(self.skip_counts.items()))


def _tag_skipped(data: Any, kinds: List[str]) -> None:
    """Record on a packed sample which bad samples were skipped to produce it."""
    sample = data.get('data_samples') if isinstance(data, dict) else None
    if sample is not None and hasattr(sample, 'set_metainfo'):
        sample.set_metainfo(dict(skipped_bad=list(kinds)))
    elif isinstance(data, dict):
        data['skipped_bad'] = list(kinds)


def skipped_kinds(data_samples: Any) -> List[str]:
    """The ``skipped_bad`` kinds carried by a batch's data samples (a list of samples or one sample)."""
    if data_samples is None:
        return []
    samples = data_samples if isinstance(data_samples, (list, tuple)) else [data_samples]
    kinds: List[str] = []
    for sample in samples:
        meta = getattr(sample, 'metainfo', None)
        if isinstance(meta, dict):
            kinds += list(meta.get('skipped_bad', []))
        elif isinstance(sample, dict):
            kinds += list(sample.get('skipped_bad', []))
    return kinds


def iter_leaf_datasets(dataset: Any) -> List[Tuple[str, Any]]:
    """Every leaf dataset below a dataset (through Concat/Repeat/mixture wrappers), with a dotted path."""
    out = []

    def walk(ds, where):
        children = getattr(ds, 'datasets', None)
        if isinstance(children, (list, tuple)):
            for i, child in enumerate(children):
                walk(child, f'{where}.datasets.{i}')
        elif getattr(ds, 'dataset', None) is not None:
            walk(ds.dataset, f'{where}.dataset')
        else:
            out.append((where, ds))

    walk(dataset, 'dataset')
    return out
