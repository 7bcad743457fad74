"""SAMA-239K read through an on-disk index: no record is held in memory until its sample is read.

``SAMA239KIndexedDataset(index_file='sama239k_train_final.index', ...)`` opens the index written once by
``python data_converters/build_annotation_index.py sama239k_train_final.json`` and parses a record (with the
same checks as :class:`SAMA239KDataset`) only when its sample is requested. Without ``index_file`` it is
:class:`SAMA239KDataset` on the JSON ``ann_file`` (plus ``skip_bad``).

MMEngine's ``BaseDataset.full_init`` materialises ``data_list`` and, with ``serialize_data``, pickles it into
one buffer; with an index neither happens: ``full_init`` only opens the index, ``get_data_info`` reads one
line, and a pickled dataset (sent to data loader workers) carries paths, not records.
"""
from typing import Dict, Optional

import numpy as np

from ..registry import DATASETS
from .lazy_index import LazyRecordIndex, open_mask_source
from .lengths import info_length
from .robust import SkipBadMixin
from .sama239k import SAMA239KDataset


@DATASETS.register_module()
class SAMA239KIndexedDataset(SkipBadMixin, SAMA239KDataset):
    """SAMA-239K records from an on-disk index (or a JSON ``ann_file``).

    Args:
        index_file (str, optional): The ``.index`` folder, relative to ``data_root``. Defaults to None (read
            ``ann_file`` as :class:`SAMA239KDataset` does).
        ann_file (str): The JSON list, used when ``index_file`` is None. Defaults to ''.
        mask_dicts (dict[str, str]): Video-path substring -> mask dict (a JSON file or a mask-dict index
            folder; use ``LoadIndexedSegMasks``/``LoadIndexedRegionMasks`` in the pipeline for the latter).
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`SAMA239KDataset` (``data_root``, ``data_prefix``, ``sample_mode``,
            ``pipeline``, ...); ``indices`` is not supported with ``index_file``. With an index and a chunking
            ``sample_mode``, opening the dataset reads every record once (one at a time) to count its samples.
    """

    def __init__(self, mask_dicts: Dict[str, str], index_file: Optional[str] = None, ann_file: str = '',
                 skip_bad: bool = False, max_skips: int = 20, data_root: str = '', **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        self._use_index = index_file is not None
        self._records: Optional[LazyRecordIndex] = None
        self._chunks: Optional[np.ndarray] = None
        if self._use_index and kwargs.get('indices') is not None:
            raise ValueError('indices is not supported with index_file; subset the index instead')
        if not self._use_index and not ann_file:
            raise ValueError('give index_file (an annotation index) or ann_file (the JSON list)')
        # BaseDataset joins ann_file with data_root; with an index, ann_file is the index folder.
        super().__init__(ann_file=index_file if self._use_index else ann_file, mask_dicts=mask_dicts,
                         data_root=data_root, **kwargs)

    @property
    def index_file(self) -> Optional[str]:
        """The index folder (joined with ``data_root``), or None when reading the JSON ``ann_file``."""
        return self.ann_file if self._use_index else None

    # ------------------------------------------------------------------ lazy access
    def full_init(self) -> None:
        if self.index_file is None:
            return super().full_init()
        if self._fully_initialized:
            return
        self._records = LazyRecordIndex(self.index_file)
        self._chunks = None
        if self.sample_mode != 'record':
            # One pass over the records (one in memory at a time): which record and chunk each sample is.
            chunks, problems = [], []
            for r in range(len(self._records)):
                samples, found = self.parse_samples(self._records[r], r)
                problems += found
                chunks += [(r, c) for c in range(len(samples))]
            self._accept_problems(problems)
            self._chunks = np.asarray(chunks, np.int64).reshape(-1, 2)
        self._fully_initialized = True

    def __len__(self) -> int:
        if self.index_file is None:
            return super().__len__()
        if not self._fully_initialized:
            self.full_init()
        return len(self._records) if self._chunks is None else len(self._chunks)

    def get_data_info(self, idx: int) -> dict:
        if self.index_file is None:
            return super().get_data_info(idx)
        if not self._fully_initialized:
            self.full_init()
        if self._chunks is not None:
            record, chunk = (int(v) for v in self._chunks[idx])
            samples, problems = self.parse_samples(self._records[record], record)
            if problems:
                raise problems[0]
            info = samples[chunk]
        else:
            info, problems = self.parse_record(self._records[idx], idx)
            if problems:
                raise problems[0]
        info['sample_idx'] = idx
        return info

    def modality_lengths(self) -> np.ndarray:
        """Estimated token length per sample (from the index's ``lengths.npy`` when indexed)."""
        if self.index_file is not None:
            if not self._fully_initialized:
                self.full_init()
            lengths = self._records.lengths() if self._chunks is None else None
            if lengths is not None:
                return np.asarray(lengths)
            return np.asarray([info_length(self.get_data_info(i)) for i in range(len(self))], np.int32)
        return np.asarray([info_length(self.get_data_info(i)) for i in range(len(self))], np.int32)

    # ------------------------------------------------------------------ checking
    def load_records(self):
        if self.index_file is None:
            return super().load_records()
        return self._records or LazyRecordIndex(self.index_file)

    @property
    def annotation_source(self) -> str:
        return self.index_file or self.ann_file

    def open_mask_dict(self, path: str, record: str):
        """Mask dicts may be index folders: read them per key."""
        return open_mask_source(path, record)
