"""Data structures shared by datasets, models and metrics."""
from .rle import MaskFormatError, check_rle, decode_rle, encode_mask

__all__ = ['MaskFormatError', 'check_rle', 'decode_rle', 'encode_mask']
