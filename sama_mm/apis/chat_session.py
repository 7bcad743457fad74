"""A multi-turn grounded chat about one video: :class:`ChatSession` and its :class:`TurnResult`.

Inputs come from the model config's test pipeline (:class:`~sama_mm.apis.chat_inputs.ChatPipeline`); the
embedding splice, greedy decoding and mask tracking from the model (``embed_turn``, ``generate``, ``segment``),
exactly as ``tools/test.py`` runs them. The session itself keeps only caching and history (see
:mod:`sama_mm.apis.inference` for what it keeps and guarantees).
"""
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from sama_mm.structures.tokens import REGION_PLACEHOLDER

from .chat_inputs import region_prompt_mask


@dataclass
class TurnResult:
    """The outcome of one :meth:`ChatSession.ask`.

    Attributes:
        index: Turn number (0-based).
        question: The user text as given.
        answer: The answer, stripped of the stop word and surrounding white space.
        token_ids: The answer tokens as generated (or as given with ``answer=``), stop token included.
        seg_hidden: ``[K, H]`` hidden states of the answer's ``[SEG]`` tokens.
        hidden_states: ``[n, H]``: token k's entry is the hidden state of the step that consumes token k.
        regions: The region prompts of the question.
        masks: ``bool [K, N, H, W]``: one mask track per ``[SEG]`` over every frame of the video.
        seconds: Wall time of the turn (LLM + SAM2).
        history_answer: The answer as kept in the LLM context (not stripped).
        region_masks: The region prompts as ``(frame, uint8 [H, W] mask)`` (a box rasterised, points segmented
            by SAM2), as the test pipeline's region step receives them.
    """
    index: int
    question: str
    answer: str
    token_ids: List[int]
    seg_hidden: Tensor
    masks: Tensor
    seconds: float = 0.0
    hidden_states: Optional[Tensor] = field(default=None, repr=False)
    regions: List[Any] = field(default_factory=list, repr=False)
    history_answer: str = field(default='', repr=False)
    region_masks: List[Tuple[int, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def num_objects(self) -> int:
        """Number of ``[SEG]`` (mask tracks) of the answer."""
        return int(self.masks.shape[0])


class ChatSession:
    """A multi-turn conversation about one video (see :mod:`sama_mm.apis.inference` for what it keeps).

    Args:
        inferencer: The model and its settings (:class:`~sama_mm.apis.SAMAInferencer`).
        video: Video file or frame folder.
        frames: Frame names of a frame folder (None: every image, sorted).
        progress: Optional ``callback(num_frames_done)`` called as SAM2 reads frames (for progress bars).
        turn_context: For a model with a context-aggregator neck, an optional ``f(session, question, regions) ->
            dict`` that builds the neck's input of one turn instead of the test pipeline's ``QFormerPrompts``
            (for ``STAggregator``: ``qformer_input_ids``, optional ``qformer_attention_mask`` and ``regions``).
            Either way the neck is called as ``neck(visual, turns, spatial=S)`` with its question-independent
            ``S = neck.encode_spatial(visual)`` computed once per session; its output (T context tokens, 2 per
            region) fills the turn's slots.
    """

    def __init__(self, inferencer, video: str, frames: Optional[Sequence[str]] = None,
                 progress: Optional[Callable[[int], None]] = None, turn_context: Optional[Callable] = None):
        self.inferencer = inferencer
        self.model = inferencer.model
        self.settings = inferencer.settings
        self.video_path = video
        self.progress = progress
        self.turn_context = turn_context
        self.pipeline = inferencer.chat_pipeline()
        results = self.pipeline.frames(video, frames, osp.basename(str(video)))  # the frame part, once
        self.num_frames = int(results['num_frames'])
        self.ori_shape = tuple(int(v) for v in results['ori_shape'])
        self.frame_indices = [int(i) for i in results['frame_indices']]
        self.dense_positions = [int(p) for p in results['dense_positions']]
        self.dense_frame_indices = [self.frame_indices[p] for p in self.dense_positions]
        preprocessor = self.model.data_preprocessor
        pixels = preprocessor.cast_data(torch.as_tensor(results['pixel_values']))
        pixels = pixels.to(getattr(preprocessor, 'pixel_dtype', pixels.dtype))
        with torch.no_grad():
            self.visual: Tensor = self.model.extract_feat([pixels])[0]  # [T, n, H], once per session
        results.pop('imgs', None)
        results['pixel_values'] = torch.zeros(0)  # the features above are what the turns use
        self._frames = results
        self.sam2_frames = results.get('sam2_frames')
        self._spatial: Optional[Tensor] = None
        tokenize = self.pipeline.tokenize
        self.tokenizer, self.template, self.encoder = tokenize.tokenizer, tokenize.template, tokenize.encoder
        self._cache = None
        self.cached_ids: List[int] = []  # the tokens the KV cache covers, in order
        self._pending: List[int] = []  # tokens to feed before the next question (the last answer's closing)
        self.turns: List[TurnResult] = []
        self._context_start = 0  # index of the first turn still in the LLM context (see truncate)

    # ------------------------------------------------------------------------------------------------ inputs
    def _encode_answer(self, answer: str) -> List[int]:
        """``answer + SUFFIX`` as training encodes it (only ``[SEG]``, ``<p>``, ``</p>`` of the answer are tokens)."""
        return self.encoder.answer(answer, self.template.suffix)

    def _conversation(self, kept: Sequence[TurnResult], question: Optional[str] = None,
                      region_masks: Sequence = ()) -> dict:
        """The packed test-pipeline sample of ``kept`` turns (closed) and, if given, a new question (open)."""
        rounds = [dict(question=t.question, answer=t.history_answer, regions=t.region_masks) for t in kept]
        if question is not None:
            rounds.append(dict(question=question, answer='', regions=list(region_masks)))
        return self.pipeline.turn(self._frames, rounds, generation=question is not None)

    def turn_ids(self, question: str, first: Optional[bool] = None) -> List[int]:
        """The tokens a question adds to the context, as the test pipeline tokenizes it.

        Args:
            question: User text (each ``<mask>`` counts as a region prompt).
            first: As the first turn in context (BOS and the frame block included); None: whether it would be.
        """
        first = len(self.turns) == self._context_start if first is None else first
        whole = np.ones(self.ori_shape, np.uint8)  # a region's tokens do not depend on its mask
        regions = [(0, whole)] * question.count(REGION_PLACEHOLDER)
        kept = [] if first else self.turns[self._context_start:]
        ids = self._conversation(kept, question, regions)['inputs']['input_ids'].tolist()
        return ids if first else ids[len(self.context_ids()):]

    def model_inputs(self, rounds: Sequence[dict], generation: bool = True):
        """The inputs ``model.test_step`` would receive for a conversation about this video: the test pipeline's
        turn part on ``rounds``, then the model's data preprocessor (tests, notebooks, teaching a model a chat).

        Args:
            rounds: ``dict(question, answer, regions)`` per round (``regions`` as for :meth:`ask`).
            generation: End with a generation prompt (the last round's answer left out); False: all rounds closed,
                with ``labels`` on the answers as in training.

        Returns:
            ``(inputs, data_sample)`` (``inputs`` batched, as the preprocessor returns them).
        """
        rounds = [dict(question=r['question'], answer=r.get('answer') or '',
                       regions=self._region_masks(list(r.get('regions') or []))) for r in rounds]
        return self._prepare(self.pipeline.turn(self._frames, rounds, generation))

    def _prepare(self, packed: dict):
        """The packed sample through the model's data preprocessor (device, dtypes), as ``tools/test.py`` does."""
        data = self.model.data_preprocessor(dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]))
        return data['inputs'], data['data_samples'][0]

    def _fill(self, inputs: dict, rounds: Sequence[Tuple[str, Sequence]], first: bool) -> Tensor:
        """The embeddings of the ``<IMG_CONTEXT>`` slots of ``rounds`` (the last rounds of ``inputs``), in order.

        The first round in context starts with the dense frames' tokens; a model with a context-aggregator neck
        adds per round its ``T`` context tokens and 2 tokens per region.
        """
        parts = [self.visual[self.dense_positions].flatten(0, 1)] if first else []
        if self.model.with_neck:
            neck = self.model.neck
            if self.turn_context is not None:
                turns = [self.turn_context(self, question, list(regions or [])) for question, regions in rounds]
            elif inputs.get('neck_turns') is None:
                raise ValueError('the model has a context-aggregator neck but the test pipeline has no '
                                 'QFormerPrompts step to build its per-turn input')
            else:
                turns = inputs['neck_turns'][0][-len(rounds):]
            if self._spatial is None and hasattr(neck, 'encode_spatial'):
                self._spatial = neck.encode_spatial(self.visual)  # question independent: once per session
            parts.append(neck(self.visual, turns, spatial=self._spatial))
        return torch.cat(parts) if parts else self.visual.new_zeros(0, self.visual.shape[-1])

    def _region_masks(self, regions: Sequence[Any]) -> List[Tuple[int, np.ndarray]]:
        """Each region prompt as ``(frame, uint8 [H, W] mask)``; SAM2 segments point / box dict prompts."""
        out = []
        for r, (frame, prompt) in enumerate(regions):
            if isinstance(prompt, dict):  # points / a box for SAM2: the model's own head finds the object
                prompt = self._sam2_mask(int(frame), prompt, r)
            try:
                out.append((int(frame), region_prompt_mask(prompt, self.ori_shape)))
            except ValueError as exc:
                raise ValueError(f'region {r} (frame {frame}): {exc}') from None
        return out

    def _sam2_mask(self, frame: int, prompt: dict, r: int) -> np.ndarray:
        from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
        points, box = prompt.get('points'), prompt.get('box')
        if not points and box is None:
            raise ValueError(f'region {r}: a dict prompt needs "points" ([[x, y], ...], optional "labels") and/or '
                             '"box" ([x1, y1, x2, y2])')
        height, width = self.ori_shape
        for x, y in points or ():
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(f'region {r}: point ({x}, {y}) is outside the {width}x{height} frame')
        if box is not None:
            region_prompt_mask(tuple(box), self.ori_shape)  # the same checks as a plain box
        info = VideoInit()(dict(video_path=self.video_path, video_id=osp.basename(str(self.video_path))))
        image = VideoDecode()(dict(info, frame_indices=[frame]))['imgs'][0]
        mask = self.model.seg_head.prompt_from_region(image, box=box, points=points, point_labels=prompt.get('labels'))
        if not mask.any():
            raise ValueError(f'region {r}: SAM2 found no object for {prompt} on frame {frame}')
        return mask.astype(np.uint8)

    # ------------------------------------------------------------------------------------------------ turns
    @torch.no_grad()
    def ask(self, question: str, regions: Optional[Sequence[Any]] = None, answer: Optional[str] = None,
            segment: bool = True) -> TurnResult:
        """Ask one question; earlier turns stay in context.

        Args:
            question: User text (``<mask>`` marks a region prompt; needs a model with the neck).
            regions: Region prompts of the question, one per ``<mask>`` (needs the neck): ``(frame, box)`` with a
                box ``(x1, y1, x2, y2)`` in pixels, ``(frame, mask)`` with a binary ``[H, W]`` mask, or
                ``(frame, dict(points=[[x, y], ...], labels=[1, ...], box=[x1, y1, x2, y2]))`` (SAM2 segments the
                object from the points and/or box).
            answer: Teacher-force this answer instead of generating one (scripted evaluation, tests); its
                ``[SEG]`` hidden states are those of the positions whose input token is ``[SEG]``, as in training.
            segment: Track a mask per ``[SEG]`` (False: text only, empty ``masks``).

        Returns:
            :class:`TurnResult`.

        Raises:
            TypeError: A question that is not a string.
            ValueError: An empty question, region prompts with a ``neck=None`` model, a ``<mask>`` count that
                differs from the number of regions, a region that is not a ``(frame, prompt)`` pair on a frame of
                the video, a box outside the frame or empty, a question that alone (with the frame tokens) is
                longer than ``max_length``, a conversation longer than ``max_length`` with ``truncate_history`` off.
                Nothing of the session changes when the question or its regions are rejected, nor when the turn
                fails later (a model error): the context is then restored to what it was before the question.
        """
        start = time.perf_counter()
        if not isinstance(question, str):
            raise TypeError(f'the question must be a string, got {type(question).__name__}')
        if not question.strip():
            raise ValueError('the question is empty')
        regions = list(regions or [])
        n_regions = question.count(REGION_PLACEHOLDER)
        if (regions or n_regions) and not self.model.with_neck:
            raise ValueError('region prompts (<mask> / --region) need the context-aggregator neck; this model has '
                             'neck=None (Sa2VA-style). Use a SAMA model with the neck.')
        if n_regions != len(regions):
            raise ValueError(f'the question has {n_regions} {REGION_PLACEHOLDER} but {len(regions)} regions '
                             f'(one region prompt per {REGION_PLACEHOLDER}): {question!r}')
        self._check_regions(regions)
        region_masks = self._region_masks(regions)  # region errors: nothing changed
        keep, packed = self._context_to_keep(question, region_masks)  # raises, changing nothing, if it cannot fit
        s, backbone = self.settings, self.model.backbone
        saved = (self._context_start, len(self.turns) - self._context_start, len(self.cached_ids),
                 list(self._pending), self._cache is None)
        try:
            if keep < len(self.turns) - self._context_start:
                self.truncate(keep)
            inputs, sample = self._prepare(packed)
            ids = inputs['input_ids'][0].tolist()
            context = self.context_ids()
            if ids[:len(context)] != context:
                raise RuntimeError('the test pipeline tokenized the conversation so far differently from the cached '
                                   'context (a per-turn transform that changes earlier rounds?)')
            new_ids = ids[len(self.cached_ids):]  # the last answer's closing, then this turn's prompt
            fill = self._fill(inputs, [(question, regions)], first=keep == 0)
            device = self.visual.device
            embeds = self.model.embed_turn(torch.tensor([new_ids], device=device), fill,
                                           where=f'chat turn {len(self.turns)}')
            if answer is None:
                out = self.model.generate(embeds, self._cache,
                                          max_new_tokens=min(s['max_new_tokens'], s['max_length'] - len(ids)))
                raw, gen_ids, hidden, self._cache = out.text, list(out.token_ids), out.hidden_states, \
                    out.past_key_values
            else:
                raw, gen_ids = answer, self._encode_answer(answer)
                answer_embeds = self.model.embed_turn(torch.tensor([gen_ids], device=device),
                                                      self.visual.new_zeros(0, self.visual.shape[-1]))
                if self._cache is None:
                    from transformers.cache_utils import DynamicCache
                    self._cache = DynamicCache()
                states, self._cache = backbone.forward_llm(torch.cat([embeds, answer_embeds.to(embeds.dtype)], 1),
                                                           None, self._cache, use_cache=True)
                hidden = states[0, -len(gen_ids):]
            self.cached_ids += new_ids + gen_ids
            self._close_answer(raw, gen_ids)
            seg = torch.tensor(gen_ids, device=hidden.device) == backbone.seg_token_id
            seg_hidden = hidden[seg[:len(hidden)]] if len(hidden) else hidden
            masks = self._segment(seg_hidden, sample) if segment else \
                torch.zeros(0, self.num_frames, *self.ori_shape, dtype=torch.bool)
        except BaseException:  # also KeyboardInterrupt: the session stays usable, without this turn
            self._restore(*saved)
            raise
        result = TurnResult(len(self.turns), question, raw.strip(), gen_ids, seg_hidden.cpu(), masks,
                            time.perf_counter() - start, hidden_states=hidden.cpu(), regions=regions,
                            history_answer=raw, region_masks=region_masks)
        self.turns.append(result)
        return result

    def _context_to_keep(self, question: str, region_masks: Sequence) -> Tuple[int, dict]:
        """How many of the turns in context the new question can keep (all of them unless ``max_length`` forces
        dropping the oldest, with ``truncate_history``), and the packed sample of that conversation; computed
        without changing the session.

        Raises:
            ValueError: The question does not fit even without history (it is too long), or the history has to be
                dropped and ``truncate_history`` is off; the message says which and what helps.
        """
        limit = self.settings['max_length']
        kept = self.turns[self._context_start:]
        packed = self._conversation(kept, question, region_masks)
        total = len(packed['inputs']['input_ids'])
        if total < limit:
            return len(kept), packed
        alone = self._conversation([], question, region_masks) if kept else packed
        needed = len(alone['inputs']['input_ids'])
        if needed >= limit:
            raise ValueError(f'the question is too long: with the frame tokens of the video it needs {needed} tokens, '
                             f'max_length is {limit}; shorten it by at least {needed - limit + 1} tokens (the '
                             f'conversation so far is kept)')
        if not self.settings['truncate_history']:
            raise ValueError(f'the conversation would need {total} tokens, max_length is {limit}; the question alone '
                             f'fits ({needed} tokens): drop earlier turns (ChatSession.truncate or reset, or '
                             'truncate_history=True) or start a new chat')
        for keep in range(len(kept) - 1, 0, -1):
            packed = self._conversation(kept[len(kept) - keep:], question, region_masks)
            if len(packed['inputs']['input_ids']) < limit:
                return keep, packed
        return 0, alone

    def _restore(self, context_start: int, in_context: int, cached: int, pending: List[int], no_cache: bool) -> None:
        """Undo a turn that failed after it changed the context (a generation or model error): the KV cache, the
        tokens it covers and the queued tokens are as before the question."""
        if self._context_start != context_start:  # the oldest turns were dropped: rebuild the context with them
            self._context_start = context_start
            self.truncate(in_context)
            return
        if no_cache:
            self._cache = None
            self.cached_ids = []
        else:
            self._cache.crop(cached)
            del self.cached_ids[cached:]
        self._pending = pending

    def _check_regions(self, regions: Sequence[Any]) -> None:
        """Check the shape of the region list before the turn changes any state (the prompts themselves are
        checked against the frame when they are rasterised)."""
        for r, region in enumerate(regions):
            if not isinstance(region, (tuple, list)) or len(region) != 2:
                raise ValueError(f'region {r}: expected a (frame, prompt) pair, got {region!r:.80}')
            frame = region[0]
            if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
                raise ValueError(f'region {r}: the frame index must be an integer, got {frame!r}')
            if not 0 <= int(frame) < self.num_frames:
                raise ValueError(f'region {r}: frame {frame} is outside the video of {self.num_frames} frames')

    def _close_answer(self, raw: str, gen_ids: List[int]) -> None:
        """Make the cache hold ``answer + SUFFIX`` as training tokenizes it, and queue ``SEP`` for the next turn."""
        from sama_mm.datasets.transforms.tokenize import ANY_SPECIAL
        canonical = self._encode_answer(raw)
        common = 0
        while common < min(len(canonical), len(gen_ids)) and canonical[common] == gen_ids[common]:
            common += 1
        drop = len(gen_ids) - common
        if drop:
            keep = len(self.cached_ids) - drop
            self._cache.crop(keep)
            del self.cached_ids[keep:]
        self._pending = canonical[common:] + self.encoder.encode([(self.template.sep, ANY_SPECIAL)])

    def _segment(self, seg_hidden: Tensor, sample) -> Tensor:
        """Track one mask per ``[SEG]`` hidden state through every frame (all objects in one batch)."""
        source = self.sam2_frames
        if self.progress is not None and len(seg_hidden):
            progress, base = self.progress, self.sam2_frames

            def source(indices: List[int]) -> Tensor:
                frames = base(indices)
                progress(len(indices))
                return frames

        num_frames = len(sample.get('sam2_frame_indices', range(self.num_frames)))
        return self.model.segment(seg_hidden, source, sample, num_frames,
                                  chunk_size=self.settings['sam2_chunk_size'])

    # ------------------------------------------------------------------------------------------------ state
    def history(self) -> List[dict]:
        """The rounds in the LLM context as ``dict(question, answer)`` (answers as kept in the context)."""
        return [dict(question=t.question, answer=t.history_answer) for t in self.turns[self._context_start:]]

    @torch.no_grad()
    def truncate(self, keep_last: int) -> None:
        """Keep only the last ``keep_last`` turns in the LLM context (reference §7.2 item 9).

        The context is rebuilt once as training would tokenize the kept rounds (the test pipeline on them, every
        round closed): BOS, the frame block in the first kept round's instruction, then each round's answer +
        SUFFIX + SEP (teacher-forced, one forward pass). ``turns`` keeps every result; only the context shrinks.
        """
        from transformers.cache_utils import DynamicCache
        in_context = len(self.turns) - self._context_start
        keep_last = max(0, min(int(keep_last), in_context))
        self._context_start = len(self.turns) - keep_last
        kept = self.turns[self._context_start:]
        self._cache, self.cached_ids, self._pending = None, [], []
        if not kept:
            return
        inputs, _ = self._prepare(self._conversation(kept))
        ids = inputs['input_ids'][0]
        fill = self._fill(inputs, [(t.question, t.regions) for t in kept], first=True)
        embeds = self.model.embed_turn(ids[None], fill, where='the chat history')
        _, self._cache = self.model.backbone.forward_llm(embeds, None, DynamicCache(), use_cache=True)
        self.cached_ids = ids.tolist()

    def context_ids(self) -> List[int]:
        """Every token of the conversation as training would tokenize it (cache + the queued closing tokens)."""
        return self.cached_ids + self._pending

    def reset(self) -> None:
        """Forget the conversation (frames and their features stay)."""
        self._cache = None
        self.cached_ids, self._pending, self.turns = [], [], []
        self._context_start = 0
