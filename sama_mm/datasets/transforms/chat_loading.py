"""In-memory loading steps of a chat: the conversation and its region prompts come from the user, not from an
annotation file.

A chat session runs the model's **test pipeline** (as MMDetection's ``DetInferencer`` does) with only the
annotation-reading steps swapped for these two:

* the step that turns an annotation into ``rounds`` (``RefVOSToRounds``, ``SAMA239KToRounds``) becomes
  :class:`LoadChatRounds`, which takes the rounds of the conversation so far from ``chat_rounds``;
* the region-mask loader (``LoadRegionMasks``; inserted before ``QFormerPrompts`` when the pipeline has none)
  becomes :class:`LoadChatRegions`, which places the user's region masks on the sampled frames.

Every other step (frame sampling, decoding, the ViT and SAM2 image transforms, tokenization, the neck's
``QFormerPrompts``, packing, and any transform a config adds) runs unchanged, so chat sees exactly the inputs
``tools/test.py`` would build for the same video and question.
"""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.tokens import REGION_PLACEHOLDER, SEG_TOKEN
from ..errors import DataError
from ._utils import record_of, source_of
from .masks import box_masks


@TRANSFORMS.register_module()
class LoadChatRounds(BaseTransform):
    """Take the rounds of a chat (the history and the new question) from memory.

    Required Keys:

        - chat_rounds (list[dict]): In order, ``question`` (str), ``answer`` (str; ignored for the last round of
          a generation prompt) and ``regions`` (list of ``(frame, mask)``: a raw frame index of the video and a
          ``uint8 [H, W]`` mask, one per ``<mask>`` of the question, in order).

    Added Keys:

        - rounds (list[dict]): ``question``, ``answer``, ``gt_keys`` (one entry per ``[SEG]`` of the answer, as
          ``ChatTokenize`` counts them) and ``region_keys`` (one per ``<mask>``).
        - chat_regions (list[tuple[int, np.ndarray]]): The region prompts of every round, in ``<mask>`` order.

    Raises:
        DataError: A round whose ``<mask>`` count differs from its regions, naming the round.
    """

    def transform(self, results: Dict) -> Dict:
        rounds, regions = [], []
        for k, rnd in enumerate(results['chat_rounds']):
            question, answer = rnd['question'], rnd.get('answer') or ''
            prompts = list(rnd.get('regions') or [])
            if question.count(REGION_PLACEHOLDER) != len(prompts):
                raise DataError('region_count_mismatch', source_of(results),
                                f'chat round {k}: {question.count(REGION_PLACEHOLDER)} {REGION_PLACEHOLDER} but '
                                f'{len(prompts)} region prompts', record_of(results))
            rounds.append(dict(question=question, answer=answer, gt_keys=['chat'] * answer.count(SEG_TOKEN),
                               region_keys=[f'region{len(regions) + r}' for r in range(len(prompts))]))
            regions += prompts
        results['rounds'] = rounds
        results['chat_regions'] = regions
        return results


@TRANSFORMS.register_module()
class LoadChatRegions(BaseTransform):
    """Place the chat's region masks on the sampled frames: each on the sparse frame nearest to its raw frame
    (the aggregator pools region features from the frames the LLM saw).

    Required Keys:

        - chat_regions (list[tuple[int, np.ndarray]]): From :class:`LoadChatRounds`.
        - frame_indices (list[int]): The T sparse frames.
        - ori_shape (tuple[int, int]): ``(H, W)`` of the video.

    Added Keys:

        - region_masks (np.ndarray): ``uint8 [R, T, H, W]`` (only when there is at least one region), as
          ``LoadRegionMasks`` gives.

    Args:
        box (bool): Replace each mask by its filled bounding box (the replaced ``LoadRegionMasks``'s setting).
            Defaults to False (the mask as given; ``QFormerPrompts`` applies its own ``box`` rule).
    """

    def __init__(self, box: bool = False):
        self.box = bool(box)

    def transform(self, results: Dict) -> Dict:
        regions = results.get('chat_regions') or []
        if not regions:
            return results
        sparse = np.asarray(results['frame_indices'])
        height, width = (int(v) for v in results['ori_shape'])
        out = np.zeros((len(regions), len(sparse), height, width), np.uint8)
        for r, (frame, mask) in enumerate(regions):
            mask = np.asarray(mask)
            if mask.shape != (height, width):
                raise DataError('region_size_mismatch', source_of(results),
                                f'region {r} has shape {mask.shape}, the video is {height}x{width}',
                                record_of(results))
            out[r, int(np.abs(sparse - int(frame)).argmin())] = mask != 0
        results['region_masks'] = box_masks(out) if self.box else out
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(box={self.box})'

