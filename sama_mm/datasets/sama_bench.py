"""SAMA-Bench (G: grounded conversation, C: region captions): one evaluation sample per question or object.

The bench files (``sama_bench/{mevis,lvvis_{0,1},ref_youtube_vos_{0,1},VidSTG_{0..7}}.json``) are SAMA-239K
records (see :mod:`sama_mm.datasets.sama239k`) with two additions: every human turn carries a
``question_id`` (Bench-G) and ``description_id`` maps ``objN`` to an id (Bench-C). The masks come from the
validation mask dicts, chosen by a substring of the record's ``video`` path as for SAMA-239K. As in the
release, an LV-VIS video folder whose name is a number is zero-padded to 5 digits on disk.

Samples follow the official protocol (sama-reference §3.2):

* ``task='grounding'``: every QA round is a sample of its own (no history), meta ``question_id``; the round's
  answer is the reference and its ``groundtruth`` the masks of its ``[SEG]`` (scored by
  :class:`~sama_mm.evaluation.metrics.SAMABenchGMetric`, which reads them from the files itself).
* ``task='caption'``: one sample per described object, meta ``description_id``, the object as the region
  prompt of ``'Please describe the region <mask> in the video in detail.'`` (scored by
  :class:`~sama_mm.evaluation.metrics.SAMABenchCMetric`).

Differences from the official loaders (on purpose): a round whose ``<mask>`` or ``[SEG]`` count disagrees with
its ``obj_masks``/``groundtruth``, or a turn without ``question_id``, is an error naming the file and record (the
official loader drops such rounds silently, which also removes them from the scores); samples come in file order
(the official script shuffles them with a fixed seed, which only changes the order).

The pipeline turns a sample into its round with ``SAMA239KToRounds`` (``task='conversation'`` for G, which
adds the "Response with interleaved segmentation masks." suffix when the reference answer has a ``[SEG]``, as
the official script does; ``task='description'`` for C).
"""
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from ..registry import DATASETS
from .errors import DataError
from .sama239k import SAMA239KDataset

#: The validation mask dicts of the release, by the substring of the record's ``video`` path that selects them.
SAMA_BENCH_MASK_DICTS = dict(mevis='Mevis_mask_dict_val.json', lvvis='LVVIS_mask_dict_val.json',
                             ref_youtube_vos='RefYoutube_mask_dict_val.json',
                             VidSTG='VidSTG_mask_dict_val_updated.json')
TASKS = ('grounding', 'caption')
_OBJ_KEY = re.compile(r'obj(\d+)')


def lvvis_folder(path: str) -> str:
    """The on-disk folder of a bench video: LV-VIS folders named by a number are zero-padded to 5 digits."""
    if 'lvvis' not in path:
        return path
    head, name = osp.split(path.rstrip('/'))
    return osp.join(head, name.zfill(5)) if name.isdigit() else path


@DATASETS.register_module()
class SAMABenchDataset(SAMA239KDataset):
    """One SAMA-Bench split file as evaluation samples (see the module docstring).

    Args:
        ann_file (str): One bench JSON (e.g. ``'mevis.json'``), relative to ``data_root``.
        task (str): ``'grounding'`` (Bench-G) or ``'caption'`` (Bench-C).
        mask_dicts (dict[str, str], optional): Video-path substring -> mask dict file, relative to
            ``data_root``. Defaults to :data:`SAMA_BENCH_MASK_DICTS`.
        **kwargs: Passed to :class:`SAMA239KDataset` (``data_root``, ``pipeline``, ...).

    Raises:
        DataError: (when loading) a human turn without ``question_id`` (G), a ``description_id`` entry whose
            object has no description or no ``anno_map`` entry (C), or a duplicate id; every problem names the
            file and the record.
    """

    METAINFO = dict(dataset_name='SAMA-Bench')

    def __init__(self, ann_file: str, task: str = 'grounding', mask_dicts: Optional[Dict[str, str]] = None,
                 **kwargs):
        if task not in TASKS:
            raise ValueError(f'task must be one of {TASKS}, got {task!r}')
        self.task = task
        # MMEngine's serialisation cannot pack an empty data list; the bench is small (about 5k samples), and a
        # part file may hold no sample of a task (or be emptied to evaluate a subset).
        kwargs.setdefault('serialize_data', False)
        super().__init__(ann_file=ann_file, mask_dicts=dict(mask_dicts or SAMA_BENCH_MASK_DICTS), **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        records = self.load_records()
        infos, problems, seen = [], [], set()
        for index, record in enumerate(records):
            info, found = self.parse_record(record, index)
            problems += found
            if info is None:
                continue
            rid = f'{index} ({info["video_id"]})'
            info['video_path'] = lvvis_folder(info['video_path'])
            split = self._questions if self.task == 'grounding' else self._descriptions
            samples, found = split(record, info, rid)
            for sample in samples:
                key = sample['question_id' if self.task == 'grounding' else 'description_id']
                if key in seen:
                    found.append(DataError('duplicate_id', self.ann_file, f'id {key!r} appears more than once', rid))
                seen.add(key)
            problems += found
            if not found:
                infos += samples
        return infos, problems, len(records)

    def _questions(self, record: dict, info: dict, rid: str) -> Tuple[List[dict], List[DataError]]:
        """One info per round, with that round only and its ``question_id``."""
        samples, problems = [], []
        conv = record.get('conversation') or []
        for r, rnd in enumerate(info['rounds']):
            qid = conv[2 * r].get('question_id')
            if qid is None:
                problems.append(DataError('missing_field', self.ann_file, f'human turn {2 * r} has no question_id',
                                          rid))
                continue
            samples.append(dict(info, rounds=[rnd], descriptions={}, question_id=str(qid), round_index=r))
        return samples, problems

    def _descriptions(self, record: dict, info: dict, rid: str) -> Tuple[List[dict], List[DataError]]:
        """One info per ``description_id`` entry: that object's description only."""
        ids = record.get('description_id')
        if ids is None:  # a record without descriptions has no Bench-C sample
            return [], []
        if not isinstance(ids, dict):
            return [], [DataError('schema', self.ann_file, '"description_id" must map "objN" to an id', rid)]
        texts = record.get('description') or {}
        samples, problems = [], []
        for obj, did in ids.items():
            match = _OBJ_KEY.fullmatch(str(obj))
            if match is None or obj not in texts:
                problems.append(DataError('missing_field', self.ann_file, f'description_id names {obj!r}, which '
                                          'has no "description"', rid))
                continue
            key = str(info['anno_map'][int(match.group(1))])  # checked by parse_record for described objects
            samples.append(dict(info, rounds=[], descriptions={key: texts[obj]}, description_id=str(did)))
        return samples, problems
