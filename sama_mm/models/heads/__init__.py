"""Task heads."""
from sama_mm.models.heads.sam2_seg_head import SAM2SegHead

__all__ = ['SAM2SegHead']
