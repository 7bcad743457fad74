"""Ref-SAV: referring segmentation on SA-V videos (the ×4 "sam2 pseudo" source of the official 1B/4B mixture).

Layout (the Sa2VA training release, as the official ``VideoSAM2Dataset`` reads it)::

    ref_sav/Ref-SAV.json        {video_id: {"video_path": "sav_train/sav_000/sav_000123.mp4",
                                            "anno_path": "sav_train/sav_000/sav_000123_manual.json",
                                            "objects": {"<k>": {"formated": long caption,
                                                                "short_caps": [short captions]}}}}
    ref_sav/sam_v_full/sav_000/sav_000123.mp4            the SA-V video (24 fps)
    ref_sav/sam_v_full/sav_000/sav_000123_manual.json    {"masklet": [[RLE of object 0, 1, ...] per frame]}

The paths in ``Ref-SAV.json`` begin with a folder (``sav_train``) that is not on disk: it is dropped and the rest
is joined to ``data_prefix['video']`` (``strip_first_component=True``). Object keys index the objects of every
masklet frame. The masklet is annotated on every 4th video frame, so annotated frame ``i`` is video frame
``4 * i`` (the official loader decodes the mp4 and keeps ``frames[::4]``).

One sample per video and repeat (``__len__`` = videos): ``num_objects`` (5) objects drawn uniformly with
replacement, one round each, ``"Please segment the object according to the description: <long caption>"`` and
one of five answers with one ``[SEG]``; the ground truth of round k is object k on the dense frames. The sparse
frames follow the official rule over the annotated frames (every 3rd, at most 32, the official top-up to 8), the
dense ones are the centres of five segments of them.
"""
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import DATASETS, TRANSFORMS
from ..structures import MaskFormatError, decode_rle
from .base import CheckedDataset
from .check import CheckReport
from .draws import DrawsMixin
from .errors import DataError, VideoReadError
from .io import load_json
from .lengths import sample_length
from .robust import SkipBadMixin
from .transforms._utils import record_of
from .transforms.formatting_text import SEG_ANSWERS, SEG_QUESTION_TEMPLATES
from .transforms.sampling import dense_positions, sparse_indices

#: The question of ``mode='long'`` (the official Ref-SAV template; ``mode='short'`` uses the referring-segmentation
#: templates :data:`~sama_mm.datasets.transforms.formatting_text.SEG_QUESTION_TEMPLATES`).
REF_SAV_LONG_QUESTIONS = ('Please segment the object according to the description: {exp}',)
REF_SAV_MODES = ('long', 'short', 'long_short')


@DATASETS.register_module()
class RefSAVDataset(DrawsMixin, SkipBadMixin, CheckedDataset):
    """Ref-SAV training videos: one sample per video (objects, templates and answers drawn per sample).

    Args:
        ann_file (str): ``Ref-SAV.json``, relative to ``data_root``.
        data_root (str): The Ref-SAV root.
        data_prefix (dict): ``video``: the folder the annotation's paths are joined to. Defaults to
            ``dict(video='sam_v_full')``.
        strip_first_component (bool): Drop the first folder of ``video_path``/``anno_path`` before joining (the
            release's paths start with ``sav_train/``). Defaults to True.
        draw_seed (int): Seed of the per-sample draws (see :mod:`sama_mm.datasets.draws`). Defaults to 0.
        skip_bad (bool): Skip bad records/samples instead of raising. Defaults to False.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(dataset_name='RefSAV')

    def __init__(self, ann_file: str, data_root: str = '', data_prefix: dict = None,
                 strip_first_component: bool = True, draw_seed: int = 0, skip_bad: bool = False, **kwargs):
        self.strip_first_component = bool(strip_first_component)
        self._init_draws(draw_seed)
        self._init_skip_bad(skip_bad)
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(video='sam_v_full'), **kwargs)

    def _resolve(self, path: str) -> str:
        parts = osp.normpath(path).split(osp.sep)
        if self.strip_first_component and len(parts) > 1:
            parts = parts[1:]
        return osp.join(self.data_prefix.get('video', ''), *parts)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        meta = load_json(self.ann_file)
        if not isinstance(meta, dict):
            raise DataError('schema', self.ann_file, 'expected {video_id: {"video_path", "anno_path", "objects"}}')
        infos, problems = [], []
        for video_id, video in meta.items():
            def bad(message):
                problems.append(DataError('schema', self.ann_file, message, video_id))

            if not isinstance(video, dict) or not all(isinstance(video.get(k), str) and video[k]
                                                      for k in ('video_path', 'anno_path')):
                bad('each video needs "video_path" and "anno_path" strings')
                continue
            objects = video.get('objects')
            if not isinstance(objects, dict) or not objects:
                bad('"objects" must be a non-empty object {key: {"formated", "short_caps"?}}')
                continue
            entries = []
            for key, obj in objects.items():
                caps = obj.get('short_caps', []) if isinstance(obj, dict) else None
                if not str(key).isdigit() or not isinstance(caps, list) or not isinstance(obj.get('formated'), str) \
                        or not all(isinstance(c, str) for c in caps):
                    bad(f'object {key!r}: needs a numeric key, a "formated" caption and (optional) a "short_caps" '
                        'list of strings')
                    entries = None
                    break
                entries.append(dict(key=str(key), long=obj['formated'], short=list(caps)))
            if entries:
                infos.append(dict(video_id=video_id, video_path=self._resolve(video['video_path']),
                                  anno_path=self._resolve(video['anno_path']), objects=entries))
        return infos, problems, len(meta)

    def check_files(self, infos: List[dict], num_entries: int, report: CheckReport) -> None:
        """Every video and masklet file exists."""
        for info in infos:
            for key, kind in (('video_path', 'missing_video'), ('anno_path', 'missing_file')):
                if not osp.isfile(info[key]):
                    report.problems.append(DataError(kind, info[key], 'file not found', info['video_id']))
        report.counts = dict(videos=num_entries, objects=sum(len(i['objects']) for i in infos))

    def modality_lengths(self) -> np.ndarray:
        """Estimated tokens per sample: five rounds of the video's longest long caption."""
        out = []
        for i in range(len(self)):
            objects = self.get_data_info(i)['objects']
            caption = max((o['long'] for o in objects), key=len)
            out.append(sample_length([REF_SAV_LONG_QUESTIONS[0].format(exp=caption)] * 5, [SEG_ANSWERS[3]] * 5))
        return np.asarray(out, dtype=np.int32)


@TRANSFORMS.register_module()
class RefSAVToRounds(BaseTransform):
    """Draw the objects of a Ref-SAV sample and write one segmentation round per object.

    Draws (from ``results['draws']``, a :class:`~sama_mm.datasets.draws.SeededDraws`): ``objects`` (positions
    into the video's object list, uniform with replacement), ``long`` (``mode='long_short'``: 1 = long
    captions), ``captions`` (short mode: one short caption per object), ``questions`` (short mode: a template
    per round), ``answers`` (one of the five referring-segmentation answers per round).

    Required Keys:

        - objects (list[dict]): ``key``, ``long``, ``short`` per object of the video.
        - draws (SeededDraws): The sample's draws.

    Added Keys:

        - rounds (list[dict]): ``num_objects`` rounds, ``gt_keys`` ``[[object key]]``.

    Args:
        num_objects (int): Objects (rounds) per sample. Defaults to 5.
        mode (str): ``'long'`` (the long caption, one question; the official default), ``'short'`` (a short
            caption without ``'A '`` in one of 16 questions) or ``'long_short'`` (either, half the time).
            Defaults to ``'long'``.
    """

    def __init__(self, num_objects: int = 5, mode: str = 'long'):
        if mode not in REF_SAV_MODES:
            raise ValueError(f'mode must be one of {REF_SAV_MODES}, got {mode!r}')
        if not isinstance(num_objects, int) or num_objects < 1:
            raise ValueError(f'num_objects must be a positive int, got {num_objects!r}')
        self.num_objects = num_objects
        self.mode = mode

    def transform(self, results: Dict) -> Dict:
        draws, objects = results['draws'], results['objects']
        chosen = [objects[i] for i in draws.integers('objects', 0, len(objects), self.num_objects)]
        long = self.mode == 'long' or (self.mode == 'long_short' and draws.integer('long', 0, 2) == 1)
        if long:
            texts = [o['long'] for o in chosen]
        else:
            if not all(o['short'] for o in chosen):
                raise DataError('schema', str(results.get('video_path', '?')), f'mode={self.mode!r} needs the '
                                '"short_caps" of every object', record_of(results))
            texts = [o['short'][draws.integer('captions', 0, len(o['short']))].replace('A ', '') for o in chosen]
        rounds = []
        for obj, text in zip(chosen, texts):
            templates = REF_SAV_LONG_QUESTIONS if long else SEG_QUESTION_TEMPLATES
            question = templates[draws.integer('questions', 0, len(templates)) if not long else 0]
            answer = SEG_ANSWERS[draws.integer('answers', 0, len(SEG_ANSWERS))]
            rounds.append(dict(question=question.format(exp=text), answer=answer, gt_keys=[[obj['key']]],
                               region_keys=[]))
        results['rounds'] = rounds
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_objects={self.num_objects}, mode={self.mode!r})'


@TRANSFORMS.register_module()
class LoadRefSAVMasklet(BaseTransform):
    """Read a Ref-SAV masklet: choose the frames and decode the rounds' objects on the dense frames.

    The sparse frames are :func:`~sama_mm.datasets.transforms.sampling.sparse_indices` of the annotated frames
    (the official top-up), the dense ones the centres of ``num_dense`` segments of them
    (:func:`~sama_mm.datasets.transforms.sampling.dense_positions`); annotated frame ``i`` is video frame
    ``frame_stride * i``. Put it after ``VideoInit`` and before ``VideoDecode``.

    Required Keys:

        - anno_path (str): The masklet JSON (``{"masklet": [[RLE per object] per annotated frame]}``).
        - rounds (list[dict]): ``gt_keys`` (object keys) per round.
        - num_frames (int), ori_shape (tuple): From ``VideoInit``.

    Added Keys:

        - frame_indices (list[int]): Video frames of the T sparse frames.
        - dense_positions (list[int]): Positions of the dense frames in ``frame_indices``.
        - gt_masks (np.ndarray): ``uint8 [K, D, H, W]``, one entry per ``[SEG]`` in round order.

    Args:
        frame_stride (int): Video frames per annotated frame. Defaults to 4 (SA-V).
        interval (int): Sparse stride over the annotated frames. Defaults to 3.
        max_frames (int): Most sparse frames. Defaults to 32.
        min_frames (int): Fewest sparse frames (official top-up rule). Defaults to 8.
        num_dense (int): Dense frames. Defaults to 5.

    Raises:
        DataError: The masklet is missing or malformed, an object key is past a frame's objects, a mask's size
            differs from the video's, or a chosen frame lies past the end of the video; each names the file and
            the record.
    """

    def __init__(self, frame_stride: int = 4, interval: int = 3, max_frames: int = 32, min_frames: int = 8,
                 num_dense: int = 5):
        self.frame_stride = frame_stride
        self.interval = interval
        self.max_frames = max_frames
        self.min_frames = min_frames
        self.num_dense = num_dense

    def transform(self, results: Dict) -> Dict:
        record, path = record_of(results), results['anno_path']
        try:
            masklet = load_json(path).get('masklet')
        except AttributeError:
            masklet = None
        except DataError as exc:
            raise DataError(exc.kind, path, exc.message, record) from None
        if not isinstance(masklet, list) or not masklet or not all(isinstance(f, list) for f in masklet):
            raise DataError('schema', path, '"masklet" must be a non-empty list of per-frame lists of RLEs', record)
        sparse = sparse_indices(len(masklet), self.interval, self.max_frames, self.min_frames, 'spread', 'official')
        frames = [self.frame_stride * i for i in sparse]
        if frames[-1] >= results['num_frames']:
            raise VideoReadError('frame_index_out_of_range', results['video_path'],
                                 f'annotated frame {sparse[-1]} of {path} is video frame {frames[-1]}, past the '
                                 f'video of {results["num_frames"]} frames', record)
        dense = dense_positions(len(sparse), self.num_dense, 'uniform')
        height, width = results['ori_shape']
        groups = [keys for rnd in results['rounds'] for keys in rnd['gt_keys']]
        out = np.zeros((len(groups), len(dense), height, width), np.uint8)
        for k, keys in enumerate(groups):
            for d, pos in enumerate(dense):
                objects = masklet[sparse[pos]]
                for key in keys:
                    if int(key) >= len(objects):
                        raise DataError('unknown_object', path, f'object {key} is past the {len(objects)} objects '
                                        f'of annotated frame {sparse[pos]}', record)
                    try:
                        mask = decode_rle(objects[int(key)], f'object {key}, frame {sparse[pos]}')
                    except MaskFormatError as exc:
                        raise DataError('malformed_rle', path, str(exc), record) from None
                    if mask.shape != (height, width):
                        raise DataError('size_mismatch', path, f'mask is {mask.shape[0]}x{mask.shape[1]} but the '
                                        f'video is {height}x{width} (HxW)', record)
                    out[k, d] |= mask
        results['frame_indices'] = frames
        results['dense_positions'] = dense
        results['gt_masks'] = out
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(frame_stride={self.frame_stride}, interval={self.interval}, '
                f'max_frames={self.max_frames}, min_frames={self.min_frames}, num_dense={self.num_dense})')

