"""Tiny offline backbones shared by the backbone tests (random weights, built in about a second)."""
import copy
import functools

import torch
from mmengine.config import Config

from tests.conftest import REPO_ROOT

TINY_CONFIG = f'{REPO_ROOT}/configs/_base_/models/internvl_tiny.py'


@functools.lru_cache(maxsize=None)
def _tokenizer(template: str, with_model_specials: bool):
    from sama_mm.tokenizers import build_tiny_tokenizer
    return build_tiny_tokenizer(template=template, add_model_special_tokens=with_model_specials)


def tiny_tokenizer(template: str = 'qwen_chat', with_model_specials: bool = True):
    """A fresh copy of the (cached) tiny tokenizer, so tests may add tokens to it."""
    return copy.deepcopy(_tokenizer(template, with_model_specials))


def tiny_backbone_cfg(**overrides) -> dict:
    """The tiny backbone config (``configs/_base_/models/internvl_tiny.py``) as a plain dict, with overrides."""
    cfg = Config.fromfile(TINY_CONFIG).backbone.to_dict()
    cfg['tokenizer'] = tiny_tokenizer(cfg['template'])
    cfg.update(overrides)
    return cfg


def build_tiny_backbone(seed: int = 0, **overrides):
    """Build the tiny backbone with a fixed seed, in eval mode."""
    from sama_mm.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(tiny_backbone_cfg(**overrides)).eval()


def tiny_internlm2_llm(vocab_size: int = 560, **config) -> dict:
    """LLM config of a tiny in-package InternLM2 (GQA 4 heads / 2 kv heads, dynamic NTK)."""
    from sama_mm.models.llms import InternLM2ForCausalLM
    base = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                rope_scaling=dict(type='dynamic', factor=2.0), pad_token_id=2)
    base.update(config)
    return dict(type=InternLM2ForCausalLM, config=base)
