"""RefCOCO / RefCOCO+ / RefCOCOg referring segmentation (training rounds and evaluation samples)."""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...registry import DATASETS
from ...structures.tokens import SEG_TOKEN
from ..draws import DrawsMixin, SeededDraws
from ..errors import DataError
from ..io import load_json
from ..transforms.formatting_text import SEG_ANSWERS, SEG_QUESTION_TEMPLATES
from .base import ImageChatDataset

#: Values of ``rounds_mode``.
ROUNDS_MODES = ('official', 'first')


@DATASETS.register_module()
class RefCOCODataset(DrawsMixin, ImageChatDataset):
    """RefCOCO / RefCOCO+ / RefCOCOg referring segmentation on COCO train2014 images.

    Files (``ref_seg/<name>/``): ``instances.json`` (COCO: ``images``, ``annotations`` with polygon or RLE
    ``segmentation``) and a refs JSON converted once from the released ``refs(unc).p`` / ``refs(umd).p``
    (``python data_converters/pickle_to_json.py 'refs(unc).p' refs_unc.json --trust-pickle-code-execution``):
    a list of ``{"ref_id", "ann_id", "image_id", "split", "sentences": [{"sent": str, ...}], ...}``.

    Training (``test_mode=False``), one sample per image. ``rounds_mode='official'`` (default, the released
    recipe): the image's objects are its refs (a repeated ``ann_id`` counted once, as the released loader), each
    with one of its sentences (``raw`` lower-cased, else ``sent``) drawn once per run (draw ``sentences``,
    seeded by ``draw_seed`` and the index only); every sample draws ``num_rounds`` objects with replacement
    (``objects``) and per round a question template of
    :data:`~sama_mm.datasets.transforms.formatting_text.SEG_QUESTION_TEMPLATES` (``questions``) and an answer of
    ``SEG_ANSWERS`` (``answers``); a phrase loses one trailing full stop. ``rounds_mode='first'``: no draws, up to
    ``num_rounds`` rounds taking the phrases round-robin over the refs (first sentence of each ref, then the
    second, ...) with the fixed ``question``/``answer``. Testing: one sample
    per (ref, sentence) with one round, ``ref_id``/``sent_id``/``ann_id`` in the info (``ann_id`` names the
    ground truth for :class:`~sama_mm.evaluation.metrics.RefCOCOMetric`).

    Args:
        ann_file (str): The refs JSON (``ann_file`` keeps MMEngine's name), relative to ``data_root``.
        instances_file (str): ``instances.json``, relative to ``data_root``.
        split (str): ``train``, ``val``, ``testA``, ``testB``, ``test``. Defaults to ``'train'``.
        num_rounds (int): Rounds per training sample. Defaults to 5.
        rounds_mode (str): ``'official'`` (drawn rounds, the released recipe) or ``'first'`` (deterministic, fixed
            question). Defaults to ``'official'``.
        question (str): Question template with ``{exp}`` (testing, and training with ``rounds_mode='first'``).
            Defaults to ``'Please segment {exp} in this image.'``.
        answer (str): Answer with one ``[SEG]`` (as ``question``). Defaults to ``'It is [SEG].'``.
        draw_seed (int): Seed of the per-sample draws (:mod:`sama_mm.datasets.draws`). Defaults to 0.
        **kwargs: Passed to :class:`ImageChatDataset` (``data_prefix=dict(img='.../train2014')``, ...).
    """

    METAINFO = dict(dataset_name='RefCOCO')

    def __init__(self, ann_file: str, instances_file: str = 'instances.json', split: str = 'train',
                 num_rounds: int = 5, rounds_mode: str = 'official',
                 question: str = 'Please segment {exp} in this image.', answer: str = f'It is {SEG_TOKEN}.',
                 data_root: str = '', draw_seed: int = 0, **kwargs):
        if rounds_mode not in ROUNDS_MODES:
            raise ValueError(f'rounds_mode must be one of {ROUNDS_MODES}, got {rounds_mode!r}')
        self.rounds_mode = rounds_mode
        self._init_draws(draw_seed)
        if str(ann_file).endswith(('.p', '.pkl', '.pickle')):
            from ..io import pickle_refusal
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
            info = self._image_info(items[0][0], img, pairs[:self.num_rounds], anns)
            if self.rounds_mode == 'official':
                objects: Dict[Any, List[str]] = {}  # ann_id -> sentences; a later ref of the same ann_id wins
                for _, ref in items:
                    objects[ref['ann_id']] = [str(st.get('raw') or st['sent']).lower() for st in ref['sentences']]
                info['objects'] = [dict(key=str(a), sentences=v) for a, v in objects.items()]
                info['masks'] = {str(a): anns[a].get('segmentation') for a in objects}
            infos.append(info)
        return infos, problems, len(refs)

    def prepare_data(self, idx: int, draws: Optional[Dict[str, List[int]]] = None) -> Any:
        """The pipeline output of sample ``idx``; training samples in ``'official'`` mode draw their rounds."""
        info = self.get_data_info(idx)
        info['draws'] = self.sample_draws(idx, draws)
        objects = info.pop('objects', None)
        if objects is not None and not self.test_mode:
            info['rounds'] = self._official_rounds(idx, objects, info['draws'])
        return self.pipeline(info)

    def _official_rounds(self, idx: int, objects: List[dict], draws: SeededDraws) -> List[dict]:
        # The sentence of each object is fixed for the run (the released loader draws it once, at start-up).
        per_run = draws if draws.replay is not None else SeededDraws(
            rng=np.random.default_rng([self.draw_seed & 0xFFFFFFFF, int(idx)]), record=idx)
        phrases = [o['sentences'][per_run.integer('sentences', 0, len(o['sentences']))] for o in objects]
        if per_run is not draws:
            draws.drawn['sentences'] = per_run.drawn['sentences']
        rounds = []
        for k in draws.integers('objects', 0, len(objects), self.num_rounds):
            phrase = phrases[k][:-1] if phrases[k].endswith('.') else phrases[k]
            question = SEG_QUESTION_TEMPLATES[draws.integer('questions', 0, len(SEG_QUESTION_TEMPLATES))]
            answer = SEG_ANSWERS[draws.integer('answers', 0, len(SEG_ANSWERS))]
            rounds.append(dict(question=question.format(exp=phrase).strip(), answer=answer,
                               gt_keys=[[objects[k]['key']]], region_keys=[]))
        return rounds

    def _image_info(self, index: int, img: dict, pairs, anns) -> dict:
        rounds = [dict(question=self.question.format(exp=sent.strip()), answer=self.answer,
                       gt_keys=[[str(ref['ann_id'])]], region_keys=[]) for ref, sent in pairs]
        masks = {str(ref['ann_id']): anns[ref['ann_id']].get('segmentation') for ref, _ in pairs}
        return self._info(index, img.get('file_name', f'{img["id"]}.jpg'), rounds, masks, image_id=img['id'],
                          height=img.get('height'), width=img.get('width'))

