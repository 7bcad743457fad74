"""VLMs: vision-language models (vision encoder + projector + LLM) that a SAMA model is built around.

:class:`InternVLVideoLLM` is InternViT (:class:`InternVisionModel`) + pixel shuffle + the ``mlp1`` projector +
a causal LLM (:mod:`sama_mm.models.llms`). In configs it is ``model.backbone``, and its weights carry the
``backbone.`` prefix in every checkpoint: these names stay (converted checkpoints and the parity fixtures use
them) even though the part is the whole VLM, not only a feature extractor.

Public API of :class:`InternVLVideoLLM`: see :mod:`sama_mm.models.vlms.internvl_video_llm`.
"""
from .intern_vit import InternVisionModel
from .internvl_video_llm import GenerationOutput, InternVLVideoLLM, pixel_shuffle

__all__ = ['InternVisionModel', 'GenerationOutput', 'InternVLVideoLLM', 'pixel_shuffle']
