"""SAMA's spatio-temporal context aggregator (STAggregator) and its Q-Former tokenizer helpers.

The aggregator turns the LLM-space visual tokens of the sparse frames of one sample, ``V`` of shape
``[T, 256, H]``, plus the questions of a conversation (with their region prompts) into extra LLM input
embeddings:

* per turn ``p``: one spatio-temporal context token per sparse frame (``ST_p``, ``[T, H]``);
* per region prompt of that turn: a pooled-region token and a box-shape token (``2 x [H]``).

Pipeline (shapes at full size, ``D = 768``):

1. Spatial Q-Former (question independent): ``S = QFormer_12(queries, LN_1408(Linear_H->1408(V)))`` ->
   ``[T, 32, D]``.
2. Temporal Q-Former (per turn): text = the question's word + position embeddings with the ``<mask>`` / ``<pos>``
   positions overwritten by region features; 32 queries prepended; the queries cross-attend to windows of the
   flattened ``S`` (512 tokens = 16 frames) -> ``Z_p`` of ``[32 * nwin, D]``.
3. Context injection (per turn and frame): single-head attention from ``Linear(V[t])`` to ``Linear(Z_p)``,
   residual to ``V[t]``, mean over the 256 tokens, final linear -> ``ST_p[t]``.

Parameter names are the released checkpoint's (``spatial_Qformer.bert.encoder.layer.0.attention.self.query``
...), so a released state dict converts to this module by stripping nothing but the model-level prefix.

Differences from the released code, on purpose:

* The "dummy" zero-contribution terms are off by default (``no_region_bias='none'``). The released training
  code adds ``1e-6 * module(zeros)`` of unused region modules to the embeddings; its inference code adds the
  same terms *without* the factor to every temporal Q-Former input (queries included) when a turn has no region
  prompt, i.e. ``Qformer_mask_pooling_proj_st(0) + Qformer_mask_proj_st(0)`` (their biases) shift all inputs
  before the embedding LayerNorm. ``no_region_bias='official'`` does exactly that (the released checkpoints'
  benchmark numbers were produced with it; without it their temporal Q-Former output differs by up to 150 %).
* The pooling frame of every region is given by the caller (the released code draws it at random).
* An empty region mask raises ``ValueError`` (the released code divides by ``sum + 1e-8`` and silently pools a
  zero vector).
* The text feed-forward block of the last temporal Q-Former layer is never evaluated: only the query outputs of
  the last layer are read, so those parameters cannot influence any output. They are kept (checkpoint
  compatibility) but frozen (``requires_grad=False``), see :attr:`STAggregator.dead_parameter_names`.
"""
import math
import os
import os.path as osp
import string
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertAttention, BertIntermediate, BertOutput

from sama_mm.registry import MODELS
from sama_mm.structures.region_prompt import format_qformer_prompt, region_masks  # noqa: F401  (re-exported)

#: Special tokens added to the BERT vocabulary for the temporal Q-Former, in id order: the bos token first,
#: then the additional special tokens. With ``bert-base-uncased`` (30522 entries) ``<mask>`` is 30523 and
#: ``<pos>`` 30524, 30530 entries in all.
QFORMER_BOS_TOKEN = '[DEC]'
QFORMER_ADDITIONAL_SPECIAL_TOKENS = ('<mask>', '<pos>', '[SEG]', '<p>', '</p>', '<vp>', '</vp>')
QFORMER_SPECIAL_TOKENS = (QFORMER_BOS_TOKEN, ) + QFORMER_ADDITIONAL_SPECIAL_TOKENS
QFORMER_MAX_LENGTH = 256

#: Values of ``STAggregator(no_region_bias=...)``.
NO_REGION_BIAS_MODES = ('none', 'official')

_BERT_SPECIALS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
# Whole words of the tiny vocabulary (the rest is characters and ``##`` continuations).
_TINY_WORDS = ('the', 'is', 'what', 'doing', 'in', 'video', 'person', 'where', 'and', 'of', 'this')


# ---------------------------------------------------------------------------------------------- Q-Former blocks
def _bert_config(hidden_size: int, num_heads: int, intermediate_size: int, hidden_dropout: float,
                 attention_dropout: float, layer_norm_eps: float) -> BertConfig:
    """A BERT config for the Q-Former sub-blocks (eager attention, absolute positions, encoder only)."""
    return BertConfig(
        vocab_size=1,  # unused: the embeddings are built here
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        hidden_act='gelu',
        hidden_dropout_prob=hidden_dropout,
        attention_probs_dropout_prob=attention_dropout,
        layer_norm_eps=layer_norm_eps,
        position_embedding_type='absolute',
        is_decoder=False,
        attn_implementation='eager')


def _additive_mask(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """``[B, L]`` 1/0 key mask -> additive ``[B, 1, 1, L]`` mask (0 where valid, dtype minimum elsewhere)."""
    mask = mask[:, None, None, :].to(dtype)
    return (1.0 - mask) * torch.finfo(dtype).min


class QFormerEmbeddings(nn.Module):
    """Query (and optional text) embeddings of a BLIP-2 style Q-Former.

    Args:
        hidden_size (int): Width ``D``.
        vocab_size (int): Word-embedding rows; 0 for a query-only Q-Former (no word/position embeddings).
        max_position_embeddings (int): Position-embedding rows and length of the ``position_ids`` buffer.
        pad_token_id (int): Padding row of the word embeddings.
        layer_norm_eps (float): LayerNorm epsilon.
        dropout (float): Dropout after the LayerNorm.
    """

    def __init__(self, hidden_size: int, vocab_size: int, max_position_embeddings: int, pad_token_id: int = 0,
                 layer_norm_eps: float = 1e-12, dropout: float = 0.1):
        super().__init__()
        self.has_text = vocab_size > 0
        if self.has_text:
            self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_token_id)
            self.position_embeddings = nn.Embedding(max_position_embeddings, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        # Persistent because the released checkpoints store it (for both Q-Formers, even the text-free one).
        self.register_buffer('position_ids', torch.arange(max_position_embeddings).expand(1, -1), persistent=True)

    def embed_text(self, input_ids: Tensor) -> Tensor:
        """Word + absolute position embeddings of ``input_ids`` ``[B, L]`` -> ``[B, L, D]`` (before LayerNorm)."""
        if not self.has_text:
            raise RuntimeError('this Q-Former has no text embeddings')
        length = input_ids.shape[1]
        if length > self.position_embeddings.num_embeddings:
            raise ValueError(f'text of {length} tokens exceeds max_position_embeddings='
                             f'{self.position_embeddings.num_embeddings}')
        positions = self.position_ids[:, :length]
        return self.word_embeddings(input_ids) + self.position_embeddings(positions)

    def forward(self, query_embeds: Tensor, text_embeds: Optional[Tensor] = None) -> Tensor:
        """LayerNorm + dropout over ``[queries; text]`` (queries carry no position embedding)."""
        hidden = query_embeds if text_embeds is None else torch.cat([query_embeds, text_embeds], dim=1)
        return self.dropout(self.LayerNorm(hidden))


class QFormerLayer(nn.Module):
    """One Q-Former layer in the released key layout.

    Submodules: ``attention`` (self-attention over queries and text), ``crossattention`` (queries only, K/V from
    ``encoder_width``-wide features; present when ``has_cross_attention``), ``intermediate_query`` /
    ``output_query`` (query FFN) and, when ``text_ffn``, ``intermediate`` / ``output`` (text FFN).

    transformers' ``Blip2QFormerLayer`` / ``InstructBlipQFormerLayer`` implement the same computation but name
    the attention projections ``attention.attention.{query,key,value}`` (the released checkpoints, written by
    LAVIS' BERT-based Q-Former, use ``attention.self.{query,key,value}``) and ``Blip2QFormerLayer`` has no
    text FFN. So this small layer is assembled from transformers' BERT sub-blocks (``BertAttention`` =
    ``BertSelfAttention`` + ``BertSelfOutput``, ``BertIntermediate``, ``BertOutput``), which carry the released
    names, with the cross-attention key/value projections widened to the encoder width.

    Args:
        config (BertConfig): Width, heads, FFN size, dropouts, LayerNorm epsilon.
        has_cross_attention (bool): Whether the queries cross-attend to encoder features in this layer.
        encoder_width (int): Width of the encoder features (K/V input of the cross-attention).
        text_ffn (bool): Whether the layer has a text FFN (``intermediate``/``output``).
    """

    def __init__(self, config: BertConfig, has_cross_attention: bool, encoder_width: int, text_ffn: bool):
        super().__init__()
        self.attention = BertAttention(config)
        self.has_cross_attention = has_cross_attention
        if has_cross_attention:
            self.crossattention = BertAttention(config)
            all_head_size = self.crossattention.self.all_head_size
            self.crossattention.self.key = nn.Linear(encoder_width, all_head_size)
            self.crossattention.self.value = nn.Linear(encoder_width, all_head_size)
        self.text_ffn = text_ffn
        if text_ffn:
            self.intermediate = BertIntermediate(config)
            self.output = BertOutput(config)
        self.intermediate_query = BertIntermediate(config)
        self.output_query = BertOutput(config)

    def forward(self, hidden: Tensor, attention_mask: Optional[Tensor], query_length: int,
                encoder_hidden_states: Optional[Tensor] = None, encoder_attention_mask: Optional[Tensor] = None,
                queries_only: bool = False) -> Tensor:
        """Run the layer.

        Args:
            hidden (Tensor): ``[B, Q + L, D]`` (queries first).
            attention_mask (Tensor, optional): Additive self-attention mask ``[B, 1, 1, Q + L]``.
            query_length (int): Number of leading query tokens ``Q``.
            encoder_hidden_states (Tensor, optional): ``[B, M, encoder_width]`` for the cross-attention.
            encoder_attention_mask (Tensor, optional): Additive ``[B, 1, 1, M]`` mask of the encoder tokens.
            queries_only (bool): Return only the ``Q`` query outputs (the text FFN is then skipped).

        Returns:
            Tensor: ``[B, Q + L, D]``, or ``[B, Q, D]`` with ``queries_only``.
        """
        attended = self.attention(hidden, attention_mask)[0]
        queries = attended[:, :query_length]
        if self.has_cross_attention:
            if encoder_hidden_states is None:
                raise ValueError('encoder_hidden_states is required by a cross-attention layer')
            queries = self.crossattention(
                queries, encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask)[0]
        queries = self.output_query(self.intermediate_query(queries), queries)
        if queries_only or attended.shape[1] == query_length:
            return queries
        if not self.text_ffn:
            raise ValueError('this Q-Former layer has no text FFN but received text tokens')
        text = attended[:, query_length:]
        text = self.output(self.intermediate(text), text)
        return torch.cat([queries, text], dim=1)


class QFormerEncoder(nn.Module):
    """A stack of :class:`QFormerLayer` (``layer.{i}``); layer ``i`` cross-attends when
    ``i % cross_attention_freq == 0``."""

    def __init__(self, config: BertConfig, num_layers: int, cross_attention_freq: int, encoder_width: int,
                 text_ffn: bool):
        super().__init__()
        self.layer = nn.ModuleList([
            QFormerLayer(config, i % cross_attention_freq == 0, encoder_width, text_ffn) for i in range(num_layers)
        ])

    def forward(self, hidden: Tensor, attention_mask: Optional[Tensor], query_length: int,
                encoder_hidden_states: Tensor, encoder_attention_mask: Optional[Tensor] = None) -> Tensor:
        """All layers; returns the ``[B, Q, D]`` query outputs of the last layer."""
        for i, layer in enumerate(self.layer):
            last = i == len(self.layer) - 1
            hidden = layer(hidden, attention_mask, query_length, encoder_hidden_states, encoder_attention_mask,
                           queries_only=last)
        return hidden


class QFormerBert(nn.Module):
    """``embeddings`` + ``encoder`` (the ``bert`` submodule of a released Q-Former)."""

    def __init__(self, embeddings: QFormerEmbeddings, encoder: QFormerEncoder):
        super().__init__()
        self.embeddings = embeddings
        self.encoder = encoder


class QFormer(nn.Module):
    """A BLIP-2 style Q-Former holding its layers under ``bert`` (the released nesting).

    Args:
        hidden_size (int): Width ``D``.
        num_layers (int): Number of layers.
        num_heads (int): Attention heads.
        intermediate_size (int): FFN width.
        encoder_width (int): Width of the features the queries cross-attend to.
        cross_attention_freq (int): Layer ``i`` has cross-attention when ``i % cross_attention_freq == 0``.
        vocab_size (int): Word-embedding rows; 0 = query-only (no text embeddings, no text FFN).
        max_position_embeddings (int): Position table size (and ``position_ids`` buffer length).
        pad_token_id (int): Padding row of the word embeddings.
        hidden_dropout (float): Dropout of embeddings and sub-block outputs.
        attention_dropout (float): Dropout of attention probabilities.
        layer_norm_eps (float): LayerNorm epsilon.
    """

    def __init__(self, hidden_size: int, num_layers: int, num_heads: int, intermediate_size: int,
                 encoder_width: int, cross_attention_freq: int, vocab_size: int = 0,
                 max_position_embeddings: int = 512, pad_token_id: int = 0, hidden_dropout: float = 0.1,
                 attention_dropout: float = 0.1, layer_norm_eps: float = 1e-12):
        super().__init__()
        if cross_attention_freq < 1:
            raise ValueError(f'cross_attention_freq must be >= 1, got {cross_attention_freq}')
        config = _bert_config(hidden_size, num_heads, intermediate_size, hidden_dropout, attention_dropout,
                              layer_norm_eps)
        embeddings = QFormerEmbeddings(hidden_size, vocab_size, max_position_embeddings, pad_token_id,
                                       layer_norm_eps, hidden_dropout)
        encoder = QFormerEncoder(config, num_layers, cross_attention_freq, encoder_width, text_ffn=vocab_size > 0)
        self.bert = QFormerBert(embeddings, encoder)

    def forward(self, query_embeds: Tensor, encoder_hidden_states: Tensor, text_embeds: Optional[Tensor] = None,
                text_attention_mask: Optional[Tensor] = None) -> Tensor:
        """Query outputs of the last layer.

        Args:
            query_embeds (Tensor): ``[B, Q, D]`` learned queries.
            encoder_hidden_states (Tensor): ``[B, M, encoder_width]``.
            text_embeds (Tensor, optional): ``[B, L, D]`` text embeddings (word + position, before LayerNorm).
            text_attention_mask (Tensor, optional): ``[B, L]`` 1/0 padding mask of the text.

        Returns:
            Tensor: ``[B, Q, D]``.
        """
        hidden = self.bert.embeddings(query_embeds, text_embeds)
        mask = None
        if text_embeds is not None and text_attention_mask is not None:
            ones = text_attention_mask.new_ones(query_embeds.shape[:2])
            mask = _additive_mask(torch.cat([ones, text_attention_mask], dim=1), hidden.dtype)
        return self.bert.encoder(hidden, mask, query_embeds.shape[1], encoder_hidden_states)


def _init_bert_weights(module: nn.Module, std: float) -> None:
    """BERT initialisation: N(0, std) linear/embedding weights, zero biases and padding rows, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=std)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class RegionMLP(nn.Module):
    """``layers.{0..n-1}`` linear layers with ReLU between them (not after the last)."""

    def __init__(self, dims: Sequence[int]):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:])])

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


# ---------------------------------------------------------------------------------------------- region helpers
def masked_average_pool(features: Tensor, mask: Tensor) -> Tensor:
    """Area-normalised average of token features inside a binary mask.

    Args:
        features (Tensor): ``[N, C]`` tokens of one frame on a ``g x g`` grid, row-major (``N = g * g``).
        mask (Tensor): ``[g, g]`` mask; every value ``> 0`` counts as inside.

    Returns:
        Tensor: ``[C]``, the mean of the features inside the mask.

    Raises:
        ValueError: If the mask is empty or its size does not match the token grid.
    """
    if mask.numel() != features.shape[0]:
        raise ValueError(f'mask of shape {tuple(mask.shape)} does not match {features.shape[0]} tokens')
    weights = (mask.reshape(-1) > 0).to(torch.float32)
    area = float(weights.sum())
    if area == 0:
        raise ValueError('region mask is empty')
    weights = (weights / area).to(device=features.device, dtype=features.dtype)
    return weights @ features


# ---------------------------------------------------------------------------------------------- the neck
@MODELS.register_module()
class STAggregator(BaseModule):
    """SAMA's spatio-temporal context aggregator (see the module docstring for the data flow).

    All sizes default to the released (full-size) model; only ``llm_hidden_size`` is required.

    Args:
        llm_hidden_size (int): LLM hidden size ``H`` (896 / 2048 / 4096 for SAMA-1B / 4B / 8B).
        qformer_hidden_size (int): Width ``D`` of both Q-Formers.
        num_attention_heads (int): Attention heads of both Q-Formers.
        intermediate_size (int): FFN width of both Q-Formers.
        vision_width (int): Width of the spatial Q-Former's encoder features (``vlm2spatial_Qformer_proj``
            output, InstructBLIP's EVA width 1408).
        spatial_num_layers (int): Spatial Q-Former depth.
        spatial_cross_attention_freq (int): Spatial layer ``i`` cross-attends when ``i % freq == 0``.
        spatial_num_queries (int): Learned queries of the spatial Q-Former (tokens per frame in ``S``).
        temporal_num_layers (int): Temporal Q-Former depth.
        temporal_cross_attention_freq (int): As above, for the temporal Q-Former (1 = every layer).
        temporal_num_queries (int): Learned queries of the temporal Q-Former (tokens per window in ``Z``).
        temporal_vocab_size (int): Word-embedding rows of the temporal Q-Former (= the Q-Former tokenizer
            length, 30530 at full size).
        max_position_embeddings (int): Position table of the temporal Q-Former (and the ``position_ids`` buffer
            length of both).
        pad_token_id (int): Padding id of the Q-Former tokenizer.
        region_token_id (int): Id of ``<mask>`` (receives the pooled-region feature).
        box_token_id (int): Id of ``<pos>`` (receives the box-shape feature).
        region_mask_size (int): Side of the box-shape mask (112 -> a 12544-d MLP input).
        region_mlp_hidden (int): Hidden width of both box-shape MLPs.
        window_size (int): Temporal Q-Former window over the flattened ``S`` in tokens (512 = 16 frames of 32
            queries); ``<= 0`` = one pass over all frames.
        stride (int): Window stride in tokens.
        hidden_dropout (float): Q-Former hidden dropout.
        attention_dropout (float): Q-Former attention dropout.
        layer_norm_eps (float): Q-Former LayerNorm epsilon.
        vision_ln_eps (float): Epsilon of ``spatial_Qformer_ln``.
        init_std (float): Std of the BERT-style initialisation of the Q-Formers and their queries.
        no_region_bias (str): What the temporal Q-Former inputs of a turn *without* region prompts get.
            ``'none'`` (default, our training and our own models): nothing. ``'official'``: the released
            inference behaviour, ``Qformer_mask_pooling_proj_st(0) + Qformer_mask_proj_st(0)`` (the two region
            modules on zero inputs, i.e. their bias terms) added to every input embedding, the learned queries
            included, before the embedding LayerNorm. Turn it on for a released SAMA checkpoint: it was trained
            with these terms at 1e-6 (negligible) but evaluated with them at full strength, and its temporal
            Q-Former output moves by up to 150 % (relative) without them. Our own models keep ``'none'``:
            training never sees the terms, so adding them at test time is a train/test mismatch.
        init_cfg (dict, optional): MMEngine initialisation config (e.g. a ``Pretrained`` checkpoint).

    Attributes:
        dead_parameter_names (list[str]): The text FFN of the last temporal Q-Former layer, whose output is never
            read. Frozen at construction so that DDP needs no ``find_unused_parameters``; a trainable-parameter
            policy that re-enables the whole neck should keep these frozen. (Region modules are unused by batches
            without region prompts; that is for the model's training policy to handle, not a dummy term here.)
    """

    def __init__(self,
                 llm_hidden_size: int,
                 qformer_hidden_size: int = 768,
                 num_attention_heads: int = 12,
                 intermediate_size: int = 3072,
                 vision_width: int = 1408,
                 spatial_num_layers: int = 12,
                 spatial_cross_attention_freq: int = 2,
                 spatial_num_queries: int = 32,
                 temporal_num_layers: int = 2,
                 temporal_cross_attention_freq: int = 1,
                 temporal_num_queries: int = 32,
                 temporal_vocab_size: int = 30530,
                 max_position_embeddings: int = 512,
                 pad_token_id: int = 0,
                 region_token_id: int = 30523,
                 box_token_id: int = 30524,
                 region_mask_size: int = 112,
                 region_mlp_hidden: int = 1024,
                 window_size: int = 512,
                 stride: int = 512,
                 hidden_dropout: float = 0.1,
                 attention_dropout: float = 0.1,
                 layer_norm_eps: float = 1e-12,
                 vision_ln_eps: float = 1e-5,
                 init_std: float = 0.02,
                 no_region_bias: str = 'none',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if llm_hidden_size is None or llm_hidden_size <= 0:
            raise ValueError(f'llm_hidden_size must be a positive int, got {llm_hidden_size!r}')
        if no_region_bias not in NO_REGION_BIAS_MODES:
            raise ValueError(f'no_region_bias must be one of {NO_REGION_BIAS_MODES}, got {no_region_bias!r}')
        if window_size > 0 and stride <= 0:
            raise ValueError(f'stride must be positive when window_size > 0, got {stride}')
        for name, token_id in (('region_token_id', region_token_id), ('box_token_id', box_token_id)):
            if not 0 <= token_id < temporal_vocab_size:
                raise ValueError(f'{name}={token_id} is outside the vocabulary of {temporal_vocab_size} entries')
        H, D = llm_hidden_size, qformer_hidden_size
        self.llm_hidden_size = H
        self.qformer_hidden_size = D
        self.region_token_id = region_token_id
        self.box_token_id = box_token_id
        self.region_mask_size = region_mask_size
        self.window_size = window_size
        self.stride = stride
        self.no_region_bias = no_region_bias
        qformer_kwargs = dict(hidden_size=D, num_heads=num_attention_heads, intermediate_size=intermediate_size,
                              max_position_embeddings=max_position_embeddings, pad_token_id=pad_token_id,
                              hidden_dropout=hidden_dropout, attention_dropout=attention_dropout,
                              layer_norm_eps=layer_norm_eps)

        # Spatial Q-Former (InstructBLIP's, query-only).
        self.vlm2spatial_Qformer_proj = nn.Linear(H, vision_width)
        self.spatial_Qformer_ln = nn.LayerNorm(vision_width, eps=vision_ln_eps)
        self.spatial_Qformer = QFormer(num_layers=spatial_num_layers, encoder_width=vision_width,
                                       cross_attention_freq=spatial_cross_attention_freq, vocab_size=0,
                                       **qformer_kwargs)
        self.spatial_Qformer_query_tokens = nn.Parameter(torch.zeros(1, spatial_num_queries, D))

        # Temporal Q-Former (question-conditioned, randomly initialised).
        self.temporal_Qformer = QFormer(num_layers=temporal_num_layers, encoder_width=D,
                                        cross_attention_freq=temporal_cross_attention_freq,
                                        vocab_size=temporal_vocab_size, **qformer_kwargs)
        self.temporal_Qformer_query_tokens = nn.Parameter(torch.zeros(1, temporal_num_queries, D))

        # Region encoders: LLM path and temporal Q-Former path.
        mask_dim = region_mask_size * region_mask_size
        self.Qformer_mask_pooling_proj = nn.Linear(H, H)
        self.Qformer_mask_proj = RegionMLP([mask_dim, region_mlp_hidden, region_mlp_hidden, H])
        self.Qformer_mask_pooling_proj_st = nn.Linear(H, D)
        self.Qformer_mask_proj_st = RegionMLP([mask_dim, region_mlp_hidden, region_mlp_hidden, D])

        # Temporal context injection.
        self.Qformer_temp_attn_q = nn.Linear(H, H)
        self.Qformer_temp_attn_k = nn.Linear(D, H)
        self.Qformer_temp_attn_v = nn.Linear(D, H)
        self.Qformer_temp_proj = nn.Linear(H, H)
        self.Qformer_final_proj = nn.Linear(H, H)

        _init_bert_weights(self.spatial_Qformer, init_std)
        _init_bert_weights(self.temporal_Qformer, init_std)
        nn.init.normal_(self.spatial_Qformer_query_tokens, std=init_std)
        nn.init.normal_(self.temporal_Qformer_query_tokens, std=init_std)

        # The text FFN of the last temporal layer feeds nothing that is read: keep, but freeze it.
        last = f'temporal_Qformer.bert.encoder.layer.{temporal_num_layers - 1}.'
        self.dead_parameter_names: List[str] = [
            name for name, _ in self.named_parameters()
            if name.startswith(last + 'intermediate.') or name.startswith(last + 'output.')
        ]
        params = dict(self.named_parameters())
        for name in self.dead_parameter_names:
            params[name].requires_grad_(False)

    # ------------------------------------------------------------------ stages
    def encode_spatial(self, visual: Tensor) -> Tensor:
        """Spatial Q-Former tokens of every frame (question independent; cacheable across turns).

        Args:
            visual (Tensor): ``[T, N, H]`` LLM-space visual tokens (``N = 256`` at full size).

        Returns:
            Tensor: ``S`` of shape ``[T, spatial_num_queries, D]``.
        """
        self._check_visual(visual)
        feats = self.spatial_Qformer_ln(self.vlm2spatial_Qformer_proj(visual))
        queries = self.spatial_Qformer_query_tokens.expand(visual.shape[0], -1, -1)
        return self.spatial_Qformer(queries, feats)

    def windows(self, num_tokens: int) -> List[Tuple[int, int]]:
        """``(start, end)`` token ranges of the temporal Q-Former windows over ``num_tokens`` spatial tokens."""
        if self.window_size <= 0 or num_tokens <= self.window_size:
            return [(0, num_tokens)]
        out, start = [], 0
        while True:
            end = min(start + self.window_size, num_tokens)
            out.append((start, end))
            if end >= num_tokens:
                return out
            start += self.stride

    def encode_temporal(self, spatial: Tensor, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                        region_feats: Optional[Tensor] = None, box_feats: Optional[Tensor] = None,
                        turn_index: int = 0, input_bias: Sequence[Tensor] = ()) -> Tensor:
        """Temporal Q-Former output ``Z`` of one turn.

        Args:
            spatial (Tensor): ``[T, Qs, D]`` from :meth:`encode_spatial`.
            input_ids (Tensor): ``[L]`` Q-Former token ids of the formatted question.
            attention_mask (Tensor, optional): ``[L]`` 1/0 padding mask (all ones when omitted).
            region_feats (Tensor, optional): ``[R, D]`` features written to the ``<mask>`` positions, in order.
            box_feats (Tensor, optional): ``[R, D]`` features written to the ``<pos>`` positions, in order.
            turn_index (int): Used in error messages only.
            input_bias (sequence of Tensor): ``[D]`` (or ``[1, D]``) vectors added one after the other to every
                input embedding, queries and text (word + position) alike, before the embedding LayerNorm
                (see :meth:`no_region_bias_terms`).

        Returns:
            Tensor: ``Z`` of shape ``[temporal_num_queries * nwin, D]``.

        Raises:
            ValueError: If the numbers of ``<mask>`` / ``<pos>`` tokens differ from the number of regions.
        """
        input_ids = torch.as_tensor(input_ids)
        if input_ids.ndim != 1:
            raise ValueError(f'turn {turn_index}: qformer_input_ids must be 1-D [L], got {tuple(input_ids.shape)}')
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = torch.as_tensor(attention_mask)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f'turn {turn_index}: qformer_attention_mask shape {tuple(attention_mask.shape)} '
                             f'differs from qformer_input_ids shape {tuple(input_ids.shape)}')
        num_regions = 0 if region_feats is None else region_feats.shape[0]
        # Positions are found on the ids' own device (CPU in practice: no device sync, works for meta models).
        region_pos = (input_ids == self.region_token_id).nonzero().flatten()
        box_pos = (input_ids == self.box_token_id).nonzero().flatten()
        if len(region_pos) != num_regions or len(box_pos) != num_regions:
            raise ValueError(
                f'turn {turn_index}: the Q-Former prompt has {len(region_pos)} <mask> (id {self.region_token_id}) '
                f'and {len(box_pos)} <pos> (id {self.box_token_id}) tokens but the turn has {num_regions} '
                'region(s); format the question with format_qformer_prompt and keep every region in the text')

        embeddings = self.temporal_Qformer.bert.embeddings
        device = embeddings.word_embeddings.weight.device
        text = embeddings.embed_text(input_ids.to(device)[None])[0]
        if num_regions:
            text = text.index_put((region_pos.to(device), ), region_feats.to(text.dtype))
            text = text.index_put((box_pos.to(device), ), box_feats.to(text.dtype))
        text_mask = attention_mask.to(device)[None]

        flat = spatial.reshape(-1, spatial.shape[-1])
        queries = self.temporal_Qformer_query_tokens
        for bias in input_bias:  # added term by term, in the released code's order
            bias = bias.reshape(-1).to(text.dtype)
            queries = queries + bias
            text = text + bias
        outs = [
            self.temporal_Qformer(queries, flat[start:end][None], text[None], text_mask)[0]
            for start, end in self.windows(flat.shape[0])
        ]
        return torch.cat(outs, dim=0)

    def inject_context(self, visual: Tensor, temporal: Tensor, queries: Optional[Tensor] = None) -> Tensor:
        """Context injection: one ``[H]`` token per frame from ``V[t]`` attending to ``Z``.

        ``ST[t] = final(mean_n(proj(softmax(q_t k^T / sqrt(H)) v) + V[t]))``. The mean over the ``N`` tokens is
        taken before ``Qformer_temp_proj`` (a linear map commutes with the mean; the result is the same).

        Args:
            visual (Tensor): ``[T, N, H]``.
            temporal (Tensor): ``Z`` of shape ``[M, D]``.
            queries (Tensor, optional): Precomputed ``Qformer_temp_attn_q(visual)`` (shared by all turns).

        Returns:
            Tensor: ``[T, H]``.
        """
        if queries is None:
            queries = self.Qformer_temp_attn_q(visual)
        keys = self.Qformer_temp_attn_k(temporal)
        values = self.Qformer_temp_attn_v(temporal)
        scores = torch.matmul(queries, keys.transpose(0, 1)) / math.sqrt(self.llm_hidden_size)
        attended = torch.matmul(scores.softmax(dim=-1), values)  # [T, N, H]
        pooled = self.Qformer_temp_proj(attended.mean(dim=1)) + visual.mean(dim=1)
        return self.Qformer_final_proj(pooled)

    def pool_regions(self, visual: Tensor, regions: Sequence[Dict], turn_index: int = 0) -> Tuple[Tensor, Tensor]:
        """Pooled features and flattened shape masks of one turn's regions.

        Args:
            visual (Tensor): ``[T, N, H]``.
            regions (list[dict]): ``dict(frame=int, mask16=[g, g], mask112=[S, S])`` per region.
            turn_index (int): Used in error messages only.

        Returns:
            tuple[Tensor, Tensor]: ``[R, H]`` area-normalised pooled features and ``[R, S * S]`` flat masks.

        Raises:
            ValueError: On an empty mask, a bad frame index or a mask of the wrong size (naming turn and region).
        """
        T, N, _ = visual.shape
        pooled, shapes = [], []
        for r, region in enumerate(regions):
            where = f'turn {turn_index}, region {r}'
            frame = int(region['frame'])
            if not 0 <= frame < T:
                raise ValueError(f'{where}: frame index {frame} is outside the {T} visual frames')
            mask16 = torch.as_tensor(region['mask16'])
            try:
                pooled.append(masked_average_pool(visual[frame], mask16))
            except ValueError as err:
                raise ValueError(f'{where}: {err} (frame {frame}); choose a frame where the region is visible')
            mask112 = torch.as_tensor(region['mask112'])
            if tuple(mask112.shape) != (self.region_mask_size, self.region_mask_size):
                raise ValueError(f'{where}: mask112 must be {self.region_mask_size}x{self.region_mask_size}, '
                                 f'got {tuple(mask112.shape)}')
            shapes.append(mask112.reshape(-1).to(device=visual.device, dtype=visual.dtype))
        if not pooled:
            empty = visual.new_zeros(0, visual.shape[-1]), visual.new_zeros(0, self.region_mask_size**2)
            return empty
        return torch.stack(pooled), torch.stack(shapes)

    # ------------------------------------------------------------------ forward
    def forward(self, visual: Tensor, turns: Sequence[Dict], spatial: Optional[Tensor] = None) -> Tensor:
        """Embeddings of one sample's ``<IMG_CONTEXT>`` slots that follow the dense frames, in prompt order.

        Args:
            visual (Tensor): ``[T, N, H]`` LLM-space tokens of the T sparse frames.
            turns (list[dict]): One entry per conversation turn: ``qformer_input_ids`` (LongTensor ``[Lq]``),
                ``qformer_attention_mask`` (``[Lq]``, optional), ``regions`` (list of
                ``dict(frame=int, mask16=Tensor[16, 16], mask112=Tensor[112, 112])`` in ``<mask>`` order;
                optional/empty for a turn without region prompts). ``frame`` indexes the T visual frames.
            spatial (Tensor, optional): Precomputed :meth:`encode_spatial` output (e.g. cached across the turns of
                an interactive chat); computed once here otherwise.

        Returns:
            Tensor: ``[P * T + 2 * R, H]``: for each turn, its T context tokens, then for each of its regions the
            pooled-region token and the box token.
        """
        self._check_visual(visual)
        if not turns:
            return visual.new_zeros(0, visual.shape[-1])
        if spatial is None:
            spatial = self.encode_spatial(visual)
        queries = self.Qformer_temp_attn_q(visual)
        outs = []
        for p, turn in enumerate(turns):
            regions = turn.get('regions') or []
            pooled, shapes = self.pool_regions(visual, regions, p)
            if regions:
                temporal = self.encode_temporal(spatial, turn['qformer_input_ids'],
                                                turn.get('qformer_attention_mask'),
                                                self.Qformer_mask_pooling_proj_st(pooled),
                                                self.Qformer_mask_proj_st(shapes), p)
            else:
                temporal = self.encode_temporal(spatial, turn['qformer_input_ids'],
                                                turn.get('qformer_attention_mask'), turn_index=p,
                                                input_bias=self.no_region_bias_terms())
            outs.append(self.inject_context(visual, temporal, queries))
            if regions:
                region_tokens = torch.stack(
                    [self.Qformer_mask_pooling_proj(pooled), self.Qformer_mask_proj(shapes)], dim=1)
                outs.append(region_tokens.flatten(0, 1))
        return torch.cat(outs, dim=0)

    def no_region_bias_terms(self) -> Tuple[Tensor, ...]:
        """What the temporal Q-Former inputs of a region-free turn get (see ``no_region_bias``).

        Returns:
            tuple[Tensor, ...]: ``()`` for ``'none'``; for ``'official'`` the two ``[1, D]`` terms
            ``Qformer_mask_pooling_proj_st(0)`` and ``Qformer_mask_proj_st(0)`` in the order the released code adds
            them.
        """
        if self.no_region_bias == 'none':
            return ()
        weight = self.Qformer_mask_pooling_proj_st.weight
        pooled = weight.new_zeros(1, self.llm_hidden_size)
        shape = weight.new_zeros(1, self.region_mask_size**2)
        return self.Qformer_mask_pooling_proj_st(pooled), self.Qformer_mask_proj_st(shape)

    def num_tokens(self, num_frames: int, turns: Sequence[Dict]) -> int:
        """Number of embeddings :meth:`forward` returns (``P * T + 2 * R``)."""
        return sum(num_frames + 2 * len(t.get('regions') or []) for t in turns)

    def _check_visual(self, visual: Tensor) -> None:
        if visual.ndim != 3 or visual.shape[-1] != self.llm_hidden_size:
            raise ValueError(f'visual tokens must be [T, N, {self.llm_hidden_size}], got {tuple(visual.shape)}')


# ---------------------------------------------------------------------------------------------- tokenizer
def tiny_qformer_vocab() -> List[str]:
    """A deterministic small WordPiece vocabulary (BERT specials, characters, ``##`` characters, a few words)."""
    chars = list(string.ascii_lowercase + string.digits)
    return (list(_BERT_SPECIALS) + chars + list(string.punctuation) + ['##' + c for c in chars] +
            list(_TINY_WORDS))


def _read_vocab(path: str) -> List[str]:
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f if line.rstrip('\n')]


def _bert_fast_from_vocab(vocab: Sequence[str]):
    """An uncased ``BertTokenizerFast`` built in memory from a vocabulary list (no file, no download)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    ids = {tok: i for i, tok in enumerate(vocab)}
    missing = [t for t in _BERT_SPECIALS if t not in ids]
    if missing:
        raise ValueError(f'vocabulary lacks the BERT special tokens {missing}')
    backend = Tokenizer(models.WordPiece(vocab=ids, unk_token='[UNK]', max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                    lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', ids['[CLS]']), ('[SEP]', ids['[SEP]'])])
    backend.decoder = decoders.WordPiece(prefix='##')
    return BertTokenizerFast(tokenizer_object=backend, do_lower_case=True, unk_token='[UNK]', sep_token='[SEP]',
                             pad_token='[PAD]', cls_token='[CLS]', mask_token='[MASK]')


def build_qformer_tokenizer(vocab_file: Optional[str] = None, tiny: bool = False):
    """The temporal Q-Former tokenizer, built from local files only.

    ``bert-base-uncased`` (uncased WordPiece) + bos ``[DEC]`` + the specials ``<mask>``, ``<pos>``, ``[SEG]``,
    ``<p>``, ``</p>``, ``<vp>``, ``</vp>`` in that order (30523 ... 30529 with the 30522-entry BERT vocabulary),
    ``truncation_side='left'``, ``model_max_length=256``.

    Args:
        vocab_file (str, optional): A BERT ``vocab.txt``, or a folder holding either a saved tokenizer
            (``tokenizer.json`` / ``tokenizer_config.json``, e.g. one written by this function's
            ``save_pretrained``) or a ``vocab.txt``.
        tiny (bool): Build the deterministic small vocabulary of :func:`tiny_qformer_vocab` (tests, demos);
            ``vocab_file`` must then be ``None``.

    Returns:
        transformers.BertTokenizerFast: The tokenizer; ``len(tokenizer)`` is the temporal Q-Former vocabulary.

    Raises:
        ValueError: If neither or both sources are given, or the special tokens do not get consecutive ids.
        FileNotFoundError: If ``vocab_file`` does not exist.
    """
    from transformers import BertTokenizerFast

    if tiny == (vocab_file is not None):
        raise ValueError('give exactly one of vocab_file (a local BERT vocabulary) or tiny=True; '
                         'the tokenizer is never downloaded')
    if tiny:
        tokenizer = _bert_fast_from_vocab(tiny_qformer_vocab())
    else:
        vocab_file = os.fspath(vocab_file)
        if osp.isdir(vocab_file):
            saved = any(osp.isfile(osp.join(vocab_file, f)) for f in ('tokenizer.json', 'tokenizer_config.json'))
            if saved:
                tokenizer = BertTokenizerFast.from_pretrained(vocab_file, local_files_only=True)
            elif osp.isfile(osp.join(vocab_file, 'vocab.txt')):
                tokenizer = _bert_fast_from_vocab(_read_vocab(osp.join(vocab_file, 'vocab.txt')))
            else:
                raise FileNotFoundError(f'no tokenizer.json, tokenizer_config.json or vocab.txt in {vocab_file}')
        elif osp.isfile(vocab_file):
            tokenizer = _bert_fast_from_vocab(_read_vocab(vocab_file))
        else:
            raise FileNotFoundError(f'Q-Former vocabulary not found: {vocab_file}')
    tokenizer.add_special_tokens({'bos_token': QFORMER_BOS_TOKEN})
    tokenizer.add_special_tokens({'additional_special_tokens': list(QFORMER_ADDITIONAL_SPECIAL_TOKENS)})
    tokenizer.truncation_side = 'left'
    tokenizer.model_max_length = QFORMER_MAX_LENGTH
    ids = tokenizer.convert_tokens_to_ids(list(QFORMER_SPECIAL_TOKENS))
    if ids != list(range(ids[0], ids[0] + len(ids))) or ids[-1] != len(tokenizer) - 1:
        raise ValueError(f'Q-Former special tokens {QFORMER_SPECIAL_TOKENS} got ids {ids}; expected consecutive ids '
                         f'at the end of the vocabulary (len {len(tokenizer)})')
    return tokenizer
