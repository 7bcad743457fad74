"""Multi-turn grounded chat about one video: :class:`SAMAInferencer` (model + settings) and :class:`ChatSession`.

A session keeps, for the whole conversation (reference §7.2):

* the video's frame list, size, sparse and dense frames (chosen once, deterministically);
* the ViT + ``mlp1`` tokens of the sparse frames (computed once per session);
* the LLM KV cache of every token so far. A new turn appends only its own tokens. The history is written
  exactly as training tokenizes a conversation (``ChatTokenize``): BOS once, then per round the instruction,
  ``answer + SUFFIX`` and ``SEP``. When the generated tokens differ from that tokenization of the decoded answer
  (generation stopped on another stop word or on ``max_new_tokens``, or a non-canonical token split), the cache is
  cut back to the common prefix and the canonical tokens are fed instead, so the next turn sees what a model
  trained on the full conversation would see;
* per turn: the question, the answer, its tokens, the ``[SEG]`` hidden states and one mask track per ``[SEG]``
  over every frame of the video.

Inputs: every turn's input is built by the model config's **test pipeline** (``cfg.test_pipeline`` or
``cfg.test_dataloader.dataset.pipeline``), as MMDetection's ``DetInferencer`` does, with only the annotation-reading
steps swapped for in-memory ones (the conversation and the user's region prompts, see
:mod:`sama_mm.datasets.transforms.chat_loading`): frame sampling, the ViT and SAM2 image transforms, tokenization,
the neck's ``QFormerPrompts`` and any transform a config adds reach chat. The frame part of the pipeline runs once
per session, the conversation part once per turn (:class:`~sama_mm.apis.chat_inputs.ChatPipeline`). The embedding
splice, greedy decoding and mask tracking are the model's (``embed_turn``, ``generate``, ``segment``), the same
steps ``tools/test.py`` runs; the session keeps only caching and history.

Masks: all ``[SEG]`` of a turn are tracked together by the SAM2 head, which reads frames on demand in chunks
and encodes each frame once per turn (see ``SAM2SegHead.predict``).

This module gathers the chat API: :class:`SAMAInferencer` (``apis/inferencer.py``), :class:`ChatSession` and
:class:`TurnResult` (``apis/chat_session.py``), the settings and the pipeline (``apis/chat_inputs.py``).
"""
from .chat_inputs import (DEFAULT_CHAT_CFG, PIPELINE_SETTINGS, ChatPipeline, chat_cfg_from_config,
                          check_chat_settings, region_prompt_mask, test_pipeline_of)
from .chat_session import ChatSession, TurnResult
from .inferencer import SAMAInferencer

__all__ = ['DEFAULT_CHAT_CFG', 'PIPELINE_SETTINGS', 'ChatPipeline', 'ChatSession', 'SAMAInferencer', 'TurnResult',
           'chat_cfg_from_config', 'check_chat_settings', 'region_prompt_mask', 'test_pipeline_of']

