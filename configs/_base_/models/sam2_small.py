# SAM2-Hiera-S segmentation head (~46.0M SAM2 parameters, random init unless sam2_checkpoint is set).
# The SAM2.0 config (configs/sam2/...) is used on purpose: the released SAMA/Sa2VA checkpoints hold
# exactly its parameters (the SAM2.1 configs add no_obj_embed_spatial and obj_ptr_tpos_proj).
# llm_hidden_size is left None here: the model config that uses this head sets it to the LLM's
# hidden size (896 for 1B, 2048 for 4B, 4096 for 8B), e.g.
#     model = dict(..., seg_head=dict(seg_head, llm_hidden_size=896))
from sama_mm.models.heads.sam2_seg_head import SAM2SegHead

seg_head = dict(
    type=SAM2SegHead,
    sam2_config='configs/sam2/sam2_hiera_s.yaml',
    hydra_overrides=[],
    llm_hidden_size=None,
    sam2_checkpoint=None,
    # Only the SAM2 mask decoder trains (plus text_hidden_fcs), as in the reference.
    trainable=('sam_mask_decoder', ),
    loss_mask=2.0,
    loss_dice=0.5,
    num_points=12544,
    oversample_ratio=3.0,
    importance_sample_ratio=0.75,
    mask_threshold=0.5,
    bf16_autocast=False,
    suppress_no_object=False,
    round_memory_to_bf16=False,
    round_norm_to_bf16=False,
)
