"""Annotations -> conversation rounds ``dict(question, answer, gt_keys, region_keys)``.

A round is one user question and one assistant answer. ``gt_keys`` holds one list of object keys per
``[SEG]`` of the answer (the masks OR-ed into that ``[SEG]``'s ground truth, see :class:`LoadSegMasks`);
``region_keys`` the object keys of the ``<mask>`` region prompts of the question, in order.

Random choices (which expressions form a referring-VOS sample, the question template and answer of each
round, the detailed-description question of each caption) go through the sample's
:class:`~sama_mm.datasets.draws.SeededDraws` (``results['draws']``, put there by the dataset: seeded with
``(draw_seed, index, repeat round)``, or replaying recorded draws). Streams: ``expressions``, ``questions``
(only for expressions without '?'), ``answers`` and ``description_questions``, in the official order of the
draws. Without ``draws`` in the data info (a pipeline run by hand) the generator is seeded from the process-wide
NumPy state; a dict of lists there is replayed.
"""
import copy
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.tokens import PHRASE_END, PHRASE_START, REGION_PLACEHOLDER, SEG_TOKEN
from ..draws import SeededDraws
from ..errors import DataError
from ._utils import record_of

# Tags of the raw SAMA-239K annotation answers and what the model is trained to write instead.
ANSWER_TAGS = (('<seg>', SEG_TOKEN), ('<g_s>', PHRASE_START), ('<g_e>', PHRASE_END))
#: The one description question of SAMA-Bench-C (and of ``description_questions='bench'``).
DESCRIPTION_QUESTION = f'Please describe the region {REGION_PLACEHOLDER} in the video in detail.'
#: A question holding this text already asks for masks: the segmentation suffix is not appended again.
SEG_SUFFIX_MARKER = 'with interleaved segmentation masks.'
#: Visual placeholders removed from SAMA-239K questions (the frames and context tokens take their place).
VISUAL_TAGS = ('<image>\n', '<video>\n', '\n<video>', '\n<image>')

#: Question templates of the official referring-segmentation training rounds (``{exp}``: the expression).
SEG_QUESTION_TEMPLATES = (
    'Can you segment the {exp} in this image?',
    'Please segment {exp} in this image.',
    'What is {exp} in this image? Please respond with segmentation mask.',
    'What is {exp} in this image? Please output segmentation mask.',
    'Can you segment the {exp} in this image',
    'Please segment {exp} in this image',
    'What is {exp} in this image? Please respond with segmentation mask',
    'What is {exp} in this image? Please output segmentation mask',
    'Could you provide a segmentation mask for the {exp} in this image?',
    'Please identify and segment the {exp} in this image.',
    'Where is the {exp} in this picture? Please respond with a segmentation mask.',
    'Can you highlight the {exp} in this image with a segmentation mask?',
    'Could you provide a segmentation mask for the {exp} in this image',
    'Please identify and segment the {exp} in this image',
    'Where is the {exp} in this picture? Please respond with a segmentation mask',
    'Can you highlight the {exp} in this image with a segmentation mask',
)
#: Answers of the official referring-segmentation training rounds.
SEG_ANSWERS = (f'It is {SEG_TOKEN}.', f'Sure, {SEG_TOKEN}.', f'Sure, it is {SEG_TOKEN}.',
               f'Sure, the segmentation result is {SEG_TOKEN}.', f'{SEG_TOKEN}.')
#: Questions of the official SAMA-239K detailed-description training rounds (one drawn per caption).
DETAILED_DESCRIPTION_QUESTIONS = tuple(q.replace('<mask>', REGION_PLACEHOLDER) for q in (
    'Can you provide me with a detailed description of the region <mask> in the video?',
    "I'm curious about the region <mask> in the video. Could you describe it in detail?",
    'What can you tell me about the region <mask> in the video?',
    "I'd like to know more about the area <mask> in the video. Can you give me a detailed description?",
    'Could you describe the region <mask> in the video in great detail?',
    'What details can you give me about the region <mask> in the video?',
    'Please provide me with a comprehensive description of the region <mask> in the video.',
    'Can you give me a detailed account of the region <mask> in the video?',
    "I'm interested in learning more about the region <mask> in the video. Can you describe it in detail?",
    'What is the region <mask> in the video like? Could you give me a detailed description?',
    'Please describe the region <mask> in the video in detail.',
    'Can you offer a thorough analysis of the region <mask> in the video?',
    'Could you elaborate on the region <mask> in the video provided?',
    'Please share more information about the zone <mask> in the video.',
    'What insights can you give ablout the area <mask> in the video presented?',
    'Can you share a comprehensive rundown of the region <mask> in the presented video?',
    "I'd like to know more about the region <mask> in the video provided.",
    'Work through the important details of the area <mask> in the video.',
    'Illustrate the area <mask> through a descriptive explanation.',
    'Examine the region <mask> closely and share its details.',
))
_DESCRIPTION_POOLS = dict(bench=(DESCRIPTION_QUESTION,), detailed=DETAILED_DESCRIPTION_QUESTIONS)


def rewrite_answer_tags(text: str) -> str:
    """``<seg>`` -> ``[SEG]``, ``<g_s>`` -> ``<p>``, ``<g_e>`` -> ``</p>``."""
    for raw, tag in ANSWER_TAGS:
        text = text.replace(raw, tag)
    return text


def sample_draws(results: Dict) -> SeededDraws:
    """The sample's draws: ``results['draws']`` (a :class:`SeededDraws`, or a dict of recorded lists to replay),
    else a generator seeded from the process-wide NumPy state; stored back under ``draws``."""
    draws = results.get('draws')
    if not isinstance(draws, SeededDraws):
        draws = SeededDraws(replay=draws, record=record_of(results)) if draws is not None else \
            SeededDraws(rng=np.random.default_rng(np.random.randint(2 ** 31)), record=record_of(results))
    results['draws'] = draws
    return draws


@TRANSFORMS.register_module()
class SAMA239KToRounds(BaseTransform):
    """Turn a SAMA-239K data info into the rounds of one training sample.

    ``task='conversation'``: the info's rounds, answers stripped and their tags rewritten; a question whose
    answer has a ``[SEG]`` gets ``seg_suffix`` appended unless it already holds :data:`SEG_SUFFIX_MARKER`, then
    loses the :data:`VISUAL_TAGS` (as the official loader).
    ``task='description'``: one round per described object, a question from ``description_questions``, the
    caption (stripped) as answer, ``region_keys`` ``[key]`` and no ``[SEG]``. Splitting a record into samples
    (4 conversation rounds, 3 descriptions) is the dataset's job (``SAMA239KDataset(sample_mode=...)``).

    Required Keys:

        - rounds (list[dict]): ``question``, ``answer``, ``gt_keys``, ``region_keys`` per round (conversation).
        - descriptions (dict[str, str]): object key -> caption (description).
        - draws (SeededDraws | dict, optional): The sample's draws (``description_questions``: one per caption).

    Modified Keys:

        - rounds (list[dict]): The sample's rounds (a new list; the data info is not changed in place).

    Args:
        task (str): ``'conversation'`` or ``'description'``. Defaults to ``'conversation'``.
        seg_suffix (str): Appended to questions whose answer has a ``[SEG]``. Defaults to
            ``' Response with interleaved segmentation masks.'``.
        max_rounds (int, optional): Keep only the first ``max_rounds`` rounds. Defaults to None (all).
        description_questions (str | Sequence[str]): Questions of description rounds, one drawn per caption:
            ``'bench'`` (only ``'Please describe the region <mask> in the video in detail.'``, the SAMA-Bench-C
            protocol), ``'detailed'`` (the 20 questions of the official training data) or a list. Defaults to
            ``'bench'``; the training configs use ``'detailed'``.

    Raises:
        DataError: The record has no rounds for the task, or an answer's ``[SEG]`` count differs from its
            ``gt_keys`` after the tag rewrite.
    """

    def __init__(self, task: str = 'conversation', seg_suffix: str = ' Response with interleaved segmentation masks.',
                 max_rounds: Optional[int] = None, description_questions: Union[str, Sequence[str]] = 'bench'):
        if task not in ('conversation', 'description'):
            raise ValueError(f"task must be 'conversation' or 'description', got {task!r}")
        if max_rounds is not None and (not isinstance(max_rounds, int) or max_rounds < 1):
            raise ValueError(f'max_rounds must be a positive int or None, got {max_rounds!r}')
        if isinstance(description_questions, str):
            if description_questions not in _DESCRIPTION_POOLS:
                raise ValueError(f'description_questions must be one of {sorted(_DESCRIPTION_POOLS)} or a list, '
                                 f'got {description_questions!r}')
            description_questions = _DESCRIPTION_POOLS[description_questions]
        if not description_questions or not all(q.count(REGION_PLACEHOLDER) == 1 for q in description_questions):
            raise ValueError(f'every description question needs exactly one {REGION_PLACEHOLDER}')
        self.task = task
        self.seg_suffix = seg_suffix
        self.max_rounds = max_rounds
        self.description_questions = tuple(description_questions)

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        if self.task == 'conversation':
            rounds = []
            for i, rnd in enumerate(results.get('rounds') or []):
                answer = rewrite_answer_tags(rnd['answer'].strip())
                gt_keys = copy.deepcopy(list(rnd.get('gt_keys', [])))
                if answer.count(SEG_TOKEN) != len(gt_keys):
                    raise DataError('seg_count_mismatch', str(results.get('video_path', '?')),
                                    f'round {i}: answer has {answer.count(SEG_TOKEN)} {SEG_TOKEN} but {len(gt_keys)} '
                                    'ground-truth entries', record)
                question = rnd['question']
                if gt_keys and SEG_SUFFIX_MARKER not in question:
                    question += self.seg_suffix
                for tag in VISUAL_TAGS:
                    question = question.replace(tag, '')
                rounds.append(dict(question=question, answer=answer, gt_keys=gt_keys,
                                   region_keys=list(rnd.get('region_keys', []))))
        else:
            items = list((results.get('descriptions') or {}).items())
            pool = self.description_questions
            picks = sample_draws(results).integers('description_questions', 0, len(pool), len(items)) \
                if len(pool) > 1 else [0] * len(items)
            rounds = [dict(question=pool[q], answer=text.strip(), gt_keys=[], region_keys=[key])
                      for (key, text), q in zip(items, picks)]
        if not rounds:
            raise DataError('empty_conversation', str(results.get('video_path', '?')),
                            f'the record has no {self.task} rounds', record)
        results['rounds'] = rounds[:self.max_rounds] if self.max_rounds else rounds
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(task={self.task!r}, seg_suffix={self.seg_suffix!r}, '
                f'max_rounds={self.max_rounds}, description_questions={len(self.description_questions)} questions)')


@TRANSFORMS.register_module()
class RefVOSToRounds(BaseTransform):
    """Turn referring expressions into rounds whose answers have one ``[SEG]`` each.

    Two kinds of data info:

    * one expression (``expression``; evaluation, or ``samples_per='expression'``): one round;
    * a whole video (``expressions``, a list of per-expression dicts; ``samples_per='video'``, the official
      training sample): ``num_rounds`` expressions drawn with replacement, one round each.

    A question is the expression itself when it contains ``'?'`` (a reasoning question, kept as written);
    otherwise ``question.format(exp=...)`` with a fixed ``question``, or a template drawn from ``questions``
    filled with the expression with every ``'.'`` removed, stripped and lower-cased (the official training
    rule). The answer is the fixed ``answer`` or one drawn from ``answers``. The ``[SEG]``'s ground truth is
    every object of the expression OR-ed: ``anno_ids`` when the split has a mask dict, else ``obj_ids`` (PNG
    masks).

    Required Keys:

        - expression (str) or expressions (list[dict]): The expression(s), each dict with ``expression``,
          ``anno_ids``, ``obj_ids``.
        - mask_file / mask_dir (str, optional): Which of the two id kinds the ground truth uses.
        - draws (SeededDraws | dict, optional): The sample's draws, in the official order: ``expressions``
          (``num_rounds`` indices into ``expressions``), then per round ``questions`` (only for an expression
          without '?') and ``answers``.

    Added Keys:

        - rounds (list[dict]): ``dict(question, answer, gt_keys=[ids], region_keys=[])`` per round.

    Args:
        question (str, optional): A fixed question template with an ``{exp}`` field (the expression used as
            written, stripped). Defaults to None (draw from ``questions``). Evaluation uses
            ``'Please segment {exp}.'``.
        answer (str, optional): A fixed answer with exactly one ``[SEG]``. Defaults to None (draw from
            ``answers``).
        questions (Sequence[str]): Templates to draw from. Defaults to :data:`SEG_QUESTION_TEMPLATES`.
        answers (Sequence[str]): Answers to draw from. Defaults to :data:`SEG_ANSWERS`.
        num_rounds (int): Expressions (rounds) per whole-video sample. Defaults to 5 (official).
    """

    def __init__(self, question: Optional[str] = None, answer: Optional[str] = None,
                 questions: Sequence[str] = SEG_QUESTION_TEMPLATES, answers: Sequence[str] = SEG_ANSWERS,
                 num_rounds: int = 5):
        for text in ([answer] if answer is not None else list(answers)):
            if text.count(SEG_TOKEN) != 1:
                raise ValueError(f'an answer must contain exactly one {SEG_TOKEN}, got {text!r}')
        for text in ([question] if question is not None else list(questions)):
            if '{exp}' not in text:
                raise ValueError(f'a question must contain an {{exp}} field, got {text!r}')
        if not isinstance(num_rounds, int) or num_rounds < 1:
            raise ValueError(f'num_rounds must be a positive int, got {num_rounds!r}')
        self.question = question
        self.answer = answer
        self.questions = tuple(questions)
        self.answers = tuple(answers)
        self.num_rounds = num_rounds

    @staticmethod
    def _gt_keys(exp: Dict, results: Dict) -> list:
        if results.get('mask_file'):
            return list(exp.get('anno_ids') or [])
        if results.get('mask_dir'):
            return list(exp.get('obj_ids') or [])
        # no ground truth (server-evaluated split): keep whichever ids there are, for reference
        return list(exp.get('anno_ids') or exp.get('obj_ids') or [])

    def transform(self, results: Dict) -> Dict:
        fixed = self.question is not None and self.answer is not None
        draws = None if fixed and results.get('expressions') is None else sample_draws(results)
        if results.get('expressions') is not None:
            pool = results['expressions']
            if not pool:
                raise DataError('empty_conversation', str(results.get('frame_dir', '?')), 'the video has no '
                                'expressions', record_of(results))
            chosen = [pool[i] for i in draws.integers('expressions', 0, len(pool), self.num_rounds)]
        else:
            chosen = [results]
        rounds = []
        for exp in chosen:
            text = exp['expression']
            if '?' in text:
                question = text if self.question is None else text.strip()
            elif self.question is not None:
                question = self.question.format(exp=text.strip())
            else:
                template = self.questions[draws.integer('questions', 0, len(self.questions))]
                question = template.format(exp=text.replace('.', '').strip().lower())
            answer = self.answer if self.answer is not None else \
                self.answers[draws.integer('answers', 0, len(self.answers))]
            rounds.append(dict(question=question, answer=answer, gt_keys=[self._gt_keys(exp, results)],
                               region_keys=[]))
        results['rounds'] = rounds
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(question={self.question!r}, answer={self.answer!r}, '
                f'questions={len(self.questions)} templates, answers={len(self.answers)}, '
                f'num_rounds={self.num_rounds})')
