"""Pack a transformed sample into the model's input format.

This is the contract between the data pipeline and the model. After :class:`PackSAMAInputs` a sample is
``dict(inputs=..., data_samples=...)``:

``inputs`` (dict):

    - ``pixel_values``: ``float32 [T, 3, 448, 448]`` — every sparse frame, InternVL-normalised, in the
      order of ``frame_indices``. The vision tokens of the dense frames fill the first D x 256
      ``<IMG_CONTEXT>`` slots; all T frames feed the context aggregator.
    - ``dense_positions``: ``int64 [D]`` — positions of the dense frames in ``pixel_values`` (sorted).
    - ``input_ids``: ``int64 [L]`` — the prompt (see ``tokenize.py`` for the layout). Its
      ``<IMG_CONTEXT>`` slots, in order of occurrence, take: D x 256 vision tokens of the dense frames, then
      per round T context tokens followed by 2 tokens (pooled region, box) per ``<mask>`` of that round
      (context tokens only for ``ChatTokenize(context_tokens=True)``). ``ChatTokenize`` checks the count.
    - ``labels``: ``int64 [L]`` — ``-100`` except on answer + SUFFIX tokens.
    - ``sam2_pixel_values``: ``float32 [D, 3, 1024, 1024]`` — the dense frames for SAM2 (only when the
      pipeline has :class:`SAM2ImageTransform`).
    - ``neck_turns``: per round, the context aggregator's inputs (Q-Former text ids, region masks and pooling
      frames; see :class:`QFormerPrompts`), only for models with a neck.
    - ``sam2_frames``: a :class:`VideoFrameSource` serving every frame of the video to SAM2 on demand
      (inference pipelines with :class:`SAM2FrameSource`; meta ``sam2_frame_indices`` lists its frames).
    - ``region_masks``: ``uint8 [R, T, H, W]`` — the masks (boxes by default) of the R ``<mask>`` region
      prompts, in order of occurrence, on the T sparse frames at the original resolution (only when the
      pipeline has :class:`LoadRegionMasks`). The r-th ``<vp>`` block of ``input_ids`` belongs to the r-th.

``data_samples`` (:class:`~sama_mm.structures.SAMADataSample`):

    - ``gt_masks``: ``uint8 [K, D, H, W]`` — the ground truth of the k-th ``[SEG]`` of ``input_ids`` (in
      order) on the dense frames, original resolution (only when the pipeline loads masks). K equals the
      number of ``[SEG]`` ids in ``input_ids`` (for a generation prompt, those of the answered rounds plus
      the last round's).
    - meta info: ``video_id``, ``sample_idx``, ``ori_shape`` (H, W), ``num_frames`` (of the video),
      ``frame_indices`` (raw indices of the T frames), ``dense_frame_indices`` (raw indices of the D dense
      frames), ``questions`` and ``answers`` (raw texts of the kept rounds, ``<mask>`` not expanded),
      ``region_keys`` (object keys of each round's ``<mask>`` prompts), ``video_path``, ``kept_rounds``,
      ``record_index`` (SAMA-239K), ``exp_id`` (referring VOS), the evaluation ids ``question_id``
      (SAMA-Bench-G), ``description_id`` (SAMA-Bench-C), ``image_id`` (images), ``ann_id``/``ref_id``/``sent_id``
      (RefCOCO); any other ``meta_keys`` present in the sample.

Batching (padding ``input_ids``/``labels``, concatenating frames) is the collate function's and model
preprocessor's job; nothing here is padded.
"""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ...structures import SAMADataSample

DEFAULT_META_KEYS = ('video_id', 'sample_idx', 'ori_shape', 'num_frames', 'frame_indices', 'dense_frame_indices',
                     'questions', 'answers', 'region_keys', 'exp_id', 'video_path', 'record_index', 'kept_rounds',
                     'sam2_frame_indices', 'question_id', 'description_id', 'image_id', 'ann_id', 'ref_id',
                     'sent_id')


def _long(value) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value, dtype=np.int64))


@TRANSFORMS.register_module()
class PackSAMAInputs(BaseTransform):
    """Collect the model inputs and a :class:`SAMADataSample` with targets and meta info.

    Required Keys:

        - pixel_values (torch.Tensor), input_ids (list[int]), labels (list[int]), dense_positions (list[int]),
          frame_indices (list[int]), rounds (list[dict]).

    Optional Keys:

        - sam2_pixel_values (torch.Tensor), sam2_frames (VideoFrameSource), region_masks (np.ndarray),
          gt_masks (np.ndarray), and the
          ``meta_keys``.

    Added Keys:

        - inputs (dict): See the module docstring.
        - data_samples (SAMADataSample): See the module docstring.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's meta info when present (``questions``,
            ``answers``, ``region_keys`` and ``dense_frame_indices`` are derived here). Defaults to
            ``DEFAULT_META_KEYS``.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        dense = [int(p) for p in results['dense_positions']]
        frame_indices = [int(i) for i in results['frame_indices']]
        inputs = dict(pixel_values=results['pixel_values'], dense_positions=_long(dense),
                      input_ids=_long(results['input_ids']), labels=_long(results['labels']))
        if inputs['input_ids'].shape != inputs['labels'].shape:
            raise ValueError(f'input_ids {tuple(inputs["input_ids"].shape)} and labels '
                             f'{tuple(inputs["labels"].shape)} differ in length')
        if 'sam2_pixel_values' in results:
            inputs['sam2_pixel_values'] = results['sam2_pixel_values']
        if 'sam2_frames' in results:
            inputs['sam2_frames'] = results['sam2_frames']
        if 'neck_turns' in results:
            inputs['neck_turns'] = results['neck_turns']
        if 'region_masks' in results:
            inputs['region_masks'] = torch.from_numpy(np.ascontiguousarray(results['region_masks'], dtype=np.uint8))
        derived = dict(frame_indices=frame_indices, dense_frame_indices=[frame_indices[p] for p in dense],
                       questions=[r['question'] for r in results['rounds']],
                       answers=[r['answer'] for r in results['rounds']],
                       region_keys=[list(r.get('region_keys', [])) for r in results['rounds']])
        if 'ori_shape' in results:
            derived['ori_shape'] = tuple(int(v) for v in results['ori_shape'])
        meta = {}
        for key in self.meta_keys:
            if key in derived:
                meta[key] = derived[key]
            elif key in results and results[key] is not None:
                meta[key] = results[key]
        data_sample = SAMADataSample(metainfo=meta)
        if 'gt_masks' in results:
            data_sample.gt_masks = torch.from_numpy(np.ascontiguousarray(results['gt_masks'], dtype=np.uint8))
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
