"""ChatUniVi video question answering (the ×1 video-chat source of the official 1B/4B mixture).

Layout (the Sa2VA training release, as the official ``VideoChatUniViDataset`` reads it)::

    chat_univi/video_chat.json        [{"id": ..., "video": "v_xxx.mp4", "conversations": [
                                           {"from": "human", "value": "<image>\\nWhat is ...?"},
                                           {"from": "gpt", "value": "..."}, ...]}, ...]
    chat_univi/Activity_Videos/v_xxx.mp4

A video named ``.mkv`` that is not on disk is read from the ``.mp4`` of the same name, as the official loader does.

One sample per record with every round of its conversation. Frames: ``num_sparse`` (32) positions, one drawn
uniformly inside each of 32 equal segments of the video (a video of at most 32 frames repeats every frame and
fills up with segment centres, no draw); the ``num_dense`` (5) dense frames are drawn one inside each of five
equal segments of the 32 (:class:`ChatUniViFrames`). The question keeps its text with ``<image>`` removed (a
leading newline stays), after the context tokens and their newline.
"""
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import DATASETS, TRANSFORMS
from .base import CheckedDataset
from .check import CheckReport
from .draws import DrawsMixin
from .errors import DataError
from .io import load_json
from .robust import SkipBadMixin


def segment_bounds(total: int, parts: int) -> List[int]:
    """``parts + 1`` integer bounds of ``parts`` equal segments of ``range(total)`` (``int`` of a linspace)."""
    return [int(v) for v in np.linspace(0, total, num=parts + 1)]


def segment_centres(total: int, parts: int) -> List[int]:
    """The centre frame of each of ``parts`` equal segments of ``range(total)``."""
    bounds = segment_bounds(total, parts)
    return [(bounds[i] + bounds[i + 1] - 1) // 2 for i in range(parts)]


@DATASETS.register_module()
class ChatUniViDataset(DrawsMixin, SkipBadMixin, CheckedDataset):
    """ChatUniVi video chat records: one sample per record, all its rounds.

    Args:
        ann_file (str): ``video_chat.json``, relative to ``data_root``.
        data_root (str): The ChatUniVi root.
        data_prefix (dict): ``video``: the video folder. Defaults to ``dict(video='Activity_Videos')``.
        draw_seed (int): Seed of the per-sample frame draws (see :mod:`sama_mm.datasets.draws`). Defaults to 0.
        skip_bad (bool): Skip bad records/samples instead of raising. Defaults to False.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(dataset_name='ChatUniVi')

    def __init__(self, ann_file: str, data_root: str = '', data_prefix: dict = None, draw_seed: int = 0,
                 skip_bad: bool = False, **kwargs):
        self._init_draws(draw_seed)
        self._init_skip_bad(skip_bad)
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(video='Activity_Videos'),
                         **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        records = load_json(self.ann_file)
        if not isinstance(records, list):
            raise DataError('schema', self.ann_file, 'expected a list of {"video", "conversations"} records')
        infos, problems = [], []
        for i, rec in enumerate(records):
            rid = f'{i} ({rec.get("id")})' if isinstance(rec, dict) else str(i)
            video = rec.get('video') if isinstance(rec, dict) else None
            turns = rec.get('conversations') if isinstance(rec, dict) else None
            if not isinstance(video, str) or not video:
                problems.append(DataError('schema', self.ann_file, 'record needs a "video" file name', rid))
                continue
            if not isinstance(turns, list) or not turns:
                problems.append(DataError('empty_conversation', self.ann_file, '"conversations" must be a '
                                          'non-empty list', rid))
                continue
            questions = [t.get('value') for t in turns if isinstance(t, dict) and t.get('from') == 'human']
            answers = [t.get('value') for t in turns if isinstance(t, dict) and t.get('from') == 'gpt']
            if len(questions) != len(answers) or len(questions) + len(answers) != len(turns) or \
                    not all(isinstance(t, str) for t in questions + answers):
                problems.append(DataError('schema', self.ann_file, 'conversations must be "human"/"gpt" turns with '
                                          f'string values, as many questions as answers ({len(questions)} vs '
                                          f'{len(answers)})', rid))
                continue
            rounds = [dict(question=q.replace('<image>', ''), answer=a, gt_keys=[], region_keys=[])
                      for q, a in zip(questions, answers)]
            infos.append(dict(record_index=i, video_id=rec.get('id', video),
                              video_path=osp.join(self.data_prefix.get('video', ''), video), rounds=rounds))
        return infos, problems, len(records)

    def check_files(self, infos: List[dict], num_entries: int, report: CheckReport) -> None:
        """Every video exists (``.mkv`` names may be read as ``.mp4``)."""
        for info in infos:
            if not osp.isfile(resolve_video(info['video_path'])):
                report.problems.append(DataError('missing_video', info['video_path'], 'video file not found',
                                                 info['record_index']))
        report.counts = dict(records=num_entries, rounds=sum(len(i['rounds']) for i in infos))

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['video_path'] = resolve_video(info['video_path'])
        return info


def resolve_video(path: str) -> str:
    """``path``, or the ``.mp4`` of a missing ``.mkv`` when that exists (the official fallback)."""
    if not osp.exists(path) and path.endswith('.mkv') and osp.exists(path[:-4] + '.mp4'):
        return path[:-4] + '.mp4'
    return path


@TRANSFORMS.register_module()
class ChatUniViFrames(BaseTransform):
    """Draw the sparse and dense frames of a ChatUniVi sample (the official rule; put after ``VideoInit``).

    Draws (``results['draws']``): ``frames`` (one frame inside each of ``num_sparse`` segments of the video, only
    when it has more than ``num_sparse`` frames), ``dense`` (one position inside each of ``num_dense`` segments of
    the sparse frames).

    Required Keys:

        - num_frames (int): From ``VideoInit``.
        - draws (SeededDraws): The sample's draws.

    Added Keys:

        - frame_indices (list[int]): ``num_sparse`` video frames, sorted (repeated for short videos).
        - dense_positions (list[int]): ``num_dense`` positions into ``frame_indices``.

    Args:
        num_sparse (int): Sparse frames. Defaults to 32.
        num_dense (int): Dense frames. Defaults to 5.
    """

    def __init__(self, num_sparse: int = 32, num_dense: int = 5):
        if not 1 <= num_dense <= num_sparse:
            raise ValueError(f'need 1 <= num_dense <= num_sparse, got {num_dense}, {num_sparse}')
        self.num_sparse = num_sparse
        self.num_dense = num_dense

    def transform(self, results: Dict) -> Dict:
        n, draws = int(results['num_frames']), results['draws']
        if n <= self.num_sparse:
            frames = list(range(n)) * (self.num_sparse // n)
            if self.num_sparse % n:
                frames += segment_centres(n, self.num_sparse % n)
            frames = sorted(frames)
        else:
            bounds = segment_bounds(n, self.num_sparse)
            frames = [draws.integer('frames', bounds[i], bounds[i + 1]) for i in range(self.num_sparse)]
        bounds = segment_bounds(self.num_sparse, self.num_dense)
        results['frame_indices'] = frames
        results['dense_positions'] = [draws.integer('dense', bounds[i], bounds[i + 1]) for i in range(self.num_dense)]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_sparse={self.num_sparse}, num_dense={self.num_dense})'
