"""Batching of packed SAMA samples for the data loader."""
from typing import Dict, List, Sequence

from ..registry import FUNCTIONS


@FUNCTIONS.register_module()
def sama_collate(batch: Sequence[dict]) -> Dict[str, List]:
    """Keep each sample's inputs as its own dict: ``dict(inputs=[...], data_samples=[...])``.

    mmengine's ``pseudo_collate`` transposes nested containers and so requires every sample to have equally
    long lists, which SAMA samples do not (their rounds and region prompts differ); padding happens later in
    :class:`~sama_mm.models.SAMADataPreprocessor`.
    """
    return dict(inputs=[sample['inputs'] for sample in batch],
                data_samples=[sample['data_samples'] for sample in batch])
