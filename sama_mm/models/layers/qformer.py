"""Q-Former layers (BLIP-2 / InstructBLIP style) in the key layout of the released SAMA checkpoints.

A Q-Former is a small BERT encoder whose first ``Q`` inputs are learned queries: they self-attend together with
optional text tokens and cross-attend to encoder features, and only the query outputs of the last layer are
read. :class:`QFormer` nests its parts as ``bert.embeddings`` / ``bert.encoder.layer.{i}`` with BERT's
sub-block names (``attention.self.query``, ``crossattention.self.key``, ``intermediate_query``, ...), which is
how LAVIS' BERT-based Q-Former, and therefore the released checkpoints, name them.

Used by :class:`~sama_mm.models.necks.STAggregator` (a query-only spatial Q-Former and a text-conditioned
temporal one).
"""
from typing import Optional

import torch
from torch import Tensor, nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertAttention, BertIntermediate, BertOutput

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


def init_bert_weights(module: nn.Module, std: float) -> None:
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
