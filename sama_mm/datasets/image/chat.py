"""Image chat without [SEG]: Osprey-724K region conversations and LLaVA-665K visual chat."""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...registry import DATASETS
from ...structures.tokens import REGION_PLACEHOLDER
from ..check import CheckReport
from ..draws import DrawsMixin
from ..errors import DataError
from ..io import load_json
from .base import IMAGE_TAG, REGION_TAG, ImageChatDataset, pair_turns


#: Suffix of every question of Osprey's short-form file (``osprey_short_form.json``), as the released training.
SHORT_FORM_SUFFIX = ' Answer the question using a single word or phrase.'
#: Questions of Osprey's detail-description records, one drawn per description (``{region}``: ``regionK``).
OSPREY_DETAIL_QUESTIONS = tuple(q.replace('<region>', '{region}') for q in (
    'Can you provide me with a detailed description of the region in the picture marked by <region>?',
    "I'm curious about the region represented by <region> in the picture. Could you describe it in detail?",
    'What can you tell me about the region indicated by <region> in the image?',
    "I'd like to know more about the area in the photo labeled <region>. Can you give me a detailed description?",
    'Could you describe the region shown as <region> in the picture in great detail?',
    'What details can you give me about the region outlined by <region> in the photo?',
    'Please provide me with a comprehensive description of the region marked with <region> in the image.',
    'Can you give me a detailed account of the region labeled as <region> in the picture?',
    "I'm interested in learning more about the region represented by <region> in the photo. Can you describe it in "
    'detail?',
    'What is the region outlined by <region> in the picture like? Could you give me a detailed description?',
    'Can you provide me with a detailed description of the region in the picture marked by <region>, please?',
    "I'm curious about the region represented by <region> in the picture. Could you describe it in detail, please?",
    'What can you tell me about the region indicated by <region> in the image, exactly?',
    "I'd like to know more about the area in the photo labeled <region>, please. Can you give me a detailed "
    'description?',
    'Could you describe the region shown as <region> in the picture in great detail, please?',
    'What details can you give me about the region outlined by <region> in the photo, please?',
    'Please provide me with a comprehensive description of the region marked with <region> in the image, please.',
    'Can you give me a detailed account of the region labeled as <region> in the picture, please?',
    "I'm interested in learning more about the region represented by <region> in the photo. Can you describe it in "
    'detail, please?',
    'What is the region outlined by <region> in the picture like, please? Could you give me a detailed description?',
    'Please describe the region <region> in the image in detail.',
    'Can you offer a thorough analysis of the region <region> in the image?',
    'Could you elaborate on the region highlighted by <region> in the picture provided?',
    'Please share more information about the zone emphasized with <region> in the photo.',
    'What insights can you give about the area denoted by <region> in the image presented?',
    'Can you share a comprehensive rundown of the region denoted by <region> in the presented image?',
    "I'd like to know more about the region highlighted by <region> in the picture provided.",
    'Work through the important details of the area <region> in the image.',
    'Illustrate the area represented by <region> through a descriptive explanation.',
    'Examine the region <region> closely and share its details.',
))


def _unbracket(text: str) -> str:
    """Osprey text as the released loader reads it: ``<regionK>`` -> ``regionK``, other angle brackets dropped."""
    return REGION_TAG.sub(r'region\1', text).replace('<', '').replace('>', '')


@DATASETS.register_module()
class OspreyDataset(DrawsMixin, ImageChatDataset):
    """Osprey-724K region chat, the five released files as they are.

    Records: ``{"id", "file_name", "height", "width", "annotation": [{"segmentation", "bbox", ...}], ...}`` with
    ``"conversations": [{"from", "value"}]`` (``osprey_conversation``, ``_part_level``, ``_short_form``,
    ``_lvis_positive_negative``) or ``"description": [str per region]`` (``osprey_detail_description``: one
    round per description, its question drawn from :data:`OSPREY_DETAIL_QUESTIONS` for ``regionK``, K the
    description's position). ``"annotations"`` (plural) is read as well.

    The first question is prefixed with ``'There are N part regions in the picture: region1 <mask>, ...\\n'``
    (one ``<mask>`` prompt per annotation, in order; the released code writes Sa2VA's pixel-count region tokens
    there instead); ``<image>`` tags are removed, ``<regionK>`` becomes ``regionK`` and other angle brackets are
    dropped (questions and answers). A region tag beyond the annotations is an ``unknown_object`` problem.

    Args:
        ann_file (str): One ``osprey_*.json``, relative to ``data_root``.
        img_dirs (Sequence[str], optional): Image folders below ``data_root`` searched in order for each
            ``file_name`` (the release mixes COCO train/val 2014/2017 images, e.g. ``('coco/train2014',
            'coco/val2014', 'coco/train2017', 'coco/val2017')``). None: ``data_prefix['img']`` only.
        question_suffix (str): Appended to every question. ``'auto'`` (default): :data:`SHORT_FORM_SUFFIX` for a
            file whose name contains ``short_form``, else nothing (the released setting).
        draw_seed (int): Seed of the per-sample question draws of description records. Defaults to 0.
        **kwargs: Passed to :class:`ImageChatDataset`.
    """

    METAINFO = dict(dataset_name='Osprey')

    def __init__(self, ann_file: str, img_dirs: Optional[Sequence[str]] = None, question_suffix: str = 'auto',
                 draw_seed: int = 0, **kwargs):
        self.img_dirs = list(img_dirs) if img_dirs is not None else None
        if question_suffix == 'auto':
            question_suffix = SHORT_FORM_SUFFIX if 'short_form' in osp.basename(str(ann_file)) else ''
        self.question_suffix = question_suffix
        self._init_draws(draw_seed)
        super().__init__(ann_file=ann_file, **kwargs)

    def _image_path(self, file_name: str) -> str:
        """``file_name`` in the first of ``img_dirs`` that has it (the first folder when none has it)."""
        if not self.img_dirs:
            return file_name
        dirs = [osp.join(self.data_root, d) for d in self.img_dirs]
        for d in dirs:
            if osp.isfile(osp.join(d, file_name)):
                return osp.join(d, file_name)
        return osp.join(dirs[0], file_name)

    def parse_annotations(self) -> Tuple[List[dict], List[DataError], int]:
        records = load_json(self.ann_file)
        if not isinstance(records, list):
            raise DataError('schema', self.ann_file, f'expected a list of records, got {type(records).__name__}')
        infos, problems = [], []
        for index, rec in enumerate(records):
            rid = f'{index} ({rec.get("file_name") if isinstance(rec, dict) else "?"})'

            def bad(kind, message):
                problems.append(DataError(kind, self.ann_file, message, rid))

            anns = rec.get('annotation', rec.get('annotations')) if isinstance(rec, dict) else None
            if not isinstance(rec, dict) or not isinstance(rec.get('file_name'), str) or not isinstance(anns, list):
                bad('schema', 'an Osprey record needs "file_name", "annotation" (a list) and "conversations" or '
                    '"description"')
                continue
            n = len(anns)
            if 'description' in rec and 'conversations' not in rec:
                descs = rec['description']
                if not isinstance(descs, list) or not descs or not all(isinstance(d, str) for d in descs):
                    bad('schema', '"description" must be a non-empty list of strings (one per region)')
                    continue
                # The question of round K is drawn per sample (prepare_data); the stored one is the first template.
                pairs = [(OSPREY_DETAIL_QUESTIONS[0].format(region=f'region{k + 1}'), d) for k, d in enumerate(descs)]
                detail = True
            else:
                pairs = pair_turns(rec.get('conversations'), bad)
                detail = False
            if not pairs:
                continue
            tags = [int(t) for q, a in pairs for t in REGION_TAG.findall(q + a)]
            if detail:
                tags += list(range(1, len(pairs) + 1))
            out_of_range = sorted({t for t in tags if not 1 <= t <= n})
            if out_of_range:
                bad('unknown_object', f'region tags {out_of_range} but the record has {n} annotations')
                continue
            masks = {str(k): a.get('segmentation') if isinstance(a, dict) else None for k, a in enumerate(anns)}
            rounds = []
            for r, (question, answer) in enumerate(pairs):
                question = _unbracket(IMAGE_TAG.sub(' ', question).strip()) + self.question_suffix
                region_keys = []
                if r == 0 and n:
                    listing = ', '.join(f'region{k + 1} {REGION_PLACEHOLDER}' for k in range(n))
                    question = f'There are {n} part regions in the picture: {listing}.\n{question}'
                    region_keys = [str(k) for k in range(n)]
                rounds.append(dict(question=question, answer=_unbracket(answer), gt_keys=[], region_keys=region_keys))
            info = self._info(index, rec['file_name'], rounds, masks, image_id=rec.get('id'),
                              height=rec.get('height'), width=rec.get('width'))
            if self.img_dirs:
                info['img_path'] = self._image_path(rec['file_name'])
            if detail:
                info['detail_regions'] = list(range(1, len(pairs) + 1))
            infos.append(info)
        return infos, problems, len(records)

    def prepare_data(self, idx: int, draws: Optional[Dict[str, List[int]]] = None) -> Any:
        """The pipeline output of sample ``idx``; description records draw their questions (``questions``)."""
        info = self.get_data_info(idx)
        info['draws'] = self.sample_draws(idx, draws)
        for r, region in enumerate(info.pop('detail_regions', [])):
            template = OSPREY_DETAIL_QUESTIONS[info['draws'].integer('questions', 0, len(OSPREY_DETAIL_QUESTIONS))]
            old = OSPREY_DETAIL_QUESTIONS[0].format(region=f'region{region}') + self.question_suffix
            rnd = info['rounds'][r]
            rnd['question'] = rnd['question'][:len(rnd['question']) - len(old)] + template.format(
                region=f'region{region}') + self.question_suffix
        return self.pipeline(info)


@DATASETS.register_module()
class LLaVADataset(ImageChatDataset):
    """LLaVA-665K visual chat (``llava_v1_5_mix665k.json``: ``{"id", "image", "conversations"}``).

    ``<image>`` tags are removed from the text (the frame tokens are placed by the tokenizer step), the first
    question also loses its newlines and answers are stripped, as the released loader does. Records without
    ``image`` (text-only) are not loaded; ``check()`` counts them as ``text_only``.

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
            pairs = pair_turns(rec.get('conversations'), bad)
            if not pairs:
                continue
            # As the released loader: '<image>' removed, the first question also loses its newlines; answers
            # stripped.
            rounds = [dict(question=(q.replace('<image>', '').replace('\n', '') if r == 0 else
                                     q.replace('<image>', '')).strip(), answer=a.strip(), gt_keys=[], region_keys=[])
                      for r, (q, a) in enumerate(pairs)]
            infos.append(self._info(index, rec['image'], rounds, {}, image_id=rec.get('id')))
        return infos, problems, len(records)

    def check(self) -> CheckReport:
        report = super().check()
        report.counts['text_only'] = getattr(self, 'text_only', 0)
        return report
