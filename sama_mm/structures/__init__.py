"""Data structures shared by datasets, models and metrics."""
from .chat_template import CHAT_TEMPLATES, ChatTemplate, get_chat_template
from .data_sample import OptSampleList, SAMADataSample, SampleList
from .rle import MaskFormatError, check_rle, decode_rle, encode_mask
from .segmentation import check_segmentation, decode_segmentation

__all__ = ['CHAT_TEMPLATES', 'ChatTemplate', 'get_chat_template', 'MaskFormatError', 'OptSampleList', 'SAMADataSample', 'SampleList', 'check_rle', 'decode_rle',
           'encode_mask', 'check_segmentation', 'decode_segmentation']
