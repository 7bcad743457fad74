"""Models: the SAMA model, its backbone, neck, head, losses and data preprocessor.

Importing this package registers every model component in :data:`sama_mm.registry.MODELS`.
"""
from . import backbones, heads, losses, necks  # noqa: F401  (registers the components)
from .backbones import InternVLVideoLLM, InternVisionModel
from .data_preprocessor import SAMADataPreprocessor
from .heads import SAM2SegHead
from .necks import STAggregator
from .sama import SAMA

__all__ = ['SAMA', 'SAMADataPreprocessor', 'InternVLVideoLLM', 'InternVisionModel', 'SAM2SegHead', 'STAggregator']
