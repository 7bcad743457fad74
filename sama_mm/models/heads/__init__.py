"""Task heads: the :class:`BaseSegHead` contract and the SAM2 mask head."""
from sama_mm.models.heads.base_seg_head import BaseSegHead
from sama_mm.models.heads.sam2_seg_head import SAM2SegHead

__all__ = ['BaseSegHead', 'SAM2SegHead']
