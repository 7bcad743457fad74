"""Next-token cross-entropy that runs the LM head only where there is a label.

Full-vocabulary logits for every position ([B, L, V] with V ≈ 150k and L ≈ 8k) dominate the memory of a
frozen-LLM training step although most positions (video tokens, prompts) carry no label. The loss here selects
the labelled positions first and applies the head to those rows only.
"""
from typing import Callable, Optional

import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint


def lm_loss(hidden: Tensor, labels: Tensor, head: Callable[[Tensor], Tensor], ignore_index: int = -100,
            chunk_size: Optional[int] = None) -> Tensor:
    """Mean next-token cross-entropy over the labelled tokens of a batch.

    Position ``t`` of ``hidden`` predicts ``labels[:, t + 1]``. Only rows whose shifted label is not
    ``ignore_index`` reach ``head``, so no [B, L, V] tensor is ever created.

    Args:
        hidden: Last-layer hidden states [B, L, H] (after the final norm).
        labels: Token ids [B, L], ``ignore_index`` where there is no target (same alignment as the inputs).
        head: Maps [N, H] to logits [N, V] (the LLM's output embedding).
        ignore_index: Label value that is not trained on.
        chunk_size: If set, run the head on at most this many rows at a time under activation checkpointing,
            so that at most ``chunk_size x V`` logits are alive at once, in the backward pass too.

    Returns:
        Scalar float32 loss: the sum of the token losses divided by the number of labelled tokens (a zero that
        keeps the graph when nothing is labelled).
    """
    if hidden.shape[:2] != labels.shape:
        raise ValueError(f'hidden {tuple(hidden.shape)} and labels {tuple(labels.shape)} do not align')
    targets = labels[:, 1:]
    keep = targets != ignore_index
    count = int(keep.sum())
    if count == 0:
        return hidden.sum().float() * 0.0
    rows = hidden[:, :-1][keep]  # [N, H]
    targets = targets[keep]

    def summed(h: Tensor, t: Tensor) -> Tensor:
        return F.cross_entropy(head(h).float(), t, reduction='sum')

    if chunk_size is None or count <= chunk_size:
        total = summed(rows, targets)
    else:
        total = sum(
            checkpoint(summed, rows[i:i + chunk_size], targets[i:i + chunk_size], use_reentrant=False)
            for i in range(0, count, chunk_size))
    return total / count


def naive_lm_loss(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Reference: the usual shifted CE on full logits [B, L, V] (for tests and small vocabularies)."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=ignore_index)


__all__ = ['lm_loss', 'naive_lm_loss']
