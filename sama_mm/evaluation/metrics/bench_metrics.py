"""SAMA-Bench-G (grounded conversation), SAMA-Bench-C (region captions) and GCG (grounded image captions)."""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric

from ...datasets.errors import DataError
from ...datasets.io import load_json
from ...datasets.mask_dict import load_mask_dict
from ...registry import METRICS
from ..functional.grounding import extract_phrases, question_miou, question_recall
from ._official import official_scores
from ._text import build_clair, build_similarity, split_masks_by_round, text_scores
from ._utils import (as_bool_array, check_same_keys, coco_annotation_mask, decode_track, encode_track, get_field,
                     mask_dict_track)


def _load_records(paths: Union[str, Sequence[str]]) -> List[Tuple[str, int, dict]]:
    """``(file, index, record)`` of every video record of one bench file or several (the split parts)."""
    out = []
    for path in [paths] if isinstance(paths, str) else list(paths):
        data = load_json(path)
        if not isinstance(data, list):
            raise DataError('schema', path, f'expected a JSON list of video records, got {type(data).__name__}')
        out += [(path, index, rec) for index, rec in enumerate(data)]
    return out


def grounding_scores(questions: List[dict], similarity, convention: str, skip_empty_predictions: bool,
                     iou_thr: float, sim_thr: float) -> Dict[str, float]:
    """Per-group mIoU and recall averaged over groups (videos for Bench-G, images for GCG).

    Each question dict holds ``group``, ``pred`` ``[P, T, H, W]``, ``gt`` ``[G, T, H, W]``, ``pred_phrases``
    and ``gt_phrases``. A group's mIoU is the mean over its questions, its recall is its summed hits over its
    summed positives (groups without positives are left out of the recall mean); the results are the
    unweighted means over groups.
    """
    miou, hits, positives = defaultdict(list), defaultdict(int), defaultdict(int)
    for q in questions:
        miou[q['group']].append(question_miou(q['pred'], q['gt'], convention))
        if similarity is not None:
            h, p = question_recall(q['pred'], q['gt'], q['pred_phrases'], q['gt_phrases'], similarity,
                                   iou_thr, sim_thr, skip_empty_predictions)
            hits[q['group']] += h
            positives[q['group']] += p
    out = {'mIoU': float(np.mean([np.mean(v) for v in miou.values()]))}
    if similarity is not None:
        rec = [hits[g] / positives[g] for g in miou if positives[g] > 0]
        out['recall'] = float(np.mean(rec)) if rec else 0.0
    return out


class _GroundedMetricBase(BaseMetric):
    """Shared arguments of the grounded metrics (see :class:`SAMABenchGMetric`)."""

    def __init__(self, similarity: Any = None, miou_convention: str = 'strict',
                 skip_empty_predictions: bool = False, iou_thr: float = 0.5, sim_thr: float = 0.5,
                 caption_metrics: bool = True, meteor: bool = True, clair: Any = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if miou_convention not in ('strict', 'official'):
            raise ValueError(f"miou_convention must be 'strict' or 'official', got {miou_convention!r}")
        self.similarity_cfg = similarity
        self._similarity = None
        self.miou_convention = miou_convention
        self.skip_empty_predictions = skip_empty_predictions
        self.iou_thr = iou_thr
        self.sim_thr = sim_thr
        self.caption_metrics = caption_metrics
        self.meteor = meteor
        self.clair_cfg = clair

    @property
    def similarity(self):
        if self._similarity is None and self.similarity_cfg is not None:
            self._similarity = build_similarity(self.similarity_cfg)
        return self._similarity

    def _finish(self, questions: List[dict], refs: Dict[str, List[str]], preds: Dict[str, str]) -> Dict[str, Any]:
        out = grounding_scores(questions, self.similarity, self.miou_convention, self.skip_empty_predictions,
                               self.iou_thr, self.sim_thr)
        out.update(text_scores(refs, preds, self.caption_metrics, self.meteor, build_clair(self.clair_cfg),
                               type(self).__name__))
        return out


@METRICS.register_module()
class SAMABenchGMetric(_GroundedMetricBase):
    """SAMA-Bench-G: grounded multi-round video chat.

    Every question (QA round) is scored independently. Data samples carry meta ``video_id`` and either
    ``question_id`` (one round) or ``question_ids`` (one per round), ``pred_text`` (the answer of every round)
    and ``pred_masks`` ``bool [K, T, H, W]`` over all T frames of the video, one track per generated ``[SEG]``
    in answer order (round r owns as many tracks as its answer has ``[SEG]`` tokens).

    The ground truth is read lazily from ``ann_file`` (a SAMA-Bench-G split file, or a list of them: SAMA-239K
    records whose human turns carry ``question_id``; the answer is the next gpt turn, the ground truth of its
    k-th ``[SEG]`` the OR of the mask-dict keys in ``groundtruth[round][k]``, over all ``frames`` of the record)
    and ``mask_file`` (one mask dict) or ``mask_dicts`` (the release's four validation dicts, chosen per record
    by a substring of its ``video`` path as :class:`~sama_mm.datasets.SAMABenchDataset` does). An empty
    ``groundtruth`` entry is skipped (the official loader re-uses the previous object's mask for it).

    Scores (0..1):

    * ``mIoU``: per question :func:`~sama_mm.evaluation.functional.grounding.question_miou` (default
      ``'strict'``: unmatched predictions and ground truths count 0; ``miou_convention='official'`` averages
      matched pairs only, as the official script), mean per video, then the unweighted mean over videos.
    * ``recall``: per question hits / positives with IoU >= ``iou_thr`` and phrase similarity >= ``sim_thr``
      (:func:`~sama_mm.evaluation.functional.grounding.question_recall`; similarity indexed prediction x GT,
      questions without predicted masks count as misses unless ``skip_empty_predictions``), summed per video,
      then the mean over videos. Only reported when ``similarity`` is configured.
    * ``BLEU-1..4``, ``METEOR``, ``ROUGE-L``, ``CIDEr`` over the whole corpus of questions (official: per video,
      see :mod:`sama_mm.evaluation.functional.captions`).
    * ``CLAIR`` (optional, ``clair`` = :class:`~sama_mm.evaluation.functional.clair.ClairJudge` arguments):
      the mean over the judged questions (official: per video, then over videos); failed judgements are left
      out and counted in ``CLAIR_failures``.

    Args:
        ann_file (str | list[str]): The split's JSON (list of video records), or several.
        mask_file (str, optional): One mask dict JSON for every record.
        mask_dicts (dict[str, str], optional): Video-path substring -> mask dict JSON (first match wins);
            exactly one of ``mask_file`` and ``mask_dicts`` must be given.
        similarity: Phrase similarity, see :func:`~sama_mm.evaluation.metrics._text.build_similarity`; e.g.
            ``dict(type='SentenceEmbeddingSimilarity', model_path='<local bert-base-uncased>')``.
        miou_convention (str): ``'strict'`` or ``'official'``.
        skip_empty_predictions (bool): Official recall behaviour (questions without predicted masks ignored).
        iou_thr (float): Recall IoU threshold.
        sim_thr (float): Recall similarity threshold.
        caption_metrics (bool): Compute the caption scores.
        meteor (bool): Include METEOR (needs Java).
        clair (dict, optional): CLAIR judge arguments.
        collect_device (str): See :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): Metric-name prefix (default ``sama_bench_g``).
        official (bool): Also report the official protocol's numbers under ``official/...`` (see
            :mod:`~sama_mm.evaluation.functional.bench_official`): per-video mIoU, recall, caption scores and
            CLAIR exactly as the official scripts, averaged over videos.
        official_video_filter (str, optional): Average the ``official/...`` numbers only over videos whose path
            contains this substring; the shipped ``compute_sama_bench_g_final.py`` keeps ``'VidSTG'`` only
            (a bug, see docs/evaluation.md); None (default) averages every video.
    """

    default_prefix = 'sama_bench_g'

    def __init__(self, ann_file: Union[str, Sequence[str]], mask_file: Optional[str] = None,
                 mask_dicts: Optional[Dict[str, str]] = None, official: bool = True,
                 official_video_filter: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.official, self.official_video_filter = official, official_video_filter
        if (mask_file is None) == (mask_dicts is None):
            raise ValueError('give exactly one of mask_file (one mask dict) and mask_dicts (substring -> file)')
        self.ann_file = ann_file
        self.mask_file = mask_file
        self.mask_dicts = dict(mask_dicts) if mask_dicts is not None else None
        self._questions = None
        self._masks: Dict[str, dict] = {}

    def _mask_file_of(self, video: str, path: str, index: int) -> str:
        if self.mask_dicts is None:
            return self.mask_file
        for sub, mask_file in self.mask_dicts.items():
            if sub in video:
                return mask_file
        raise DataError('unknown_source', path, f'video path {video!r} contains none of the mask-dict substrings '
                        f'{list(self.mask_dicts)}', index)

    @property
    def questions(self) -> Dict[str, dict]:
        """``question_id -> {video, answer, keys (per [SEG]), num_frames, shape}`` (loaded on first use)."""
        if self._questions is None:
            out = {}
            for path, index, rec in _load_records(self.ann_file):
                conv = rec.get('conversation') or []
                gts = rec.get('groundtruth') or []
                frames = rec.get('frames') or []
                video = str(rec.get('video_id') or rec.get('video'))
                for r in range(0, len(conv) - 1, 2):
                    qid = conv[r].get('question_id')
                    if qid is None:
                        raise DataError('missing_field', path, f'human turn {r} has no question_id', index)
                    if str(qid) in out:
                        raise DataError('duplicate_id', path, f'question_id {qid!r} appears twice', index)
                    answer = conv[r + 1].get('value', '')
                    keys = [k for k in (gts[r // 2] if r // 2 < len(gts) else []) if k]
                    n_seg = answer.count('[SEG]')
                    if len(keys) != n_seg:
                        raise DataError('seg_count_mismatch', path, f'question {qid!r}: answer has {n_seg} '
                                        f'[SEG] but groundtruth lists {len(keys)} non-empty object groups', index)
                    h, w = rec.get('height'), rec.get('width')
                    mask_file = self._mask_file_of(str(rec.get('video', '')), path, index) if keys else None
                    out[str(qid)] = dict(video=video, answer=answer, keys=keys, num_frames=len(frames),
                                         shape=(int(h), int(w)) if h and w else None, record=index,
                                         mask_file=mask_file, path=str(rec.get('video') or video))
            self._questions = out
        return self._questions

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store every round's answer and its predicted tracks (as RLE)."""
        for sample in data_samples:
            video = get_field(sample, 'video_id')
            qids = get_field(sample, 'question_ids')
            if qids is None:
                qid = get_field(sample, 'question_id')
                if qid is None:
                    raise ValueError(f'{video}: data samples need the meta value question_id or question_ids')
                qids = [qid]
            texts = list(get_field(sample, 'pred_text') or [])
            if len(texts) != len(qids):
                raise ValueError(f'{video}: {len(texts)} answers for {len(qids)} question ids')
            masks = as_bool_array(get_field(sample, 'pred_masks'))
            num = 0 if masks is None else len(masks)
            rounds = []
            for qid, text, owned in zip(qids, texts, split_masks_by_round(texts, num, str(video))):
                tracks = [encode_track(masks[k]) for k in owned]
                shape = tuple(masks.shape[2:]) if num else None
                frames = int(masks.shape[1]) if num else None
                rounds.append(dict(qid=str(qid), video=str(video), text=text, tracks=tracks, shape=shape,
                                   num_frames=frames))
            # One result per data sample: mmengine trims the gathered results to the dataset size.
            self.results.append(rounds)

    def _gt_tracks(self, q: dict, qid: str, shape) -> np.ndarray:
        shape = q['shape'] or shape
        tracks = []
        if q['keys']:
            mask_file = q['mask_file']
            if mask_file not in self._masks:
                self._masks[mask_file] = load_mask_dict(mask_file)
            tracks = [mask_dict_track(self._masks[mask_file], keys, q['num_frames'], shape, mask_file,
                                      f'question {qid}') for keys in q['keys']]
        if not tracks:
            return np.zeros((0, q['num_frames']) + tuple(shape or (1, 1)), bool)
        return np.stack(tracks)

    def compute_metrics(self, results: List[List[dict]]) -> Dict[str, float]:
        results = [r for rounds in results for r in rounds]
        gt = self.questions
        check_same_keys(set(gt), [r['qid'] for r in results], 'question', str(self.ann_file))
        questions, refs, preds = [], {}, {}
        for r in results:
            q = gt[r['qid']]
            if r['num_frames'] is not None and r['num_frames'] != q['num_frames']:
                raise DataError('frame_count_mismatch', self.ann_file, f"prediction has {r['num_frames']} frames, "
                                f"the record lists {q['num_frames']}", f"question {r['qid']}")
            gt_tracks = self._gt_tracks(q, r['qid'], r['shape'])
            shape = gt_tracks.shape[2:]
            if r['shape'] is not None and tuple(r['shape']) != tuple(shape):
                raise DataError('size_mismatch', self.ann_file, f"prediction is {r['shape']} (HxW), ground truth "
                                f'{tuple(shape)}', f"question {r['qid']}")
            pred = (np.stack([decode_track(t, shape) for t in r['tracks']]) if r['tracks']
                    else np.zeros((0,) + gt_tracks.shape[1:], bool))
            questions.append(dict(group=q['video'], pred=pred, gt=gt_tracks, pred_phrases=extract_phrases(r['text']),
                                  gt_phrases=extract_phrases(q['answer']), video=q['path'], pred_text=r['text'],
                                  gt_text=q['answer']))
            refs[r['qid']] = [q['answer']]
            preds[r['qid']] = r['text']
        out = self._finish(questions, refs, preds)
        if self.official:
            out.update(official_scores(questions, self.similarity, build_clair(self.clair_cfg), True,
                                       self.caption_metrics, self.meteor, self.iou_thr, self.sim_thr,
                                       self.official_video_filter))
        return out


@METRICS.register_module()
class SAMABenchCMetric(BaseMetric):
    """SAMA-Bench-C: region captions of video objects.

    Data samples carry meta ``description_id`` and ``pred_text`` (the last round's answer is the caption). The
    references are read lazily from ``ann_file`` (one bench file or a list of them; records with
    ``description`` ``{objN: text}`` and ``description_id`` ``{objN: id}``). Reports corpus-level ``BLEU-1..4``,
    ``METEOR``, ``ROUGE-L`` and ``CIDEr`` over all descriptions (official: per video, then the mean over 522 videos; see
    :mod:`sama_mm.evaluation.functional.captions`) and, when ``clair`` is configured, ``CLAIR`` (mean over the
    judged descriptions) and ``CLAIR_failures``.

    Args:
        ann_file (str | list[str]): The split's JSON (list of video records), or several.
        meteor (bool): Include METEOR (needs Java).
        clair (dict, optional): :class:`~sama_mm.evaluation.functional.clair.ClairJudge` arguments.
        collect_device (str): See :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): Metric-name prefix (default ``sama_bench_c``).
        official (bool): Also report the official protocol's numbers under ``official/...``: caption scores and
            CLAIR per video (the record's ``video`` path), then the mean over videos, as the official scripts.
    """

    default_prefix = 'sama_bench_c'

    def __init__(self, ann_file: Union[str, Sequence[str]], meteor: bool = True, clair: Any = None,
                 official: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.meteor = meteor
        self.clair_cfg = clair
        self.official = official
        self._refs, self._video_of = None, {}

    @property
    def references(self) -> Dict[str, str]:
        """``description_id -> description`` (loaded on first use)."""
        if self._refs is None:
            out = {}
            for path, index, rec in _load_records(self.ann_file):
                ids = rec.get('description_id') or {}
                texts = rec.get('description') or {}
                for obj, did in ids.items():
                    if obj not in texts:
                        raise DataError('missing_field', path, f'no description for {obj!r}', index)
                    if str(did) in out:
                        raise DataError('duplicate_id', path, f'description_id {did!r} appears twice', index)
                    out[str(did)] = texts[obj]
                    self._video_of[str(did)] = str(rec.get('video') or rec.get('video_id') or path)
            self._refs = out
        return self._refs

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            did = get_field(sample, 'description_id')
            texts = get_field(sample, 'pred_text') or []
            if did is None or not texts:
                raise ValueError('SAMABenchCMetric needs meta description_id and a non-empty pred_text')
            self.results.append(dict(id=str(did), text=texts[-1]))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        refs = self.references
        check_same_keys(set(refs), [r['id'] for r in results], 'description', str(self.ann_file))
        judge = build_clair(self.clair_cfg)
        out = text_scores({r['id']: [refs[r['id']]] for r in results}, {r['id']: r['text'] for r in results},
                          True, self.meteor, judge, type(self).__name__)
        if self.official:
            items = [dict(video=self._video_of[r['id']], pred_text=r['text'], gt_text=refs[r['id']]) for r in results]
            out.update(official_scores(items, judge=judge, grounding=False, meteor=self.meteor))
        return out


@METRICS.register_module()
class GCGMetric(_GroundedMetricBase):
    """Grounded conversation generation on images (GLaMM GCG): caption scores, mIoU and recall.

    The ground truth is GLaMM's pair of COCO-style files: ``ann_file`` (``{split}_gcg_coco_mask_gt.json``:
    ``images`` with ``id``, ``height``, ``width``; ``annotations`` with ``image_id`` and ``segmentation``
    (polygons or RLE), one per grounded phrase) and ``caption_file`` (``{split}_gcg_coco_caption_gt.json``:
    ``images`` = the evaluated images; ``annotations`` with ``image_id``, ``caption`` and ``labels``, the
    grounded phrases). Without ``caption_file``, ``ann_file`` alone holds everything: its ``images`` carry
    ``caption`` (phrases marked ``<p> .. </p>``, or listed in ``labels``). Data samples carry meta
    ``image_id``, ``pred_text`` (the caption, last round) and ``pred_masks`` ``[K, H, W]`` or ``[K, 1, H, W]``.

    Scores are those of :class:`SAMABenchGMetric` with every image a one-frame video of one question: ``mIoU``
    and ``recall`` are per image (recall: hits / positives of the image) averaged over images, captions over
    the corpus. The GLaMM script's own aggregation (dataset-level recall, matched-pairs mIoU) differs; use
    ``miou_convention='official'`` for the matched-pairs mIoU. The mask AP that GLaMM's script also prints
    (pycocotools ``COCOeval`` on the predicted masks, all with score 1) is not computed: SAMA reports mIoU.

    Args:
        ann_file (str): The COCO-style GCG mask ground truth (with captions when ``caption_file`` is None).
        caption_file (str, optional): GLaMM's caption ground truth.
        **kwargs: As :class:`SAMABenchGMetric` (``similarity``, ``miou_convention``, thresholds, ``meteor``,
            ``clair``, ...).
    """

    default_prefix = 'gcg'

    def __init__(self, ann_file: str, caption_file: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.ann_file = ann_file
        self.caption_file = caption_file
        self._coco = None

    @property
    def coco(self) -> Dict[str, dict]:
        """``image_id -> {image, anns}`` (loaded on first use)."""
        if self._coco is None:
            data = load_json(self.ann_file)
            if not isinstance(data, dict) or not isinstance(data.get('images'), list):
                raise DataError('schema', self.ann_file, 'expected a COCO-style object with "images"')
            out = {str(img['id']): dict(image=img, anns=[], caption=img.get('caption', ''), labels=img.get('labels'))
                   for img in data['images']}
            for ann in data.get('annotations', []):
                if str(ann.get('image_id')) not in out:
                    raise DataError('unknown_image', self.ann_file, f"image_id {ann.get('image_id')!r} not in images",
                                    ann.get('id'))
                out[str(ann['image_id'])]['anns'].append(ann)
            if self.caption_file is not None:
                out = self._with_captions(out)
            self._coco = out
        return self._coco

    def _with_captions(self, masks: Dict[str, dict]) -> Dict[str, dict]:
        """The images of ``caption_file`` with their caption and labels, masks and sizes from ``ann_file``."""
        data = load_json(self.caption_file)
        if not isinstance(data, dict) or not isinstance(data.get('images'), list):
            raise DataError('schema', self.caption_file, 'expected a COCO-style object with "images"')
        captions = {}
        for ann in data.get('annotations', []):
            if not isinstance(ann, dict) or not isinstance(ann.get('caption'), str):
                raise DataError('schema', self.caption_file, 'a caption annotation needs "image_id" and "caption"',
                                ann.get('id') if isinstance(ann, dict) else None)
            captions.setdefault(str(ann.get('image_id')), ann)
        out = {}
        for img in data['images']:
            key = str(img.get('id'))
            if key not in captions:
                raise DataError('missing_field', self.caption_file, f'image {key!r} has no caption annotation', key)
            if key not in masks:
                raise DataError('unknown_image', self.ann_file, f'image {key!r} of {self.caption_file} is not in '
                                'the mask ground truth', key)
            ann = captions[key]
            out[key] = dict(masks[key], caption=ann['caption'], labels=ann.get('labels'))
        return out

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            image_id = get_field(sample, 'image_id')
            texts = get_field(sample, 'pred_text') or []
            if image_id is None or not texts:
                raise ValueError('GCGMetric needs meta image_id and a non-empty pred_text')
            masks = as_bool_array(get_field(sample, 'pred_masks'))
            if masks is not None and masks.ndim == 4 and masks.shape[1] == 1:
                masks = masks[:, 0]
            if masks is not None and masks.ndim != 3:
                raise ValueError(f'image {image_id}: pred_masks must be [K, H, W] or [K, 1, H, W], got {masks.shape}')
            tracks = encode_track(masks) if masks is not None and len(masks) else []
            self.results.append(dict(id=str(image_id), text=texts[-1], rles=tracks,
                                     shape=tuple(masks.shape[1:]) if masks is not None and len(masks) else None))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        coco = self.coco
        check_same_keys(set(coco), [r['id'] for r in results], 'image', self.ann_file)
        questions, refs, preds = [], {}, {}
        for r in results:
            entry = coco[r['id']]
            img, anns = entry['image'], entry['anns']
            h, w = int(img['height']), int(img['width'])
            if r['shape'] is not None and tuple(r['shape']) != (h, w):
                raise DataError('size_mismatch', self.ann_file, f"prediction is {r['shape']} (HxW), image {(h, w)}",
                                r['id'])
            gt = (np.stack([coco_annotation_mask(a, h, w, self.ann_file) for a in anns]) if anns
                  else np.zeros((0, h, w), bool))
            pred = decode_track(r['rles'], (h, w))
            caption, labels = entry['caption'], entry['labels']
            gt_phrases = [str(x).lower() for x in labels] if labels else extract_phrases(caption)
            questions.append(dict(group=r['id'], pred=pred[:, None], gt=gt[:, None],
                                  pred_phrases=extract_phrases(r['text']), gt_phrases=gt_phrases))
            refs[r['id']] = [caption]
            preds[r['id']] = r['text']
        return self._finish(questions, refs, preds)
