"""Conversation rounds -> ``input_ids`` and ``labels`` in the SAMA prompt layout (reference §1.5, §1.6).

For a sample with T sparse frames, D dense frames and rounds ``(q_1, a_1), ..., (q_P, a_P)``::

    [BOS]                                              (only when the tokenizer has one; once)
    INSTRUCTION.format(input=FRAMES + CTX + q_1)       labels -100
    a_1 + SUFFIX                                       labels = ids
    SEP                                                labels -100
    INSTRUCTION.format(input=CTX + q_k)  a_k + SUFFIX  SEP      for k = 2..P

    FRAMES = '\\n'.join(['<img>' + '<IMG_CONTEXT>' * num_image_tokens + '</img>'] * D) + frames_sep
    CTX    = '<IMG_CONTEXT>' * T + context_sep          (only with context_tokens=True, else '')

No system block is written (SAMA's system prompt is empty). Each ``<mask>`` of a question becomes
``<vp><IMG_CONTEXT><IMG_CONTEXT></vp>`` (pooled region feature, box feature); that needs the context
aggregator, so a ``<mask>`` without ``context_tokens`` is an error rather than a silently ignored prompt.

``<IMG_CONTEXT>`` slots are filled in order of occurrence: D x num_image_tokens vision tokens, then per round
its T context tokens followed by 2 tokens per region of that round (reference §1.8).

Which text may hold special tokens (:class:`PromptEncoder`): only the template (``<|im_start|>``, ``<|im_end|>``,
...) and the prompt builder (``FRAMES``, ``CTX``, the ``<vp>`` block of a ``<mask>``) insert them. A question is
user text: every special string in it (``<|im_end|>``, ``[SEG]``, ``<IMG_CONTEXT>``, ``<img>``, ...) is encoded as
ordinary sub-word pieces, so neither a user nor a data record can close the user turn, forge a system or assistant
turn, add a mask token or an image slot; ``<mask>`` is the region placeholder (above). An answer may hold the
grounding tokens ``[SEG]``, ``<p>``, ``</p>`` (:data:`~sama_mm.structures.tokens.ANSWER_SPECIAL_TOKENS`); any other
special string in it is plain text too. Training and chat (``ChatSession``) both encode with these rules.
"""
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures import ChatTemplate, get_chat_template
from ...structures.tokens import (ANSWER_SPECIAL_TOKENS, IMG_CONTEXT, IMG_END, IMG_START, REGION_PLACEHOLDER,
                                  SEG_TOKEN, VP_END, VP_START)
from ...tokenizers import build_tokenizer
from ..errors import DataError
from ._utils import record_of, source_of

IGNORE_INDEX = -100
REGION_TOKENS = VP_START + IMG_CONTEXT * 2 + VP_END


#: The special-token rule of a prompt piece written by the template or the prompt builder: every special token of
#: the tokenizer is one token. (A piece of user text gives ``()``: no special token at all; an answer gives
#: :data:`~sama_mm.structures.tokens.ANSWER_SPECIAL_TOKENS`.)
ANY_SPECIAL = None

#: A prompt piece: its text and which special tokens it may contain (``ANY_SPECIAL`` or a tuple of token strings).
Piece = Tuple[str, Optional[Tuple[str, ...]]]


class PromptEncoder:
    """Encode prompt pieces, each with the special tokens it may contain; everything else is plain text.

    Plain text is encoded with the tokenizer's ``split_special_tokens=True``, so a special string in it becomes
    ordinary sub-word pieces. Adjacent plain runs are encoded together, so a prompt without special strings in its
    user text gives exactly the ids of encoding the whole prompt at once.

    Args:
        tokenizer: The LLM tokenizer (fast or slow).
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        vocab = dict(tokenizer.get_added_vocab())
        for token in getattr(tokenizer, 'all_special_tokens', ()):
            token_id = tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token not in vocab:
                vocab[token] = token_id
        unk = getattr(tokenizer, 'unk_token_id', None)
        self.special_ids: Dict[str, int] = vocab
        #: Ids that plain text must never produce (an unknown character may still give the unk id).
        self.protected = {i for i in vocab.values() if i != unk}
        self._patterns: Dict[Optional[Tuple[str, ...]], Optional['re.Pattern']] = {}

    def _pattern(self, allowed: Optional[Tuple[str, ...]]) -> Optional['re.Pattern']:
        if allowed not in self._patterns:
            tokens = list(self.special_ids) if allowed is ANY_SPECIAL else [t for t in allowed if t in self.special_ids]
            # Longest first, so that a token that is the prefix of another never cuts it.
            alternatives = '|'.join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
            self._patterns[allowed] = re.compile(alternatives) if tokens else None
        return self._patterns[allowed]

    def encode(self, pieces: Sequence[Piece]) -> List[int]:
        """The ids of the pieces in order (no BOS or other tokens added)."""
        items: List[Union[str, int]] = []
        for text, allowed in pieces:
            pattern, pos = self._pattern(allowed), 0
            for match in (pattern.finditer(text) if pattern is not None else ()):
                items += [text[pos:match.start()], self.special_ids[match.group()]]
                pos = match.end()
            items.append(text[pos:])
        ids: List[int] = []
        run = ''
        for item in items + [-1]:
            if isinstance(item, str):
                run += item
                continue
            if run:
                ids += self.plain(run)
                run = ''
            if item >= 0:
                ids.append(item)
        return ids

    def plain(self, text: str) -> List[int]:
        """The ids of ``text`` with no special token: a special string becomes ordinary sub-word pieces."""
        ids = list(self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True))
        if not self.protected.intersection(ids):
            return ids
        # Some tokenizers keep an added token whole even so (e.g. Qwen2.5's non-special ``<tool_call>``): break
        # the first one after its first character and encode both sides as plain text.
        match = self._pattern(ANY_SPECIAL).search(text) if self._pattern(ANY_SPECIAL) is not None else None
        if match is None:
            bad = sorted(self.protected.intersection(ids))
            raise ValueError(f'the tokenizer encodes the plain text {text[:60]!r} to the special token id(s) {bad}; '
                             'it cannot be used to keep user text apart from control tokens')
        cut = match.start() + 1
        return self.plain(text[:cut]) + self.plain(text[cut:])

    def answer(self, answer: str, suffix: str = '') -> List[int]:
        """The ids of an answer (its ``[SEG]``, ``<p>``, ``</p>`` are tokens, nothing else) and the template's
        ``suffix``."""
        return self.encode([(answer, ANSWER_SPECIAL_TOKENS), (suffix, ANY_SPECIAL)])


def image_block_text(num_dense: int, num_image_tokens: int) -> str:
    """``FRAMES``: one ``<img>`` block of ``num_image_tokens`` placeholders per dense frame, joined by ``\\n``."""
    return '\n'.join([IMG_START + IMG_CONTEXT * num_image_tokens + IMG_END] * num_dense)


def question_pieces(question: str) -> List[Piece]:
    """A question as prompt pieces: its text is plain (no special token), every ``<mask>`` becomes the region block
    ``<vp><IMG_CONTEXT><IMG_CONTEXT></vp>``."""
    pieces: List[Piece] = []
    for k, part in enumerate(question.split(REGION_PLACEHOLDER)):
        if k:
            pieces.append((REGION_TOKENS, ANY_SPECIAL))
        if part:
            pieces.append((part, ()))
    return pieces


def round_input_pieces(question: str, frames: str, num_sparse: int, context_tokens: bool = False,
                       context_sep: str = '', frames_sep: str = '') -> List[Piece]:
    """The user input of one round as prompt pieces: ``frames`` (the first round only; empty otherwise) followed
    by ``frames_sep``, then ``CTX``, then the question.

    The question is user text (see :func:`question_pieces`); ``CTX`` (``num_sparse`` placeholders and
    ``context_sep``) is written only with ``context_tokens``. No validation (see :class:`ChatTokenize`).
    """
    ctx = IMG_CONTEXT * num_sparse + context_sep if context_tokens else ''
    return [((frames + frames_sep if frames else '') + ctx, ANY_SPECIAL)] + question_pieces(question)


def encode_round(encoder: PromptEncoder, template: ChatTemplate, input_pieces: Sequence[Piece],
                 answer: Optional[str] = None) -> Tuple[List[int], List[int]]:
    """Token ids and labels of one round: the instruction, then (when ``answer`` is given) answer + SUFFIX + SEP.

    Args:
        encoder: The :class:`PromptEncoder` of the tokenizer.
        template: The chat template.
        input_pieces: The round's user input (:func:`round_input_pieces`).
        answer: The answer; None for a generation prompt (the round ends where the answer starts).

    Returns:
        ``(ids, labels)``: labels are -100 except on the answer + SUFFIX tokens.
    """
    head, tail = template.instruction.split('{input}', 1)
    ids = encoder.encode([(head, ANY_SPECIAL), *input_pieces, (tail, ANY_SPECIAL)])
    labels = [IGNORE_INDEX] * len(ids)
    if answer is not None:
        answer_ids = encoder.answer(answer, template.suffix)
        sep_ids = encoder.encode([(template.sep, ANY_SPECIAL)])
        ids += answer_ids + sep_ids
        labels += answer_ids + [IGNORE_INDEX] * len(sep_ids)
    return ids, labels


@TRANSFORMS.register_module()
class ChatTokenize(BaseTransform):
    """Write the rounds in the chat template and tokenize them, labelling only the answers.

    Questions are user text: a special string in one (``<|im_end|>``, ``[SEG]``, ``<IMG_CONTEXT>``, ...) is encoded
    as plain sub-word pieces, ``<mask>`` is a region placeholder; answers may hold ``[SEG]``, ``<p>`` and ``</p>``
    (see :class:`PromptEncoder` and the module docstring).

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
        frames_sep (str): Written after the frame block of the first round: ``''`` for SAMA (the context
            tokens follow the frames directly) and for models trained with this layout; ``'\\n'`` for the
            released Sa2VA checkpoints, whose prompt is ``"<image>\\n" + question``. Defaults to ``''``.
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
                 generation: bool = False, frames_sep: str = ''):
        self.tokenizer = build_tokenizer(tokenizer)
        self.template = get_chat_template(template)
        self.num_image_tokens = num_image_tokens
        self.context_tokens = context_tokens
        self.context_sep = context_sep
        self.frames_sep = frames_sep
        self.max_length = max_length
        self.generation = generation
        self.encoder = PromptEncoder(self.tokenizer)
        ids = {}
        for token in (IMG_START, IMG_END, IMG_CONTEXT, SEG_TOKEN, VP_START, VP_END):
            encoded = self.encoder.encode([(token, ANY_SPECIAL)])
            if len(encoded) != 1:
                raise ValueError(f'the tokenizer must hold {token!r} as one special token (it encodes to '
                                 f'{encoded}); add the InternVL and SAMA special tokens first')
            ids[token] = encoded[0]
        self.seg_id = ids[SEG_TOKEN]
        self.img_context_id = ids[IMG_CONTEXT]
        bos = getattr(self.tokenizer, 'bos_token_id', None)
        self.bos_ids = [] if bos is None else [int(bos)]

    def _question_pieces(self, rnd: dict, index: int, num_sparse: int, frames: str, results: Dict) -> List[Piece]:
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
        return round_input_pieces(question, frames, num_sparse, self.context_tokens, self.context_sep,
                                  self.frames_sep)

    def _encode_rounds(self, results: Dict) -> List[Tuple[List[int], List[int]]]:
        rounds = results['rounds']
        num_sparse = len(results['frame_indices'])
        num_dense = len(results['dense_positions'])
        # Dynamic tiles (``num_tiles`` from DynamicTiles) share one <img> block, as in the released image datasets.
        frames = (image_block_text(1, num_dense * self.num_image_tokens) if results.get('num_tiles')
                  else image_block_text(num_dense, self.num_image_tokens))
        encoded = []
        for k, rnd in enumerate(rounds):
            pieces = self._question_pieces(rnd, k, num_sparse, frames if k == 0 else '', results)
            answer = None if (self.generation and k == len(rounds) - 1) else rnd['answer']
            encoded.append(encode_round(self.encoder, self.template, pieces, answer))
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
                            f'(one gt_keys entry per {SEG_TOKEN} of an answer; a {SEG_TOKEN} typed in a question is '
                            'plain text)', record)
        slots = len(results['dense_positions']) * self.num_image_tokens
        if self.context_tokens:
            slots += kept * len(results['frame_indices']) + 2 * sum(len(r.get('region_keys', [])) for r in kept_rounds)
        if input_ids.count(self.img_context_id) != slots:
            raise DataError('image_token_count_mismatch', source_of(results),
                            f'{input_ids.count(self.img_context_id)} {IMG_CONTEXT} tokens but {slots} embeddings to '
                            f'fill them', record)
        results['input_ids'] = input_ids
        results['labels'] = labels
        results['rounds'] = kept_rounds
        results['kept_rounds'] = kept
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(tokenizer={type(self.tokenizer).__name__}, template={self.template.name!r}, '
                f'num_image_tokens={self.num_image_tokens}, context_tokens={self.context_tokens}, '
                f'context_sep={self.context_sep!r}, frames_sep={self.frames_sep!r}, max_length={self.max_length}, '
                f'generation={self.generation})')
