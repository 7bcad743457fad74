"""SAMA: a video LLM whose ``[SEG]`` tokens prompt a SAM2 head, optionally with a context-aggregating neck."""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import torch
from mmengine.model import BaseModel
from torch import Tensor

from ..registry import MODELS
from ..structures import SAMADataSample
from .data_preprocessor import SAMADataPreprocessor
from .heads.base_seg_head import BaseSegHead, describe_sample

SAM2_PROMPT_FRAMES = ('dense', 'first')


class Generation(NamedTuple):
    """Result of :meth:`SAMA.generate` (unpacks as a tuple).

    Attributes:
        text: The decoded answer, special tokens kept, cut before the first stop word (not stripped).
        token_ids: The generated ids, the stop token included when generation stopped on one.
        hidden_states: ``[n, H]`` last-layer hidden state of every generated token (row k: the step that consumes
            token k), as the backbone's ``generate`` returns them.
        past_key_values: The KV cache, covering the prompt and every generated token.
    """
    text: str
    token_ids: List[int]
    hidden_states: Tensor
    past_key_values: Any


@MODELS.register_module()
class SAMA(BaseModel):
    """SAMA / Sa2VA as one MMEngine model: ``backbone`` (video LLM), optional ``neck``, ``seg_head`` (SAM2).

    Every ``<IMG_CONTEXT>`` placeholder of the prompt is filled, in order, with the visual tokens of the dense
    frames followed by whatever the neck contributes (its context and region tokens, in prompt order). With
    ``neck=None`` the model is Sa2VA-style: only the dense frames are seen by the LLM.

    Args:
        backbone (dict): Config of the video LLM (``InternVLVideoLLM``): ``encode_images``,
            ``get_input_embeddings``, ``forward_llm``, ``lm_loss``, ``generate``, ``tokenizer``, ``template``,
            ``img_context_token_id``, ``seg_token_id``.
        seg_head (dict): Config of the mask head, a :class:`BaseSegHead` (``SAM2SegHead``); the model talks to it
            only through that contract (``loss``, ``predict``; chat also ``prompt_from_region``). Its
            ``llm_hidden_size`` is filled from the backbone when missing.
        neck (dict, optional): Config of a context aggregator (``STAggregator``) called as
            ``neck(visual_tokens [T, N, H], neck_turns)`` (``neck_turns`` from the ``QFormerPrompts`` transform);
            it returns the ``[P * T + 2 * R, H]`` context and region embeddings that follow the dense frames in
            the placeholder order. Its ``llm_hidden_size`` is filled from the backbone when missing.
        data_preprocessor (dict, optional): Defaults to :class:`SAMADataPreprocessor`.
        max_new_tokens (int): Generation limit of ``predict``.
        sam2_prompt_frames (str): Which frames SAM2 is prompted on at inference: ``'dense'`` (the frames the
            LLM saw; our default) or ``'first'`` (the first ``len(dense)`` frames of the video, as the released
            inference code does).
        init_cfg (dict, optional): MMEngine initialisation config.
    """

    def __init__(self, backbone: dict, seg_head: dict, neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, max_new_tokens: int = 512,
                 sam2_prompt_frames: str = 'dense', init_cfg: Optional[dict] = None):
        if sam2_prompt_frames not in SAM2_PROMPT_FRAMES:
            raise ValueError(f'sam2_prompt_frames must be one of {SAM2_PROMPT_FRAMES}, got {sam2_prompt_frames!r}')
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f'max_new_tokens must be a positive integer (the generation limit), '
                             f'got {max_new_tokens!r}')
        super().__init__(data_preprocessor=data_preprocessor or dict(type=SAMADataPreprocessor), init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        seg_head = dict(seg_head)
        if seg_head.get('llm_hidden_size') is None:
            seg_head['llm_hidden_size'] = self.backbone.hidden_size
        self.seg_head = MODELS.build(seg_head)
        if not isinstance(self.seg_head, BaseSegHead):
            raise TypeError(f'seg_head must build a BaseSegHead (loss / predict / prompt_from_region), got '
                            f'{type(self.seg_head).__name__}')
        if neck is not None:
            neck = dict(neck)
            if neck.get('llm_hidden_size') is None:
                neck['llm_hidden_size'] = self.backbone.hidden_size
        self.neck = MODELS.build(neck) if neck is not None else None
        self.max_new_tokens = max_new_tokens
        self.sam2_prompt_frames = sam2_prompt_frames

    # ------------------------------------------------------------------ shared steps
    def extract_feat(self, pixel_values: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Visual tokens of every sample's frames: a list of ``[T_i, num_image_tokens, H]``."""
        counts = [len(p) for p in pixel_values]
        tokens = self.backbone.encode_images(torch.cat(list(pixel_values)))
        return list(tokens.split(counts))

    def _context_embeddings(self, visual: torch.Tensor, dense_positions: torch.Tensor,
                            neck_turns: Optional[List[dict]], data_sample: Optional[SAMADataSample]) -> torch.Tensor:
        """The embeddings for one sample's ``<IMG_CONTEXT>`` slots, in slot order."""
        parts = [visual[dense_positions].flatten(0, 1)]
        if self.with_neck:
            if neck_turns is None:
                raise ValueError(f'{describe_sample(data_sample)}: the model has a neck but the sample has no '
                                 '"neck_turns" (put QFormerPrompts in the pipeline)')
            parts.append(self.neck(visual, neck_turns))
        return torch.cat(parts)

    @property
    def with_neck(self) -> bool:
        """Whether the model has a context-aggregating neck (SAMA) or not (Sa2VA-style)."""
        return self.neck is not None

    def embed_turn(self, input_ids: Tensor, fill: Tensor, where: str = 'the turn') -> Tensor:
        """Token embeddings of one sequence with every ``<IMG_CONTEXT>`` slot replaced, in order, by ``fill``.

        This is the one embedding splice of the model: training, ``tools/test.py`` and chat all use it.

        Args:
            input_ids: ``[1, L]`` (or ``[L]``) token ids.
            fill: ``[n, H]`` embeddings of the ``<IMG_CONTEXT>`` slots, in slot order.
            where: How an error names the sequence (a sample, a chat turn).

        Returns:
            ``[1, L, H]`` input embeddings.

        Raises:
            ValueError: If the number of slots differs from ``len(fill)`` (the released code silently truncates
                or repeats in that case).
        """
        ids = input_ids if input_ids.dim() == 2 else input_ids.unsqueeze(0)
        if ids.dim() != 2 or ids.shape[0] != 1:
            raise ValueError(f'{where}: embed_turn takes one sequence [1, L] or [L], got {tuple(input_ids.shape)}')
        embeds = self.backbone.get_input_embeddings()(ids)
        slots = ids == self.backbone.img_context_token_id
        n_slots = int(slots.sum())
        if n_slots != len(fill):
            raise ValueError(f'{where}: the prompt has {n_slots} <IMG_CONTEXT> tokens but {len(fill)} '
                             'visual/context embeddings were computed')
        if n_slots:
            embeds = embeds.masked_scatter(slots[..., None], fill.to(embeds.dtype))
        return embeds

    def build_inputs_embeds(self, input_ids: torch.Tensor, visual: List[torch.Tensor],
                            dense_positions: Sequence[torch.Tensor],
                            data_samples: Optional[Sequence[SAMADataSample]],
                            neck_turns: Optional[Sequence[List[dict]]] = None) -> torch.Tensor:
        """Token embeddings ``[B, L, H]`` of a batch, each sample's slots filled by :meth:`embed_turn`.

        Raises:
            ValueError: If a sample's number of slots differs from the number of embeddings.
        """
        rows = []
        for b in range(len(input_ids)):
            sample = data_samples[b] if data_samples is not None else None
            turns = neck_turns[b] if neck_turns is not None else None
            fill = self._context_embeddings(visual[b], dense_positions[b], turns, sample)
            rows.append(self.embed_turn(input_ids[b:b + 1], fill, where=describe_sample(sample))[0])
        return torch.stack(rows)

    def generate(self, inputs_embeds: Tensor, past_key_values=None,
                 max_new_tokens: Optional[int] = None) -> Generation:
        """Greedy decoding until one of the template's stop words (or EOS).

        Args:
            inputs_embeds: ``[1, L, H]`` embeddings of the new tokens (the whole prompt, or only the new turn when
                ``past_key_values`` holds the earlier ones).
            past_key_values: KV cache of earlier turns (from an earlier :meth:`generate`); extended in place.
            max_new_tokens: Limit on generated tokens (None: ``self.max_new_tokens``).

        Returns:
            :class:`Generation` ``(text, token_ids, hidden_states, past_key_values)``.
        """
        limit = self.max_new_tokens if max_new_tokens is None else int(max_new_tokens)
        stop_words = self.backbone.template.stop_words
        out = self.backbone.generate(inputs_embeds, None, max_new_tokens=limit, stop_words=stop_words,
                                     past_key_values=past_key_values)
        token_ids, hidden_states, cache = out
        text = self.backbone.tokenizer.decode(list(token_ids), skip_special_tokens=False)
        for stop in stop_words:
            text = text.split(stop)[0]
        return Generation(text, list(token_ids), hidden_states, cache)

    def segment(self, seg_hidden: Tensor, frames, data_sample: SAMADataSample, num_frames: int,
                chunk_size: Optional[int] = None) -> Tensor:
        """Track one mask per ``[SEG]`` hidden state through the frames.

        Args:
            seg_hidden: ``[K, H]`` LLM hidden states of the generated ``[SEG]`` tokens.
            frames: The frames the head segments: an on-demand source ``callable(indices) -> Tensor`` or a tensor.
            data_sample: Gives ``ori_shape`` (the mask size), ``dense_frame_indices`` and optionally
                ``sam2_frame_indices`` (which raw frame each served frame is), see :meth:`prompt_frame_positions`.
            num_frames: Number of frames the source serves.
            chunk_size: Frames the head reads and encodes together (None: the head's default).

        Returns:
            ``bool [K, num_frames, H, W]`` on the CPU (``K == 0`` gives an empty ``[0, num_frames, H, W]``).
        """
        ori_shape = tuple(int(v) for v in data_sample.ori_shape)
        if len(seg_hidden) == 0:
            return torch.zeros((0, num_frames, *ori_shape), dtype=torch.bool)
        positions = self.prompt_frame_positions(data_sample, num_frames)
        masks = self.seg_head.predict(seg_hidden, frames, positions, ori_shape, num_frames=num_frames,
                                      chunk_size=chunk_size)
        return masks.cpu()

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: dict, data_samples: Optional[List[SAMADataSample]] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor mode')

    def _forward(self, inputs: dict, data_samples: Optional[List[SAMADataSample]] = None) -> torch.Tensor:
        """The LLM's last hidden states ``[B, L, H]`` for the (teacher-forced) sequences."""
        visual = self.extract_feat(inputs['pixel_values'])
        embeds = self.build_inputs_embeds(inputs['input_ids'], visual, inputs['dense_positions'], data_samples,
                                          inputs.get('neck_turns'))
        hidden, _ = self.backbone.forward_llm(embeds, inputs['attention_mask'])
        return hidden

    def loss(self, inputs: dict, data_samples: List[SAMADataSample]) -> Dict[str, torch.Tensor]:
        """LM loss on the answers plus the head's mask losses of every ``[SEG]`` (see :class:`BaseSegHead`).

        The head gets each sample's ``[SEG]`` hidden states and supervises the k-th with the k-th ground-truth
        mask of that sample (a count mismatch is a ``ValueError`` naming the sample).
        """
        hidden = self._forward(inputs, data_samples)
        losses = dict(loss_lm=self.backbone.lm_loss(hidden, inputs['labels']))
        seg_slots = inputs['input_ids'] == self.backbone.seg_token_id
        seg_hidden = [hidden[b][seg_slots[b]] for b in range(len(data_samples))]
        losses.update(self.seg_head.loss(seg_hidden, inputs, data_samples))
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: List[SAMADataSample]) -> List[SAMADataSample]:
        """Generate each sample's answer greedily and track one mask per generated ``[SEG]``.

        ``inputs['input_ids']`` holds the prompt up to the start of the answer. ``inputs['sam2_frames']`` (an
        on-demand source, see ``SAM2FrameSource``) or ``inputs['sam2_pixel_values']`` holds the frames to
        segment (``data_sample.sam2_frame_indices``, by default every frame of the video).
        Adds ``pred_text`` (one answer) and ``pred_masks`` (``bool [K, T, H, W]``) to every sample.
        """
        visual = self.extract_feat(inputs['pixel_values'])
        for b, sample in enumerate(data_samples):
            length = int(inputs['attention_mask'][b].sum())
            turns = inputs['neck_turns'][b] if inputs.get('neck_turns') is not None else None
            fill = self._context_embeddings(visual[b], inputs['dense_positions'][b], turns, sample)
            embeds = self.embed_turn(inputs['input_ids'][b, :length], fill, where=describe_sample(sample))
            out = self.generate(embeds)
            sample.pred_text = [out.text.strip()]
            seg = torch.as_tensor(out.token_ids, device=out.hidden_states.device) == self.backbone.seg_token_id
            frames = self._sam2_frames(inputs, b)
            sample.pred_masks = self.segment(out.hidden_states[seg], frames, sample, len(frames))
        return data_samples

    @staticmethod
    def _sam2_frames(inputs: dict, b: int):
        """The frames SAM2 tracks through for sample ``b``: an on-demand source or a tensor."""
        if inputs.get('sam2_frames') is not None:
            return inputs['sam2_frames'][b]
        if inputs.get('sam2_pixel_values') is not None:
            return inputs['sam2_pixel_values'][b]
        raise ValueError('predict needs SAM2 frames: put SAM2FrameSource (or SAM2ImageTransform) in the test '
                         'pipeline')

    def prompt_frame_positions(self, sample: SAMADataSample, num_frames: int) -> List[int]:
        """Positions (in the SAM2 frame list) of the frames SAM2 is prompted on, per ``sam2_prompt_frames``."""
        dense = list(dict.fromkeys(sample.dense_frame_indices))  # the tiles of an image are all its frame 0
        if self.sam2_prompt_frames == 'first':
            return list(range(min(len(dense), num_frames)))
        available = list(sample.get('sam2_frame_indices', range(num_frames)))
        return [available.index(i) for i in dense if i in available]

