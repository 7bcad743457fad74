"""sama_mm: SAMA-style grounded video LLMs as OpenMMLab components."""
from .version import __version__

__all__ = ['__version__']
