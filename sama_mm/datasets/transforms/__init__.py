"""Data transforms (video loading, frame sampling, masks, rounds, resizing, tokenisation, packing).

A training pipeline for SAMA-239K conversations, in order::

    VideoInit -> SampleFrames -> VideoDecode -> SAMA239KToRounds -> LoadSegMasks -> InternVLImageTransform
    -> SAM2ImageTransform -> ChatTokenize -> LoadRegionMasks -> PackSAMAInputs

Images run the same pipeline as one-frame videos: ``ImageInit`` instead of ``VideoInit`` and
``LoadImageMasks`` instead of ``LoadSegMasks``/``LoadRegionMasks``.

(``RefVOSToRounds`` instead of ``SAMA239KToRounds`` for referring VOS). See
``configs/_base_/datasets/sama_pipelines.py`` and, for the packed format, ``formatting.py``.
"""
from .formatting import PackSAMAInputs
from .frame_source import SAM2FrameSource, VideoFrameSource
from .formatting_text import RefVOSToRounds, SAMA239KToRounds
from .image import InternVLImageTransform, SAM2ImageTransform
from .image_loading import ImageInit, LoadImageMasks
from .indexed_masks import LoadIndexedRegionMasks, LoadIndexedSegMasks
from .loading import VideoDecode, VideoInit
from .masks import LoadRegionMasks, LoadSegMasks
from .region_prompts import QFormerPrompts
from .sampling import SampleFrames
from .tiles import DynamicTiles
from .tokenize import ChatTokenize

__all__ = ['QFormerPrompts', 'SAM2FrameSource', 'VideoFrameSource', 'VideoInit', 'VideoDecode', 'SampleFrames',
           'LoadSegMasks', 'LoadRegionMasks', 'SAMA239KToRounds', 'RefVOSToRounds', 'InternVLImageTransform',
           'SAM2ImageTransform', 'ChatTokenize', 'PackSAMAInputs', 'ImageInit', 'LoadImageMasks',
           'LoadIndexedSegMasks', 'LoadIndexedRegionMasks', 'DynamicTiles']
