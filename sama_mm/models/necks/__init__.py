"""Necks: modules between the video LLM's visual tokens and the LLM input (SAMA's STAggregator)."""
from .st_aggregator import (QFORMER_SPECIAL_TOKENS, STAggregator, build_qformer_tokenizer, format_qformer_prompt,
                            masked_average_pool, region_masks)

__all__ = [
    'STAggregator', 'build_qformer_tokenizer', 'format_qformer_prompt', 'masked_average_pool', 'region_masks',
    'QFORMER_SPECIAL_TOKENS'
]
