"""InternViT (the InternVL2.5 vision encoder), written in-package.

The released InternViT is remote code (not part of ``transformers``), so the architecture lives here. Parameter
names are those of the released checkpoints (``vision_model.*`` without the prefix), so loading released weights
is a prefix rename:

* ``embeddings.class_embedding`` [1, 1, C], ``embeddings.patch_embedding.{weight,bias}`` (conv, patch 14),
  ``embeddings.position_embedding`` [1, 1 + N, C];
* ``encoder.layers.{i}.{norm1, attn.qkv, attn.proj, ls1, norm2, mlp.fc1, mlp.fc2, ls2}``.

InternViT-300M-448px (V2.5): 24 layers, width 1024, 16 heads, MLP 4096, LayerNorm eps 1e-6, qkv bias, no final
norm. Each layer is pre-norm with layer scale: ``x + ls1 * attn(norm1(x))`` then ``x + ls2 * mlp(norm2(x))``.
"""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from sama_mm.registry import MODELS


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability ``p`` in training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f'p={self.p}'


class InternVisionEmbeddings(nn.Module):
    """Patch embedding, class token and (interpolated) absolute position embedding.

    Args:
        embed_dim: Width C.
        image_size: Configured image size; the position table covers ``(image_size / patch_size) ** 2`` patches.
        patch_size: Patch size (14).
        num_channels: Input channels.
    """

    def __init__(self, embed_dim: int, image_size: int, patch_size: int, num_channels: int = 3):
        super().__init__()
        self.embed_dim = embed_dim
        self.image_size = image_size
        self.patch_size = patch_size
        self.class_embedding = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.patch_embedding = nn.Conv2d(num_channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.grid = image_size // patch_size
        self.num_patches = self.grid**2
        self.position_embedding = nn.Parameter(torch.randn(1, self.num_patches + 1, embed_dim))

    def _patch_pos_embed(self, height: int, width: int, dtype: torch.dtype) -> Tensor:
        """Patch position embeddings for a ``height x width`` grid ([1, height * width, C])."""
        table = self.position_embedding[:, 1:]
        if height == self.grid and width == self.grid:
            return table.to(dtype)
        # Bicubic resize of the square table in float32 (as the released model does), then back to ``dtype``.
        grid = table.float().reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(height, width), mode='bicubic', align_corners=False)
        return grid.reshape(1, self.embed_dim, height * width).permute(0, 2, 1).to(dtype)

    def forward(self, pixel_values: Tensor) -> Tensor:
        """Embed images [B, 3, S, S] into tokens [B, 1 + (S / patch) ** 2, C] (CLS first)."""
        dtype = self.patch_embedding.weight.dtype
        patches = self.patch_embedding(pixel_values.to(dtype))  # [B, C, h, w]
        batch, _, height, width = patches.shape
        patches = patches.flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(dtype).expand(batch, 1, -1)
        tokens = torch.cat([cls, patches], dim=1)
        pos = torch.cat([self.position_embedding[:, :1].to(dtype), self._patch_pos_embed(height, width, dtype)], 1)
        return tokens + pos


class InternAttention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection and an output ``proj``.

    Args:
        embed_dim: Width C.
        num_heads: Number of heads (C must be divisible by it).
        qkv_bias: Whether ``qkv`` has a bias (True for InternViT-300M).
        attn_drop: Attention dropout (training only).
        proj_drop: Dropout after ``proj``.
    """

    def __init__(self, embed_dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f'embed_dim {embed_dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=qkv_bias)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        # The fused output is laid out as [q | k | v], each split into heads.
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(batch, length, width)
        return self.proj_drop(self.proj(out))


class InternMLP(nn.Module):
    """``fc2(GELU(fc1(x)))``."""

    def __init__(self, embed_dim: int, mlp_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, mlp_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp_dim, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class InternVisionEncoderLayer(nn.Module):
    """Pre-norm transformer layer with layer scale and drop-path.

    Args:
        embed_dim: Width C.
        num_heads: Attention heads.
        mlp_dim: Hidden width of the MLP.
        layer_norm_eps: LayerNorm epsilon.
        qkv_bias: Bias of the fused qkv projection.
        drop_path: Drop-path probability of both residual branches.
        layer_scale_init: Initial value of ``ls1``/``ls2``.
        dropout: Dropout after the attention projection.
        attention_dropout: Dropout of the attention weights.
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_dim: int, layer_norm_eps: float = 1e-6,
                 qkv_bias: bool = True, drop_path: float = 0.0, layer_scale_init: float = 0.1,
                 dropout: float = 0.0, attention_dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim, eps=layer_norm_eps)
        self.attn = InternAttention(embed_dim, num_heads, qkv_bias, attention_dropout, dropout)
        self.ls1 = nn.Parameter(layer_scale_init * torch.ones(embed_dim))
        self.norm2 = nn.LayerNorm(embed_dim, eps=layer_norm_eps)
        self.mlp = InternMLP(embed_dim, mlp_dim)
        self.ls2 = nn.Parameter(layer_scale_init * torch.ones(embed_dim))
        self.drop_path1 = DropPath(drop_path)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x)) * self.ls1)
        return x + self.drop_path2(self.mlp(self.norm2(x)) * self.ls2)


class InternVisionEncoder(nn.Module):
    """A stack of :class:`InternVisionEncoderLayer` (``layers.{i}``), no final norm."""

    def __init__(self, num_layers: int, drop_path_rate: float = 0.0, **layer_kwargs):
        super().__init__()
        rates = [drop_path_rate * i / max(num_layers - 1, 1) for i in range(num_layers)]
        self.layers = nn.ModuleList(InternVisionEncoderLayer(drop_path=r, **layer_kwargs) for r in rates)
        self.gradient_checkpointing = False

    def forward(self, x: Tensor, output_hidden_states: bool = False) -> Tuple[Tensor, Optional[List[Tensor]]]:
        hidden_states = [x] if output_hidden_states else None
        for layer in self.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            if output_hidden_states:
                hidden_states.append(x)
        return x, hidden_states


@MODELS.register_module()
class InternVisionModel(nn.Module):
    """InternViT-300M-448px (V2.5) vision encoder.

    Defaults are the released InternViT-300M-448px V2.5 sizes.

    Args:
        image_size: Configured input size; other sizes interpolate the position table (bicubic).
        patch_size: Patch size.
        hidden_size: Width C.
        num_hidden_layers: Depth.
        num_attention_heads: Heads.
        intermediate_size: MLP width.
        layer_norm_eps: LayerNorm epsilon.
        qkv_bias: Bias of the fused qkv projection.
        drop_path_rate: Largest drop-path rate (linearly increasing over the layers, 0 for the first).
        layer_scale_init: Initial layer-scale value (``initializer_factor`` of the released config).
        dropout: Dropout after attention projections.
        attention_dropout: Attention-weight dropout.
        num_channels: Input channels.
        use_gradient_checkpointing: Recompute each layer in the backward pass (training only).
    """

    def __init__(self, image_size: int = 448, patch_size: int = 14, hidden_size: int = 1024,
                 num_hidden_layers: int = 24, num_attention_heads: int = 16, intermediate_size: int = 4096,
                 layer_norm_eps: float = 1e-6, qkv_bias: bool = True, drop_path_rate: float = 0.0,
                 layer_scale_init: float = 0.1, dropout: float = 0.0, attention_dropout: float = 0.0,
                 num_channels: int = 3, use_gradient_checkpointing: bool = False):
        super().__init__()
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_size = hidden_size
        self.embeddings = InternVisionEmbeddings(hidden_size, image_size, patch_size, num_channels)
        self.encoder = InternVisionEncoder(
            num_hidden_layers, drop_path_rate=drop_path_rate, embed_dim=hidden_size, num_heads=num_attention_heads,
            mlp_dim=intermediate_size, layer_norm_eps=layer_norm_eps, qkv_bias=qkv_bias,
            layer_scale_init=layer_scale_init, dropout=dropout, attention_dropout=attention_dropout)
        self.encoder.gradient_checkpointing = use_gradient_checkpointing

    def gradient_checkpointing_enable(self, enable: bool = True) -> None:
        """Switch per-layer activation checkpointing on (or off with ``enable=False``)."""
        self.encoder.gradient_checkpointing = enable

    @property
    def dtype(self) -> torch.dtype:
        return self.embeddings.patch_embedding.weight.dtype

    def forward(self, pixel_values: Tensor,
                output_hidden_states: bool = False) -> Union[Tensor, Tuple[Tensor, List[Tensor]]]:
        """Encode images.

        Args:
            pixel_values: Normalised images [B, 3, S, S]; S must be a multiple of the patch size.
            output_hidden_states: Also return every hidden state (the embeddings, then each layer's output), so
                ``hidden_states[select_layer]`` picks a layer as InternVL does.

        Returns:
            The last layer's tokens [B, 1 + (S / patch) ** 2, C] (CLS first), or ``(last, hidden_states)`` when
            ``output_hidden_states`` is set.
        """
        if pixel_values.shape[-1] % self.patch_size or pixel_values.shape[-2] % self.patch_size:
            raise ValueError(f'image size {tuple(pixel_values.shape[-2:])} is not a multiple of the patch size '
                             f'{self.patch_size}')
        x = self.embeddings(pixel_values)
        last, hidden_states = self.encoder(x, output_hidden_states)
        if output_hidden_states:
            return last, hidden_states
        return last
