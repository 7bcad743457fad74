"""Losses: LM cross-entropy on labelled positions only; mask BCE and Dice on uncertainty-sampled points."""
from .lm_loss import lm_loss
from .mask_loss import dice_loss, point_sample, point_sampled_mask_losses, sigmoid_bce_loss

__all__ = ['lm_loss', 'dice_loss', 'point_sample', 'point_sampled_mask_losses', 'sigmoid_bce_loss']
