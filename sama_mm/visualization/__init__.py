"""Visualisers of videos, masks and chat answers."""
from .overlay import PALETTE, colour, overlay_frame, seg_phrases, write_overlay_video

__all__ = ['PALETTE', 'colour', 'overlay_frame', 'seg_phrases', 'write_overlay_video']
