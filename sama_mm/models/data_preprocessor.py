"""Batching of packed SAMA samples: padding, attention masks, device moves and dtypes."""
from typing import Dict, List, Union

import torch
from mmengine.model import BaseDataPreprocessor

from ..registry import MODELS

IGNORE_INDEX = -100


@MODELS.register_module()
class SAMADataPreprocessor(BaseDataPreprocessor):
    """Pad the token sequences of a batch and move everything to the model's device.

    Frames stay a list (one ``[T_i, 3, S, S]`` tensor per sample) because samples have different numbers of
    frames; token sequences are right-padded to the longest one.

    Args:
        pad_token_id (int): Id written into padded ``input_ids`` positions (they are masked out anyway).
        pixel_dtype (str): dtype the pixel tensors are cast to (``'float32'`` or ``'bfloat16'``).
        non_blocking (bool): Non-blocking device copies.

    Input (what ``PackSAMAInputs`` + ``pseudo_collate`` produce): ``dict(inputs=dict(pixel_values=[...],
    input_ids=[...], ...), data_samples=[SAMADataSample, ...])`` (a list of per-sample input dicts works too).

    Output: ``dict(inputs=dict(pixel_values=list, dense_positions=list, input_ids=[B, L], labels=[B, L],
    attention_mask=[B, L] bool, sam2_pixel_values=list (a None entry for a sample without SAM2 frames) or None,
    sam2_frames=list or None, neck_turns=list or None), data_samples=list)``.
    """

    def __init__(self, pad_token_id: int = 0, pixel_dtype: str = 'float32', non_blocking: bool = False):
        super().__init__(non_blocking=non_blocking)
        self.pad_token_id = pad_token_id
        self.pixel_dtype = getattr(torch, pixel_dtype)

    def forward(self, data: dict, training: bool = False) -> Dict[str, Union[dict, list]]:
        samples = data['inputs']
        if isinstance(samples, dict):
            if isinstance(samples['input_ids'], (list, tuple)):  # pseudo_collate: a dict of per-sample lists
                samples = [dict(zip(samples, values)) for values in zip(*samples.values())]
            else:  # a single, uncollated sample
                samples = [samples]
        input_ids = self._pad([torch.as_tensor(s['input_ids']) for s in samples], self.pad_token_id)
        attention_mask = self._pad([torch.ones(len(s['input_ids']), dtype=torch.bool) for s in samples], False)
        labels = None
        if all('labels' in s for s in samples):
            labels = self._pad([torch.as_tensor(s['labels']) for s in samples], IGNORE_INDEX)
        inputs = dict(
            pixel_values=[self._pixels(s['pixel_values']) for s in samples],
            dense_positions=[torch.as_tensor(s['dense_positions'], dtype=torch.long) for s in samples],
            input_ids=self.cast_data(input_ids),
            attention_mask=self.cast_data(attention_mask),
            labels=self.cast_data(labels) if labels is not None else None,
            # Per sample; None for a sample without SAM2 frames (a text-only source such as LLaVA or ChatUniVi
            # batched with segmentation samples), None for the whole batch when no sample has them.
            sam2_pixel_values=([self._pixels(s['sam2_pixel_values']) if 'sam2_pixel_values' in s else None
                                for s in samples] if any('sam2_pixel_values' in s for s in samples) else None),
            # On-demand frame sources for SAM2 tracking at inference (decoded and moved by the head).
            sam2_frames=[s['sam2_frames'] for s in samples] if all('sam2_frames' in s for s in samples) else None,
            neck_turns=([self._turns(s['neck_turns']) for s in samples]
                        if all('neck_turns' in s for s in samples) else None),
        )
        data_samples = data.get('data_samples')
        if data_samples is not None:
            data_samples = self.cast_data(list(data_samples))
        return dict(inputs=inputs, data_samples=data_samples)

    def _turns(self, turns: List[dict]) -> List[dict]:
        """Move the aggregator inputs of one sample (Q-Former ids and region masks) to the device."""
        return [dict(turn, qformer_input_ids=self.cast_data(turn['qformer_input_ids']),
                     qformer_attention_mask=self.cast_data(turn['qformer_attention_mask']),
                     regions=[dict(r, mask16=self.cast_data(r['mask16']), mask112=self.cast_data(r['mask112']))
                              for r in turn['regions']]) for turn in turns]

    def _pixels(self, value) -> torch.Tensor:
        return self.cast_data(torch.as_tensor(value)).to(self.pixel_dtype)

    @staticmethod
    def _pad(seqs: List[torch.Tensor], value) -> torch.Tensor:
        length = max(len(s) for s in seqs)
        out = torch.full((len(seqs), length), value, dtype=seqs[0].dtype)
        for i, s in enumerate(seqs):
            out[i, :len(s)] = s
        return out
