"""Annotations -> conversation rounds ``dict(question, answer, gt_keys, region_keys)``.

A round is one user question and one assistant answer. ``gt_keys`` holds one list of object keys per
``[SEG]`` of the answer (the masks OR-ed into that ``[SEG]``'s ground truth, see :class:`LoadSegMasks`);
``region_keys`` the object keys of the ``<mask>`` region prompts of the question, in order.
"""
import copy
from typing import Dict, Optional

from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.tokens import PHRASE_END, PHRASE_START, REGION_PLACEHOLDER, SEG_TOKEN
from ..errors import DataError
from ._utils import record_of

# Tags of the raw SAMA-239K annotation answers and what the model is trained to write instead.
ANSWER_TAGS = (('<seg>', SEG_TOKEN), ('<g_s>', PHRASE_START), ('<g_e>', PHRASE_END))
DESCRIPTION_QUESTION = f'Please describe the region {REGION_PLACEHOLDER} in the video in detail.'


def rewrite_answer_tags(text: str) -> str:
    """``<seg>`` -> ``[SEG]``, ``<g_s>`` -> ``<p>``, ``<g_e>`` -> ``</p>``."""
    for raw, tag in ANSWER_TAGS:
        text = text.replace(raw, tag)
    return text


@TRANSFORMS.register_module()
class SAMA239KToRounds(BaseTransform):
    """Turn a SAMA-239K data info into the rounds of one training sample.

    ``task='conversation'``: the record's rounds, answer tags rewritten; a question whose answer has a
    ``[SEG]`` gets ``seg_suffix`` appended. ``task='description'``: one round per described object, question
    ``'Please describe the region <mask> in the video in detail.'``, the caption as answer, ``region_keys``
    ``[key]`` and no ``[SEG]``.

    Required Keys:

        - rounds (list[dict]): ``question``, ``answer``, ``gt_keys``, ``region_keys`` per round (conversation).
        - descriptions (dict[str, str]): object key -> caption (description).

    Modified Keys:

        - rounds (list[dict]): The sample's rounds (a new list; the data info is not changed in place).

    Args:
        task (str): ``'conversation'`` or ``'description'``. Defaults to ``'conversation'``.
        seg_suffix (str): Appended to questions whose answer has a ``[SEG]``. Defaults to
            ``' Response with interleaved segmentation masks.'``.
        max_rounds (int, optional): Keep only the first ``max_rounds`` rounds (the reference uses 4
            conversation rounds and 3 descriptions per sample; splitting a record into several samples is the
            dataset's job). Defaults to None (all).

    Raises:
        DataError: The record has no rounds for the task, or an answer's ``[SEG]`` count differs from its
            ``gt_keys`` after the tag rewrite.
    """

    def __init__(self, task: str = 'conversation', seg_suffix: str = ' Response with interleaved segmentation masks.',
                 max_rounds: Optional[int] = None):
        if task not in ('conversation', 'description'):
            raise ValueError(f"task must be 'conversation' or 'description', got {task!r}")
        if max_rounds is not None and (not isinstance(max_rounds, int) or max_rounds < 1):
            raise ValueError(f'max_rounds must be a positive int or None, got {max_rounds!r}')
        self.task = task
        self.seg_suffix = seg_suffix
        self.max_rounds = max_rounds

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        if self.task == 'conversation':
            rounds = []
            for i, rnd in enumerate(results.get('rounds') or []):
                answer = rewrite_answer_tags(rnd['answer'])
                gt_keys = copy.deepcopy(list(rnd.get('gt_keys', [])))
                if answer.count(SEG_TOKEN) != len(gt_keys):
                    raise DataError('seg_count_mismatch', str(results.get('video_path', '?')),
                                    f'round {i}: answer has {answer.count(SEG_TOKEN)} {SEG_TOKEN} but {len(gt_keys)} '
                                    'ground-truth entries', record)
                question = rnd['question'] + (self.seg_suffix if gt_keys else '')
                rounds.append(dict(question=question, answer=answer, gt_keys=gt_keys,
                                   region_keys=list(rnd.get('region_keys', []))))
        else:
            rounds = [dict(question=DESCRIPTION_QUESTION, answer=text, gt_keys=[], region_keys=[key])
                      for key, text in (results.get('descriptions') or {}).items()]
        if not rounds:
            raise DataError('empty_conversation', str(results.get('video_path', '?')),
                            f'the record has no {self.task} rounds', record)
        results['rounds'] = rounds[:self.max_rounds] if self.max_rounds else rounds
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(task={self.task!r}, seg_suffix={self.seg_suffix!r}, '
                f'max_rounds={self.max_rounds})')


@TRANSFORMS.register_module()
class RefVOSToRounds(BaseTransform):
    """Turn a referring expression into one round whose answer has one ``[SEG]``.

    The question is ``question.format(exp=expression)``, or the expression itself when it contains ``'?'``
    (a reasoning question, as in the reference). The ``[SEG]``'s ground truth is every object of the
    expression OR-ed: ``anno_ids`` when the split has a mask dict, else ``obj_ids`` (PNG masks).

    Required Keys:

        - expression (str): The referring expression.
        - anno_ids (list[str]) / obj_ids (list): The expression's objects.
        - mask_file / mask_dir (str, optional): Which of the two id kinds the ground truth uses.

    Added Keys:

        - rounds (list[dict]): One round ``dict(question, answer, gt_keys=[ids], region_keys=[])``.

    Args:
        question (str): Question template with an ``{exp}`` field. Defaults to ``'Please segment {exp}.'``.
        answer (str): The answer; must contain exactly one ``[SEG]``. Defaults to ``'It is [SEG].'``.
    """

    def __init__(self, question: str = 'Please segment {exp}.', answer: str = f'It is {SEG_TOKEN}.'):
        if answer.count(SEG_TOKEN) != 1:
            raise ValueError(f'answer must contain exactly one {SEG_TOKEN}, got {answer!r}')
        if '{exp}' not in question:
            raise ValueError(f'question must contain an {{exp}} field, got {question!r}')
        self.question = question
        self.answer = answer

    def transform(self, results: Dict) -> Dict:
        expression = results['expression'].strip()
        question = expression if '?' in expression else self.question.format(exp=expression)
        if results.get('mask_file'):
            keys = list(results.get('anno_ids') or [])
        elif results.get('mask_dir'):
            keys = list(results.get('obj_ids') or [])
        else:  # no ground truth (server-evaluated split): keep whichever ids there are, for reference
            keys = list(results.get('anno_ids') or results.get('obj_ids') or [])
        results['rounds'] = [dict(question=question, answer=self.answer, gt_keys=[keys], region_keys=[])]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(question={self.question!r}, answer={self.answer!r})'
