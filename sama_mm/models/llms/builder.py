"""Building the causal LLM of a VLM from a config.

LLM config scheme (``llm=``):

* ``dict(type=Qwen2ForCausalLM, config=dict(hidden_size=896, ...))``: the architecture from a config, with
  random weights. This is what the model configs use: the weights then come from a converted SAMA / Sa2VA
  checkpoint (``init_cfg`` / ``load_from``), which holds ViT, projector and LLM together.
* ``dict(type=Qwen2ForCausalLM, pretrained_model_name_or_path=LOCAL_DIR, **from_pretrained_kwargs)``: a
  stand-alone local Hugging Face LLM folder (``from_pretrained``; offline).

``type`` is a ``transformers`` ``*ForCausalLM`` class, :class:`InternLM2ForCausalLM`, or the class name as a
string (``'InternLM2ForCausalLM'`` resolves to the in-package implementation, other plain names to
``transformers``, dotted paths are imported).
``config`` may be a dict (passed to the class's ``config_class``) or a ``PretrainedConfig``.
"""
import copy
from typing import Union

import torch
from torch import nn
from transformers import PretrainedConfig

from sama_mm.models.llms.internlm2 import InternLM2ForCausalLM
from sama_mm.tokenizers.builder import resolve_dotted


def build_llm(cfg: Union[dict, nn.Module], torch_dtype: torch.dtype = torch.float32) -> nn.Module:
    """Build a causal LM from the config scheme described in the module docstring (or return a module)."""
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = copy.deepcopy(dict(cfg))
    cls = cfg.pop('type')
    if isinstance(cls, str):
        if cls == 'InternLM2ForCausalLM':
            cls = InternLM2ForCausalLM
        elif '.' in cls:
            cls = resolve_dotted(cls)
        else:
            import transformers
            cls = getattr(transformers, cls)
    attn = cfg.pop('attn_implementation', 'sdpa' if cls is not InternLM2ForCausalLM else None)
    if 'pretrained_model_name_or_path' in cfg:
        if 'config' in cfg:
            raise ValueError('llm: give either config or pretrained_model_name_or_path, not both')
        if attn is not None:
            cfg['attn_implementation'] = attn
        return cls.from_pretrained(torch_dtype=torch_dtype, **cfg)
    if 'config' not in cfg:
        raise ValueError('llm needs config=dict(...) or pretrained_model_name_or_path=...')
    config = cfg.pop('config')
    if not isinstance(config, PretrainedConfig):
        config = cls.config_class(**config)
    if cfg:
        raise ValueError(f'unexpected llm keys {sorted(cfg)}')
    kwargs = dict(attn_implementation=attn) if attn is not None else {}
    return cls._from_config(config, torch_dtype=torch_dtype, **kwargs)
