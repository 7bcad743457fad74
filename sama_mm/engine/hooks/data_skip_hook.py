"""Report the bad samples skipped by ``skip_bad=True`` datasets at the end of every epoch."""
from collections import Counter
from typing import Any, Dict, Optional

from mmengine.hooks import Hook

from ...registry import HOOKS


@HOOKS.register_module()
class DataSkipSummaryHook(Hook):
    """Count the bad samples skipped while training and log a summary at the end of each epoch.

    Two sources are added up:

    * the ``skipped_bad`` meta info of every packed sample of the batches (set by
      :class:`~sama_mm.datasets.robust.SkipBadMixin`; this works with any number of data loader workers);
    * records dropped while the datasets parsed their annotations (``load:<kind>`` counts of the datasets in
      the main process).

    The last summary is kept in ``last_summary`` (``{"samples": {kind: n}, "records": {dataset: {kind: n}}}``).
    """

    priority = 'LOW'

    def __init__(self):
        self._counts: Counter = Counter()
        self.last_summary: Optional[Dict[str, Any]] = None

    def before_train_epoch(self, runner) -> None:
        self._counts = Counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        from ...datasets.robust import skipped_kinds
        if isinstance(data_batch, dict):
            self._counts.update(skipped_kinds(data_batch.get('data_samples')))

    def after_train_epoch(self, runner) -> None:
        from ...datasets.robust import iter_leaf_datasets
        records = {}
        loader = getattr(runner, 'train_dataloader', None)
        dataset = getattr(loader, 'dataset', None)
        if dataset is not None:
            for where, ds in iter_leaf_datasets(dataset):
                counts = {k: v for k, v in getattr(ds, 'skip_counts', {}).items() if k.startswith('load:')}
                if counts:
                    records[f'{where} ({type(ds).__name__})'] = counts
        self.last_summary = dict(samples=dict(sorted(self._counts.items())), records=records)
        total = sum(self._counts.values())
        dropped = sum(sum(c.values()) for c in records.values())
        runner.logger.info(f'bad data this epoch: {total} sample(s) skipped {dict(self._counts) or ""}; '
                           f'{dropped} record(s) dropped while loading {records or ""}')
