"""Image datasets of the SAMA mixture: RefCOCO/+/g, GCG (GLaMM), Osprey region chat and LLaVA-665K chat.

Every image dataset yields data infos of one shape, which :class:`~sama_mm.datasets.transforms.ImageInit` turns
into a one-frame video for the video pipeline (``ImageInit -> SampleFrames -> VideoDecode -> LoadImageMasks ->
InternVLImageTransform -> ... -> PackSAMAInputs``)::

    dict(img_path=str, image_id=str, video_id=str, record_index=int, height=int|None, width=int|None,
         ann_file=str, rounds=[dict(question, answer, gt_keys=[[key, ...] per [SEG]], region_keys=[key, ...])],
         masks={key: COCO segmentation (polygon list, compressed or uncompressed RLE)})

Questions use ``<mask>`` for region prompts and answers ``[SEG]`` (with ``<p> ... </p>`` phrases for GCG), as
in SAMA-239K, so the same tokenizer step serves all. Masks stay undecoded in the info (decoded only for the
sampled image by :class:`~sama_mm.datasets.transforms.LoadImageMasks`).

Differences from the reference loaders (on purpose): choices are deterministic (RefCOCO takes the first
``num_rounds`` referring phrases round-robin over the image's objects instead of drawing 5 with replacement);
no dynamic tiling (one 448 px view per image); Osprey regions use SAMA's two-token ``<mask>`` prompt, not Sa2VA's
pixel-count tokens; LLaVA records without an image are dropped (counted as ``text_only`` in ``check()``).
"""
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..registry import DATASETS
from ..structures import MaskFormatError, check_rle
from ..structures.tokens import PHRASE_END, PHRASE_START, REGION_PLACEHOLDER, SEG_TOKEN
from .base import CheckedDataset
from .check import CheckReport
from .errors import DataError
from .io import decode_frame, load_json
from .robust import SkipBadMixin

GCG_QUESTION = ('Could you please give me a brief description of the image? Please respond with interleaved '
                'segmentation masks for the corresponding parts of the answer.')
_IMAGE_TAG = re.compile(r'\s*<image>\s*')
_REGION_TAG = re.compile(r'<region(\d+)>')


def check_segmentation(seg: Any, where: str) -> Optional[Tuple[int, int]]:
    """Validate a COCO segmentation without decoding it.

    Returns:
        ``(H, W)`` for RLE, None for polygons (which carry no size).

    Raises:
        MaskFormatError: Neither a list of polygons (each an even list of at least 6 numbers) nor a valid RLE.
    """
    if isinstance(seg, dict) and 'union' in seg:  # several masks OR-ed (GCG phrases with several RLEs)
        sizes = [check_segmentation(part, where) for part in seg['union']]
        return next((s for s in sizes if s is not None), None)
    if isinstance(seg, dict):
        return check_rle(seg, where)
    if isinstance(seg, list) and seg and all(
            isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p) for p in seg):
        return None
    raise MaskFormatError(f'{where}: expected polygons [[x0, y0, x1, y1, x2, y2, ...], ...] or an RLE dict, '
                          f'got {str(seg)[:60]}')


def decode_segmentation(seg: Any, height: int, width: int, where: str) -> np.ndarray:
    """Decode a COCO segmentation (polygons or RLE) into a ``uint8 [H, W]`` 0/1 mask."""
    from pycocotools import mask as mask_utils

    from ..structures import decode_rle
    size = check_segmentation(seg, where)
    if isinstance(seg, dict) and 'union' in seg:
        out = np.zeros((height, width), np.uint8)
        for part in seg['union']:
            out |= decode_segmentation(part, height, width, where)
        return out
    if size is None:
        rles = mask_utils.frPyObjects([[float(v) for v in p] for p in seg], height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(np.uint8)
    if size != (height, width):
        raise MaskFormatError(f'{where}: mask is {size[0]}x{size[1]} but the image is {height}x{width} (HxW)')
    return decode_rle(seg, where).astype(np.uint8)


class ImageChatDataset(SkipBadMixin, CheckedDataset):
    """Base of the image datasets: data infos as in the module docstring, checks of images and masks.

    Args:
        ann_file (str): The annotation file, relative to ``data_root``.
        data_root (str): Root of the annotation and images.
        data_prefix (dict): ``img``: folder the image file names are relative to, below ``data_root``.
        skip_bad (bool): Skip bad records/samples with a warning instead of raising. Defaults to False.
        max_skips (int): Most replacements for one index with ``skip_bad``. Defaults to 20.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self, ann_file: str, data_root: str = '', data_prefix: Optional[dict] = None,
                 skip_bad: bool = False, max_skips: int = 20, **kwargs):
        self._init_skip_bad(skip_bad, max_skips)
        super().__init__(ann_file=ann_file, data_root=data_root,
                         data_prefix=data_prefix if data_prefix is not None else dict(img=''), **kwargs)

    def _info(self, index: int, file_name: str, rounds: List[dict], masks: Dict[str, Any], image_id: Any = None,
              height: Optional[int] = None, width: Optional[int] = None) -> dict:
        image_id = str(image_id if image_id is not None else file_name)
        return dict(record_index=index, image_id=image_id, video_id=image_id,
                    img_path=osp.join(self.data_prefix.get('img', ''), file_name), height=height, width=width,
                    ann_file=self.ann_file, rounds=rounds, masks=masks)

    @staticmethod
    def _check_refs(info: dict) -> List[str]:
        """Mask keys referenced by the rounds but absent from ``masks``."""
        keys = {str(k) for r in info['rounds'] for g in r['gt_keys'] for k in g}
        keys |= {str(k) for r in info['rounds'] for k in r['region_keys']}
        return sorted(keys - set(info['masks']))

    def check_files(self, infos: List[dict], n_records: int, report: CheckReport) -> None:
        """Mask validity and references, and the image files on disk."""
        sizes: Dict[str, Optional[Tuple[int, int]]] = {}  # image path -> (H, W), None when unreadable
        for info in infos:
            rid = f'{info["record_index"]} ({info["image_id"]})'
            path = info['img_path']
            if path not in sizes:
                sizes[path] = None
                if not osp.isfile(path):
                    report.problems.append(DataError('missing_image', self.ann_file, f'image {path} not found', rid))
                    continue
                try:
                    sizes[path] = decode_frame(path)  # decoded completely: a corrupt or truncated file is found
                except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for broken files
                    report.problems.append(DataError('unreadable_image', self.ann_file, f'{path}: {exc}', rid))
                    continue
            if sizes[path] is None:
                continue
            height, width = sizes[path]
            for dim, actual in (('height', height), ('width', width)):
                if info[dim] is not None and info[dim] != actual:
                    report.problems.append(DataError('size_mismatch', self.ann_file,
                                                     f'record says {dim} {info[dim]}, {path} has {actual}', rid))
            for key, seg in info['masks'].items():
                try:
                    size = check_segmentation(seg, f'mask {key!r}')
                except MaskFormatError as exc:
                    report.problems.append(DataError('malformed_rle', self.ann_file, str(exc), rid))
                    continue
                if size is not None and size != (height, width):
                    report.problems.append(DataError(
                        'size_mismatch', self.ann_file,
                        f'mask {key!r} is {size[0]}x{size[1]} but {path} is {height}x{width}', rid))
            for key in self._check_refs(info):
                report.problems.append(DataError('unknown_object', self.ann_file,
                                                 f'object {key!r} is referenced but has no mask', rid))
        report.counts = dict(records=n_records, samples=len(infos), images=len(sizes),
                             rounds=sum(len(i['rounds']) for i in infos))


def _pair_turns(conv: Any, bad) -> List[Tuple[str, str]]:
    """``[(question, answer)]`` of alternating human/gpt turns, or [] after reporting the problem."""
    if not isinstance(conv, list) or not all(isinstance(t, dict) and isinstance(t.get('value'), str) for t in conv):
        bad('schema', '"conversations" must be a list of {"from", "value"} turns')
        return []
    if not conv:
        bad('empty_conversation', '"conversations" is empty')
        return []
    if len(conv) % 2:
        bad('schema', f'"conversations" has {len(conv)} turns; expected human/gpt pairs')
        return []
    pairs = []
    for r in range(len(conv) // 2):
        human, gpt = conv[2 * r], conv[2 * r + 1]
        if human.get('from') != 'human' or gpt.get('from') != 'gpt':
            bad('schema', f'round {r}: turns must alternate human, gpt; got {human.get("from")!r}, {gpt.get("from")!r}')
            return []
        pairs.append((human['value'], gpt['value']))
    return pairs


@DATASETS.register_module()
class RefCOCODataset(ImageChatDataset):
    """RefCOCO / RefCOCO+ / RefCOCOg referring segmentation on COCO train2014 images.

    Files (``ref_seg/<name>/``): ``instances.json`` (COCO: ``images``, ``annotations`` with polygon or RLE
    ``segmentation``) and a refs JSON converted once from the released ``refs(unc).p`` / ``refs(umd).p``
    (``python data_converters/pickle_to_json.py 'refs(unc).p' refs_unc.json --trust-pickle-code-execution``):
    a list of ``{"ref_id", "ann_id", "image_id", "split", "sentences": [{"sent": str, ...}], ...}``.

    Training (``test_mode=False``): one sample per image, up to ``num_rounds`` rounds, taking referring phrases
    round-robin over the image's refs (first sentence of each ref, then the second, ...). Testing: one sample
    per (ref, sentence) with one round, ``ref_id``/``sent_id``/``ann_id`` in the info (``ann_id`` names the
    ground truth for :class:`~sama_mm.evaluation.metrics.RefCOCOMetric`).

    Args:
        ann_file (str): The refs JSON (``ann_file`` keeps MMEngine's name), relative to ``data_root``.
        instances_file (str): ``instances.json``, relative to ``data_root``.
        split (str): ``train``, ``val``, ``testA``, ``testB``, ``test``. Defaults to ``'train'``.
        num_rounds (int): Rounds per training sample. Defaults to 5.
        question (str): Question template with ``{exp}``. Defaults to ``'Please segment {exp} in this image.'``.
        answer (str): Answer with one ``[SEG]``. Defaults to ``'It is [SEG].'``.
        **kwargs: Passed to :class:`ImageChatDataset` (``data_prefix=dict(img='.../train2014')``, ...).
    """

    METAINFO = dict(dataset_name='RefCOCO')

    def __init__(self, ann_file: str, instances_file: str = 'instances.json', split: str = 'train',
                 num_rounds: int = 5, question: str = 'Please segment {exp} in this image.',
                 answer: str = f'It is {SEG_TOKEN}.', data_root: str = '', **kwargs):
        if str(ann_file).endswith(('.p', '.pkl', '.pickle')):
            from .io import pickle_refusal
            raise pickle_refusal(osp.join(data_root, ann_file))
        self.instances_file = osp.join(data_root, instances_file)
        self.split, self.num_rounds = split, int(num_rounds)
        self.question, self.answer = question, answer
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        refs = load_json(self.ann_file)
        coco = load_json(self.instances_file)
        if not isinstance(refs, list):
            raise DataError('schema', self.ann_file, f'expected a list of refs, got {type(refs).__name__}')
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list) or not isinstance(
                coco.get('annotations'), list):
            raise DataError('schema', self.instances_file, 'expected COCO {"images": [...], "annotations": [...]}')
        images = {img['id']: img for img in coco['images'] if isinstance(img, dict) and 'id' in img}
        anns = {ann['id']: ann for ann in coco['annotations'] if isinstance(ann, dict) and 'id' in ann}
        problems: List[DataError] = []
        by_image: Dict[Any, List[Tuple[int, dict]]] = {}
        for index, ref in enumerate(refs):
            rid = f'{index} (ref {ref.get("ref_id") if isinstance(ref, dict) else "?"})'
            if not isinstance(ref, dict) or not isinstance(ref.get('sentences'), list):
                problems.append(DataError('schema', self.ann_file, 'a ref needs "ann_id", "image_id", "split", '
                                          '"sentences"', rid))
                continue
            if ref.get('split') != self.split:
                continue
            if ref.get('ann_id') not in anns:
                problems.append(DataError('unknown_object', self.ann_file, f'ann_id {ref.get("ann_id")!r} is not in '
                                          f'{self.instances_file}', rid))
                continue
            if ref.get('image_id') not in images:
                problems.append(DataError('unknown_image', self.ann_file, f'image_id {ref.get("image_id")!r} is not '
                                          f'in {self.instances_file}', rid))
                continue
            sents = [s.get('sent') for s in ref['sentences'] if isinstance(s, dict)]
            if not sents or not all(isinstance(s, str) and s.strip() for s in sents):
                problems.append(DataError('empty_conversation', self.ann_file, 'ref has no non-empty sentence', rid))
                continue
            by_image.setdefault(ref['image_id'], []).append((index, ref))
        infos = []
        for image_id, items in by_image.items():
            img = images[image_id]
            if self.test_mode:
                for index, ref in items:
                    for s_i, sent in enumerate(ref['sentences']):
                        info = self._image_info(index, img, [(ref, sent['sent'])], anns)
                        info.update(ref_id=ref.get('ref_id'), sent_id=sent.get('sent_id', s_i), ann_id=ref['ann_id'])
                        infos.append(info)
                continue
            pairs, depth = [], 0
            while len(pairs) < self.num_rounds and any(depth < len(r['sentences']) for _, r in items):
                pairs += [(r, r['sentences'][depth]['sent']) for _, r in items if depth < len(r['sentences'])]
                depth += 1
            infos.append(self._image_info(items[0][0], img, pairs[:self.num_rounds], anns))
        return infos, problems, len(refs)

    def _image_info(self, index: int, img: dict, pairs, anns) -> dict:
        rounds = [dict(question=self.question.format(exp=sent.strip()), answer=self.answer,
                       gt_keys=[[str(ref['ann_id'])]], region_keys=[]) for ref, sent in pairs]
        masks = {str(ref['ann_id']): anns[ref['ann_id']].get('segmentation') for ref, _ in pairs}
        return self._info(index, img.get('file_name', f'{img["id"]}.jpg'), rounds, masks, image_id=img['id'],
                          height=img.get('height'), width=img.get('width'))


@DATASETS.register_module()
class GCGDataset(ImageChatDataset):
    """Grounded conversation generation (GLaMM GCG files): one round, the caption with ``<p> phrase </p> [SEG]``.

    Three released layouts, recognised by their keys:

    * GranD-f / OpenPSG (``GranDf_HA_GCG_train.json``, ``OpenPsgGCG_train.json``): a list of
      ``{"file_name", "caption", "groundings": {phrase: {"token_positives": [start, end], "rle_masks": [RLE]}}}``;
    * RefCOCOg-GCG (``RefCOCOg_GCG_train.json``): a list of ``{"img_file_name", "caption", "refs": [{"sentence",
      "segmentation": [polygon, ...], "bbox"}]}`` (phrases found in the lower-cased caption);
    * Flickr (``flickr_mergedGT_GCG_train.json``): COCO-style ``images`` (``file_name``, ``caption``, ``height``,
      ``width``) and ``annotations`` (``image_id``, ``tokens_positive``, ``sam_mask`` RLE).

    Overlapping phrases keep the earlier one.

    Args:
        ann_file (str): One GCG file, relative to ``data_root``.
        question (str): The question. Defaults to the GLaMM evaluation prompt.
        **kwargs: Passed to :class:`ImageChatDataset`.
    """

    METAINFO = dict(dataset_name='GCG')

    def __init__(self, ann_file: str, question: str = GCG_QUESTION, **kwargs):
        self.question = question
        super().__init__(ann_file=ann_file, **kwargs)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        data = load_json(self.ann_file)
        problems: List[DataError] = []
        if isinstance(data, dict) and 'images' in data:
            records = self._flickr_records(data)
        elif isinstance(data, list):
            records = data
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
                for ref in rec['refs'] if isinstance(rec['refs'], list) else []:
                    phrase = str(ref.get('sentence', '')).lower() if isinstance(ref, dict) else ''
                    start = caption.find(phrase) if phrase else -1
                    if start >= 0:
                        spans.append((start, start + len(phrase), [ref.get('segmentation')]))
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
    def _flickr_records(data: dict) -> List[dict]:
        anns: Dict[Any, List[dict]] = {}
        for ann in data.get('annotations', []):
            if isinstance(ann, dict):
                anns.setdefault(ann.get('image_id'), []).append(ann)
        records = []
        for img in data['images']:
            spans = []
            for ann in anns.get(img.get('id'), []):
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
class GCGEvalDataset(ImageChatDataset):
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

    def __init__(self, ann_file: str, question: str = GCG_QUESTION, **kwargs):
        self.question = question
        super().__init__(ann_file=ann_file, **kwargs)

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


@DATASETS.register_module()
class OspreyDataset(ImageChatDataset):
    """Osprey-724K region chat (``osprey_*.json``): ``{"file_name", "height", "width", "annotations":
    [{"segmentation", "bbox", ...}], "conversations": [{"from", "value"}]}``.

    The first question is prefixed with ``'There are N part regions in the picture: region1 <mask>, ...\\n'``
    (one ``<mask>`` prompt per annotation, in order); ``<regionK>`` tags in the questions become ``regionK``
    (K-th annotation, 1-based). A tag beyond the annotations is an ``unknown_object`` problem.

    Args:
        ann_file (str): One ``osprey_*.json``, relative to ``data_root``.
        **kwargs: Passed to :class:`ImageChatDataset`.
    """

    METAINFO = dict(dataset_name='Osprey')

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        records = load_json(self.ann_file)
        if not isinstance(records, list):
            raise DataError('schema', self.ann_file, f'expected a list of records, got {type(records).__name__}')
        infos, problems = [], []
        for index, rec in enumerate(records):
            rid = f'{index} ({rec.get("file_name") if isinstance(rec, dict) else "?"})'

            def bad(kind, message):
                problems.append(DataError(kind, self.ann_file, message, rid))

            if not isinstance(rec, dict) or not isinstance(rec.get('file_name'), str) or not isinstance(
                    rec.get('annotations'), list):
                bad('schema', 'an Osprey record needs "file_name", "annotations" and "conversations"')
                continue
            pairs = _pair_turns(rec.get('conversations'), bad)
            if not pairs:
                continue
            n = len(rec['annotations'])
            masks = {str(k): a.get('segmentation') if isinstance(a, dict) else None
                     for k, a in enumerate(rec['annotations'])}
            tags = [int(t) for q, a in pairs for t in _REGION_TAG.findall(q + a)]
            out_of_range = sorted({t for t in tags if not 1 <= t <= n})
            if out_of_range:
                bad('unknown_object', f'region tags {out_of_range} but the record has {n} annotations')
                continue
            rounds = []
            for r, (question, answer) in enumerate(pairs):
                question = _REGION_TAG.sub(r'region\1', _IMAGE_TAG.sub(' ', question).strip())
                answer = _REGION_TAG.sub(r'region\1', answer)
                region_keys = []
                if r == 0 and n:
                    listing = ', '.join(f'region{k + 1} {REGION_PLACEHOLDER}' for k in range(n))
                    question = f'There are {n} part regions in the picture: {listing}.\n{question}'
                    region_keys = [str(k) for k in range(n)]
                rounds.append(dict(question=question, answer=answer, gt_keys=[], region_keys=region_keys))
            infos.append(self._info(index, rec['file_name'], rounds, masks, image_id=rec.get('id'),
                                    height=rec.get('height'), width=rec.get('width')))
        return infos, problems, len(records)


@DATASETS.register_module()
class LLaVADataset(ImageChatDataset):
    """LLaVA-665K visual chat (``llava_v1_5_mix665k.json``: ``{"id", "image", "conversations"}``).

    ``<image>`` tags are removed from the text (the frame tokens are placed by the tokenizer step). Records
    without ``image`` (text-only) are not loaded; ``check()`` counts them as ``text_only``.

    Args:
        ann_file (str): The JSON list, relative to ``data_root``.
        **kwargs: Passed to :class:`ImageChatDataset` (``data_prefix=dict(img='llava_images')``, ...).
    """

    METAINFO = dict(dataset_name='LLaVA')

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        records = load_json(self.ann_file)
        if not isinstance(records, list):
            raise DataError('schema', self.ann_file, f'expected a list of records, got {type(records).__name__}')
        infos, problems = [], []
        self.text_only = 0
        for index, rec in enumerate(records):
            rid = f'{index} ({rec.get("id") if isinstance(rec, dict) else "?"})'

            def bad(kind, message):
                problems.append(DataError(kind, self.ann_file, message, rid))

            if not isinstance(rec, dict):
                bad('schema', 'a record must be an object')
                continue
            if not rec.get('image'):
                self.text_only += 1
                continue
            pairs = _pair_turns(rec.get('conversations'), bad)
            if not pairs:
                continue
            rounds = [dict(question=_IMAGE_TAG.sub(' ', q).strip(), answer=a, gt_keys=[], region_keys=[])
                      for q, a in pairs]
            infos.append(self._info(index, rec['image'], rounds, {}, image_id=rec.get('id')))
        return infos, problems, len(records)

    def check(self) -> CheckReport:
        report = super().check()
        report.counts['text_only'] = getattr(self, 'text_only', 0)
        return report
