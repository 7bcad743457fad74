"""Inputs of SAMA's context aggregator: per round, the Q-Former text and the region-prompt masks."""
import zlib
from typing import Dict, List, Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures.region_prompt import format_qformer_prompt, region_masks
from ...tokenizers import build_tokenizer
from ..errors import DataError
from ._utils import record_of, source_of


#: How :class:`QFormerPrompts` chooses the frame a region is pooled on.
POOLING_FRAMES = ('first', 'random')


@TRANSFORMS.register_module()
class QFormerPrompts(BaseTransform):
    """Tokenise each round's question for the temporal Q-Former and prepare its region prompts.

    A region is pooled on one frame. ``pooling_frame='first'`` (default): the first dense frame (in dense order)
    on which its mask is non-empty, else the first sparse frame on which it is; the same frame in every epoch
    and run. ``pooling_frame='random'``: the released inference rule, one of the frames on which the mask is
    non-empty drawn at random (dense frames first, like ``'first'``), from a generator seeded with ``seed`` and
    the record, so that a run is reproducible. (The released training draws any dense frame, possibly an empty
    one: not offered, an empty pooling mask gives a meaningless token.)

    Required Keys:

        - rounds (list[dict]): ``question`` of every round (``<mask>`` marks a region), in order.
        - dense_positions (list[int]): Positions of the dense frames among the T sparse frames.
        - region_masks (np.ndarray, optional): ``uint8 [R, T, H, W]`` (from :class:`LoadRegionMasks`), the
          r-th ``<mask>`` of the conversation being the r-th; required when any question has a ``<mask>``.

    Added Keys:

        - neck_turns (list[dict]): One per round: ``qformer_input_ids`` (LongTensor ``[Lq]``),
          ``qformer_attention_mask`` (LongTensor ``[Lq]``) and ``regions`` (list of ``dict(frame=int,
          mask16=Tensor[g, g], mask112=Tensor[m, m])`` in ``<mask>`` order) — the input of
          :meth:`STAggregator.forward`.

    Args:
        tokenizer (dict | PreTrainedTokenizer): The Q-Former tokenizer (or its config, e.g.
            ``dict(type=build_qformer_tokenizer, vocab_file=...)``).
        grid_size (int): Side of the LLM token grid of a frame (16 for 256 tokens per frame).
        mask_size (int): Side of the box-shape mask (112 in the released models).
        box (bool): Use each region's bounding box (the masks usually are boxes already).
        max_length (int): Q-Former text length (left truncation, as the released tokenizer).
        pooling_frame (str): ``'first'`` or ``'random'`` (see above). Defaults to ``'first'``.
        seed (int): Seed of the ``'random'`` draws (mixed with the record's id). Defaults to 0.
    """

    def __init__(self, tokenizer, grid_size: int = 16, mask_size: int = 112, box: bool = True,
                 max_length: int = 256, pooling_frame: str = 'first', seed: int = 0):
        if pooling_frame not in POOLING_FRAMES:
            raise ValueError(f'pooling_frame must be one of {POOLING_FRAMES}, got {pooling_frame!r}')
        self.pooling_frame = pooling_frame
        self.seed = int(seed)
        self.tokenizer = build_tokenizer(tokenizer)
        self.grid_size = grid_size
        self.mask_size = mask_size
        self.box = box
        self.max_length = max_length

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        dense = [int(p) for p in results['dense_positions']]
        masks = results.get('region_masks')
        rng = np.random.default_rng([self.seed, zlib.crc32(str(record).encode())]) \
            if self.pooling_frame == 'random' else None
        turns: List[dict] = []
        r = 0
        for p, rnd in enumerate(results['rounds']):
            question = rnd['question']
            enc = self.tokenizer(format_qformer_prompt(question), truncation=True, max_length=self.max_length)
            regions = []
            for _ in range(question.count('<mask>')):
                if masks is None or r >= len(masks):
                    raise DataError('region_count_mismatch', source_of(results),
                                    f'round {p} has a <mask> but only {0 if masks is None else len(masks)} region '
                                    'masks were loaded (put LoadRegionMasks before QFormerPrompts)', record)
                track = np.asarray(masks[r])
                frame = self._pooling_frame(track, dense, rng)
                if frame is None:
                    raise DataError('empty_region', source_of(results),
                                    f'region {r} (round {p}) is empty on every sampled frame', record)
                mask16, mask112 = region_masks(torch.from_numpy(track[frame]), box=self.box,
                                               grid_size=self.grid_size, mask_size=self.mask_size)
                regions.append(dict(frame=frame, mask16=mask16, mask112=mask112))
                r += 1
            turns.append(dict(qformer_input_ids=torch.as_tensor(enc['input_ids'], dtype=torch.long),
                              qformer_attention_mask=torch.as_tensor(enc['attention_mask'], dtype=torch.long),
                              regions=regions))
        if masks is not None and r != len(masks):
            raise DataError('region_count_mismatch', source_of(results),
                            f'{len(masks)} region masks but the questions have {r} <mask>', record)
        results['neck_turns'] = turns
        return results

    @staticmethod
    def _pooling_frame(track: np.ndarray, dense: List[int], rng: Optional[np.random.Generator] = None):
        """The pooling frame (a sparse position) of one region track; None when the track is empty."""
        nonempty = track.reshape(len(track), -1).any(1)
        for frames in (dense, range(len(track))):
            candidates = [t for t in frames if nonempty[t]]
            if candidates:
                return candidates[0] if rng is None else int(candidates[rng.integers(len(candidates))])
        return None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(grid_size={self.grid_size}, mask_size={self.mask_size}, box={self.box}, '
                f'max_length={self.max_length}, pooling_frame={self.pooling_frame!r}, seed={self.seed})')
