"""Multi-turn grounded chat about one video: :class:`SAMAInferencer` (model + settings) and :class:`ChatSession`.

A session keeps, for the whole conversation (reference §7.2):

* the video's frame list, size, sparse and dense frames (chosen once, deterministically);
* the ViT + ``mlp1`` tokens of the sparse frames (computed once per session);
* the LLM KV cache of every token so far. A new turn appends only its own tokens. The history is written
  exactly as training tokenizes a conversation (``ChatTokenize``): BOS once, then per round the instruction,
  ``answer + SUFFIX`` and ``SEP``. When the generated tokens differ from that tokenization of the decoded answer
  (generation stopped on another stop word or on ``max_new_tokens``, or a non-canonical token split), the cache is
  cut back to the common prefix and the canonical tokens are fed instead, so the next turn sees what a model
  trained on the full conversation would see;
* per turn: the question, the answer, its tokens, the ``[SEG]`` hidden states and one mask track per ``[SEG]``
  over every frame of the video.

Masks: all ``[SEG]`` of a turn are tracked together by the SAM2 head, which reads frames on demand in chunks
and encodes each frame once per turn (see ``SAM2SegHead.predict``).
"""
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor

from sama_mm.datasets.transforms.frame_source import VideoFrameSource
from sama_mm.datasets.transforms.image import resize_normalize
from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
from sama_mm.datasets.transforms.sampling import dense_positions, sparse_indices
from sama_mm.datasets.transforms.tokenize import (ANY_SPECIAL, PromptEncoder, encode_round, image_block_text,
                                                  round_input_pieces)
from sama_mm.structures import SAMADataSample
from sama_mm.structures.tokens import IMG_CONTEXT, REGION_PLACEHOLDER

#: Inference settings and their defaults (read from the config's ``chat_cfg`` first, then its test pipeline).
DEFAULT_CHAT_CFG = dict(
    interval=3, max_frames=32, min_frames=8, num_dense=5, dense_policy='first',  # which frames the LLM sees
    sparse_policy='spread',
    vit_image_size=448, num_image_tokens=256, context_tokens=False, context_sep='', frames_sep='', max_length=8192,
    sam2_image_size=1024, sam2_chunk_size=None, max_new_tokens=None,
    resize_backend='torch', sam2_resize_backend='torch', sam2_round_norm_to_bf16=False,  # 'pil' + True: released
    truncate_history=True)  # drop the oldest turns (keeping the frame block) when max_length is reached


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

    @property
    def num_objects(self) -> int:
        """Number of ``[SEG]`` (mask tracks) of the answer."""
        return int(self.masks.shape[0])


def _find_transform(pipeline: Sequence[dict], name: str) -> Optional[dict]:
    for step in pipeline or ():
        t = step.get('type')
        t_name = t if isinstance(t, str) else getattr(t, '__name__', '')
        if t_name == name:
            return step
    return None


def chat_cfg_from_config(cfg: Config) -> Dict[str, Any]:
    """Inference settings of a model config.

    Order of precedence: ``cfg.chat_cfg`` entries, then the test pipeline (``SampleFrames``,
    ``InternVLImageTransform``, ``ChatTokenize``, ``SAM2FrameSource``), then :data:`DEFAULT_CHAT_CFG`.
    """
    out = dict(DEFAULT_CHAT_CFG)
    pipeline = _test_pipeline(cfg)
    sample = _find_transform(pipeline, 'SampleFrames')
    if sample is not None:
        for key in ('interval', 'max_frames', 'min_frames', 'num_dense', 'dense_policy', 'sparse_policy'):
            if key in sample:
                out[key] = sample[key]
    vit = _find_transform(pipeline, 'InternVLImageTransform')
    if vit is not None and 'image_size' in vit:
        out['vit_image_size'] = vit['image_size']
    if vit is not None and 'resize_backend' in vit:
        out['resize_backend'] = vit['resize_backend']
    tok = _find_transform(pipeline, 'ChatTokenize')
    if tok is not None:
        for key in ('num_image_tokens', 'context_tokens', 'context_sep', 'frames_sep', 'max_length'):
            if key in tok:
                out[key] = tok[key]
    sam2 = _find_transform(pipeline, 'SAM2FrameSource')
    if sam2 is not None and 'image_size' in sam2:
        out['sam2_image_size'] = sam2['image_size']
    for key in ('resize_backend', 'round_norm_to_bf16'):
        if sam2 is not None and key in sam2:
            out['sam2_' + key] = sam2[key]
    out.update(check_chat_settings(cfg.get('chat_cfg') or {}, 'chat_cfg'))
    return out


def check_chat_settings(settings: dict, where: str) -> dict:
    """Return ``settings`` if every key is an inference setting (:data:`DEFAULT_CHAT_CFG`).

    Raises:
        ConfigError: For an unknown key, naming it (``chat_cfg.max_new_token``) and the closest known ones, and for
            a ``max_new_tokens`` that is not a positive integer.
    """
    import difflib

    from sama_mm.utils.config_check import ConfigError
    if not isinstance(settings, dict):
        raise ConfigError(where, f'expected a dict of inference settings, got {type(settings).__name__}')
    for key in settings:
        if key not in DEFAULT_CHAT_CFG:
            close = difflib.get_close_matches(str(key), list(DEFAULT_CHAT_CFG), n=2, cutoff=0.6)
            hint = f'did you mean {" or ".join(map(repr, close))}?' if close else \
                f'known: {", ".join(sorted(DEFAULT_CHAT_CFG))}'
            raise ConfigError(f'{where}.{key}', f'unknown inference setting {key!r}; {hint}')
    value = settings.get('max_new_tokens')
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
        raise ConfigError(f'{where}.max_new_tokens',
                          f'must be a positive integer (the generation limit), got {value!r}')
    return dict(settings)


def _test_pipeline(cfg: Config) -> Sequence[dict]:
    return cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline', [])


def region_prompt_mask(prompt: Any, shape: Sequence[int]) -> np.ndarray:
    """A region prompt on one frame as a binary ``[H, W]`` mask.

    Args:
        prompt: A box ``(x1, y1, x2, y2)`` in pixels (the reference encodes regions as box masks anyway) or a
            binary mask ``[H, W]``.
        shape: ``(H, W)`` of the video.

    Raises:
        ValueError: A box outside the frame or empty after clipping, a mask of another size, an empty mask.
    """
    height, width = (int(v) for v in shape)
    if isinstance(prompt, (tuple, list)) and len(prompt) == 4 and all(np.isscalar(v) for v in prompt):
        try:
            x1, y1, x2, y2 = (float(v) for v in prompt)
        except (TypeError, ValueError):
            raise ValueError(f'region box {tuple(prompt)} must hold 4 numbers (x1, y1, x2, y2)') from None
        if not all(np.isfinite(v) for v in (x1, y1, x2, y2)):
            raise ValueError(f'region box {tuple(prompt)} has a non-finite coordinate')
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f'region box {tuple(prompt)} is empty: x2 > x1 and y2 > y1 are required')
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise ValueError(f'region box {tuple(prompt)} is outside the {width}x{height} (WxH) frame')
        mask = np.zeros((height, width), np.uint8)
        mask[max(int(np.floor(y1)), 0):min(int(np.ceil(y2)), height),
             max(int(np.floor(x1)), 0):min(int(np.ceil(x2)), width)] = 1
        return mask
    mask = np.asarray(prompt)
    if mask.ndim != 2:
        raise ValueError(f'a region prompt must be a box (x1, y1, x2, y2), a binary [H, W] mask or a dict of '
                         f'points/box; got {type(prompt).__name__} {prompt!r:.60}')
    if mask.shape != (height, width):
        raise ValueError(f'region mask has shape {mask.shape}, the video is {height}x{width}')
    if not mask.any():
        raise ValueError('region mask is empty')
    return (mask != 0).astype(np.uint8)


class QFormerTurnContext:
    """The neck input of one chat turn, built by the test pipeline's ``QFormerPrompts`` step.

    A region prompt is ``(frame, prompt)`` on a raw frame of the video: a box ``(x1, y1, x2, y2)`` (used as its
    box mask, which is how the reference encodes every training region), a binary ``[H, W]`` mask, or a dict
    ``dict(points=[[x, y], ...], labels=[1, ...], box=[x1, y1, x2, y2])`` (points and/or a box) which the model's
    own SAM2 head turns into a mask on that frame. It is placed on the sparse frame nearest to ``frame`` (the aggregator pools region features from
    the frames the LLM saw).

    Args:
        cfg: The model config; its test pipeline must contain ``QFormerPrompts``.
    """

    def __init__(self, cfg: Config):
        from sama_mm.registry import TRANSFORMS
        step = _find_transform(_test_pipeline(cfg), 'QFormerPrompts')
        if step is None:
            raise ValueError('the model has a context-aggregator neck but the test pipeline has no QFormerPrompts '
                             'step to build its per-turn input')
        self.transform = TRANSFORMS.build(dict(step))

    def __call__(self, session: 'ChatSession', question: str, regions: Sequence[Any]) -> dict:
        sparse = np.asarray(session.frame_indices)
        masks = None
        if regions:
            masks = np.zeros((len(regions), len(sparse)) + tuple(session.ori_shape), np.uint8)
            for r, region in enumerate(regions):
                frame, prompt = region
                if not 0 <= int(frame) < session.num_frames:
                    raise ValueError(f'region {r}: frame {frame} is outside the video of {session.num_frames} frames')
                if isinstance(prompt, dict):  # points / a box for SAM2: the model's own head finds the object
                    prompt = self._sam2_mask(session, int(frame), prompt, r)
                try:
                    mask = region_prompt_mask(prompt, session.ori_shape)
                except ValueError as exc:
                    raise ValueError(f'region {r} (frame {frame}): {exc}') from None
                masks[r, int(np.abs(sparse - int(frame)).argmin())] = mask
        results = dict(rounds=[dict(question=question)], dense_positions=list(session.dense_positions),
                       region_masks=masks, video_id=osp.basename(str(session.video_path)))
        return self.transform(results)['neck_turns'][0]

    @staticmethod
    def _sam2_mask(session: 'ChatSession', frame: int, prompt: dict, r: int) -> np.ndarray:
        points, box = prompt.get('points'), prompt.get('box')
        if not points and box is None:
            raise ValueError(f'region {r}: a dict prompt needs "points" ([[x, y], ...], optional "labels") and/or '
                             '"box" ([x1, y1, x2, y2])')
        height, width = session.ori_shape
        for x, y in points or ():
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(f'region {r}: point ({x}, {y}) is outside the {width}x{height} frame')
        if box is not None:
            region_prompt_mask(tuple(box), session.ori_shape)  # the same checks as a plain box
        info = VideoInit()(dict(video_path=session.video_path, video_id=osp.basename(str(session.video_path))))
        image = VideoDecode()(dict(info, frame_indices=[frame]))['imgs'][0]
        mask = session.model.seg_head.mask_from_prompt(image, box=box, points=points,
                                                       point_labels=prompt.get('labels'))
        if not mask.any():
            raise ValueError(f'region {r}: SAM2 found no object for {prompt} on frame {frame}')
        return mask.astype(np.uint8)


def _read_weights(checkpoint: str) -> Dict[str, Tensor]:
    """The state dict of a checkpoint file or folder; a file that cannot be read is a ValueError naming it."""
    from sama_mm.utils.weights import read_checkpoint, read_safetensors_folder, unreadable_checkpoint_error
    try:
        return read_safetensors_folder(checkpoint) if osp.isdir(checkpoint) else read_checkpoint(checkpoint)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch, safetensors and pickle each raise their own types for a broken file
        raise unreadable_checkpoint_error(checkpoint, exc) from None


class SAMAInferencer:
    """A SAMA model ready for chat: built from a config, with weights loaded strictly, in eval mode.

    Args:
        config: Config file or :class:`mmengine.config.Config`. Inference settings come from ``chat_cfg`` /
            the test pipeline (see :func:`chat_cfg_from_config`); ``model.sam2_prompt_frames`` decides which
            frames prompt SAM2 (``'dense'`` or ``'first'``).
        checkpoint: A converted folder (safetensors), a ``.safetensors`` file or an MMEngine ``.pth``; every
            model key must be present and every checkpoint key used. None keeps the initial (random) weights.
        device: Torch device.
        chat_cfg: Overrides of the inference settings.

    Raises:
        ConfigError: (:mod:`sama_mm.utils.config_check`) A config file that is missing or does not load, an
            unknown key or a wrongly typed value in ``model`` / the test pipeline, an unknown inference setting;
            the message names the file or the config key.
        FileNotFoundError: A checkpoint path that does not exist.
        ValueError: A checkpoint that cannot be read.
        StateDictMismatchError: (:mod:`sama_mm.utils.weights`) Checkpoint keys or shapes that differ from the
            model's.
    """

    def __init__(self, config: Union[str, Config], checkpoint: Optional[str] = None, device: str = 'cpu',
                 chat_cfg: Optional[dict] = None):
        from sama_mm.registry import MODELS
        from sama_mm.utils import register_all_modules
        from sama_mm.utils.weights import load_state_dict_strict
        from sama_mm.utils.config_check import check_config, read_config
        register_all_modules()
        cfg = read_config(config) if isinstance(config, str) else config
        check_config(cfg, keys=['model', 'test_pipeline', 'test_dataloader'])
        self.cfg = cfg
        self.settings = chat_cfg_from_config(cfg)
        self.settings.update(check_chat_settings(chat_cfg or {}, 'chat_cfg'))
        if checkpoint is not None and not osp.exists(checkpoint):
            raise FileNotFoundError(f'{checkpoint}: checkpoint not found')
        model = MODELS.build(cfg.model)
        if checkpoint is not None:
            state = _read_weights(checkpoint)
            if osp.isdir(checkpoint):
                from sama_mm.apis.convert import load_our_folder
                load_our_folder(model, checkpoint, state)  # a converted folder (a tied LM head may be stored once)
            else:
                load_state_dict_strict(model, state, where=checkpoint)
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        if self.settings['max_new_tokens'] is None:
            self.settings['max_new_tokens'] = int(model.max_new_tokens)
        if model.backbone.num_image_tokens != self.settings['num_image_tokens']:
            raise ValueError(f'the backbone makes {model.backbone.num_image_tokens} tokens per frame but the chat '
                             f'settings say num_image_tokens={self.settings["num_image_tokens"]}')

    @classmethod
    def from_model(cls, model, cfg: Union[Config, dict, None] = None, **settings) -> 'SAMAInferencer':
        """Wrap an already built model (tests, notebooks); ``settings`` override the inference settings."""
        self = cls.__new__(cls)
        cfg = cfg if isinstance(cfg, Config) else Config(cfg or {})
        self.cfg = cfg
        self.settings = chat_cfg_from_config(cfg)
        self.settings.update(check_chat_settings(settings, 'settings'))
        self.model = model.eval()
        self.device = next(model.parameters()).device
        if self.settings['max_new_tokens'] is None:
            self.settings['max_new_tokens'] = int(model.max_new_tokens)
        return self

    def open(self, video: str, frames: Optional[Sequence[str]] = None,
             turn_context: Optional[Callable] = None) -> 'ChatSession':
        """Start a conversation about a video file or a frame folder (``frames``: names in a folder, in order).

        ``turn_context`` is the neck's per-turn input builder (see :class:`ChatSession`).
        """
        return ChatSession(self, video, frames, turn_context=turn_context)

    def __call__(self, video: str, question: str) -> TurnResult:
        """One question about a video (a session of one turn)."""
        return self.open(video).ask(question)


class ChatSession:
    """A multi-turn conversation about one video (see the module docstring for what it keeps).

    Args:
        inferencer: The model and its settings.
        video: Video file or frame folder.
        frames: Frame names of a frame folder (None: every image, sorted).
        progress: Optional ``callback(num_frames_done)`` called as SAM2 reads frames (for progress bars).
        turn_context: For a model with a context-aggregator neck: ``f(session, question, regions) -> dict``, the
            neck's input for one turn (for ``STAggregator``: ``qformer_input_ids``, optional
            ``qformer_attention_mask`` and ``regions``). The neck is then called once per turn as
            ``neck(visual, [turn], spatial=S)`` with its question-independent ``S = neck.encode_spatial(visual)``
            computed once per session; its output (T context tokens, 2 per region) fills the turn's slots.
            Defaults to :class:`QFormerTurnContext` (the test pipeline's ``QFormerPrompts``) for such a model.
    """

    def __init__(self, inferencer: SAMAInferencer, video: str, frames: Optional[Sequence[str]] = None,
                 progress: Optional[Callable[[int], None]] = None, turn_context: Optional[Callable] = None):
        self.inferencer = inferencer
        self.model = inferencer.model
        self.settings = s = inferencer.settings
        self.video_path = video
        self.progress = progress
        if turn_context is None and self.model.neck is not None:
            turn_context = QFormerTurnContext(inferencer.cfg)
        self.turn_context = turn_context
        self._spatial: Optional[Tensor] = None
        info = VideoInit()(dict(video_path=video, frames=list(frames) if frames is not None else None,
                                video_id=osp.basename(str(video))))
        self.num_frames = int(info['num_frames'])
        self.ori_shape = tuple(int(v) for v in info['ori_shape'])
        self.frame_indices = sparse_indices(self.num_frames, s['interval'], s['max_frames'], s['min_frames'],
                                            s['sparse_policy'])
        self.dense_positions = dense_positions(len(self.frame_indices), s['num_dense'], s['dense_policy'])
        self.dense_frame_indices = [self.frame_indices[p] for p in self.dense_positions]
        imgs = VideoDecode()(dict(info, frame_indices=self.frame_indices))['imgs']
        pixel_values = resize_normalize(imgs, s['vit_image_size'], resize_backend=s['resize_backend'])
        pixel_values = pixel_values.to(self.inferencer.device)
        with torch.no_grad():
            self.visual: Tensor = self.model.extract_feat([pixel_values])[0]  # [T, n, H], once per session
        del imgs, pixel_values
        self.sam2_frames = VideoFrameSource(video, list(frames) if frames is not None else None,
                                            self.num_frames, s['sam2_image_size'], osp.basename(str(video)),
                                            s['sam2_resize_backend'], s['sam2_round_norm_to_bf16'])
        backbone = self.model.backbone
        self.tokenizer = backbone.tokenizer
        self.template = backbone.template
        self.encoder = PromptEncoder(self.tokenizer)  # user text never becomes control tokens (as in training)
        bos = getattr(self.tokenizer, 'bos_token_id', None)
        self._bos = [] if bos is None else [int(bos)]
        self._cache = None
        self.cached_ids: List[int] = []  # the tokens the KV cache covers, in order
        self._pending: List[int] = []  # tokens to feed before the next question (the last answer's closing)
        self.turns: List[TurnResult] = []
        self._context_start = 0  # index of the first turn still in the LLM context (see truncate)

    # ------------------------------------------------------------------------------------------------ text
    def _encode_answer(self, answer: str) -> List[int]:
        """``answer + SUFFIX`` as training encodes it (only ``[SEG]``, ``<p>``, ``</p>`` of the answer are tokens)."""
        return self.encoder.answer(answer, self.template.suffix)

    def _encode_sep(self) -> List[int]:
        return self.encoder.encode([(self.template.sep, ANY_SPECIAL)])

    def _first_in_context(self) -> bool:
        return len(self.turns) == self._context_start

    def _turn_ids(self, question: str, first: Optional[bool] = None) -> List[int]:
        s = self.settings
        first = self._first_in_context() if first is None else first
        frames = image_block_text(len(self.dense_positions), s['num_image_tokens']) if first else ''
        pieces = round_input_pieces(question, frames, len(self.frame_indices), s['context_tokens'], s['context_sep'],
                                    s['frames_sep'])
        ids, _ = encode_round(self.encoder, self.template, pieces, None)
        return (list(self._bos) if first else []) + ids

    def _turn_fill(self, question: str, regions: Optional[Sequence[Any]], first: Optional[bool] = None) -> Tensor:
        """The embeddings of this turn's ``<IMG_CONTEXT>`` slots, in order.

        Turn 0 starts with the dense frames' tokens. A model with a context-aggregator neck adds the turn's
        ``T`` context tokens and 2 tokens per region; that is where region prompts plug in.
        """
        parts = []
        if self._first_in_context() if first is None else first:
            parts.append(self.visual[self.dense_positions].flatten(0, 1))
        neck = self.model.neck
        if neck is not None:
            if self._spatial is None and hasattr(neck, 'encode_spatial'):
                self._spatial = neck.encode_spatial(self.visual)  # question independent: once per session
            turn = self.turn_context(self, question, list(regions or []))
            parts.append(neck(self.visual, [turn], spatial=self._spatial))
        if not parts:
            return self.visual.new_zeros(0, self.visual.shape[-1])
        return torch.cat(parts)

    def _embed(self, ids: List[int], fill: Tensor) -> Tensor:
        backbone = self.model.backbone
        ids_t = torch.tensor([ids], device=self.visual.device)
        embeds = backbone.get_input_embeddings()(ids_t)
        slots = ids_t == backbone.img_context_token_id
        if int(slots.sum()) != len(fill):
            raise ValueError(f'the turn has {int(slots.sum())} {IMG_CONTEXT} tokens but {len(fill)} embeddings '
                             f'to fill them')
        if len(fill):
            embeds = embeds.masked_scatter(slots[..., None], fill.to(embeds.dtype))
        return embeds

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
        n_regions = question.count(REGION_PLACEHOLDER)
        if (regions or n_regions) and self.model.neck is None:
            raise ValueError('region prompts (<mask> / --region) need the context-aggregator neck; this model has '
                             'neck=None (Sa2VA-style). Use a SAMA model with the neck.')
        if n_regions != len(regions or []):
            raise ValueError(f'the question has {n_regions} {REGION_PLACEHOLDER} but {len(regions or [])} regions '
                             f'(one region prompt per {REGION_PLACEHOLDER}): {question!r}')
        self._check_regions(regions or [])
        backbone = self.model.backbone
        s = self.settings
        keep = self._context_to_keep(question)  # raises, changing nothing, when the question cannot fit
        first = keep == 0
        fill = self._turn_fill(question, regions, first=first)  # region errors: still nothing changed
        saved = (self._context_start, len(self.turns) - self._context_start, len(self.cached_ids),
                 list(self._pending), self._cache is None)
        try:
            if keep < len(self.turns) - self._context_start:
                self.truncate(keep)
            turn_ids = self._turn_ids(question, first=first)
            total = len(self.cached_ids) + len(self._pending) + len(turn_ids)
            ids = self._pending + turn_ids
            embeds = self._embed(ids, fill)
            if answer is None:
                out = backbone.generate(embeds, None, max_new_tokens=min(s['max_new_tokens'], s['max_length'] - total),
                                        stop_words=self.template.stop_words, past_key_values=self._cache)
                gen_ids, hidden, self._cache = list(out.token_ids), out.hidden_states, out.past_key_values
                raw = self.tokenizer.decode(gen_ids, skip_special_tokens=False)
                for stop in self.template.stop_words:
                    raw = raw.split(stop)[0]
            else:
                raw = answer
                gen_ids = self._encode_answer(answer)
                ans_embeds = backbone.get_input_embeddings()(torch.tensor([gen_ids], device=embeds.device))
                full = torch.cat([embeds, ans_embeds.to(embeds.dtype)], dim=1)
                if self._cache is None:
                    from transformers.cache_utils import DynamicCache
                    self._cache = DynamicCache()
                states, self._cache = backbone.forward_llm(full, None, self._cache, use_cache=True)
                hidden = states[0, -len(gen_ids):]
            self.cached_ids += ids + gen_ids
            self._close_answer(raw, gen_ids)
            seg = torch.tensor(gen_ids, device=hidden.device) == backbone.seg_token_id
            seg_hidden = hidden[seg[:len(hidden)]] if len(hidden) else hidden
            masks = self._segment(seg_hidden) if segment else \
                torch.zeros(0, self.num_frames, *self.ori_shape, dtype=torch.bool)
        except BaseException:  # also KeyboardInterrupt: the session stays usable, without this turn
            self._restore(*saved)
            raise
        result = TurnResult(len(self.turns), question, raw.strip(), gen_ids, seg_hidden.cpu(), masks,
                            time.perf_counter() - start, hidden_states=hidden.cpu(), regions=list(regions or []),
                            history_answer=raw)
        self.turns.append(result)
        return result

    def _context_to_keep(self, question: str) -> int:
        """How many of the turns in context the new question can keep (all of them unless ``max_length`` forces
        dropping the oldest, with ``truncate_history``); computed without changing the session.

        Raises:
            ValueError: The question does not fit even without history (it is too long), or the history has to be
                dropped and ``truncate_history`` is off; the message says which and what helps.
        """
        limit = self.settings['max_length']
        in_context = len(self.turns) - self._context_start
        alone = len(self._turn_ids(question, first=True))
        if alone >= limit:
            raise ValueError(f'the question is too long: with the frame tokens of the video it needs {alone} tokens, '
                             f'max_length is {limit}; shorten it by at least {alone - limit + 1} tokens (the '
                             f'conversation so far is kept)')
        if in_context == 0:
            return 0
        new = len(self._turn_ids(question, first=False))
        if len(self.cached_ids) + len(self._pending) + new < limit:
            return in_context
        if not self.settings['truncate_history']:
            raise ValueError(f'the conversation would need {len(self.cached_ids) + len(self._pending) + new} tokens, '
                             f'max_length is {limit}; the question alone fits ({alone} tokens): drop earlier turns '
                             f'(ChatSession.truncate or reset, or truncate_history=True) or start a new chat')
        # Tokens of each turn in context as the first kept one (frame block, BOS) and as a later one.
        turns = self.turns[self._context_start:]
        closing = [len(self._encode_answer(t.history_answer)) + len(self._encode_sep()) for t in turns]
        as_first = [len(self._turn_ids(t.question, first=True)) + c for t, c in zip(turns, closing)]
        as_later = [len(self._turn_ids(t.question, first=False)) + c for t, c in zip(turns, closing)]
        for keep in range(in_context - 1, 0, -1):
            start = in_context - keep
            if as_first[start] + sum(as_later[start + 1:]) + new < limit:
                return keep
        return 0

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
        canonical = self._encode_answer(raw)
        common = 0
        while common < min(len(canonical), len(gen_ids)) and canonical[common] == gen_ids[common]:
            common += 1
        drop = len(gen_ids) - common
        if drop:
            keep = len(self.cached_ids) - drop
            self._cache.crop(keep)
            del self.cached_ids[keep:]
        self._pending = canonical[common:] + self._encode_sep()

    def _segment(self, seg_hidden: Tensor) -> Tensor:
        """Track one mask per ``[SEG]`` hidden state through every frame (all objects in one batch)."""
        if len(seg_hidden) == 0:
            return torch.zeros(0, self.num_frames, *self.ori_shape, dtype=torch.bool)
        head = self.model.seg_head
        sample = SAMADataSample(metainfo=dict(dense_frame_indices=self.dense_frame_indices))
        cond = self.model.prompt_frame_positions(sample, self.num_frames)
        source: Callable[[List[int]], Tensor] = self.sam2_frames
        if self.progress is not None:
            progress, base = self.progress, self.sam2_frames

            def source(indices: List[int]) -> Tensor:
                frames = base(indices)
                progress(len(indices))
                return frames

        return head.predict(source, head.project(seg_hidden), cond, self.ori_shape, num_frames=self.num_frames,
                            chunk_size=self.settings['sam2_chunk_size']).cpu()

    # ------------------------------------------------------------------------------------------------ state
    def history(self) -> List[dict]:
        """The rounds in the LLM context as ``dict(question, answer)`` (answers as kept in the context)."""
        return [dict(question=t.question, answer=t.history_answer) for t in self.turns[self._context_start:]]

    @torch.no_grad()
    def truncate(self, keep_last: int) -> None:
        """Keep only the last ``keep_last`` turns in the LLM context (reference §7.2 item 9).

        The context is rebuilt once as training would tokenize the kept rounds: BOS, the frame block in the first
        kept round's instruction, then each round's answer + SUFFIX + SEP (teacher-forced, one forward pass).
        ``turns`` keeps every result; only the context shrinks.
        """
        from transformers.cache_utils import DynamicCache
        in_context = len(self.turns) - self._context_start
        keep_last = max(0, min(int(keep_last), in_context))
        self._context_start = len(self.turns) - keep_last
        kept = self.turns[self._context_start:]
        self._cache, self.cached_ids, self._pending = None, [], []
        if not kept:
            return
        ids: List[int] = []
        fills = []
        for j, t in enumerate(kept):
            ids += self._turn_ids(t.question, first=j == 0)
            fills.append(self._turn_fill(t.question, t.regions, first=j == 0))
            ids += self._encode_answer(t.history_answer) + self._encode_sep()
        embeds = self._embed(ids, torch.cat(fills))
        _, self._cache = self.model.backbone.forward_llm(embeds, None, DynamicCache(), use_cache=True)
        self.cached_ids = ids

    def context_ids(self) -> List[int]:
        """Every token of the conversation as training would tokenize it (cache + the queued closing tokens)."""
        return self.cached_ids + self._pending

    def reset(self) -> None:
        """Forget the conversation (frames and their features stay)."""
        self._cache = None
        self.cached_ids, self._pending, self.turns = [], [], []
        self._context_start = 0


def masks_to_numpy(masks: Tensor) -> np.ndarray:
    """``bool [K, N, H, W]`` tensor → ``uint8`` numpy array."""
    return masks.to(torch.uint8).numpy()
