"""SAM2 with a language prompt: a small subclass of sam2's ``SAM2Base``.

SAMA (as Sa2VA) prompts the SAM2 mask decoder with the projected hidden state of a ``[SEG]`` token: the
256-d embedding is appended, as one more sparse token, after the prompt encoder's embedding of the (padding)
point prompt. sam2's ``SAM2Base._forward_sam_heads`` has no such input and always suppresses the masks of
frames whose object score is negative (the reference disables that suppression), so this subclass overrides
only that method; everything else (image encoder, memory attention and encoder, ``track_step``,
``_prepare_memory_conditioned_features``, ``_encode_new_memory``) is sam2's own code.

The class is instantiated by sam2's hydra builder (``++model._target_=`` override), so parameter names are
exactly those of ``SAM2Base``.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import NO_OBJ_SCORE, SAM2Base
from torch import Tensor

#: The hydra ``_target_`` of :class:`LanguagePromptedSAM2` (used as a build override).
TARGET = 'sama_mm.models.heads.sam2_language.LanguagePromptedSAM2'


class LanguagePromptedSAM2(SAM2Base):
    """``SAM2Base`` whose SAM heads also take a language embedding as an extra sparse prompt token.

    Attributes:
        suppress_no_object_masks: When True, masks of objects predicted absent (object score <= 0) are replaced
            by a large negative logit, as sam2 does. The reference (Sa2VA/SAMA) comments this out, so it is
            False by default.
    """

    suppress_no_object_masks: bool = False

    def _forward_sam_heads(self,
                           backbone_features: Tensor,
                           point_inputs: Optional[dict] = None,
                           mask_inputs: Optional[Tensor] = None,
                           high_res_features: Optional[List[Tensor]] = None,
                           multimask_output: bool = False,
                           language_embd: Optional[Tensor] = None):
        """Prompt encoder + mask decoder, as ``SAM2Base._forward_sam_heads`` plus ``language_embd``.

        Args:
            backbone_features: Memory-conditioned image features ``[B, C, h, w]``.
            point_inputs: Optional ``point_coords`` ``[B, P, 2]`` / ``point_labels`` ``[B, P]``; when None, one
                padding point (label -1) is used, as in sam2.
            mask_inputs: Optional mask prompt ``[B, 1, H, W]``.
            high_res_features: The two high-resolution feature maps of the decoder (or None).
            multimask_output: Decode 3 masks and keep the one with the highest predicted IoU.
            language_embd: Optional language embeddings ``[B, 256]`` or ``[B, N, 256]``, appended after the sparse
                point embeddings.

        Returns:
            The same 7-tuple as sam2: ``(low_res_multimasks, high_res_multimasks, ious, low_res_masks,
            high_res_masks, obj_ptr, object_score_logits)``.
        """
        batch = backbone_features.size(0)
        device = backbone_features.device
        if point_inputs is not None:
            coords, labels = point_inputs['point_coords'], point_inputs['point_labels']
        else:
            # sam2's convention for "no points": a single padding point (label -1) per object.
            coords = torch.zeros(batch, 1, 2, device=device)
            labels = -torch.ones(batch, 1, dtype=torch.int32, device=device)

        mask_prompt = None
        if mask_inputs is not None:
            mask_prompt = mask_inputs
            if mask_inputs.shape[-2:] != self.sam_prompt_encoder.mask_input_size:
                mask_prompt = F.interpolate(mask_inputs.float(), size=self.sam_prompt_encoder.mask_input_size,
                                            mode='bilinear', align_corners=False, antialias=True)

        sparse, dense = self.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_prompt)
        if language_embd is not None:
            if language_embd.dim() == 2:
                language_embd = language_embd.unsqueeze(1)
            sparse = torch.cat([sparse, language_embd.to(sparse.dtype)], dim=1)

        low_res_multimasks, ious, output_tokens, object_score_logits = self.sam_mask_decoder(
            image_embeddings=backbone_features,
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=False,
            high_res_features=high_res_features,
        )
        is_obj_appearing = object_score_logits > 0 if self.pred_obj_scores else None
        if is_obj_appearing is not None and self.suppress_no_object_masks:
            low_res_multimasks = torch.where(is_obj_appearing[:, None, None], low_res_multimasks, NO_OBJ_SCORE)

        low_res_multimasks = low_res_multimasks.float()
        high_res_multimasks = F.interpolate(low_res_multimasks, size=(self.image_size, self.image_size),
                                            mode='bilinear', align_corners=False)
        output_token = output_tokens[:, 0]
        if multimask_output:
            best = ious.argmax(dim=-1)
            rows = torch.arange(batch, device=device)
            low_res_masks = low_res_multimasks[rows, best].unsqueeze(1)
            high_res_masks = high_res_multimasks[rows, best].unsqueeze(1)
            if output_tokens.size(1) > 1:
                output_token = output_tokens[rows, best]
        else:
            low_res_masks, high_res_masks = low_res_multimasks, high_res_multimasks

        obj_ptr = self.obj_ptr_proj(output_token)
        if is_obj_appearing is not None:
            # Object pointers keep sam2's occlusion handling (the reference only disabled the mask suppression).
            weight = object_score_logits.sigmoid() if self.soft_no_obj_ptr else is_obj_appearing.float()
            if self.fixed_no_obj_ptr:
                obj_ptr = weight * obj_ptr
            obj_ptr = obj_ptr + (1 - weight) * self.no_obj_ptr
        return (low_res_multimasks, high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr,
                object_score_logits)
