"""Grounded conversation generation (GLaMM GCG): the training files in their three layouts, and the evaluation
split (one generation sample per image)."""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ...registry import DATASETS
from ...structures.tokens import PHRASE_END, PHRASE_START, SEG_TOKEN
from ..draws import DrawsMixin
from ..errors import DataError
from ..io import load_json
from .base import ImageChatDataset

GCG_QUESTION = ('Could you please give me a brief description of the image? Please respond with interleaved '
                'segmentation masks for the corresponding parts of the answer.')
_MASKS_ANSWER = 'Please respond with interleaved segmentation masks for the corresponding parts of the answer.'
_MASKS_PHRASES = 'Please output with interleaved segmentation masks for the corresponding phrases.'
#: The released GCG training questions (one drawn per sample); the first is the evaluation question.
GCG_TRAIN_QUESTIONS = (
    GCG_QUESTION,
    f'Can you provide a brief description of the this image? {_MASKS_PHRASES}',
    f'Please briefly describe the contents of the image. {_MASKS_ANSWER}',
    f'Could you give a brief explanation of what can be found within this picture? {_MASKS_PHRASES}',
    'Could you give me an brief explanation of this picture? Please respond with interleaved segmentation masks '
    'for the corresponding phrases.',
    'Could you provide me with a briefly analysis of this photo? Please output with interleaved segmentation masks '
    'for the corresponding parts of the answer.',
)


@DATASETS.register_module()
class GCGDataset(DrawsMixin, ImageChatDataset):
    """Grounded conversation generation (GLaMM GCG files): one round, the caption with ``<p> phrase </p> [SEG]``.

    Three released layouts, recognised by their keys:

    * GranD-f / OpenPSG (``GranDf_HA_GCG_train.json``, ``OpenPsgGCG_train.json``): a list of
      ``{"file_name", "caption", "groundings": {phrase: {"token_positives": [start, end], "rle_masks": [RLE]}}}``;
    * RefCOCOg-GCG (``RefCOCOg_GCG_train.json``): a list of ``{"img_file_name", "caption", "refs": [{"sentence",
      "segmentation": [polygon, ...], "bbox"}]}`` (phrases found in the lower-cased caption);
    * Flickr (``flickr_mergedGT_GCG_train.json``): COCO-style ``images`` (``file_name``, ``caption``, ``height``,
      ``width``) and ``annotations`` (``image_id``, ``tokens_positive``, ``sam_mask`` RLE).

    The released RefCOCOg-GCG file wraps each record as ``{id: record}`` (read as well); its phrases are trimmed
    as the released parser does (taken in ref order, a phrase reaching a later one ends one character before it).
    Flickr images with a caption under 3 words or a side under ``flickr_min_size``, and boxes that are empty, outside the
    image or flagged ``ignore``, are left out as by the released loader. Remaining overlapping phrases keep the
    earlier one.

    Args:
        ann_file (str): One GCG file, relative to ``data_root``.
        question (str | Sequence[str]): The question, or questions of which one is drawn per sample (draw
            ``questions``). Defaults to :data:`GCG_TRAIN_QUESTIONS` (the released training).
        draw_seed (int): Seed of the per-sample draws (:mod:`sama_mm.datasets.draws`). Defaults to 0.
        flickr_min_size (int): Flickr images with a side under this many pixels are left out. Defaults to 32 (the
            released loader's value).
        **kwargs: Passed to :class:`ImageChatDataset`.
    """

    METAINFO = dict(dataset_name='GCG')

    def __init__(self, ann_file: str, question: Union[str, Sequence[str]] = GCG_TRAIN_QUESTIONS,
                 draw_seed: int = 0, flickr_min_size: int = 32, **kwargs):
        self.flickr_min_size = int(flickr_min_size)
        self.questions = (question, ) if isinstance(question, str) else tuple(question)
        if not self.questions:
            raise ValueError('GCGDataset needs at least one question')
        self.question = self.questions[0]
        self._init_draws(draw_seed)
        super().__init__(ann_file=ann_file, **kwargs)

    def prepare_data(self, idx: int, draws: Optional[Dict[str, List[int]]] = None) -> Any:
        """The pipeline output of sample ``idx``, its question drawn when there are several."""
        info = self.get_data_info(idx)
        info['draws'] = self.sample_draws(idx, draws)
        if len(self.questions) > 1:
            info['rounds'][0]['question'] = self.questions[info['draws'].integer('questions', 0,
                                                                                  len(self.questions))]
        return self.pipeline(info)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        data = load_json(self.ann_file)
        problems: List[DataError] = []
        if isinstance(data, dict) and 'images' in data:
            records = self._flickr_records(data, self.flickr_min_size)
        elif isinstance(data, list):
            # The released RefCOCOg-GCG file wraps every record as {id: record}.
            records = [dict(next(iter(r.values())), id=next(iter(r))) if isinstance(r, dict) and len(r) == 1
                       and isinstance(next(iter(r.values())), dict) else r for r in data]
        else:
            raise DataError('schema', self.ann_file, 'expected a GCG list of records or COCO-style {"images": ...}')
        infos = []
        for index, rec in enumerate(records):
            rid = f'{index} ({rec.get("file_name") or rec.get("img_file_name") if isinstance(rec, dict) else "?"})'

            def bad(kind, message):
                problems.append(DataError(kind, self.ann_file, message, rid))

            if not isinstance(rec, dict) or not isinstance(rec.get('caption'), str):
                bad('schema', 'a GCG record needs "caption" and "file_name"/"img_file_name"')
                continue
            caption = rec['caption'].strip('"').strip()
            spans: List[Tuple[int, int, List[Any]]] = []  # (start, end, segmentations)
            if 'groundings' in rec:
                if not isinstance(rec['groundings'], dict):
                    bad('schema', '"groundings" must map phrase -> {"token_positives", "rle_masks"}')
                    continue
                for phrase, g in rec['groundings'].items():
                    tp = g.get('token_positives') if isinstance(g, dict) else None
                    if not (isinstance(tp, list) and len(tp) == 2 and all(isinstance(v, int) for v in tp)
                            and 0 <= tp[0] < tp[1] <= len(caption)):
                        bad('schema', f'phrase {phrase!r}: "token_positives" must be [start, end] inside the caption')
                        spans = None
                        break
                    spans.append((tp[0], tp[1], list(g.get('rle_masks') or [])))
            elif 'refs' in rec:
                caption = caption.lower()
                found = []  # [start, end, segmentations] in ref order
                for ref in rec['refs'] if isinstance(rec['refs'], list) else []:
                    phrase = str(ref.get('sentence', '')).lower() if isinstance(ref, dict) else ''
                    start = caption.find(phrase) if phrase else -1
                    if start >= 0:
                        found.append([start, start + len(phrase), [ref.get('segmentation')]])
                # As the released parser: taken in ref order, a phrase reaching the start of a later one ends
                # one character before it (an emptied phrase is then dropped by the overlap rule below).
                for i, span in enumerate(found):
                    for later in found[i + 1:]:
                        if span[1] >= later[0]:
                            span[1] = later[0] - 1
                            break
                spans = [tuple(f) for f in found if f[1] > f[0]]
            elif 'spans' in rec:  # produced by _flickr_records
                spans = rec['spans']
            else:
                bad('schema', 'record has none of "groundings", "refs" (GCG) or COCO annotations')
                continue
            if spans is None:
                continue
            if not spans:
                bad('empty_conversation', 'no grounded phrase in the caption')
                continue
            info = self._gcg_info(index, rec, caption, spans, bad)
            if info is not None:
                infos.append(info)
        return infos, problems, len(records)

    @staticmethod
    def _flickr_records(data: dict, min_size: int = 32) -> List[dict]:
        anns: Dict[Any, List[dict]] = {}
        for ann in data.get('annotations', []):
            if isinstance(ann, dict):
                anns.setdefault(ann.get('image_id'), []).append(ann)
        records = []
        for img in data['images']:
            # As the released loader: images with a caption of fewer than 3 words or a side under 32 px are left
            # out, and boxes outside the image, empty or thinner than a pixel, or flagged 'ignore' too.
            width, height = int(img.get('width') or 0), int(img.get('height') or 0)
            if len(str(img.get('caption', '')).split(' ')) < 3 or min(width, height) < min_size:
                continue
            spans = []
            for ann in anns.get(img.get('id'), []):
                x, y, w, h = (ann.get('bbox') or [0, 0, 0, 0])[:4]
                inside = max(0, min(x + w, width) - max(x, 0)) * max(0, min(y + h, height) - max(y, 0))
                if ann.get('ignore', False) or inside == 0 or ann.get('area', 1) <= 0 or w < 1 or h < 1:
                    continue
                tp = ann.get('tokens_positive')
                if isinstance(tp, list) and tp and isinstance(tp[0], list) and len(tp[0]) == 2:
                    spans.append((int(tp[0][0]), int(tp[0][1]), [ann.get('sam_mask')]))
            records.append(dict(img, spans=spans))
        return records

    def _gcg_info(self, index, rec, caption, spans, bad) -> Optional[dict]:
        spans = sorted(spans, key=lambda s: s[0])
        kept, end = [], -1
        for span in spans:
            if span[0] >= end:
                kept.append(span)
                end = span[1]
        masks, gt_keys, pieces, cursor = {}, [], [], 0
        for k, (start, stop, segs) in enumerate(kept):
            segs = [s for s in segs if s]
            if not segs:
                bad('unknown_object', f'phrase {caption[start:stop]!r} has no mask')
                return None
            key = str(k)
            masks[key] = segs[0] if len(segs) == 1 else dict(union=segs)
            gt_keys.append([key])
            pieces += [caption[cursor:start], f'{PHRASE_START} {caption[start:stop]} {PHRASE_END} {SEG_TOKEN}']
            cursor = stop
        pieces.append(caption[cursor:])
        rounds = [dict(question=self.question, answer=''.join(pieces), gt_keys=gt_keys, region_keys=[])]
        name = rec.get('file_name') or rec.get('img_file_name') or rec.get('image')
        if not isinstance(name, str):
            bad('schema', 'record has no image file name')
            return None
        return self._info(index, name, rounds, masks, image_id=rec.get('id', name), height=rec.get('height'),
                          width=rec.get('width'))


@DATASETS.register_module()
class GCGEvalDataset(GCGDataset):
    """GCG evaluation split (GLaMM ``val``/``test``): one generation sample per image.

    Reads GLaMM's ``{split}_gcg_coco_caption_gt.json``: COCO-style ``images`` (``id``, ``file_name``, optionally
    ``height``/``width``) and ``annotations`` (``image_id``, ``caption``, ``labels``). Each image becomes one
    round asking :data:`GCG_QUESTION` whose answer is the reference caption (kept for browsing only: the
    generation prompt leaves it out, and :class:`~sama_mm.evaluation.metrics.GCGMetric` reads the captions,
    phrases and masks from the files itself). Meta ``image_id`` is the file's image id.

    Args:
        ann_file (str): The caption ground truth, relative to ``data_root``.
        question (str): The question. Defaults to the GLaMM evaluation prompt.
        **kwargs: Passed to :class:`ImageChatDataset` (``data_prefix=dict(img=...)`` for the images).
    """

    METAINFO = dict(dataset_name='GCG-eval')

    def __init__(self, ann_file: str, question: Union[str, Sequence[str]] = GCG_QUESTION, **kwargs):
        super().__init__(ann_file=ann_file, question=question, **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        data = load_json(self.ann_file)
        if not isinstance(data, dict) or not isinstance(data.get('images'), list):
            raise DataError('schema', self.ann_file, 'expected COCO-style {"images": [...], "annotations": [...]}')
        captions: Dict[str, str] = {}
        for ann in data.get('annotations') or []:
            if isinstance(ann, dict) and isinstance(ann.get('caption'), str):
                captions.setdefault(str(ann.get('image_id')), ann['caption'])
        infos, problems = [], []
        for index, img in enumerate(data['images']):
            if not isinstance(img, dict) or 'id' not in img or not isinstance(img.get('file_name'), str):
                problems.append(DataError('schema', self.ann_file, 'an image needs "id" and "file_name"', index))
                continue
            if str(img['id']) not in captions:
                problems.append(DataError('missing_field', self.ann_file, f'image {img["id"]!r} has no caption '
                                          'annotation', index))
                continue
            rounds = [dict(question=self.question, answer=captions[str(img['id'])], gt_keys=[], region_keys=[])]
            infos.append(self._info(index, img['file_name'], rounds, {}, image_id=img['id'],
                                    height=img.get('height'), width=img.get('width')))
        return infos, problems, len(data['images'])

