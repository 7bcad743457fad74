"""The contract between :class:`~sama_mm.models.SAMA` and a mask head.

``SAMA`` runs the LLM and hands the head the hidden states of the ``[SEG]`` tokens; everything after that is the
head's job. A head is registered in ``MODELS`` and plugged in with ``model.seg_head = dict(type=...)``; ``SAMA``
fills ``llm_hidden_size`` from its backbone when the config leaves it out.

The head owns:

* its prompt: the projection of an LLM hidden state (width ``llm_hidden_size``) to whatever the decoder takes;
* its inputs: it reads its frames from the batch ``inputs`` (e.g. ``inputs['sam2_pixel_values'][b]``, the dense
  frames made by ``SAM2ImageTransform``) in :meth:`BaseSegHead.loss`, and from the frame source it is given in
  :meth:`BaseSegHead.predict`;
* its targets: ``data_sample.gt_masks`` (``[K, D, H, W]``, the k-th mask for the k-th ``[SEG]``), which it resizes
  itself; :meth:`BaseSegHead.match_targets` checks the counts and names the sample on a mismatch;
* its losses, including the zero losses of a batch without any ``[SEG]`` (:meth:`BaseSegHead.zero_losses`), which
  keep every trainable parameter of the head in the graph so that all DDP ranks reduce the same parameters.
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.model import BaseModule
from torch import Tensor


def describe_sample(sample) -> str:
    """How errors name a sample: its video and expression / record index (``'sample'`` when unknown)."""
    if sample is None:
        return 'sample'
    parts = [f'video {sample.get("video_id", "?")!r}']
    for key in ('exp_id', 'sample_idx'):
        if key in sample:
            parts.append(f'{key} {sample.get(key)!r}')
    return ', '.join(parts)


class BaseSegHead(BaseModule, metaclass=ABCMeta):
    """Base class of the mask heads prompted by ``[SEG]`` hidden states.

    Subclasses implement :meth:`loss` and :meth:`predict`, and :meth:`prompt_from_region` when they can turn a
    clicked box or points into a mask (chat region prompts). ``SAMA`` calls nothing else.

    Args:
        llm_hidden_size (int): Width H of the LLM hidden states the head is prompted with.
        init_cfg (dict, optional): MMEngine initialisation config.
    """

    def __init__(self, llm_hidden_size: int, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(llm_hidden_size, bool) or not isinstance(llm_hidden_size, int) or llm_hidden_size <= 0:
            raise ValueError(f'llm_hidden_size must be a positive int (set it in the model config), '
                             f'got {llm_hidden_size!r}')
        self.llm_hidden_size = llm_hidden_size

    @abstractmethod
    def loss(self, seg_hidden: List[Tensor], inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """Mask losses of a training batch.

        Args:
            seg_hidden: ``seg_hidden[b]`` is ``[K_b, H]``: the LLM hidden states at sample b's ``[SEG]`` tokens, in
                order (``K_b`` may be 0).
            inputs: The batch inputs of the data preprocessor (the head reads its frames there).
            data_samples: The batch samples; sample b's ``gt_masks`` ``[K_b, D, H, W]`` supervise its ``[SEG]``s.

        Returns:
            Named loss tensors; the same names (zero valued, see :meth:`zero_losses`) when no sample has a
            ``[SEG]``.
        """

    @abstractmethod
    def predict(self, seg_hidden: Tensor, frames, prompt_positions: Sequence[int], out_size: Tuple[int, int],
                num_frames: int, chunk_size: Optional[int] = None) -> Tensor:
        """One mask track per ``[SEG]`` through a video.

        Args:
            seg_hidden: ``[K, H]`` LLM hidden states of the generated ``[SEG]`` tokens (``K >= 1``).
            frames: The frames: a tensor ``[N, ...]`` or an on-demand source ``callable(indices) -> Tensor``
                (read it through :class:`~sama_mm.models.heads.frame_access.FrameAccess`).
            prompt_positions: Positions (in ``frames``) of the frames the LLM saw, where the head is prompted.
            out_size: ``(H, W)`` of the returned masks (the original frame size).
            num_frames: N, the number of frames of ``frames``.
            chunk_size: Frames read together (None: the head's default).

        Returns:
            ``bool [K, N, H, W]``.
        """

    def prompt_from_region(self, image: np.ndarray, box: Optional[Sequence[float]] = None,
                           points: Optional[Sequence[Sequence[float]]] = None,
                           point_labels: Optional[Sequence[int]] = None) -> np.ndarray:
        """Segment one object of one ``uint8 [H, W, 3]`` frame from a box and/or points: ``bool [H, W]``.

        Raises:
            NotImplementedError: The head has no box/point prompting (chat then accepts only mask regions).
        """
        raise NotImplementedError(f'{type(self).__name__} cannot turn a box or points into a mask; give the '
                                  'region as a mask instead')

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def match_targets(seg_hidden: Sequence[Tensor], data_samples: Sequence) -> List[Optional[Tensor]]:
        """Every sample's ``gt_masks`` (None where it has no ``[SEG]``), after checking the counts agree.

        Raises:
            ValueError: A sample's ``[SEG]`` count differs from its number of ground-truth masks (names it).
        """
        if len(seg_hidden) != len(data_samples):
            raise ValueError(f'{len(seg_hidden)} [SEG] groups for {len(data_samples)} samples')
        targets = []
        for hidden, sample in zip(seg_hidden, data_samples):
            gt = getattr(sample, 'gt_masks', None)
            n_gt = 0 if gt is None else len(gt)
            if len(hidden) != n_gt:
                raise ValueError(f'{describe_sample(sample)}: {len(hidden)} [SEG] tokens but {n_gt} ground-truth '
                                 'masks')
            targets.append(gt if n_gt else None)
        return targets

    def zero_losses(self, names: Sequence[str]) -> Dict[str, Tensor]:
        """Zero losses connected to every trainable parameter of the head (a batch without ``[SEG]``).

        Every rank then reduces the same parameters under DDP, without a dummy forward of the decoder.
        """
        trainable = [p for p in self.parameters() if p.requires_grad]
        if trainable:
            zero = sum(p.sum() for p in trainable) * 0.0
        else:  # a fully frozen head: nothing to keep in the graph
            zero = next(self.parameters()).new_zeros(())
        return {name: zero.clone() if i else zero for i, name in enumerate(names)}
