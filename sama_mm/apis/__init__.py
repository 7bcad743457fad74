"""High-level inference APIs: :class:`SAMAInferencer`, :class:`ChatSession`, checkpoint conversion."""
from .convert import convert_from_hf, convert_to_hf, merge_lora
from .inference import ChatSession, SAMAInferencer, TurnResult, chat_cfg_from_config

__all__ = ['ChatSession', 'SAMAInferencer', 'TurnResult', 'chat_cfg_from_config', 'convert_from_hf', 'convert_to_hf',
           'merge_lora']
