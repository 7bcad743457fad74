"""The InternVL2.5 video LLM: InternViT + pixel shuffle + ``mlp1`` projector + a causal LLM.

SAMA's vision-language model (VLM): it turns frames into LLM-space tokens and runs the LLM over them. In a SAMA
config it is ``model.backbone`` and its weights sit under the ``backbone.`` prefix of every checkpoint; both names
stay as they are (converted checkpoints and the parity fixtures depend on them), although the part is the
whole VLM rather than a feature extractor.

Submodules are named ``vision_model``, ``mlp1`` and ``language_model`` exactly as in the released Sa2VA / SAMA
checkpoints, so converting a released state dict is a prefix rename (``vision_model.*`` → ``vision_model.*``;
under LoRA, peft inserts ``base_model.model.`` after ``language_model.``).

The LLM (``llm=``) is built by :func:`~sama_mm.models.llms.build_llm` (see there for the config scheme), the
tokenizer (``tokenizer=``) by :func:`~sama_mm.tokenizers.build_tokenizer`.

Public API (configs: ``configs/_base_/models/internvl_{tiny,1b,4b,8b}.py``):

* ``encode_images(pixel_values [N, 3, S, S]) -> [N, num_image_tokens, H]``
* ``get_input_embeddings() -> nn.Embedding``
* ``forward_llm(inputs_embeds [B, L, H], attention_mask [B, L], past_key_values=None, use_cache=False)
  -> (last_hidden_state [B, L, H], past_key_values)``
* ``lm_head_logits(hidden [..., H]) -> [..., V]``
* ``lm_loss(hidden [B, L, H], labels [B, L]) -> scalar`` (head only on labelled rows)
* ``generate(inputs_embeds [1, L, H], attention_mask, max_new_tokens, stop_words, past_key_values=None)
  -> GenerationOutput(token_ids, hidden_states [n, H], past_key_values)``
* attributes ``img_context_token_id``, ``seg_token_id``, ``hidden_size``, ``num_image_tokens``, ``template``,
  ``tokenizer``.
"""
import math
from typing import Callable, List, NamedTuple, Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase
from transformers.cache_utils import Cache, DynamicCache

from sama_mm.models.llms.builder import build_llm
from sama_mm.models.losses.lm_loss import lm_loss as _lm_loss
from sama_mm.models.vlms.intern_vit import InternVisionModel
from sama_mm.registry import MODELS
from sama_mm.structures.chat_template import ChatTemplate, get_chat_template
from sama_mm.structures.tokens import IMG_CONTEXT, INTERNVL_SPECIAL_TOKENS, SAMA_SPECIAL_TOKENS, SEG_TOKEN
from sama_mm.tokenizers.builder import build_tokenizer

_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


def pixel_shuffle(x: Tensor, scale_factor: float = 0.5, version: str = 'v2') -> Tensor:
    """InternVL's pixel shuffle: merge neighbouring tokens into channels.

    With ``scale_factor=0.5`` and ``version='v2'`` the output at grid cell (i, j) is the concatenation of the
    input cells (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1) (row-major 2x2 block). ``v1`` (the first
    InternVL release) leaves the two spatial axes of the result swapped.

    Args:
        x: Tokens on a grid [N, h, w, C]; ``h * scale_factor`` and ``w * scale_factor`` must be integers.
        scale_factor: Spatial downsampling ratio (``downsample_ratio``).
        version: ``'v1'`` or ``'v2'``.

    Returns:
        [N, h * s, w * s, C / s**2].
    """
    n, h, w, c = x.shape
    h2, w2, c2 = h * scale_factor, w * scale_factor, c / (scale_factor * scale_factor)
    if h2 != int(h2) or w2 != int(w2) or c2 != int(c2):
        raise ValueError(f'grid {h}x{w}x{c} cannot be shuffled by {scale_factor}')
    # Merge column pairs into channels, swap the spatial axes, merge row pairs, (v2) swap back.
    x = x.reshape(n, h, int(w2), int(c / scale_factor))
    x = x.permute(0, 2, 1, 3).contiguous()
    x = x.reshape(n, int(w2), int(h2), int(c2))
    if version == 'v2':
        x = x.permute(0, 2, 1, 3).contiguous()
    elif version != 'v1':
        raise ValueError(f'unknown ps_version {version!r}')
    return x


class GenerationOutput(NamedTuple):
    """Result of :meth:`InternVLVideoLLM.generate` (unpacks as a tuple).

    Attributes:
        token_ids: Generated ids, the stop token included when generation stopped on one.
        hidden_states: [n, H]: row k is the last-layer hidden state (after the final norm) of the step whose input
            is ``token_ids[k]`` (so a generated ``[SEG]``'s row is its SAM2 prompt source).
        past_key_values: Cache covering the prompt and every returned token (continue the chat by passing it
            with the next turn's embeddings).
    """
    token_ids: List[int]
    hidden_states: Tensor
    past_key_values: Cache


@MODELS.register_module()
class InternVLVideoLLM(BaseModule):
    """InternVL2.5 MLLM used as SAMA's backbone: frames → LLM-space tokens, and the LLM itself.

    Args:
        vision: Keyword arguments of :class:`InternVisionModel` (``image_size`` defaults to
            ``force_image_size``).
        llm: Causal-LM config (see the module docstring) or a built model.
        tokenizer: Tokenizer or its dict config (:func:`build_tokenizer`). InternVL's and SAMA's special tokens
            are added (in that order) where missing; the tokenizer object is modified in place.
        template: Chat template name (``qwen_chat``, ``phi3_chat``, ``internlm2_chat``).
        downsample_ratio: Pixel-shuffle ratio.
        select_layer: ViT layer whose tokens are used (-1: last).
        ps_version: Pixel-shuffle version (``'v2'`` for InternVL2.5).
        force_image_size: Input size of a frame/tile.
        freeze_vision: Freeze the ViT (and keep it in eval mode).
        freeze_llm: Freeze the LLM (LoRA parameters, when any, stay trainable).
        llm_lora: ``peft.LoraConfig`` keyword arguments (``type`` ignored); wraps the LLM with peft.
        use_activation_checkpointing: Recompute ViT layers and LLM layers in the backward pass.
        torch_dtype: ``'float32'`` or ``'bfloat16'`` for the ViT and the LLM (``mlp1`` stays float32; inputs are
            cast at each boundary).
        init_cfg: MMEngine initialisation config (e.g. a converted checkpoint).
    """

    def __init__(self, vision: dict, llm: Union[dict, nn.Module], tokenizer: Union[dict, PreTrainedTokenizerBase],
                 template: str = 'qwen_chat', downsample_ratio: float = 0.5, select_layer: int = -1,
                 ps_version: str = 'v2', force_image_size: int = 448, freeze_vision: bool = True,
                 freeze_llm: bool = True, llm_lora: Optional[dict] = None,
                 use_activation_checkpointing: bool = False, torch_dtype: str = 'float32',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if torch_dtype not in _DTYPES:
            raise ValueError(f'torch_dtype must be one of {sorted(_DTYPES)}, got {torch_dtype!r}')
        dtype = _DTYPES[torch_dtype]
        self.template: ChatTemplate = get_chat_template(template)
        self.downsample_ratio = downsample_ratio
        self.select_layer = select_layer
        self.ps_version = ps_version
        self.force_image_size = force_image_size
        self.freeze_vision = freeze_vision
        self.freeze_llm = freeze_llm

        vision = dict(vision)
        vision.setdefault('image_size', force_image_size)
        self.vision_model = InternVisionModel(**vision).to(dtype)
        self.patch_size = self.vision_model.patch_size
        self.num_image_tokens = int((force_image_size // self.patch_size)**2 * downsample_ratio**2)

        language_model = build_llm(llm, dtype)
        self.hidden_size = language_model.config.hidden_size
        vit_width = self.vision_model.hidden_size * int(round(1 / downsample_ratio))**2
        self.mlp1 = nn.Sequential(
            nn.LayerNorm(vit_width), nn.Linear(vit_width, self.hidden_size), nn.GELU(),
            nn.Linear(self.hidden_size, self.hidden_size))

        self.tokenizer = build_tokenizer(tokenizer)
        vocab = self.tokenizer.get_vocab()
        missing = [t for t in INTERNVL_SPECIAL_TOKENS + SAMA_SPECIAL_TOKENS if t not in vocab]
        if missing:
            self.tokenizer.add_tokens(missing, special_tokens=True)
        if len(self.tokenizer) > language_model.get_input_embeddings().num_embeddings:
            language_model.resize_token_embeddings(len(self.tokenizer))
        self.img_context_token_id = self.tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
        self.seg_token_id = self.tokenizer.convert_tokens_to_ids(SEG_TOKEN)

        if freeze_vision:
            self.vision_model.requires_grad_(False)
        if freeze_llm:
            language_model.requires_grad_(False)
        if use_activation_checkpointing:
            self.vision_model.gradient_checkpointing_enable()
            language_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
        if llm_lora is not None:
            from peft import LoraConfig, get_peft_model
            lora = dict(llm_lora)
            lora.pop('type', None)
            language_model = get_peft_model(language_model, LoraConfig(**lora))
            # A checkpoint of the same model without LoRA (a converted release, an earlier full fine-tune)
            # names the LLM weights without peft's wrapping; map them so that load_from / init_cfg load them.
            self._register_load_state_dict_pre_hook(self._map_plain_llm_keys_to_lora)
        # The LLM is initialised (or loaded) by now. MMEngine's ``init_weights`` calls the ``transformers``
        # ``init_weights``, which re-draws every module not flagged as initialised: the resized embeddings and
        # LoRA's zero-initialised ``lora_B`` included. Flag them all so that only ``init_cfg`` changes weights.
        for module in language_model.modules():
            module._is_hf_initialized = True
        self.language_model = language_model

    def _map_plain_llm_keys_to_lora(self, state_dict, prefix, *args) -> None:
        """Rename LLM weights saved without LoRA to peft's names (``base_model.model.``, ``.base_layer.``).

        A load-state-dict pre-hook, registered when ``llm_lora`` is set. Without it, a non-LoRA checkpoint loaded
        with MMEngine's ``load_from`` (non-strict) would leave the LLM at its random initialisation and only
        warn about the unmatched keys. Keys that already use peft's names are left alone; the LoRA matrices
        themselves (``lora_A`` / ``lora_B``) have no plain counterpart and keep their initialisation.
        """
        llm_prefix = prefix + 'language_model.'
        own = [k for k in self.language_model.state_dict() if '.lora_' not in k]
        plain_to_own = {k.replace('base_model.model.', '', 1).replace('.base_layer.', '.'): k for k in own}
        own = set(own)
        for key in [k for k in state_dict if k.startswith(llm_prefix)]:
            rest = key[len(llm_prefix):]
            if rest not in own and rest in plain_to_own:
                state_dict[llm_prefix + plain_to_own[rest]] = state_dict.pop(key)

    # ------------------------------------------------------------------------------------------------------
    # Plumbing
    @property
    def llm_base(self) -> nn.Module:
        """The ``*ForCausalLM`` module (unwrapped from peft; LoRA layers stay injected in it)."""
        model = self.language_model
        return model.get_base_model() if hasattr(model, 'get_base_model') else model

    @property
    def llm_dtype(self) -> torch.dtype:
        return self.get_input_embeddings().weight.dtype

    def train(self, mode: bool = True) -> 'InternVLVideoLLM':
        """Set the training mode; a frozen ViT stays in eval mode (no drop-path/dropout)."""
        super().train(mode)
        if self.freeze_vision:
            self.vision_model.eval()
        return self

    def get_input_embeddings(self) -> nn.Embedding:
        """The LLM's token embedding."""
        return self.llm_base.get_input_embeddings()

    # ------------------------------------------------------------------------------------------------------
    # Vision
    def encode_images(self, pixel_values: Tensor) -> Tensor:
        """Frames/tiles to LLM-space tokens: ViT → drop CLS → pixel shuffle → ``mlp1``.

        Args:
            pixel_values: Normalised images [N, 3, S, S] (S = ``force_image_size`` gives ``num_image_tokens``).

        Returns:
            [N, (S / patch)**2 * ratio**2, H] in ``mlp1``'s dtype (float32).
        """
        if self.select_layer == -1:
            feats = self.vision_model(pixel_values)
        else:
            _, hidden_states = self.vision_model(pixel_values, output_hidden_states=True)
            feats = hidden_states[self.select_layer]
        feats = feats[:, 1:]
        n, tokens, width = feats.shape
        side = int(math.isqrt(tokens))
        if side * side != tokens:
            raise ValueError(f'{tokens} patch tokens do not form a square grid')
        feats = pixel_shuffle(feats.reshape(n, side, side, width), self.downsample_ratio, self.ps_version)
        feats = feats.reshape(n, -1, feats.shape[-1])
        return self.mlp1(feats.to(self.mlp1[1].weight.dtype))

    # ------------------------------------------------------------------------------------------------------
    # Language model
    @staticmethod
    def _full_mask(attention_mask: Optional[Tensor], batch: int, length: int, past: int,
                   device: torch.device) -> Tensor:
        if attention_mask is None:
            return torch.ones(batch, past + length, dtype=torch.long, device=device)
        attention_mask = attention_mask.to(device=device, dtype=torch.long)
        if attention_mask.shape[1] == past + length:
            return attention_mask
        if attention_mask.shape[1] == length:
            return torch.cat([attention_mask.new_ones(batch, past), attention_mask], dim=1)
        raise ValueError(f'attention_mask has {attention_mask.shape[1]} positions; expected {length} (new) or '
                         f'{past + length} (cached + new)')

    def forward_llm(self, inputs_embeds: Tensor, attention_mask: Optional[Tensor] = None, past_key_values=None,
                    use_cache: bool = False):
        """Run the LLM decoder without the LM head.

        Position ids follow the attention mask (``cumsum - 1``), so left- and right-padded batches both get
        contiguous positions for their real tokens.

        Args:
            inputs_embeds: [B, L, H] (cast to the LLM dtype).
            attention_mask: [B, L] for the new tokens (cached ones are taken as valid) or [B, past + L]; 1 = real
                token. ``None``: all valid.
            past_key_values: A ``DynamicCache`` (or legacy tuple) from an earlier call; it is extended in place.
                Passing one implies ``use_cache=True``.
            use_cache: Return a cache covering the past and these tokens.

        Returns:
            ``(last_hidden_state [B, L, H] after the final norm, past_key_values or None)``.
        """
        batch, length, _ = inputs_embeds.shape
        if past_key_values is not None and not isinstance(past_key_values, Cache):
            past_key_values = DynamicCache.from_legacy_cache(past_key_values)
        if past_key_values is not None:
            use_cache = True
        elif use_cache:
            past_key_values = DynamicCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        mask = self._full_mask(attention_mask, batch, length, past, inputs_embeds.device)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)[:, past:]
        out = self.llm_base.get_decoder()(
            inputs_embeds=inputs_embeds.to(self.llm_dtype), attention_mask=mask, position_ids=position_ids,
            past_key_values=past_key_values, use_cache=use_cache, return_dict=True)
        return out.last_hidden_state, (out.past_key_values if use_cache else None)

    def lm_head_logits(self, hidden: Tensor) -> Tensor:
        """Apply the LLM's output embedding (``lm_head`` / ``output``): [..., H] → [..., V]."""
        head = self.llm_base.get_output_embeddings()
        return head(hidden.to(head.weight.dtype))

    def lm_loss(self, hidden: Tensor, labels: Tensor, chunk_size: Optional[int] = None) -> Tensor:
        """Next-token CE on labelled positions only (see :func:`sama_mm.models.losses.lm_loss.lm_loss`).

        Args:
            hidden: [B, L, H] from :meth:`forward_llm`.
            labels: [B, L] aligned with the inputs, -100 = ignored.
            chunk_size: Optional cap on the rows given to the head at once.

        Returns:
            Scalar mean over the labelled tokens of the batch.
        """
        return _lm_loss(hidden, labels, self.lm_head_logits, chunk_size=chunk_size)

    def _stop_checker(self, stop_words: Sequence[str]) -> Callable[[List[int]], bool]:
        """``f(ids) -> bool``: the last id is EOS or a one-token stop word, or the decoded text ends with one."""
        stop_ids, text_stops = set(), []
        if self.tokenizer.eos_token_id is not None:
            stop_ids.add(self.tokenizer.eos_token_id)
        vocab = self.tokenizer.get_vocab()
        for word in stop_words:
            if word in vocab:
                stop_ids.add(vocab[word])
            else:
                text_stops.append(word)

        def is_stop(ids: List[int]) -> bool:
            if ids[-1] in stop_ids:
                return True
            if text_stops:
                text = self.tokenizer.decode(ids, skip_special_tokens=False)
                return any(text.endswith(word) for word in text_stops)
            return False

        return is_stop

    @torch.no_grad()
    def generate(self, inputs_embeds: Tensor, attention_mask: Optional[Tensor] = None, max_new_tokens: int = 512,
                 stop_words: Optional[Sequence[str]] = None, past_key_values=None) -> GenerationOutput:
        """Greedy decoding with the KV cache.

        Every generated token, the stop token included, is fed back once, so the returned cache covers the whole
        answer and each token has the hidden state of the step that consumes it.

        Args:
            inputs_embeds: [1, L, H] prompt embeddings (the new turn only when ``past_key_values`` is given).
            attention_mask: [1, L] or [1, past + L]; ``None`` = all valid.
            max_new_tokens: Upper bound on generated tokens.
            stop_words: Strings that end generation (default: the template's stop words); EOS always stops.
            past_key_values: Cache of earlier turns (from a previous :meth:`generate`); extended in place.

        Returns:
            :class:`GenerationOutput` ``(token_ids, hidden_states [n, H], past_key_values)``.
        """
        if inputs_embeds.shape[0] != 1:
            raise ValueError('generate decodes one sequence at a time (batch size 1)')
        is_stop = self._stop_checker(self.template.stop_words if stop_words is None else stop_words)
        if past_key_values is not None and not isinstance(past_key_values, Cache):
            past_key_values = DynamicCache.from_legacy_cache(past_key_values)
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        mask = self._full_mask(attention_mask, 1, inputs_embeds.shape[1], past, inputs_embeds.device)
        hidden, cache = self.forward_llm(inputs_embeds, mask, past_key_values, use_cache=True)
        embedding = self.get_input_embeddings()
        ids: List[int] = []
        states: List[Tensor] = []
        last = hidden[:, -1]
        for _ in range(max_new_tokens):
            token = int(self.lm_head_logits(last).argmax(-1)[0])
            ids.append(token)
            mask = torch.cat([mask, mask.new_ones(1, 1)], dim=1)
            hidden, cache = self.forward_llm(embedding(torch.tensor([[token]], device=embedding.weight.device)),
                                             mask, cache, use_cache=True)
            last = hidden[:, -1]
            states.append(last[0])
            if is_stop(ids):
                break
        hidden_states = torch.stack(states) if states else hidden.new_zeros(0, hidden.shape[-1])
        return GenerationOutput(ids, hidden_states, cache)
