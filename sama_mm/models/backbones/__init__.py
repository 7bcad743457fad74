"""Backbones: InternViT, InternLM2, the InternVL video LLM, and tokenizer helpers.

Public API of :class:`InternVLVideoLLM` (configs: ``configs/_base_/models/internvl_{tiny,1b,4b,8b}.py``):

* ``encode_images(pixel_values [N, 3, S, S]) -> [N, num_image_tokens, H]``
* ``get_input_embeddings() -> nn.Embedding``
* ``forward_llm(inputs_embeds [B, L, H], attention_mask [B, L], past_key_values=None, use_cache=False)
  -> (last_hidden_state [B, L, H], past_key_values)``
* ``lm_head_logits(hidden [..., H]) -> [..., V]``
* ``lm_loss(hidden [B, L, H], labels [B, L]) -> scalar`` (head only on labelled rows)
* ``generate(inputs_embeds [1, L, H], attention_mask, max_new_tokens, stop_words, past_key_values=None)
  -> GenerationOutput(token_ids, hidden_states [n, H], past_key_values)``
* attributes ``img_context_token_id``, ``seg_token_id``, ``hidden_size``, ``num_image_tokens``, ``template``,
  ``tokenizer``.
"""
from .intern_vit import InternVisionModel
from .internlm2 import InternLM2Config, InternLM2ForCausalLM, InternLM2Model, internlm2_to_llama_state_dict
from .internvl_video_llm import GenerationOutput, InternVLVideoLLM, build_llm, pixel_shuffle
from .tokenizer import build_tiny_tokenizer, build_tokenizer

__all__ = ['InternVisionModel', 'InternLM2Config', 'InternLM2ForCausalLM', 'InternLM2Model',
           'internlm2_to_llama_state_dict', 'GenerationOutput', 'InternVLVideoLLM', 'build_llm', 'pixel_shuffle',
           'build_tiny_tokenizer', 'build_tokenizer']
