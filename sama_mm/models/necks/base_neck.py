"""The contract of a neck: the optional part between the video LLM's visual tokens and the LLM input.

A neck reads the LLM-space visual tokens of one sample's sparse frames and the conversation's turns (the questions
and their region prompts) and returns extra LLM input embeddings. :class:`~sama_mm.models.SAMA` places them after
the dense frames' tokens, in the ``<IMG_CONTEXT>`` slots that the chat template reserves for them, and
``model.neck=None`` gives the Sa2VA-style model (no neck, no extra slots).

Data flow of one sample::

    pixel_values --backbone.encode_images--> visual [T, N, H] --neck(visual, turns)--> [num_tokens, H]
                                                                        |
    QFormerPrompts (data pipeline) -----------> neck_turns -------------+

What the data pipeline must provide: the per-sample ``neck_turns`` list, one dict per conversation turn, added by
the ``QFormerPrompts`` transform (see its "Added Keys") and batched by ``PackSAMAInputs``; the keys of a turn are
the neck's to define (:class:`~sama_mm.models.necks.STAggregator` reads ``qformer_input_ids``,
``qformer_attention_mask`` and ``regions``). The ``<IMG_CONTEXT>`` slots that ``ChatTokenize`` reserves after
the dense frames must number :meth:`BaseNeck.num_tokens`; the model checks every sample's slot count against
the embeddings it fills them with and names the sample when they differ.

A new neck derives from :class:`BaseNeck`, registers in ``MODELS`` and implements :meth:`~BaseNeck.forward` and
:meth:`~BaseNeck.num_tokens`. It receives the LLM width as ``llm_hidden_size`` (filled in by the model from its
backbone when the config leaves it ``None``). Chat calls the neck once per turn with that turn alone; a neck with
a question-independent stage can expose it as :meth:`~BaseNeck.encode_spatial` so that the chat session computes
it once per video.
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor


class BaseNeck(BaseModule, metaclass=ABCMeta):
    """Base class of the necks that add context and region embeddings to the LLM input.

    Args:
        llm_hidden_size (int): Width ``H`` of the LLM (and of the visual tokens the neck receives).
        init_cfg (dict, optional): MMEngine initialisation config.

    Raises:
        ValueError: If ``llm_hidden_size`` is not a positive int.
    """

    def __init__(self, llm_hidden_size: int, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(llm_hidden_size, int) or isinstance(llm_hidden_size, bool) or llm_hidden_size <= 0:
            raise ValueError(f'{type(self).__name__}: llm_hidden_size must be a positive int, '
                             f'got {llm_hidden_size!r}')
        self.llm_hidden_size = llm_hidden_size

    @abstractmethod
    def forward(self, visual: Tensor, turns: Sequence[Dict], spatial: Optional[Tensor] = None) -> Tensor:
        """The neck's embeddings of one sample, in the order of their placeholders in the prompt.

        Args:
            visual (Tensor): ``[T, N, H]`` LLM-space visual tokens of the ``T`` sparse frames of the sample.
            turns (Sequence[dict]): The sample's ``neck_turns``, one dict per conversation turn (from the data
                pipeline; chat passes the current turn alone).
            spatial (Tensor, optional): What :meth:`encode_spatial` returned for the same ``visual`` (a cache
                kept by the caller); ``None`` makes the neck compute whatever it needs from ``visual``.

        Returns:
            Tensor: ``[num_tokens(T, turns), H]``, in the order the placeholders appear in the prompt
            (for :class:`~sama_mm.models.necks.STAggregator`: per turn its context tokens, then two tokens per
            region prompt of that turn).
        """

    @abstractmethod
    def num_tokens(self, num_frames: int, turns: Sequence[Dict]) -> int:
        """How many embeddings :meth:`forward` returns for ``num_frames`` sparse frames and these turns.

        Args:
            num_frames (int): Number ``T`` of sparse frames.
            turns (Sequence[dict]): The turns passed to :meth:`forward`.

        Returns:
            int: The number of rows of :meth:`forward`'s output.
        """

    def encode_spatial(self, visual: Tensor) -> Optional[Tensor]:
        """The question-independent part of :meth:`forward`, for callers that cache it across turns.

        The default has no such part and returns ``None`` (nothing to cache; :meth:`forward` then gets
        ``spatial=None``).

        Args:
            visual (Tensor): ``[T, N, H]`` LLM-space visual tokens.

        Returns:
            Tensor | None: The value to pass back as ``forward(..., spatial=...)``, or ``None``.
        """
        return None

    def check_visual(self, visual: Tensor) -> None:
        """Raise a ``ValueError`` unless ``visual`` is ``[T, N, llm_hidden_size]``."""
        if visual.ndim != 3 or visual.shape[-1] != self.llm_hidden_size:
            raise ValueError(f'{type(self).__name__}: visual tokens must be [T, N, {self.llm_hidden_size}], '
                             f'got {tuple(visual.shape)}')
