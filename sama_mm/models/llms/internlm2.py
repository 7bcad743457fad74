"""InternLM2 (the LLM of the 8B model), written in-package with the released parameter names.

InternLM2 is remote code (not part of ``transformers`` 4.42), so it lives here. Architecturally it is a Llama
decoder (RMSNorm, rotary position embedding, grouped-query attention, SwiGLU MLP) whose query/key/value
projections are fused into one ``wqkv`` matrix with a *grouped* row layout. Keeping the released names makes
checkpoint conversion a prefix rename:

==============================================  =================================================
released / this module                          ``transformers`` Llama equivalent
==============================================  =================================================
``model.tok_embeddings``                        ``model.embed_tokens``
``model.layers.{i}.attention.wqkv``             ``self_attn.{q,k,v}_proj`` (see below)
``model.layers.{i}.attention.wo``               ``self_attn.o_proj``
``model.layers.{i}.feed_forward.w1 / w3 / w2``  ``mlp.gate_proj / up_proj / down_proj``
``model.layers.{i}.attention_norm / ffn_norm``  ``input_layernorm / post_attention_layernorm``
``model.norm``, ``output``                      ``model.norm``, ``lm_head``
==============================================  =================================================

``wqkv`` rows ([num_kv_heads * (G + 2) * head_dim, hidden], G = heads per kv head) are ordered per kv head g:
the G query heads ``g*G .. g*G+G-1``, then key head g, then value head g. :func:`internlm2_to_llama_state_dict`
implements this mapping; the test suite checks that both views compute the same logits.

The model follows the ``transformers`` calling convention (``inputs_embeds``, ``attention_mask``,
``past_key_values`` as a :class:`~transformers.cache_utils.DynamicCache`, ``use_cache``) so that
:class:`InternVLVideoLLM` drives it exactly like Qwen2.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast


class InternLM2Config(PretrainedConfig):
    """Configuration of :class:`InternLM2ForCausalLM` (field names of the released ``config.json``).

    Defaults are internlm2_5-7b-chat (before SAMA's vocabulary resize to 92558).

    Args:
        vocab_size: Vocabulary size.
        hidden_size: Width H.
        intermediate_size: SwiGLU hidden width.
        num_hidden_layers: Depth.
        num_attention_heads: Query heads.
        num_key_value_heads: Key/value heads (grouped-query attention).
        hidden_act: MLP activation (``silu``).
        max_position_embeddings: Trained context; dynamic NTK scaling starts beyond it.
        initializer_range: Std of the random initialisation.
        rms_norm_eps: RMSNorm epsilon.
        use_cache: Default of ``use_cache``.
        bias: Whether ``wqkv``/``wo`` have biases (False for InternLM2.5).
        rope_theta: Rotary base.
        rope_scaling: ``None`` or ``{'type': 'linear' | 'dynamic', 'factor': f}``.
        tie_word_embeddings: Share ``output`` with ``tok_embeddings`` (False for InternLM2.5).
    """
    model_type = 'internlm2'
    keys_to_ignore_at_inference = ['past_key_values']

    def __init__(self, vocab_size: int = 92544, hidden_size: int = 4096, intermediate_size: int = 14336,
                 num_hidden_layers: int = 32, num_attention_heads: int = 32, num_key_value_heads: int = 8,
                 hidden_act: str = 'silu', max_position_embeddings: int = 32768, initializer_range: float = 0.02,
                 rms_norm_eps: float = 1e-5, use_cache: bool = True, pad_token_id: int = 0, bos_token_id: int = 1,
                 eos_token_id: int = 2, bias: bool = False, rope_theta: float = 1e6,
                 rope_scaling: Optional[dict] = None, tie_word_embeddings: bool = False, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.bias = bias
        self.rope_theta = rope_theta
        if rope_scaling is not None:
            kind = rope_scaling.get('type', rope_scaling.get('rope_type'))
            if kind not in ('linear', 'dynamic') or float(rope_scaling.get('factor', 0)) < 1.0:
                raise ValueError(f'rope_scaling must be None or {{"type": "linear"|"dynamic", "factor": >=1}}, '
                                 f'got {rope_scaling}')
        self.rope_scaling = rope_scaling
        if hidden_size % num_attention_heads or num_attention_heads % num_key_value_heads:
            raise ValueError('hidden_size must divide into num_attention_heads, which must divide into '
                             'num_key_value_heads groups')
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)


class InternLM2RMSNorm(nn.Module):
    """RMSNorm computed in float32 (``weight`` only)."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x.to(dtype)


class InternLM2RotaryEmbedding(nn.Module):
    """Rotary cos/sin for given positions, with optional linear or dynamic-NTK scaling.

    Dynamic NTK (InternLM2.5's setting) enlarges the base when the longest position exceeds
    ``max_position_embeddings``: ``base * (f * len / max_pos - (f - 1)) ** (dim / (dim - 2))``.
    """

    def __init__(self, dim: int, max_position_embeddings: int, base: float, scaling: Optional[dict] = None):
        super().__init__()
        self.dim = dim
        self.base = base
        self.max_position_embeddings = max_position_embeddings
        self.kind = None if scaling is None else scaling.get('type', scaling.get('rope_type'))
        self.factor = 1.0 if scaling is None else float(scaling['factor'])
        self.register_buffer('inv_freq', self._inv_freq(base), persistent=False)

    def _inv_freq(self, base: float, device=None) -> Tensor:
        return 1.0 / (base**(torch.arange(0, self.dim, 2, dtype=torch.int64, device=device).float() / self.dim))

    @torch.no_grad()
    def forward(self, x: Tensor, position_ids: Tensor) -> Tuple[Tensor, Tensor]:
        inv_freq = self.inv_freq
        positions = position_ids.float()
        if self.kind == 'linear':
            positions = positions / self.factor
        elif self.kind == 'dynamic':
            seq_len = int(position_ids.max()) + 1
            if seq_len > self.max_position_embeddings:
                base = self.base * ((self.factor * seq_len / self.max_position_embeddings) -
                                    (self.factor - 1))**(self.dim / (self.dim - 2))
                inv_freq = self._inv_freq(base, x.device)
        freqs = positions[..., None] * inv_freq.float().to(x.device)  # [B, L, dim / 2]
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def _rotate_half(x: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def _apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` [B, heads, L, d] with cos/sin [B, L, d]."""
    return x * cos[:, None] + _rotate_half(x) * sin[:, None]


class InternLM2Attention(nn.Module):
    """Grouped-query attention with the fused, grouped ``wqkv`` and the output projection ``wo``."""

    def __init__(self, config: InternLM2Config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.groups = self.num_heads // self.num_kv_heads
        self.head_dim = config.hidden_size // self.num_heads
        self.wqkv = nn.Linear(config.hidden_size, (self.num_heads + 2 * self.num_kv_heads) * self.head_dim,
                              bias=config.bias)
        self.wo = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=config.bias)
        self.rotary_emb = InternLM2RotaryEmbedding(self.head_dim, config.max_position_embeddings,
                                                   config.rope_theta, config.rope_scaling)

    def forward(self, x: Tensor, position_ids: Tensor, mask: Optional[Tensor],
                past_key_values: Optional[Cache]) -> Tensor:
        batch, length, _ = x.shape
        qkv = self.wqkv(x).view(batch, length, self.num_kv_heads, self.groups + 2, self.head_dim)
        q = qkv[..., :self.groups, :].reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        k = qkv[..., -2, :].transpose(1, 2)
        v = qkv[..., -1, :].transpose(1, 2)
        cos, sin = self.rotary_emb(v, position_ids)
        q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)
        if self.groups > 1:
            k = k.repeat_interleave(self.groups, dim=1)
            v = v.repeat_interleave(self.groups, dim=1)
        # ``mask=None``: plain causal attention (lets SDPA pick its fused kernels).
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None and length > 1)
        return self.wo(out.transpose(1, 2).reshape(batch, length, -1))


class InternLM2MLP(nn.Module):
    """SwiGLU: ``w2(silu(w1(x)) * w3(x))``."""

    def __init__(self, config: InternLM2Config):
        super().__init__()
        self.w1 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w3 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w2 = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        if config.hidden_act != 'silu':
            raise ValueError(f'only silu is supported, got {config.hidden_act}')

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class InternLM2DecoderLayer(nn.Module):
    """Pre-norm decoder layer: ``attention_norm`` → ``attention``, ``ffn_norm`` → ``feed_forward``."""

    def __init__(self, config: InternLM2Config, layer_idx: int):
        super().__init__()
        self.attention = InternLM2Attention(config, layer_idx)
        self.feed_forward = InternLM2MLP(config)
        self.attention_norm = InternLM2RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.ffn_norm = InternLM2RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x: Tensor, position_ids: Tensor, mask: Optional[Tensor],
                past_key_values: Optional[Cache]) -> Tensor:
        x = x + self.attention(self.attention_norm(x), position_ids, mask, past_key_values)
        return x + self.feed_forward(self.ffn_norm(x))


class InternLM2PreTrainedModel(PreTrainedModel):
    """Weight initialisation and ``transformers`` plumbing shared by the InternLM2 models."""
    config_class = InternLM2Config
    base_model_prefix = 'model'
    supports_gradient_checkpointing = True
    _no_split_modules = ['InternLM2DecoderLayer']
    _supports_cache_class = True
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()


def _causal_mask(attention_mask: Optional[Tensor], batch: int, length: int, past: int, dtype: torch.dtype,
                 device: torch.device) -> Tensor:
    """Additive mask [B, 1, L, past + L]: causal, plus the key padding of ``attention_mask`` [B, past + L].

    A finite minimum (not -inf) keeps fully masked rows (padding queries) finite.
    """
    total = past + length
    rows = torch.arange(length, device=device)[:, None] + past
    allowed = (torch.arange(total, device=device)[None, :] <= rows)[None, None]  # [1, 1, L, T]
    if attention_mask is not None:
        if attention_mask.shape[-1] != total:
            raise ValueError(f'attention_mask covers {attention_mask.shape[-1]} positions, expected {total} '
                             f'(cached {past} + new {length})')
        allowed = allowed & attention_mask[:, None, None, :].bool()
    allowed = allowed.expand(batch, 1, length, total)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)


class InternLM2Model(InternLM2PreTrainedModel):
    """The InternLM2 decoder without the LM head (``tok_embeddings``, ``layers``, ``norm``)."""

    def __init__(self, config: InternLM2Config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList(InternLM2DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = InternLM2RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.tok_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.tok_embeddings = value

    def forward(self, input_ids: Optional[Tensor] = None, attention_mask: Optional[Tensor] = None,
                position_ids: Optional[Tensor] = None, past_key_values=None, inputs_embeds: Optional[Tensor] = None,
                use_cache: Optional[bool] = None, output_hidden_states: Optional[bool] = None,
                return_dict: Optional[bool] = True, **kwargs) -> BaseModelOutputWithPast:
        """Run the decoder (``transformers`` convention; ``attention_mask`` covers cached + new positions)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError('pass exactly one of input_ids and inputs_embeds')
        if inputs_embeds is None:
            inputs_embeds = self.tok_embeddings(input_ids)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if self.gradient_checkpointing and self.training:
            use_cache = False
        if past_key_values is not None and not isinstance(past_key_values, Cache):
            past_key_values = DynamicCache.from_legacy_cache(past_key_values)
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        batch, length, _ = inputs_embeds.shape
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past, past + length, device=inputs_embeds.device)[None].expand(batch, -1)
        if attention_mask is not None and attention_mask.shape[-1] != past + length:
            raise ValueError(f'attention_mask covers {attention_mask.shape[-1]} positions, expected {past + length} '
                             f'(cached {past} + new {length})')
        no_padding = attention_mask is None or bool(attention_mask.all())
        if no_padding and (past == 0 or length == 1):
            mask = None  # causal without padding: SDPA's is_causal (or nothing for one new token)
        else:
            mask = _causal_mask(attention_mask, batch, length, past, inputs_embeds.dtype, inputs_embeds.device)
        cache = past_key_values if use_cache else None
        x = inputs_embeds
        all_hidden = (x, ) if output_hidden_states else None
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x = self._gradient_checkpointing_func(layer.__call__, x, position_ids, mask, None)
            else:
                x = layer(x, position_ids, mask, cache)
            if output_hidden_states:
                all_hidden = all_hidden + (x, )
        x = self.norm(x)
        if output_hidden_states:
            all_hidden = all_hidden[:-1] + (x, )
        return BaseModelOutputWithPast(last_hidden_state=x, past_key_values=cache, hidden_states=all_hidden)


class InternLM2ForCausalLM(InternLM2PreTrainedModel):
    """InternLM2 decoder plus the (untied) output projection ``output``."""
    _tied_weights_keys = ['output.weight']

    def __init__(self, config: InternLM2Config):
        super().__init__(config)
        self.model = InternLM2Model(config)
        self.vocab_size = config.vocab_size
        self.output = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.tok_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.tok_embeddings = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.output

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.output = value

    def get_decoder(self) -> InternLM2Model:
        return self.model

    def forward(self, input_ids: Optional[Tensor] = None, attention_mask: Optional[Tensor] = None,
                position_ids: Optional[Tensor] = None, past_key_values=None, inputs_embeds: Optional[Tensor] = None,
                labels: Optional[Tensor] = None, use_cache: Optional[bool] = None,
                output_hidden_states: Optional[bool] = None, return_dict: Optional[bool] = True,
                **kwargs) -> CausalLMOutputWithPast:
        """Decoder + ``output``; with ``labels`` also the shifted next-token cross-entropy (-100 ignored)."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                         output_hidden_states=output_hidden_states)
        logits = self.output(out.last_hidden_state).float()
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                   ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                      hidden_states=out.hidden_states)

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, attention_mask=None,
                                      inputs_embeds=None, **kwargs):
        """Minimal hook for ``transformers``' ``generate`` (feed only the uncached tokens)."""
        past = 0
        if past_key_values is not None:
            past = past_key_values.get_seq_length() if isinstance(past_key_values, Cache) else \
                past_key_values[0][0].shape[2]
        if inputs_embeds is not None and past == 0:
            return dict(inputs_embeds=inputs_embeds, attention_mask=attention_mask, past_key_values=past_key_values,
                        use_cache=kwargs.get('use_cache'))
        return dict(input_ids=input_ids[:, past:], attention_mask=attention_mask, past_key_values=past_key_values,
                    use_cache=kwargs.get('use_cache'))


def internlm2_to_llama_state_dict(state_dict: Dict[str, Tensor], config: InternLM2Config) -> Dict[str, Tensor]:
    """Map an :class:`InternLM2ForCausalLM` state dict onto ``transformers``' ``LlamaForCausalLM`` names.

    ``wqkv`` is split per kv group (see the module docstring); everything else is a rename. A Llama built with
    the same sizes, ``attention_bias=config.bias``, ``rope_theta``/``rope_scaling`` from ``config`` computes the
    same outputs.

    Args:
        state_dict: Keys as in :class:`InternLM2ForCausalLM` (``model.tok_embeddings.weight``, ...).
        config: Its configuration (head counts).

    Returns:
        A new state dict with Llama key names.
    """
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    groups, head_dim = heads // kv_heads, config.hidden_size // heads
    renames = {'attention.wo.': 'self_attn.o_proj.', 'feed_forward.w1.': 'mlp.gate_proj.',
               'feed_forward.w3.': 'mlp.up_proj.', 'feed_forward.w2.': 'mlp.down_proj.',
               'attention_norm.': 'input_layernorm.', 'ffn_norm.': 'post_attention_layernorm.'}
    out = {}
    for key, value in state_dict.items():
        if key == 'model.tok_embeddings.weight':
            out['model.embed_tokens.weight'] = value
        elif key == 'output.weight':
            out['lm_head.weight'] = value
        elif '.attention.wqkv.' in key:
            prefix, kind = key.split('.attention.wqkv.')
            grouped = value.reshape(kv_heads, groups + 2, head_dim, *value.shape[1:])
            out[f'{prefix}.self_attn.q_proj.{kind}'] = grouped[:, :groups].reshape(heads * head_dim,
                                                                                    *value.shape[1:])
            out[f'{prefix}.self_attn.k_proj.{kind}'] = grouped[:, groups].reshape(kv_heads * head_dim,
                                                                                  *value.shape[1:])
            out[f'{prefix}.self_attn.v_proj.{kind}'] = grouped[:, groups + 1].reshape(kv_heads * head_dim,
                                                                                      *value.shape[1:])
        else:
            for old, new in renames.items():
                if old in key:
                    key = key.replace(old, new)
                    break
            out[key] = value
    return out
