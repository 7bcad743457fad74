"""Models: the SAMA model, its backbone, neck, head, losses and data preprocessor."""
from .data_preprocessor import SAMADataPreprocessor
from .sama import SAMA

__all__ = ['SAMA', 'SAMADataPreprocessor']
