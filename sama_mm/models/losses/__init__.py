"""Losses: LM cross-entropy on labelled positions only; mask BCE and Dice on sampled points."""
from .lm_loss import lm_loss

__all__ = ['lm_loss']
