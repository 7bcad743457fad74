"""Referring video object segmentation: local J, F, J&F or a server submission (PNG tree + zip)."""
import json
import os
import os.path as osp
import shutil
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ...datasets.errors import DataError
from ...datasets.io import load_json
from ...datasets.mask_dict import load_mask_dict
from ...datasets.revos import VIDEO_ORDERS, counter_mask_keys
from ...registry import METRICS
from ..functional.jf import jf_per_object, pixel_accuracy, robustness
from ._utils import (as_bool_array, check_same_keys, decode_track, encode_track, get_field, mask_dict_track,
                     read_id_png)

#: Submission layouts: the folder prefix of ``<video>/<exp>/<frame>.png`` inside the zip.
SERVER_LAYOUTS = {'refytvos': 'Annotations', 'mevis': ''}
TYPE_NAMES = {0: 'referring', 1: 'reasoning'}


def submission_paths(outfile_prefix: str) -> Tuple[str, str]:
    """The submission folder and zip that ``format_only`` writes for ``outfile_prefix``."""
    root = outfile_prefix.rstrip('/\\')
    return root, root + '.zip'


@METRICS.register_module()
class RVOSMetric(BaseMetric):
    """J, F and J&F of referring-VOS predictions, or the submission files of a server-evaluated split.

    One data sample per (video, expression): meta ``video_id`` and ``exp_id``, ``pred_masks`` a boolean
    ``[K, T, H, W]`` tensor over *all* T frames the split's ``meta_expressions.json`` lists for the video (K
    tracks are OR-ed into one; K = 0 is an empty prediction). The predicted (video, expression) set must equal
    the split's set exactly, otherwise :meth:`compute_metrics` raises a ValueError listing the differences.

    Per-dataset use:

    * MeViS ``valid_u`` and ReVOS: ``mask_file`` = the split's ``mask_dict.json``; the ground truth of an
      expression is the OR of its ``anno_id`` tracks (frames beyond a shorter track are empty). ReVOS also
      gives ``foreground_file`` (``mask_dict_foreground.json``) for its accuracy A and robustness R.
    * Ref-DAVIS17: ``mask_file`` = the released ``valid/mask_dict.pkl`` converted to JSON, with
      ``counter_order='sorted'``: its expressions carry no ``anno_id``, the i-th expression in (sorted videos,
      sorted expression ids) has its masks under key ``str(i)``.
    * PNG ground truth (Ref-YouTube-VOS train style): ``mask_dir`` = a folder of indexed PNGs
      ``<video>/<frame>.png`` (object ids); the ground truth is the expression's ``obj_id`` object(s). Only
      frames with a ground-truth PNG are scored.
    * Ref-YouTube-VOS ``valid`` and MeViS ``valid`` (server-evaluated): ``format_only=True`` writes the exact
      server layout under ``outfile_prefix`` — ``server='refytvos'``: ``Annotations/<video>/<exp>/<frame>.png``;
      ``server='mevis'``: ``<video>/<exp>/<frame>.png`` — as single-channel 0/255 PNGs at frame resolution,
      one for every frame in ``meta_expressions.json``, and zips the tree into ``<outfile_prefix>.zip`` with
      the same root. An existing folder or zip is never deleted or overwritten unless ``overwrite=True``.

    Scores follow the DAVIS-2017 definitions (:mod:`sama_mm.evaluation.functional.jf`): per expression the
    mean over its frames, the data set the mean over expressions, ``J&F = (J + F) / 2``, reported x100. When
    expressions carry ReVOS ``type_id`` values, expressions of type 2 are left out, every score is also
    reported per type (``J_referring``, ``J&F_referring``, ... for type 0, ``*_reasoning`` for type 1) and the
    overall scores are the mean of the two types, as the ReVOS protocol (``eval_revos.py``) defines. With
    ``foreground_file`` the ReVOS accuracy ``A`` (per frame: the fraction of pixels where prediction and ground
    truth agree) and robustness ``R`` (per frame ``max(1 - |P \\ G| / |foreground|, 0)``, see
    :func:`~sama_mm.evaluation.functional.jf.robustness`) are added, averaged like J.

    Differences from the official scripts:

    * predictions are never deleted after scoring, the frame size comes from the masks (not from a
      ``00000.png`` that may not exist), and mismatched expression sets or unreadable inputs are errors (the
      scripts score a missing or failing expression as 0 and go on);
    * ReVOS A and R are computed on boolean masks. ``eval_revos.py`` compares the 0/255 prediction PNGs with
      0/1 (or, where objects overlap, summed) ground truth, so its A only counts pixels both leave empty and
      its R counts every false-positive pixel 255 times; its per-expression scores are also rounded to two
      decimals before averaging (here they are not);
    * an empty foreground frame gives R = 1 without false positives and 0 with any, the limit of the official
      ``1 - neg / (pos + 1e-6)``.

    Args:
        ann_file (str): The split's ``meta_expressions.json``.
        mask_file (str, optional): Mask dict JSON of the ground truth (MeViS/ReVOS).
        mask_dir (str, optional): Folder of indexed ground-truth PNGs (Ref-YouTube-VOS train layout).
        counter_order (str, optional): ``'sorted'`` (Ref-DAVIS17) or ``'file'``: ``mask_file`` is keyed by the
            running expression counter (see :func:`~sama_mm.datasets.revos.counter_mask_keys`) instead of the
            expressions' ``anno_id``.
        foreground_file (str, optional): ReVOS ``mask_dict_foreground.json`` (``video -> {"masks_rle":
            [RLE per frame]}``); adds the scores ``A`` and ``R``.
        format_only (bool): Only write the submission (needs ``outfile_prefix``); no scores.
        outfile_prefix (str, optional): Submission folder (and ``.zip``) with ``format_only``; otherwise, if
            given, per-expression scores are written to ``<outfile_prefix>.json``.
        server (str): Submission layout, ``'refytvos'`` or ``'mevis'``.
        skip_first_last (bool): Leave out the first and last scored frame of every expression.
        overwrite (bool): Allow replacing an existing submission folder, zip or score file.
        bound_th (float): Boundary tolerance of F (fraction of the diagonal if < 1, else pixels).
        collect_device (str): See :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): Metric-name prefix (default ``rvos``).
    """

    default_prefix = 'rvos'

    def __init__(self, ann_file: str, mask_file: Optional[str] = None, mask_dir: Optional[str] = None,
                 counter_order: Optional[str] = None, foreground_file: Optional[str] = None,
                 format_only: bool = False, outfile_prefix: Optional[str] = None, server: str = 'refytvos',
                 skip_first_last: bool = False, overwrite: bool = False, bound_th: float = 0.008,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if mask_file is not None and mask_dir is not None:
            raise ValueError('give either mask_file (a mask dict) or mask_dir (PNG masks), not both')
        if format_only and not outfile_prefix:
            raise ValueError('format_only=True needs outfile_prefix (where the submission is written)')
        if not format_only and mask_file is None and mask_dir is None:
            raise ValueError('local scoring needs mask_file or mask_dir; use format_only=True for server splits')
        if server not in SERVER_LAYOUTS:
            raise ValueError(f'server must be one of {sorted(SERVER_LAYOUTS)}, got {server!r}')
        if counter_order is not None and (counter_order not in VIDEO_ORDERS or mask_file is None):
            raise ValueError(f'counter_order must be one of {VIDEO_ORDERS} and needs mask_file, got '
                             f'{counter_order!r} (mask_file={mask_file!r})')
        if foreground_file is not None and mask_file is None:
            raise ValueError('foreground_file (ReVOS A and R) needs mask_file')
        self.ann_file = ann_file
        self.counter_order = counter_order
        self.foreground_file = foreground_file
        self._foreground = None
        self._counter_keys = None
        self.mask_file = mask_file
        self.mask_dir = mask_dir
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.server = server
        self.skip_first_last = skip_first_last
        self.overwrite = overwrite
        self.bound_th = bound_th
        self._meta = None
        self._masks = None

    # -- lazy ground truth ---------------------------------------------------------------------------------
    @property
    def videos(self) -> Dict[str, dict]:
        """``meta_expressions.json``'s ``videos`` (loaded on first use)."""
        if self._meta is None:
            meta = load_json(self.ann_file)
            videos = meta.get('videos') if isinstance(meta, dict) else None
            if not isinstance(videos, dict):
                raise DataError('schema', self.ann_file, 'expected {"videos": {video_id: {...}}}')
            self._meta = videos
        return self._meta

    def _gt_track(self, video: str, exp: str, expr: dict, num_frames: int, shape) -> Tuple[np.ndarray, List[int]]:
        """Ground-truth track of an expression and the indices of its scored frames."""
        record = f'{video}/{exp}'
        if self.mask_file is not None:
            if self._masks is None:
                self._masks = load_mask_dict(self.mask_file)
            if self.counter_order is not None:
                if self._counter_keys is None:
                    self._counter_keys = counter_mask_keys(self.videos, self.counter_order)
                keys = [self._counter_keys[(video, exp)]]
            else:
                keys = expr.get('anno_id')
            if keys is None:
                raise DataError('missing_field', self.ann_file, 'expression has no anno_id', record)
            keys = keys if isinstance(keys, list) else [keys]
            return mask_dict_track(self._masks, keys, num_frames, shape, self.mask_file, record), \
                list(range(num_frames))
        obj_ids = expr.get('obj_id')
        if obj_ids is None:
            raise DataError('missing_field', self.ann_file, 'expression has no obj_id', record)
        obj_ids = [int(o) for o in (obj_ids if isinstance(obj_ids, list) else [obj_ids])]
        frames = self.videos[video]['frames']
        track = np.zeros((num_frames,) + tuple(shape), bool)
        scored = []
        for t, name in enumerate(frames):
            path = osp.join(self.mask_dir, video, f'{name}.png')
            if not osp.isfile(path):
                continue
            ids = read_id_png(path)
            if ids.shape != track.shape[1:]:
                raise DataError('size_mismatch', path, f'mask is {ids.shape} (HxW) but the prediction is '
                                f'{track.shape[1:]}', record)
            track[t] = np.isin(ids, obj_ids)
            scored.append(t)
        if not scored:
            raise DataError('missing_frames', osp.join(self.mask_dir, video), 'no ground-truth PNG for any frame '
                            'of the video', record)
        return track, scored

    def _foreground_track(self, video: str, num_frames: int, shape) -> np.ndarray:
        """The ReVOS foreground (all objects of the video) of every frame, ``bool [T, H, W]``."""
        if self._foreground is None:
            self._foreground = load_mask_dict(self.foreground_file)
        entry = self._foreground.get(video)
        if not isinstance(entry, dict) or not isinstance(entry.get('masks_rle'), list):
            raise DataError('unknown_mask_key', self.foreground_file, f'video {video!r} has no {{"masks_rle": '
                            '[...]} entry', video)
        return mask_dict_track({video: entry['masks_rle']}, [video], num_frames, shape, self.foreground_file, video)

    # -- BaseMetric ----------------------------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store each sample's prediction as per-frame RLE (compact; decoded again in compute_metrics)."""
        for sample in data_samples:
            video, exp = get_field(sample, 'video_id'), get_field(sample, 'exp_id')
            if video is None or exp is None:
                raise ValueError('RVOSMetric needs the meta values video_id and exp_id in every data sample')
            masks = as_bool_array(get_field(sample, 'pred_masks'))
            if masks is None:
                shape = get_field(sample, 'ori_shape')
                num = get_field(sample, 'num_frames')
                if shape is None or num is None:
                    raise ValueError(f'{video}/{exp}: no pred_masks and no ori_shape/num_frames to size an empty '
                                     'prediction')
                masks = np.zeros((0, int(num)) + tuple(shape), bool)
            if masks.ndim == 3:
                masks = masks[None]
            if masks.ndim != 4:
                raise ValueError(f'{video}/{exp}: pred_masks must be [K, T, H, W], got shape {masks.shape}')
            track = masks.any(0)
            self.results.append(dict(video_id=str(video), exp_id=str(exp), shape=tuple(track.shape[1:]),
                                     num_frames=int(track.shape[0]), rles=encode_track(track)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Check the expression sets, then write the submission or compute J, F, J&F (x100)."""
        videos = self.videos
        gt_keys = {f'{v}/{e}' for v, info in videos.items() for e in info.get('expressions', {})}
        check_same_keys(gt_keys, [f"{r['video_id']}/{r['exp_id']}" for r in results], 'expression',
                        self.ann_file)
        for r in results:
            frames = videos[r['video_id']]['frames']
            if r['num_frames'] != len(frames):
                raise DataError('frame_count_mismatch', self.ann_file,
                                f"prediction has {r['num_frames']} frames, the video lists {len(frames)}",
                                f"{r['video_id']}/{r['exp_id']}")
        if self.format_only:
            self.write_submission(results)
            return {}
        return self._score(results)

    def _score(self, results: List[dict]) -> Dict[str, float]:
        per_expression = {}
        by_type: Dict[int, List[Dict[str, float]]] = {}
        typed = False
        for r in sorted(results, key=lambda x: (x['video_id'], x['exp_id'])):
            video, exp = r['video_id'], r['exp_id']
            expr = self.videos[video]['expressions'][exp]
            type_id = expr.get('type_id')
            if type_id is not None:
                typed = True
                if int(type_id) not in TYPE_NAMES:
                    continue  # ReVOS type 2: excluded from scoring
            pred = decode_track(r['rles'], r['shape'])
            gt, scored = self._gt_track(video, exp, expr, r['num_frames'], r['shape'])
            if self.skip_first_last:
                scored = scored[1:-1]
            if not scored:
                raise DataError('missing_frames', self.ann_file, 'no frame left to score', f'{video}/{exp}')
            score = dict(jf_per_object(pred[scored], gt[scored], self.bound_th))
            if self.foreground_file is not None:
                fg = self._foreground_track(video, r['num_frames'], r['shape'])
                score['A'] = float(np.mean(pixel_accuracy(pred[scored], gt[scored])))
                score['R'] = float(np.mean(robustness(pred[scored], gt[scored], fg[scored])))
            per_expression[f'{video}/{exp}'] = score
            by_type.setdefault(int(type_id) if type_id is not None else -1, []).append(score)
        if not per_expression:
            raise ValueError(f'{self.ann_file}: no expression to score')
        names = ('J', 'F') + (('A', 'R') if self.foreground_file is not None else ())

        def mean(scores):
            out = {k: float(np.mean([s[k] for s in scores])) for k in names}
            out['J&F'] = (out['J'] + out['F']) / 2
            return out

        metrics = {}
        if typed:
            type_means = {tid: mean(by_type[tid]) for tid in TYPE_NAMES if by_type.get(tid)}
            for tid, m in type_means.items():
                metrics.update({f'{k}_{TYPE_NAMES[tid]}': 100 * v for k, v in m.items()})
            overall = {k: float(np.mean([m[k] for m in type_means.values()])) for k in names + ('J&F', )}
        else:
            overall = mean(list(per_expression.values()))
        metrics.update({k: 100 * overall[k] for k in names + ('J&F', )})
        if self.outfile_prefix:
            path = self.outfile_prefix + '.json'
            if osp.exists(path) and not self.overwrite:
                raise FileExistsError(f'{path} exists; set overwrite=True to replace it')
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                json.dump(dict(metrics, expressions=per_expression), f, indent=1)
        return metrics

    def write_submission(self, results: List[dict]) -> str:
        """Write the server layout under ``outfile_prefix`` and zip it into ``<outfile_prefix>.zip``.

        Returns:
            The zip's path.

        Raises:
            FileExistsError: If the folder or the zip exists and ``overwrite`` is False (nothing is written).
        """
        root, zip_path = submission_paths(self.outfile_prefix)
        existing = [p for p in (root, zip_path) if osp.lexists(p)]
        if existing and not self.overwrite:
            raise FileExistsError(f'{existing} already exist(s); refusing to overwrite predictions (set '
                                  'overwrite=True to replace them)')
        if self.overwrite:
            if osp.isdir(root) and not osp.islink(root):
                shutil.rmtree(root)
            elif osp.lexists(root):
                os.remove(root)
            if osp.lexists(zip_path):
                os.remove(zip_path)
        base = osp.join(root, SERVER_LAYOUTS[self.server]) if SERVER_LAYOUTS[self.server] else root
        written = []
        for r in sorted(results, key=lambda x: (x['video_id'], x['exp_id'])):
            frames = self.videos[r['video_id']]['frames']
            track = decode_track(r['rles'], r['shape'])
            folder = osp.join(base, r['video_id'], r['exp_id'])
            os.makedirs(folder, exist_ok=True)
            for t, name in enumerate(frames):
                path = osp.join(folder, f'{name}.png')
                if not cv2.imwrite(path, track[t].astype(np.uint8) * 255):
                    raise OSError(f'could not write {path}')
                written.append(path)
        with zipfile.ZipFile(zip_path, 'w', compression=zipfile.ZIP_DEFLATED) as zf:
            for path in written:
                zf.write(path, osp.relpath(path, root).replace(os.sep, '/'))
        MMLogger.get_current_instance().info(
            f'RVOSMetric: wrote {len(written)} masks of {len(results)} expressions to {root} and {zip_path} '
            f'({self.server} layout)')
        return zip_path
