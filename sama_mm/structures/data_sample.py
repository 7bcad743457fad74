"""``SAMADataSample``: the annotations and predictions of one video conversation."""
from typing import List, Optional

import torch
from mmengine.structures import BaseDataElement


class SAMADataSample(BaseDataElement):
    """One sample's targets and predictions, passed between datasets, models, metrics and visualisers.

    Meta information (set with ``set_metainfo``, read-only afterwards) describes the video and the prompt:
    ``video_id``, ``sample_idx``, ``ori_shape`` (H, W), ``num_frames`` (frames in the video),
    ``frame_indices`` (raw indices of the sampled frames), ``dense_frame_indices`` (raw indices of the dense
    frames), ``questions`` and ``answers`` (texts per round) and, for referring VOS, ``exp_id``.

    Data fields:
        gt_masks (Tensor): ``uint8 [K, D, H, W]``: the ground truth of the k-th ``[SEG]`` of the whole
            conversation on the D dense frames, at the original resolution.
        pred_text (list[str]): The generated answer of every round.
        pred_masks (Tensor): ``bool [K, T, H, W]``: one mask track per generated ``[SEG]`` over the T frames
            the prediction covers (every frame of the video at inference).
    """

    @property
    def gt_masks(self) -> torch.Tensor:
        return self._gt_masks

    @gt_masks.setter
    def gt_masks(self, value: torch.Tensor):
        self.set_field(value, '_gt_masks', dtype=torch.Tensor)

    @gt_masks.deleter
    def gt_masks(self):
        del self._gt_masks

    @property
    def pred_masks(self) -> torch.Tensor:
        return self._pred_masks

    @pred_masks.setter
    def pred_masks(self, value: torch.Tensor):
        self.set_field(value, '_pred_masks', dtype=torch.Tensor)

    @pred_masks.deleter
    def pred_masks(self):
        del self._pred_masks

    @property
    def pred_text(self) -> List[str]:
        return self._pred_text

    @pred_text.setter
    def pred_text(self, value: List[str]):
        self.set_field(list(value), '_pred_text', dtype=list)

    @pred_text.deleter
    def pred_text(self):
        del self._pred_text


SampleList = List[SAMADataSample]
OptSampleList = Optional[SampleList]
