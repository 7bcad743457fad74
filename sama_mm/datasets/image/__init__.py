"""Image datasets of the SAMA mixture: RefCOCO/+/g, GCG (GLaMM), Osprey region chat and LLaVA-665K chat.

Each turns its annotation file into the data infos of :mod:`.base`, which the video pipeline reads as one-frame
videos. ``from sama_mm.datasets import RefCOCODataset`` (and the others) keeps working.
"""
from .base import ImageChatDataset
from .chat import LLaVADataset, OspreyDataset
from .gcg import GCG_QUESTION, GCGDataset, GCGEvalDataset
from .refcoco import RefCOCODataset

__all__ = ['ImageChatDataset', 'RefCOCODataset', 'GCGDataset', 'GCGEvalDataset', 'GCG_QUESTION', 'OspreyDataset',
           'LLaVADataset']
