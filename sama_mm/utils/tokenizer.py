"""Building tokenizers from configs (used by the model, the data pipelines and inference alike)."""
import copy
import importlib
from typing import Any, Union

from transformers import PreTrainedTokenizerBase


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
            :func:`build_tiny_tokenizer`), a class (its ``from_pretrained`` is called) or the string
            ``'AutoTokenizer'`` or a dotted import path; the other keys are its keyword arguments.

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
    elif builder == 'build_tiny_tokenizer':
        from sama_mm.models.backbones.tokenizer import build_tiny_tokenizer
        builder = build_tiny_tokenizer
    elif isinstance(builder, str):
        builder = resolve_dotted(builder)
    if isinstance(builder, type):
        builder = builder.from_pretrained
    tokenizer = builder(**cfg)
    if not isinstance(tokenizer, PreTrainedTokenizerBase):
        raise TypeError(f'{builder} returned {type(tokenizer).__name__}, not a tokenizer')
    return tokenizer
