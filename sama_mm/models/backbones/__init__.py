"""Backbones: InternViT, InternLM2, the InternVL video LLM, and tokenizer helpers."""
from .intern_vit import InternVisionModel
from .internlm2 import InternLM2Config, InternLM2ForCausalLM, InternLM2Model, internlm2_to_llama_state_dict
from .internvl_video_llm import GenerationOutput, InternVLVideoLLM, build_llm, pixel_shuffle
from .tokenizer import build_tiny_tokenizer, build_tokenizer

__all__ = ['InternVisionModel', 'InternLM2Config', 'InternLM2ForCausalLM', 'InternLM2Model',
           'internlm2_to_llama_state_dict', 'GenerationOutput', 'InternVLVideoLLM', 'build_llm', 'pixel_shuffle',
           'build_tiny_tokenizer', 'build_tokenizer']
