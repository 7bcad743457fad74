"""ReVOS and counter-keyed referring-VOS sets (Ref-DAVIS17, Ref-YouTube-VOS train with a converted mask dict).

Both extend :class:`~sama_mm.datasets.refvos.RefVOSDataset` (same ``meta_expressions`` parser and checks):

* **ReVOS** (``revos/``): ``meta_expressions_{train,valid}_.json`` whose expressions carry ``exp``, ``obj_id``,
  ``anno_id`` and ``type_id`` (0 referring, 1 reasoning, 2 the third kind of the release), the frames at
  ``revos/<video_id>/<frame>.jpg`` (the image root is the ReVOS root; video ids may contain ``/``),
  ``mask_dict.json`` (``anno_id -> [RLE or None per frame]``) and ``mask_dict_foreground.json``
  (``video_id -> {"masks_rle": [RLE per frame]}``).
* **Counter-keyed mask dicts**: the released Ref-DAVIS17 ``mask_dict.pkl`` (and Ref-YouTube-VOS
  ``mask_dict.pkl``) key each expression's masks by a running counter over the videos and their sorted
  expression ids; expressions carry no ``anno_id``. Pickles are never read here: convert once with
  ``python data_converters/pickle_to_json.py mask_dict.pkl mask_dict.json --trust-pickle-code-execution``.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from ..registry import DATASETS
from .check import CheckReport
from .errors import DataError
from .io import load_json
from .mask_dict import check_track, load_mask_dict
from .refvos import RefVOSDataset
from .robust import SkipBadMixin

REVOS_TYPES = {0: 'referring', 1: 'reasoning', 2: 'other'}
VIDEO_ORDERS = ('sorted', 'file')


def counter_mask_keys(videos: Dict[str, dict], video_order: str = 'sorted') -> Dict[Tuple[str, str], str]:
    """The mask-dict key of every expression of a counter-keyed split: ``(video_id, exp_id) -> str(counter)``.

    The counter runs over the videos (``'sorted'`` by id, or in ``'file'`` order) and, within a video, over the
    sorted expression ids, counting every expression of the file (also any that a parser rejects).

    Args:
        videos: ``meta_expressions.json``'s ``videos`` object.
        video_order: ``'sorted'`` (Ref-DAVIS17) or ``'file'`` (Ref-YouTube-VOS train).
    """
    if video_order not in VIDEO_ORDERS:
        raise ValueError(f'video_order must be one of {VIDEO_ORDERS}, got {video_order!r}')
    order = sorted(videos) if video_order == 'sorted' else list(videos)
    keys, counter = {}, 0
    for vid in order:
        exps = videos[vid].get('expressions') if isinstance(videos[vid], dict) else None
        for exp_id in sorted(exps or {}):
            keys[(vid, str(exp_id))] = str(counter)
            counter += 1
    return keys


@DATASETS.register_module()
class ReVOSDataset(SkipBadMixin, RefVOSDataset):
    """ReVOS: one sample per (video, expression), optionally only some expression types.

    Args:
        ann_file (str): ``meta_expressions_train_.json`` or ``meta_expressions_valid_.json``, relative to
            ``data_root``.
        data_root (str): The ReVOS root (it is also the frame root: ``<root>/<video_id>/<frame>.jpg``).
        mask_file (str, optional): ``mask_dict.json``. Defaults to ``'mask_dict.json'``.
        foreground_file (str, optional): ``mask_dict_foreground.json`` (per-video union of all objects),
            exposed to the pipeline as ``foreground_file``. Defaults to None.
        type_ids (Sequence[int], optional): Keep only expressions of these ``type_id`` values. Defaults to None
            (all).
        data_prefix (dict, optional): ``video``: frame root below ``data_root``. Defaults to ``dict(video='')``.
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`RefVOSDataset`.
    """

    METAINFO = dict(dataset_name='ReVOS')

    def __init__(self, ann_file: str, data_root: str = '', mask_file: Optional[str] = 'mask_dict.json',
                 foreground_file: Optional[str] = None, type_ids: Optional[Sequence[int]] = None,
                 data_prefix: Optional[dict] = None, skip_bad: bool = False, max_skips: int = 20, **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        self.foreground_file = osp.join(data_root, foreground_file) if foreground_file else None
        self.type_ids = None if type_ids is None else {int(t) for t in type_ids}
        super().__init__(ann_file=ann_file, data_root=data_root, mask_file=mask_file,
                         data_prefix=data_prefix if data_prefix is not None else dict(video=''), **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        infos, problems, n_videos = super().parse_annotations()
        # The parent parser keeps only the fields every referring-VOS set has; the type ids are read from the
        # (small, already validated) file once more rather than duplicating the parser.
        videos = load_json(self.ann_file)['videos']
        kept = []
        for info in infos:
            exp = videos[info['video_id']]['expressions'][info['exp_id']]
            type_id = exp.get('type_id')
            if type_id is not None and not isinstance(type_id, int):
                problems.append(DataError('schema', self.ann_file, f'"type_id" must be an int, got {type_id!r}',
                                          f'{info["video_id"]}/{info["exp_id"]}'))
                continue
            if self.type_ids is not None and type_id not in self.type_ids:
                continue
            info['type_id'] = type_id
            info['foreground_file'] = self.foreground_file
            kept.append(info)
        return kept, problems, n_videos

    def check_files(self, infos: List[dict], n_videos: int, report: CheckReport) -> None:
        """The parent's checks, then the foreground masks and the counts per ReVOS type."""
        super().check_files(infos, n_videos, report)
        if self.foreground_file is None or not report.counts:  # no counts: the mask dict could not be read
            return
        try:
            fg = load_mask_dict(self.foreground_file)
        except DataError as exc:
            report.problems.append(exc)
            return
        from .io import check_video
        decoded = getattr(self, '_decoded_frames', None)  # the frames the parent check decoded
        seen = set()
        for info in infos:
            vid = info['video_id']
            if vid in seen:
                continue
            seen.add(vid)
            entry = fg.get(vid)
            if not isinstance(entry, dict) or 'masks_rle' not in entry:
                report.problems.append(DataError('unknown_mask_key', self.foreground_file,
                                                 f'video {vid!r} has no {{"masks_rle": [...]}} entry', vid))
                continue
            video, _ = check_video(info['frame_dir'], info['frames'], vid, decoded)  # problems: reported above
            if video is None:
                continue
            report.problems += check_track(self.foreground_file, vid, entry['masks_rle'], video, vid)
        types: Dict[str, int] = {}
        for info in infos:
            name = REVOS_TYPES.get(info['type_id'], str(info['type_id']))
            types[name] = types.get(name, 0) + 1
        report.counts.update(types)


@DATASETS.register_module()
class CounterKeyedRefVOSDataset(SkipBadMixin, RefVOSDataset):
    """A referring-VOS split whose mask dict is keyed by a running expression counter.

    The i-th expression in (video order, sorted expression ids) has the masks under key ``str(i)`` of the
    mask dict (a JSON converted from the released pickle).

    Args:
        ann_file (str): ``meta_expressions.json``, relative to ``data_root``.
        mask_file (str): The converted mask dict JSON, relative to ``data_root``.
        video_order (str): ``'sorted'`` (Ref-DAVIS17) or ``'file'`` (Ref-YouTube-VOS train: the order of the
            videos in the file). Defaults to ``'sorted'``.
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`RefVOSDataset` (``data_root``, ``data_prefix``, ``pipeline``, ...).
    """

    METAINFO = dict(dataset_name='RefVOS-counter')
    DEFAULT_ORDER = 'sorted'

    def __init__(self, ann_file: str, mask_file: str, video_order: Optional[str] = None, skip_bad: bool = False,
                 max_skips: int = 20, **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        self.video_order = video_order or self.DEFAULT_ORDER
        if self.video_order not in VIDEO_ORDERS:
            raise ValueError(f'video_order must be one of {VIDEO_ORDERS}, got {video_order!r}')
        if str(mask_file).endswith(('.pkl', '.p', '.pickle')):
            from .io import pickle_refusal
            raise pickle_refusal(mask_file)
        super().__init__(ann_file=ann_file, mask_file=mask_file, **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        # The expressions have no anno_id: parse them as a split without ground truth, then give each its key.
        mask_file, self.mask_file = self.mask_file, None
        try:
            infos, problems, n_videos = super().parse_annotations()
        finally:
            self.mask_file = mask_file
        meta = load_json(self.ann_file)['videos']  # already validated by the parent parser
        keys = counter_mask_keys(meta, self.video_order)
        # Samples in counter order: the videos in the split's order, each video's expressions sorted.
        infos.sort(key=lambda info: int(keys[(info['video_id'], info['exp_id'])]))
        for info in infos:
            info['anno_ids'] = [keys[(info['video_id'], info['exp_id'])]]
            info['mask_file'] = self.mask_file
        return infos, problems, n_videos


@DATASETS.register_module()
class RefDAVIS17Dataset(CounterKeyedRefVOSDataset):
    """Ref-DAVIS17 (valid): ``davis17/meta_expressions/valid/meta_expressions.json``, frames in
    ``davis17/valid/JPEGImages``, masks in the converted ``davis17/valid/mask_dict.json`` keyed by the running
    counter over (sorted videos, sorted expression ids)."""

    METAINFO = dict(dataset_name='Ref-DAVIS17')
    DEFAULT_ORDER = 'sorted'


@DATASETS.register_module()
class MeViSDataset(SkipBadMixin, RefVOSDataset):
    """MeViS (``mevis/{train,valid_u}/{JPEGImages, meta_expressions.json, mask_dict.json}``):
    :class:`RefVOSDataset` with ``mask_file='mask_dict.json'`` by default and ``skip_bad``.

    Args:
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`RefVOSDataset`.
    """

    METAINFO = dict(dataset_name='MeViS')

    def __init__(self, ann_file: str = 'meta_expressions.json', mask_file: Optional[str] = 'mask_dict.json',
                 skip_bad: bool = False, max_skips: int = 20, **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        super().__init__(ann_file=ann_file, mask_file=mask_file, **kwargs)


@DATASETS.register_module()
class RefYouTubeVOSDataset(SkipBadMixin, RefVOSDataset):
    """Ref-YouTube-VOS (``rvos/``) from its indexed PNG annotations: :class:`RefVOSDataset` with ``skip_bad``.

    Args:
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`RefVOSDataset`.
    """

    METAINFO = dict(dataset_name='Ref-YouTube-VOS')

    def __init__(self, skip_bad: bool = False, max_skips: int = 20, **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        super().__init__(**kwargs)
