"""Conversation rounds -> ``input_ids`` and ``labels`` in the SAMA prompt layout (reference §1.5, §1.6).

For a sample with T sparse frames, D dense frames and rounds ``(q_1, a_1), ..., (q_P, a_P)``::

    [BOS]                                              (only when the tokenizer has one; once)
    INSTRUCTION.format(input=FRAMES + CTX + q_1)       labels -100
    a_1 + SUFFIX                                       labels = ids
    SEP                                                labels -100
    INSTRUCTION.format(input=CTX + q_k)  a_k + SUFFIX  SEP      for k = 2..P

    FRAMES = '\\n'.join(['<img>' + '<IMG_CONTEXT>' * num_image_tokens + '</img>'] * D)
    CTX    = '<IMG_CONTEXT>' * T + context_sep          (only with context_tokens=True, else '')

No system block is written (SAMA's system prompt is empty). Each ``<mask>`` of a question becomes
``<vp><IMG_CONTEXT><IMG_CONTEXT></vp>`` (pooled region feature, box feature); that needs the context
aggregator, so a ``<mask>`` without ``context_tokens`` is an error rather than a silently ignored prompt.

``<IMG_CONTEXT>`` slots are filled in order of occurrence: D x num_image_tokens vision tokens, then per round
its T context tokens followed by 2 tokens per region of that round (reference §1.8).
"""
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures import ChatTemplate, get_chat_template
from ...structures.tokens import (IMG_CONTEXT, IMG_END, IMG_START, REGION_PLACEHOLDER, SEG_TOKEN, VP_END,
                                  VP_START)
from ...utils.tokenizer import build_tokenizer
from ..errors import DataError
from ._utils import record_of, source_of

IGNORE_INDEX = -100
REGION_TOKENS = VP_START + IMG_CONTEXT * 2 + VP_END


def image_block_text(num_dense: int, num_image_tokens: int) -> str:
    """``FRAMES``: one ``<img>`` block of ``num_image_tokens`` placeholders per dense frame, joined by ``\\n``."""
    return '\n'.join([IMG_START + IMG_CONTEXT * num_image_tokens + IMG_END] * num_dense)


def round_input_text(question: str, frames: str, num_sparse: int, context_tokens: bool = False,
                     context_sep: str = '') -> str:
    """The user text of one round: ``frames`` (the first round only) + ``CTX`` + the question.

    Every ``<mask>`` becomes ``<vp><IMG_CONTEXT><IMG_CONTEXT></vp>``; ``CTX`` (``num_sparse`` placeholders and
    ``context_sep``) is written only with ``context_tokens``. No validation (see :class:`ChatTokenize`).
    """
    question = question.replace(REGION_PLACEHOLDER, REGION_TOKENS)
    ctx = IMG_CONTEXT * num_sparse + context_sep if context_tokens else ''
    return frames + ctx + question


def encode_round(encode: Callable[[str], List[int]], template: ChatTemplate, input_text: str,
                 answer: Optional[str] = None) -> Tuple[List[int], List[int]]:
    """Token ids and labels of one round: the instruction, then (when ``answer`` is given) answer + SUFFIX + SEP.

    Args:
        encode: ``text -> ids`` without special tokens added (no BOS).
        template: The chat template.
        input_text: The round's user text (:func:`round_input_text`).
        answer: The answer; None for a generation prompt (the round ends where the answer starts).

    Returns:
        ``(ids, labels)``: labels are -100 except on the answer + SUFFIX tokens.
    """
    ids = list(encode(template.user_turn(input_text)))
    labels = [IGNORE_INDEX] * len(ids)
    if answer is not None:
        answer_ids = list(encode(answer + template.suffix))
        sep_ids = list(encode(template.sep))
        ids += answer_ids + sep_ids
        labels += answer_ids + [IGNORE_INDEX] * len(sep_ids)
    return ids, labels


@TRANSFORMS.register_module()
class ChatTokenize(BaseTransform):
    """Write the rounds in the chat template and tokenize them, labelling only the answers.

    Required Keys:

        - rounds (list[dict]): ``question``, ``answer``, ``gt_keys`` (one entry per ``[SEG]`` of the answer),
          ``region_keys`` (one per ``<mask>`` of the question).
        - frame_indices (list[int]): The T sparse frames (T context tokens per round).
        - dense_positions (list[int]): The D dense frames (D image blocks).
        - gt_masks (np.ndarray, optional): ``[K, D, H, W]``; trimmed with the rounds.

    Modified Keys:

        - rounds: The rounds that fit ``max_length`` (whole trailing rounds are dropped).
        - gt_masks: The entries of the kept rounds' ``[SEG]`` (when present).

    Added Keys:

        - input_ids (list[int]): Token ids (plain ints; :class:`PackSAMAInputs` makes a LongTensor).
        - labels (list[int]): Same length; ``-100`` everywhere except the answer + SUFFIX tokens.
        - kept_rounds (int): How many rounds were kept.

    Args:
        tokenizer (PreTrainedTokenizer | dict): The LLM tokenizer with the InternVL and SAMA special tokens
            added, or a config to build it (see :func:`build_tokenizer`).
        template (str): Chat template name (``qwen_chat``, ``internlm2_chat``, ``phi3_chat``).
            Defaults to ``'qwen_chat'``.
        num_image_tokens (int): ``<IMG_CONTEXT>`` per dense frame. Defaults to 256.
        context_tokens (bool): Write T context tokens per round and allow ``<mask>`` region prompts (models
            with the spatio-temporal aggregator). Defaults to False.
        context_sep (str): Written after the context tokens: ``''`` for SAMA-239K conversations, ``'\\n'`` for
            referring VOS, captions and video QA in the reference. Defaults to ``''``.
        max_length (int): Most tokens of a sample. Defaults to 8192.
        generation (bool): Prompt for generating the last round's answer (evaluation): the last round's
            answer, SUFFIX and SEP are left out (earlier rounds, the history, keep theirs); its ``[SEG]``
            ground truth stays in ``gt_masks`` for evaluation. Defaults to False.

    Raises:
        DataError: A ``<mask>`` without context tokens, a ``<mask>`` count that differs from
            ``region_keys``, a ``[SEG]`` count that differs from the ground truth, an ``<IMG_CONTEXT>`` count
            that differs from the embeddings the model will place (D x num_image_tokens, plus T per round and
            2 per region with context tokens), or a first round longer than ``max_length``; each names the
            record.
    """

    def __init__(self, tokenizer: Union[Any, dict], template: str = 'qwen_chat', num_image_tokens: int = 256,
                 context_tokens: bool = False, context_sep: str = '', max_length: int = 8192,
                 generation: bool = False):
        self.tokenizer = build_tokenizer(tokenizer)
        self.template = get_chat_template(template)
        self.num_image_tokens = num_image_tokens
        self.context_tokens = context_tokens
        self.context_sep = context_sep
        self.max_length = max_length
        self.generation = generation
        ids = {}
        for token in (IMG_START, IMG_END, IMG_CONTEXT, SEG_TOKEN, VP_START, VP_END):
            encoded = self._encode(token)
            if len(encoded) != 1:
                raise ValueError(f'the tokenizer must hold {token!r} as one special token (it encodes to '
                                 f'{encoded}); add the InternVL and SAMA special tokens first')
            ids[token] = encoded[0]
        self.seg_id = ids[SEG_TOKEN]
        self.img_context_id = ids[IMG_CONTEXT]
        bos = getattr(self.tokenizer, 'bos_token_id', None)
        self.bos_ids = [] if bos is None else [int(bos)]

    def _encode(self, text: str) -> List[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _question_text(self, rnd: dict, index: int, num_sparse: int, frames: str, results: Dict) -> str:
        question = rnd['question']
        n_regions = question.count(REGION_PLACEHOLDER)
        if n_regions and not self.context_tokens:
            raise DataError('region_prompt_unsupported', source_of(results),
                            f'round {index}: the question has {n_regions} {REGION_PLACEHOLDER} region prompt(s) '
                            'but context_tokens=False (a model without the region-aware aggregator); use '
                            'context_tokens=True or leave region samples out', record_of(results))
        if n_regions != len(rnd.get('region_keys', [])):
            raise DataError('region_count_mismatch', source_of(results),
                            f'round {index}: {n_regions} {REGION_PLACEHOLDER} but '
                            f'{len(rnd.get("region_keys", []))} region keys', record_of(results))
        return round_input_text(question, frames, num_sparse, self.context_tokens, self.context_sep)

    def _encode_rounds(self, results: Dict) -> List[Tuple[List[int], List[int]]]:
        rounds = results['rounds']
        num_sparse = len(results['frame_indices'])
        num_dense = len(results['dense_positions'])
        frames = image_block_text(num_dense, self.num_image_tokens)
        encoded = []
        for k, rnd in enumerate(rounds):
            text = self._question_text(rnd, k, num_sparse, frames if k == 0 else '', results)
            answer = None if (self.generation and k == len(rounds) - 1) else rnd['answer']
            encoded.append(encode_round(self._encode, self.template, text, answer))
        return encoded

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        rounds = results['rounds']
        if not rounds:
            raise DataError('empty_conversation', source_of(results), 'the sample has no rounds', record)
        encoded = self._encode_rounds(results)
        input_ids, labels = list(self.bos_ids), [IGNORE_INDEX] * len(self.bos_ids)
        kept = 0
        for ids, lab in encoded:
            if len(input_ids) + len(ids) > self.max_length:
                break
            input_ids += ids
            labels += lab
            kept += 1
        if kept == 0:
            raise DataError('sample_too_long', source_of(results),
                            f'the first round alone is {len(self.bos_ids) + len(encoded[0][0])} tokens, more than '
                            f'max_length={self.max_length}', record)
        if self.generation and kept < len(rounds):
            raise DataError('sample_too_long', source_of(results),
                            f'the prompt needs {len(self.bos_ids) + sum(len(e[0]) for e in encoded)} tokens, more '
                            f'than max_length={self.max_length}; a generation prompt cannot drop its last round',
                            record)
        kept_rounds = rounds[:kept]
        num_gt = sum(len(r.get('gt_keys', [])) for r in kept_rounds)
        if 'gt_masks' in results:
            total = sum(len(r.get('gt_keys', [])) for r in rounds)
            if len(results['gt_masks']) != total:
                raise DataError('seg_count_mismatch', source_of(results),
                                f'gt_masks has {len(results["gt_masks"])} entries but the rounds list {total} '
                                f'{SEG_TOKEN} ground truths', record)
            results['gt_masks'] = results['gt_masks'][:num_gt]
        answered = kept_rounds[:-1] if self.generation else kept_rounds
        expected = sum(len(r.get('gt_keys', [])) for r in answered)
        found = input_ids.count(self.seg_id)
        if found != expected:
            raise DataError('seg_count_mismatch', source_of(results),
                            f'{found} {SEG_TOKEN} tokens in the prompt but {expected} ground-truth entries '
                            f'(a {SEG_TOKEN} inside a question, or a tokenizer that splits it?)', record)
        slots = len(results['dense_positions']) * self.num_image_tokens
        if self.context_tokens:
            slots += kept * len(results['frame_indices']) + 2 * sum(len(r.get('region_keys', [])) for r in kept_rounds)
        if input_ids.count(self.img_context_id) != slots:
            raise DataError('image_token_count_mismatch', source_of(results),
                            f'{input_ids.count(self.img_context_id)} {IMG_CONTEXT} tokens but {slots} embeddings to '
                            f'fill them (a literal {IMG_CONTEXT} in the text?)', record)
        results['input_ids'] = input_ids
        results['labels'] = labels
        results['rounds'] = kept_rounds
        results['kept_rounds'] = kept
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(tokenizer={type(self.tokenizer).__name__}, template={self.template.name!r}, '
                f'num_image_tokens={self.num_image_tokens}, context_tokens={self.context_tokens}, '
                f'context_sep={self.context_sep!r}, max_length={self.max_length}, generation={self.generation})')
