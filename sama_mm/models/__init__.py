"""Models: the SAMA model and its parts, each in a room named for what it holds.

* :mod:`~sama_mm.models.vlms`: the vision-language model (``model.backbone``: InternViT + projector + LLM);
* :mod:`~sama_mm.models.llms`: in-package LLMs (InternLM2) and the LLM builder;
* :mod:`~sama_mm.models.necks`: the optional neck between visual tokens and LLM input (:class:`BaseNeck`,
  :class:`STAggregator`);
* :mod:`~sama_mm.models.heads`: the mask head (SAM2);
* :mod:`~sama_mm.models.layers`: building blocks shared by parts (Q-Former layers, region encoders);
* :mod:`~sama_mm.models.losses`: the LM and mask losses.

Tokenizers live outside the models, in :mod:`sama_mm.tokenizers`. Importing this package registers every model
component in :data:`sama_mm.registry.MODELS`.
"""
from . import heads, layers, llms, losses, necks, vlms  # noqa: F401  (registers the components)
from .data_preprocessor import SAMADataPreprocessor
from .heads import SAM2SegHead
from .necks import BaseNeck, STAggregator
from .sama import SAMA
from .vlms import InternVisionModel, InternVLVideoLLM

__all__ = ['SAMA', 'SAMADataPreprocessor', 'InternVLVideoLLM', 'InternVisionModel', 'SAM2SegHead', 'BaseNeck',
           'STAggregator']
