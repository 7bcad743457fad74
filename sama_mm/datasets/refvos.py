"""Referring video object segmentation sets: Ref-YouTube-VOS, MeViS, ReVOS and Ref-DAVIS17 layouts.

``meta_expressions.json`` is ``{"videos": {video_id: {"frames": [...], "expressions": {exp_id: {...}}}}}``.
Ground truth comes from one of:

* a mask dict (``mask_file``, MeViS/ReVOS ``mask_dict.json``): ``anno_id -> [RLE or None per frame]``, each
  expression listing its ``anno_id`` (OR-ed);
* a folder of indexed PNGs (``mask_dir``, Ref-YouTube-VOS ``Annotations/<video>/<frame>.png``) whose pixel
  values are object ids, each expression naming its ``obj_id``;
* nothing, for server-evaluated splits (MeViS ``valid``, Ref-YouTube-VOS ``valid``).
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..registry import DATASETS
from .base import CheckedDataset
from .check import CheckReport
from .draws import DrawsMixin
from .errors import DataError
from .io import VideoInfo, check_video, load_json
from .lengths import info_length, sample_length
from .mask_dict import check_track, load_mask_dict, missing_keys


SAMPLES_PER = ('expression', 'video')
#: Rounds of a whole-video training sample (the official ``select_number``), for length estimates.
VIDEO_SAMPLE_ROUNDS = 5
#: The per-expression fields a whole-video sample keeps for each of its expressions.
EXPRESSION_FIELDS = ('exp_id', 'expression', 'obj_ids', 'anno_ids', 'type_id')


def group_by_video(infos: List[dict]) -> List[dict]:
    """Whole-video samples from per-expression infos: videos in order of first appearance, each with its
    expressions sorted by expression id (as the official training data), the video fields shared."""
    videos: Dict[str, dict] = {}
    for info in infos:
        video = videos.get(info['video_id'])
        if video is None:
            video = videos[info['video_id']] = {k: v for k, v in info.items() if k not in EXPRESSION_FIELDS}
            video['expressions'] = []
        video['expressions'].append({k: info[k] for k in EXPRESSION_FIELDS if k in info})
    for video in videos.values():
        video['expressions'].sort(key=lambda e: e['exp_id'])
    return list(videos.values())


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@DATASETS.register_module()
class RefVOSDataset(DrawsMixin, CheckedDataset):
    """One sample per (video, referring expression), or per video, of a referring-VOS split.

    Args:
        ann_file (str): ``meta_expressions.json`` of the split, relative to ``data_root``.
        data_root (str): Root of the split.
        data_prefix (dict): ``video``: the frame-folder root (``<video_id>/<frame>.jpg`` below it).
        mask_file (str, optional): A mask dict (MeViS/ReVOS style), relative to ``data_root``.
        mask_dir (str, optional): A folder of indexed PNG masks (Ref-YouTube-VOS style), relative to
            ``data_root``. At most one of ``mask_file`` and ``mask_dir`` may be given.
        samples_per (str): ``'expression'``: one sample per expression (the evaluation protocol, and the
            class default). ``'video'``: one sample per video holding all its expressions (sorted by
            expression id) under ``expressions``, from which ``RefVOSToRounds`` draws the rounds: the official
            training sample (the training mixture sets it). Defaults to ``'expression'``.
        draw_seed (int): Seed of the per-sample random draws of the pipeline (which expressions, templates and
            answers; see :mod:`sama_mm.datasets.draws`). Defaults to 0.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(dataset_name='RefVOS')

    def __init__(self, ann_file: str, data_root: str = '', data_prefix: Optional[dict] = None,
                 mask_file: Optional[str] = None, mask_dir: Optional[str] = None, samples_per: str = 'expression',
                 draw_seed: int = 0, **kwargs):
        self._init_draws(draw_seed)
        if samples_per not in SAMPLES_PER:
            raise ValueError(f'samples_per must be one of {SAMPLES_PER}, got {samples_per!r}')
        self.samples_per = samples_per
        if mask_file is not None and mask_dir is not None:
            raise ValueError('give either mask_file (a mask dict) or mask_dir (PNG masks), not both')
        self.mask_file = osp.join(data_root, mask_file) if mask_file else None
        self.mask_dir = osp.join(data_root, mask_dir) if mask_dir else None
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(video='JPEGImages'),
                         **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        meta = load_json(self.ann_file)
        videos = meta.get('videos') if isinstance(meta, dict) else None
        if not isinstance(videos, dict):
            raise DataError('schema', self.ann_file, 'expected {"videos": {video_id: {...}}}')
        infos, problems = [], []
        for video_id, video in videos.items():
            def bad(kind, message, exp_id=None):
                rec = video_id if exp_id is None else f'{video_id}/{exp_id}'
                problems.append(DataError(kind, self.ann_file, message, rec))

            if not isinstance(video, dict):
                bad('schema', 'video entry must be an object with "frames" and "expressions"')
                continue
            frames, expressions = video.get('frames'), video.get('expressions')
            if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
                bad('schema', '"frames" must be a non-empty list of frame names')
                continue
            if not isinstance(expressions, dict) or not expressions:
                bad('empty_conversation', '"expressions" must be a non-empty object')
                continue
            for exp_id, exp in expressions.items():
                if not isinstance(exp, dict) or not isinstance(exp.get('exp'), str) or not exp['exp'].strip():
                    bad('schema', 'expression needs a non-empty "exp" text', exp_id)
                    continue
                obj_ids = _as_list(exp.get('obj_id', []))
                anno_ids = [str(a) for a in _as_list(exp.get('anno_id', []))]
                if self.mask_file is not None and not anno_ids:
                    bad('schema', 'expression has no "anno_id" but the split has a mask dict', exp_id)
                    continue
                if self.mask_dir is not None and not obj_ids:
                    bad('schema', 'expression has no "obj_id" but the split has PNG masks', exp_id)
                    continue
                infos.append(dict(video_id=video_id, exp_id=str(exp_id), expression=exp['exp'],
                                  frames=list(frames), frame_dir=osp.join(self.data_prefix.get('video', ''),
                                                                          video_id),
                                  obj_ids=obj_ids, anno_ids=anno_ids, mask_file=self.mask_file,
                                  mask_dir=self.mask_dir))
        return infos, problems, len(videos)

    def filter_data(self) -> List[dict]:
        """The per-expression infos, grouped into whole-video samples with ``samples_per='video'``."""
        infos = super().filter_data()
        return group_by_video(infos) if self.samples_per == 'video' else infos

    def modality_lengths(self) -> np.ndarray:
        """Estimated token length per sample, for length-grouped sampling: a whole-video sample counts
        :data:`VIDEO_SAMPLE_ROUNDS` rounds over its expressions (the pipeline draws which)."""
        out = []
        for i in range(len(self)):
            info = self.get_data_info(i)
            if info.get('expressions') is None:
                out.append(info_length(info))
                continue
            texts = [e['expression'] for e in info['expressions']]
            picks = [texts[k % len(texts)] for k in range(VIDEO_SAMPLE_ROUNDS)]
            out.append(sample_length([f'Please segment {t} in this image.' for t in picks],
                                     ['Sure, it is [SEG].'] * len(picks)))
        return np.asarray(out, np.int32)

    def check_files(self, infos: List[dict], n_videos: int, report: CheckReport) -> None:
        """The expressions against the frames and the masks on disk."""
        try:
            masks = load_mask_dict(self.mask_file) if self.mask_file else None
        except DataError as exc:
            report.problems.append(exc)
            return
        probed: Dict[str, Optional[VideoInfo]] = {}
        scanned: Dict[str, Optional[set]] = {}
        checked_keys, objects = set(), set()
        self._decoded_frames: Dict[str, Optional[Tuple[int, int]]] = {}  # shared with subclasses' checks
        for info in infos:
            rid = f'{info["video_id"]}/{info["exp_id"]}'
            if info['video_id'] not in probed:
                # Every problem of the frames; the masks are still checked when some frames are readable.
                probed[info['video_id']], found = check_video(info['frame_dir'], info['frames'], info['video_id'],
                                                              self._decoded_frames)
                report.problems += [DataError(exc.kind, self.ann_file, f'{exc.file}: {exc.message}',
                                              info['video_id']) for exc in found]
            video = probed[info['video_id']]
            if video is None:
                continue
            if masks is not None:
                report.problems += missing_keys(self.mask_file, masks, info['anno_ids'], rid)
                for key in info['anno_ids']:
                    objects.add(key)
                    if key in masks and key not in checked_keys:
                        checked_keys.add(key)
                        report.problems += check_track(self.mask_file, key, masks[key], video, rid)
            elif self.mask_dir is not None:
                if info['video_id'] not in scanned:
                    scanned[info['video_id']], found = self._scan_png_masks(info, video)
                    report.problems += found
                present = scanned[info['video_id']]
                if present is not None:
                    report.problems += [
                        DataError('unknown_object', self.ann_file,
                                  f'obj_id {o} appears in no mask of {osp.join(self.mask_dir, info["video_id"])}',
                                  rid) for o in info['obj_ids'] if int(o) not in present]
                objects.update((info['video_id'], str(o)) for o in info['obj_ids'])
        report.counts = dict(videos=n_videos, expressions=len(infos), objects=len(objects))

    def _scan_png_masks(self, info: dict, video: VideoInfo) -> Tuple[Optional[set], List[DataError]]:
        """Read a video's PNG masks once: the object ids present, and every problem of its mask files.

        The ids are None when any mask PNG is missing or bad (an object may be in the unreadable one).
        """
        from PIL import Image
        folder = osp.join(self.mask_dir, info['video_id'])
        present, problems = set(), []
        for name in info['frames']:
            path = osp.join(folder, name + '.png')
            if not osp.isfile(path):
                problems.append(DataError('missing_frames', path, 'mask PNG of a listed frame is missing',
                                          info['video_id']))
                continue
            try:
                with Image.open(path) as img:
                    label = np.asarray(img)
            except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for broken files
                problems.append(DataError('unreadable_mask', path, f'cannot read PNG: {exc}', info['video_id']))
                continue
            if label.shape[:2] != (video.height, video.width):
                problems.append(DataError('size_mismatch', path, f'mask is {label.shape[0]}x{label.shape[1]} but '
                                          f'the frames are {video.height}x{video.width} (HxW)', info['video_id']))
                continue
            present.update(int(v) for v in np.unique(label))
        return (None if problems else present), problems
