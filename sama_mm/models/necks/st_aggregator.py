"""SAMA's spatio-temporal context aggregator (STAggregator), a :class:`~sama_mm.models.necks.BaseNeck`.

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

The Q-Former layers live in :mod:`sama_mm.models.layers.qformer`, the region encoders in
:mod:`sama_mm.models.layers.region`, and the Q-Former tokenizer (whose ``<mask>`` / ``<pos>`` ids are
``region_token_id`` / ``box_token_id``) in :mod:`sama_mm.tokenizers.qformer`.

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
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from sama_mm.models.layers.qformer import QFormer, init_bert_weights
from sama_mm.models.layers.region import RegionMLP, masked_average_pool
from sama_mm.models.necks.base_neck import BaseNeck
from sama_mm.registry import MODELS

#: Values of ``STAggregator(no_region_bias=...)``.
NO_REGION_BIAS_MODES = ('none', 'official')


@MODELS.register_module()
class STAggregator(BaseNeck):
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
        super().__init__(llm_hidden_size, init_cfg=init_cfg)
        if no_region_bias not in NO_REGION_BIAS_MODES:
            raise ValueError(f'no_region_bias must be one of {NO_REGION_BIAS_MODES}, got {no_region_bias!r}')
        if window_size > 0 and stride <= 0:
            raise ValueError(f'stride must be positive when window_size > 0, got {stride}')
        for name, token_id in (('region_token_id', region_token_id), ('box_token_id', box_token_id)):
            if not 0 <= token_id < temporal_vocab_size:
                raise ValueError(f'{name}={token_id} is outside the vocabulary of {temporal_vocab_size} entries')
        H, D = llm_hidden_size, qformer_hidden_size
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

        init_bert_weights(self.spatial_Qformer, init_std)
        init_bert_weights(self.temporal_Qformer, init_std)
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
        self.check_visual(visual)
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
        self.check_visual(visual)
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
