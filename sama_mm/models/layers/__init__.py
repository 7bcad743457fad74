"""Layers: building blocks shared by model parts (Q-Former layers, region-prompt encoders)."""
from .qformer import QFormer, QFormerBert, QFormerEmbeddings, QFormerEncoder, QFormerLayer, init_bert_weights
from .region import RegionMLP, masked_average_pool

__all__ = ['QFormer', 'QFormerBert', 'QFormerEmbeddings', 'QFormerEncoder', 'QFormerLayer', 'init_bert_weights',
           'RegionMLP', 'masked_average_pool']
