"""Tokenizers: every tokenizer builder of the package, for the LLM and for the temporal Q-Former.

* :func:`build_tokenizer` builds a tokenizer from a config dict (``type`` = ``AutoTokenizer``, a builder of
  this package by name, a callable, a class or a dotted path) or passes a ready one through; the model
  (``model.backbone.tokenizer``) and the data pipeline (``ChatTokenize``, ``QFormerPrompts``) both use it.
* :func:`build_tiny_tokenizer`: a small deterministic byte-level BPE for the LLM of tests and demos.
* :func:`build_qformer_tokenizer`: the temporal Q-Former's BERT WordPiece tokenizer with SAMA's region tokens
  (from local files, or the tiny vocabulary of :func:`tiny_qformer_vocab`).

This package depends on ``sama_mm.structures`` only, so data configs and transforms import it without pulling in
any model code.
"""
from .builder import BUILDER_NAMES, build_tokenizer, resolve_dotted
from .qformer import (QFORMER_ADDITIONAL_SPECIAL_TOKENS, QFORMER_BOS_TOKEN, QFORMER_MAX_LENGTH,
                      QFORMER_SPECIAL_TOKENS, build_qformer_tokenizer, tiny_qformer_vocab)
from .tiny import CHAT_SPECIAL_TOKENS, INTERNLM2_BASE_TOKENS, build_tiny_tokenizer, tiny_corpus

__all__ = [
    'BUILDER_NAMES', 'build_tokenizer', 'resolve_dotted', 'QFORMER_ADDITIONAL_SPECIAL_TOKENS', 'QFORMER_BOS_TOKEN',
    'QFORMER_MAX_LENGTH', 'QFORMER_SPECIAL_TOKENS', 'build_qformer_tokenizer', 'tiny_qformer_vocab',
    'CHAT_SPECIAL_TOKENS', 'INTERNLM2_BASE_TOKENS', 'build_tiny_tokenizer', 'tiny_corpus'
]
