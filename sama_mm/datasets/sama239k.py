"""SAMA-239K annotations: multi-turn region conversations and region descriptions on videos.

Record schema (one JSON list of records; see docs of the format in the project README):

* ``video``: path relative to ``data_root`` (a frame folder, or a video file);
* ``video_id``, ``height``, ``width`` (optional; the size is read from the video when null);
* ``frames``: frame names without extension, VidSTG-style dicts with ``raw_filename``, or null for video files;
* ``anno_map``: local object number N (``objN``) -> key into the record's mask dict;
* ``conversation``: alternating ``{"from": "human"|"gpt", "value": str}`` turns, one ``<mask>`` per region;
* ``obj_masks``: per round, the mask keys of the ``<mask>`` regions in order;
* ``groundtruth``: per round, one list of mask keys (OR-ed) per ``[SEG]`` of the answer;
* ``description``: ``{"objN": caption}``.

The mask dict of a record is chosen by a substring of its ``video`` path (``mask_dicts`` maps substring to
file), as the released data is organised by source (``mevis``, ``lvvis``, ``ref_youtube_vos``, ``VidSTG``,
``sav``).
"""
import dataclasses
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple


from ..registry import DATASETS
from ..structures.tokens import REGION_PLACEHOLDER as REGION_TOKEN
from ..structures.tokens import SEG_TOKEN
from .base import CheckedDataset
from .check import CheckReport
from .draws import DrawsMixin
from .errors import DataError
from .io import check_video, load_json
from .mask_dict import check_track, frame_masks, load_mask_dict, missing_keys

_OBJ_KEY = re.compile(r'obj(\d+)')
SAMPLE_MODES = ('record', 'conversation', 'description')
#: SA-V videos are decoded whole and every 4th frame kept; their masks are indexed in the kept frames.
DEFAULT_FRAME_STRIDES = {'sav_train': 4}


def _is_key(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


@DATASETS.register_module()
class SAMA239KDataset(DrawsMixin, CheckedDataset):
    """SAMA-239K records (conversation and/or description) of videos with RLE mask dicts.

    Args:
        ann_file (str): The annotation JSON (a list of records), relative to ``data_root``.
        mask_dicts (dict[str, str]): Substring of a record's ``video`` path -> mask dict file (relative to
            ``data_root``). The first substring (in the given order) that occurs in the path wins.
        data_root (str): Root of the videos, annotation and mask files.
        data_prefix (dict): ``video``: folder the ``video`` paths are relative to, below ``data_root``.
        sample_mode (str): What one sample is. ``'record'``: a whole record, every problem of it (also one
            malformed round) rejecting it (SAMA-Bench, checks). ``'conversation'``: the official training
            sample: the record's rounds cut into consecutive chunks of ``rounds_per_sample`` (a trailing unpaired
            turn dropped), a malformed round (wrong speaker, ``<mask>`` or ``[SEG]`` count off) dropped alone,
            a chunk left without ``[SEG]`` dropped; records without a conversation give no sample.
            ``'description'``: the official description samples: the descriptions cut into consecutive chunks
            of ``descriptions_per_sample`` (every description used). Defaults to ``'record'``.
        rounds_per_sample (int): Rounds per conversation chunk. Defaults to 4 (official).
        descriptions_per_sample (int): Descriptions per chunk. Defaults to 3 (official).
        frame_strides (dict[str, int], optional): Video-path substring -> keep every n-th decoded frame of
            that video file; the mask dicts of such videos are indexed in the kept frames (the SA-V release:
            ``{'sav_train': 4}``, the default). Defaults to None (that default).
        draw_seed (int): Seed of the per-sample random draws of the pipeline (description questions; see
            :mod:`sama_mm.datasets.draws`). Defaults to 0.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset` (``pipeline``, ``test_mode``,
            ``lazy_init``, ``indices``, ...).

    In ``'conversation'``/``'description'`` modes a sample's ``past_track`` is ``'error'``: a sampled frame past
    an object's mask track stops with an error naming the mask file and the record (``'record'`` mode keeps
    the SAMA-Bench rule: missing frames are empty masks).
    """

    METAINFO = dict(dataset_name='SAMA-239K')

    def __init__(self, ann_file: str, mask_dicts: Dict[str, str], data_root: str = '',
                 data_prefix: Optional[dict] = None, sample_mode: str = 'record', rounds_per_sample: int = 4,
                 descriptions_per_sample: int = 3, frame_strides: Optional[Dict[str, int]] = None,
                 draw_seed: int = 0, **kwargs):
        self._init_draws(draw_seed)
        if not isinstance(mask_dicts, dict) or not mask_dicts:
            raise TypeError(f'mask_dicts must be a non-empty dict of video-path substring -> file, got {mask_dicts!r}')
        if sample_mode not in SAMPLE_MODES:
            raise ValueError(f'sample_mode must be one of {SAMPLE_MODES}, got {sample_mode!r}')
        for name, value in (('rounds_per_sample', rounds_per_sample),
                            ('descriptions_per_sample', descriptions_per_sample)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        self.mask_dicts = {sub: osp.join(data_root, path) for sub, path in mask_dicts.items()}
        self.sample_mode = sample_mode
        self.rounds_per_sample = rounds_per_sample
        self.descriptions_per_sample = descriptions_per_sample
        self.frame_strides = dict(DEFAULT_FRAME_STRIDES if frame_strides is None else frame_strides)
        self.dropped_rounds = 0
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(video=''), **kwargs)

    # ------------------------------------------------------------------ parsing
    def mask_dict_for(self, video: str) -> Optional[str]:
        """The mask dict file of a record's ``video`` path, or None when no substring matches."""
        for sub, path in self.mask_dicts.items():
            if sub in video:
                return path
        return None

    def parse_record(self, record: Any, index: int) -> Tuple[Optional[dict], List[DataError]]:
        """Turn one raw record into a data info dict (``'record'`` mode), collecting every format problem.

        Returns:
            tuple: ``(data_info or None, problems)``; ``data_info`` is None when the record has problems.
        """
        info, problems, rid = self._parse_common(record, index)
        if info is None:
            return None, problems

        def bad(kind, message):
            problems.append(DataError(kind, self.ann_file, message, rid))

        rounds = [r for r in self._parse_rounds(record, bad) if r is not None]
        descriptions = self._parse_descriptions(record, info['anno_map'], bad)
        if not rounds and not descriptions and not problems:
            bad('empty_record', 'record has neither a conversation nor descriptions')
        if problems:
            return None, problems
        return dict(info, rounds=rounds, descriptions=descriptions, past_track='empty'), problems

    def parse_samples(self, record: Any, index: int) -> Tuple[List[dict], List[DataError]]:
        """The samples of one raw record under :attr:`sample_mode` (a list of data infos), and its problems."""
        if self.sample_mode == 'record':
            info, problems = self.parse_record(record, index)
            return ([] if info is None else [info]), problems
        info, problems, rid = self._parse_common(record, index)
        if info is None or problems:
            return [], problems

        def bad(kind, message):
            problems.append(DataError(kind, self.ann_file, message, rid))

        base = dict(info, rounds=[], descriptions={}, past_track='error')
        samples = []
        if self.sample_mode == 'conversation':
            if record.get('conversation') is None:
                return [], problems
            parsed = self._parse_rounds(record, bad, drop=lambda kind, message: None)
            self.dropped_rounds += sum(r is None for r in parsed)
            step = self.rounds_per_sample
            for c in range(0, len(parsed), step):
                rounds = [r for r in parsed[c:c + step] if r is not None]
                if any(r['gt_keys'] for r in rounds):
                    samples.append(dict(base, rounds=rounds, chunk_index=c // step))
        else:
            descriptions = self._parse_descriptions(record, info['anno_map'], bad)
            items, step = list(descriptions.items()), self.descriptions_per_sample
            for c in range(0, len(items), step):
                samples.append(dict(base, descriptions=dict(items[c:c + step]), chunk_index=c // step))
        return ([] if problems else samples), problems

    def _parse_common(self, record: Any, index: int) -> Tuple[Optional[dict], List[DataError], str]:
        """The fields every sample of a record shares: ``(info or None, problems, record id)``."""
        ann = self.ann_file
        if not isinstance(record, dict):
            return None, [DataError('schema', ann, f'a record must be an object, got {type(record).__name__}',
                                    index)], str(index)
        rid = f'{index} ({record.get("video_id") or record.get("video")})'
        problems = []

        def bad(kind, message):
            problems.append(DataError(kind, ann, message, rid))

        video = record.get('video')
        if not isinstance(video, str) or not video:
            bad('schema', f'"video" must be a non-empty path, got {video!r}')
            return None, problems, rid
        frames = record.get('frames')
        if frames is not None:
            if not isinstance(frames, list) or not frames:
                bad('schema', f'"frames" must be a non-empty list or null, got {type(frames).__name__}')
                frames = None
            else:
                names = []
                for f in frames:
                    name = f.get('raw_filename') if isinstance(f, dict) else f
                    if not isinstance(name, str):
                        bad('schema', f'frame entries must be names or {{"raw_filename": ...}}, got {f!r}')
                        break
                    names.append(name)
                frames = names
        for dim in ('height', 'width'):
            value = record.get(dim)
            if value is not None and (not isinstance(value, int) or value <= 0):
                bad('schema', f'"{dim}" must be a positive integer or null, got {value!r}')
        anno_map = record.get('anno_map', [])
        if not isinstance(anno_map, list) or not all(_is_key(k) for k in anno_map):
            bad('schema', f'"anno_map" must be a list of mask keys, got {anno_map!r}')
            anno_map = []
        mask_file = self.mask_dict_for(video)
        if mask_file is None:
            bad('unknown_source', f'video path {video!r} contains none of the mask-dict substrings '
                f'{list(self.mask_dicts)}')
        stride = next((int(n) for sub, n in self.frame_strides.items() if sub in video), 1)
        info = dict(
            record_index=index, video_id=record.get('video_id') or video,
            video_path=osp.join(self.data_prefix.get('video', ''), video), frames=frames,
            height=record.get('height'), width=record.get('width'), anno_map=anno_map,
            mask_file=mask_file, frame_stride=stride)
        return info, problems, rid

    def _parse_descriptions(self, record: dict, anno_map: list, bad) -> Dict[str, str]:
        """``mask key -> caption`` of the record's descriptions, in the record's order."""
        descriptions = {}
        raw_desc = record.get('description')
        if raw_desc is None:
            return descriptions
        if not isinstance(raw_desc, dict):
            bad('schema', f'"description" must map "objN" to text, got {type(raw_desc).__name__}')
            return descriptions
        for obj, text in raw_desc.items():
            match = _OBJ_KEY.fullmatch(obj)
            if match is None or not isinstance(text, str):
                bad('schema', f'description entry {obj!r}: expected "objN": text')
            elif int(match.group(1)) >= len(anno_map) or anno_map[int(match.group(1))] == -1:
                bad('unknown_object', f'description of {obj} but "anno_map" has no object '
                    f'{match.group(1)} (anno_map: {anno_map})')
            else:
                descriptions[str(anno_map[int(match.group(1))])] = text
        return descriptions

    @staticmethod
    def _parse_rounds(record: dict, bad, drop=None) -> List[Optional[dict]]:
        """Pair the human/gpt turns into rounds and check them against ``obj_masks``/``groundtruth``.

        Returns one entry per round, None for a malformed round. ``bad(kind, message)`` gets every problem of
        the record. With ``drop`` (the official training rule) a malformed round's problem goes to
        ``drop(kind, message)`` instead (the round is dropped alone), a trailing unpaired turn is dropped, and
        ``obj_masks``/``groundtruth`` may be longer than the conversation.
        """
        lenient = drop is not None
        conv = record.get('conversation')
        if conv is None:
            return []
        if lenient and isinstance(conv, list) and len(conv) % 2:
            conv = conv[:-1]
        if not isinstance(conv, list) or len(conv) % 2 or not all(
                isinstance(t, dict) and isinstance(t.get('value'), str) for t in conv):
            bad('schema', '"conversation" must be a list of human/gpt pairs of {"from", "value"} turns')
            return []
        if not conv:
            if not lenient:
                bad('empty_conversation', '"conversation" is empty')
            return []
        obj_masks = record.get('obj_masks', [])
        groundtruth = record.get('groundtruth', [])
        n_rounds = len(conv) // 2
        for name, value in (('obj_masks', obj_masks), ('groundtruth', groundtruth)):
            if not isinstance(value, list) or len(value) < n_rounds or (not lenient and len(value) != n_rounds):
                bad('schema', f'"{name}" must have one entry per round ({n_rounds}), got '
                    f'{len(value) if isinstance(value, list) else type(value).__name__}')
                return []
        drop = drop or bad
        rounds: List[Optional[dict]] = []
        for r in range(n_rounds):
            rounds.append(None)
            human, gpt = conv[2 * r], conv[2 * r + 1]
            if human.get('from') != 'human' or gpt.get('from') != 'gpt':
                drop('schema', f'round {r}: turns must alternate human, gpt; got {human.get("from")!r}, '
                     f'{gpt.get("from")!r}')
                continue
            regions = obj_masks[r]
            if not isinstance(regions, list) or not all(_is_key(k) for k in regions):
                drop('schema', f'round {r}: "obj_masks" entry must be a list of mask keys, got {regions!r}')
                continue
            n_regions = human['value'].count(REGION_TOKEN)
            if n_regions != len(regions):
                drop('region_count_mismatch', f'round {r}: question has {n_regions} {REGION_TOKEN} but '
                     f'"obj_masks" lists {len(regions)} regions')
                continue
            gts = groundtruth[r]
            if not isinstance(gts, list) or not all(
                    isinstance(g, list) and all(_is_key(k) for k in g) for g in gts):
                drop('schema', f'round {r}: "groundtruth" entry must be a list (one per {SEG_TOKEN}) of key '
                     f'lists, got {gts!r}')
                continue
            gts = [g for g in gts if g]
            n_seg = gpt['value'].count(SEG_TOKEN)
            if n_seg != len(gts):
                drop('seg_count_mismatch', f'round {r}: answer has {n_seg} {SEG_TOKEN} but "groundtruth" '
                     f'gives {len(gts)} masks')
                continue
            rounds[-1] = dict(question=human['value'], answer=gpt['value'], region_keys=list(regions),
                              gt_keys=[list(g) for g in gts])
        return rounds

    def load_records(self) -> Sequence[Any]:
        """The raw records (a JSON list here; the indexed dataset reads them lazily from its index)."""
        records = load_json(self.ann_file)
        if not isinstance(records, list):
            raise DataError('schema', self.ann_file, f'expected a JSON list of records, got {type(records).__name__}')
        return records

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        records = self.load_records()
        infos, problems = [], []
        self.dropped_rounds = 0
        for index in range(len(records)):
            samples, found = self.parse_samples(records[index], index)
            problems += found
            infos += samples
        return infos, problems, len(records)

    # ------------------------------------------------------------------ checking
    def open_mask_dict(self, path: str, record: str):
        """Open a mask dict for checking (the whole JSON here; the indexed dataset reads per key)."""
        return load_mask_dict(path)

    def check_files(self, infos: List[dict], n_records: int, report: CheckReport) -> None:
        """The records against the videos and masks on disk."""
        mask_dicts: Dict[str, Any] = {}
        videos, objects = set(), 0
        decoded: Dict[str, Any] = {}  # frame file -> size or None: each file decoded (and reported) once
        checked = set()
        for info in infos:
            rid = f'{info["record_index"]} ({info["video_id"]})'
            path = info['video_path']
            # Every problem of the video; its masks are still checked when some frames are readable.
            video, found = check_video(path, info['frames'], rid, decoded)
            report.problems += [DataError(exc.kind, self.annotation_source, f'{exc.file}: {exc.message}', rid)
                                for exc in found]
            if video is None:
                continue
            videos.add(path)
            for dim, actual in (('height', video.height), ('width', video.width)):
                if info[dim] is not None and info[dim] != actual:
                    report.problems.append(DataError('size_mismatch', self.annotation_source,
                                                     f'record says {dim} {info[dim]}, video {path} has {actual}', rid))
            mask_file = info['mask_file']
            if mask_file not in mask_dicts:
                try:
                    mask_dicts[mask_file] = self.open_mask_dict(mask_file, rid)
                except DataError as exc:  # reported once, with the first record that needs the file
                    report.problems.append(DataError(exc.kind, exc.file, exc.message, rid))
                    mask_dicts[mask_file] = None
            masks = mask_dicts[mask_file]
            if masks is None:
                continue
            keys = {str(k) for k in info['anno_map'] if k != -1}
            for rnd in info['rounds']:
                keys.update(str(k) for k in rnd['region_keys'])
                keys.update(str(k) for g in rnd['gt_keys'] for k in g)
            keys.update(info['descriptions'])
            objects += len(keys)
            report.problems += missing_keys(mask_file, masks, sorted(keys), rid)
            stride = info.get('frame_stride') or 1
            if stride > 1:  # the tracks count the kept frames (every stride-th)
                video = dataclasses.replace(video, num_frames=(video.num_frames + stride - 1) // stride)
            for key in sorted(k for k in keys if k in masks and (info['record_index'], k) not in checked):
                checked.add((info['record_index'], key))  # a record's chunks share their objects
                report.problems += check_track(mask_file, key, masks[key], video, rid)
                track = frame_masks(masks[key])
                if info.get('past_track') == 'error' and isinstance(track, list) and len(track) < video.num_frames:
                    report.problems.append(DataError(
                        'mask_track_too_short', mask_file, f'mask key {key!r}: {len(track)} frame masks for a video '
                        f'of {video.num_frames} frames ({path}{", every %dth kept" % stride if stride > 1 else ""})',
                        rid))
        report.counts = dict(records=n_records, videos=len(videos), objects=objects,
                             rounds=sum(len(i['rounds']) for i in infos),
                             descriptions=sum(len(i['descriptions']) for i in infos))
