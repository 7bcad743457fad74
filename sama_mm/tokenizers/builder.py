"""Building a tokenizer from a config (used by the model, the data pipelines and inference alike).

A tokenizer config is a dict whose ``type`` names a builder; :data:`BUILDER_NAMES` lists the plain names that
resolve without an import path (what a converted folder's data-only config stores).
"""
import copy
import importlib
from typing import Any, Union

from transformers import PreTrainedTokenizerBase

from .qformer import build_qformer_tokenizer
from .tiny import build_tiny_tokenizer

#: Plain ``type`` names of the in-package tokenizer builders (besides ``'AutoTokenizer'``).
BUILDER_NAMES = {'build_tiny_tokenizer': build_tiny_tokenizer, 'build_qformer_tokenizer': build_qformer_tokenizer}


def resolve_dotted(name: str) -> Any:
    """Import an object from a dotted path (``'transformers.AutoTokenizer.from_pretrained'``).

    Configs dumped by MMEngine turn classes and functions into such strings.
    """
    parts = name.split('.')
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f'cannot resolve {name!r}')


def build_tokenizer(cfg: Union[dict, PreTrainedTokenizerBase]) -> PreTrainedTokenizerBase:
    """Build a tokenizer from a dict config, or return a tokenizer instance unchanged.

    Args:
        cfg: A tokenizer, or a dict whose ``type`` is a callable returning one (``AutoTokenizer.from_pretrained``,
            :func:`build_tiny_tokenizer`), a class (its ``from_pretrained`` is called), the string
            ``'AutoTokenizer'``, a name of :data:`BUILDER_NAMES` or a dotted import path; the other keys are
            its keyword arguments.

    Returns:
        The tokenizer.
    """
    if isinstance(cfg, PreTrainedTokenizerBase):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'tokenizer must be a tokenizer or a dict with a "type", got {type(cfg).__name__}')
    cfg = copy.deepcopy(dict(cfg))
    builder = cfg.pop('type')
    if builder == 'AutoTokenizer':
        from transformers import AutoTokenizer
        builder = AutoTokenizer
    elif isinstance(builder, str) and builder in BUILDER_NAMES:
        builder = BUILDER_NAMES[builder]
    elif isinstance(builder, str):
        builder = resolve_dotted(builder)
    if isinstance(builder, type):
        builder = builder.from_pretrained
    tokenizer = builder(**cfg)
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError(f'{builder} returned {type(tokenizer).__name__}, not a tokenizer')
    return tokenizer
