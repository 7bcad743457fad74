"""Image chat without [SEG]: Osprey-724K region conversations and LLaVA-665K visual chat."""
from typing import List, Tuple

from ...registry import DATASETS
from ...structures.tokens import REGION_PLACEHOLDER
from ..check import CheckReport
from ..errors import DataError
from ..io import load_json
from .base import IMAGE_TAG, REGION_TAG, ImageChatDataset, pair_turns


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
            pairs = pair_turns(rec.get('conversations'), bad)
            if not pairs:
                continue
            n = len(rec['annotations'])
            masks = {str(k): a.get('segmentation') if isinstance(a, dict) else None
                     for k, a in enumerate(rec['annotations'])}
            tags = [int(t) for q, a in pairs for t in REGION_TAG.findall(q + a)]
            out_of_range = sorted({t for t in tags if not 1 <= t <= n})
            if out_of_range:
                bad('unknown_object', f'region tags {out_of_range} but the record has {n} annotations')
                continue
            rounds = []
            for r, (question, answer) in enumerate(pairs):
                question = REGION_TAG.sub(r'region\1', IMAGE_TAG.sub(' ', question).strip())
                answer = REGION_TAG.sub(r'region\1', answer)
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
            pairs = pair_turns(rec.get('conversations'), bad)
            if not pairs:
                continue
            rounds = [dict(question=IMAGE_TAG.sub(' ', q).strip(), answer=a, gt_keys=[], region_keys=[])
                      for q, a in pairs]
            infos.append(self._info(index, rec['image'], rounds, {}, image_id=rec.get('id')))
        return infos, problems, len(records)

    def check(self) -> CheckReport:
        report = super().check()
        report.counts['text_only'] = getattr(self, 'text_only', 0)
        return report
