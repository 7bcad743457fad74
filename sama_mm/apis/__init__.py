"""High-level inference APIs: :class:`SAMAInferencer`, :class:`ChatSession`, checkpoint conversion."""
from .inference import ChatSession, SAMAInferencer, TurnResult, chat_cfg_from_config

__all__ = ['ChatSession', 'SAMAInferencer', 'TurnResult', 'chat_cfg_from_config']
