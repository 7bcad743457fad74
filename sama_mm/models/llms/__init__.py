"""LLMs: causal language models implemented in this package, and the builder of a VLM's LLM.

``transformers`` models (Qwen2, Phi-3, ...) are used as they are; an LLM that ``transformers`` lacks (InternLM2,
released as remote code) is written here with the released parameter names, following the ``transformers``
calling convention, so that :class:`~sama_mm.models.vlms.InternVLVideoLLM` drives every LLM the same way.
:func:`build_llm` resolves ``model.backbone.llm`` configs.
"""
from .builder import build_llm
from .internlm2 import InternLM2Config, InternLM2ForCausalLM, InternLM2Model, internlm2_to_llama_state_dict

__all__ = ['build_llm', 'InternLM2Config', 'InternLM2ForCausalLM', 'InternLM2Model', 'internlm2_to_llama_state_dict']
