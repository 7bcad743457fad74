"""Every use of sam2's private API in one place: the language-prompted ``SAM2Base`` and the steps built on it.

SAMA (as Sa2VA) prompts the SAM2 mask decoder with the projected hidden state of a ``[SEG]`` token: the 256-d
embedding is appended, as one more sparse token, after the prompt encoder's embedding of the (padding) point
prompt. sam2's ``SAM2Base._forward_sam_heads`` has no such input and always suppresses the masks of frames whose
object score is negative (the reference disables that suppression), so :class:`LanguagePromptedSAM2` overrides only
that method; everything else (image encoder, memory attention and encoder, ``_prepare_memory_conditioned_features``,
``_encode_new_memory``) is sam2's own code, called from the functions below. The class is instantiated by sam2's
hydra builder (``++model._target_=`` override), so parameter names are exactly those of ``SAM2Base``.

The functions take the ``SAM2Base`` as their first argument; :class:`~sama_mm.models.heads.SAM2SegHead` calls only
them (and sam2's public builder), so a sam2 upgrade that changes its internals is handled here alone. This module
also holds the renaming of released SAM2 checkpoint keys, shared by the head and the checkpoint converter.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sam2.modeling.sam2_base import NO_OBJ_SCORE, SAM2Base
from torch import Tensor

#: The hydra ``_target_`` of :class:`LanguagePromptedSAM2` (used as a build override).
TARGET = 'sama_mm.models.heads.sam2_adapter.LanguagePromptedSAM2'

#: Name prefixes that released/full-model checkpoints put before the SAM2 keys.
SAM2_KEY_PREFIXES = ('grounding_encoder.sam2_model.', 'sam2_model.')
#: The released HF files spell the ConvNeXt layer scale ``gamma`` of the memory encoder as ``g_weight``.
_RELEASED_GAMMA, _OUR_GAMMA = '.g_weight', '.gamma'


# ------------------------------------------------------------------------------------------ checkpoint keys
def sam2_key_from_released(key: str) -> str:
    """A released SAM2 tensor name (prefix already removed or not) with ``g_weight`` spelled ``gamma``."""
    return key[:-len(_RELEASED_GAMMA)] + _OUR_GAMMA if key.endswith(_RELEASED_GAMMA) else key


def sam2_key_to_released(key: str) -> str:
    """Inverse of :func:`sam2_key_from_released`: ``gamma`` spelled ``g_weight``, as in the released files."""
    return key[:-len(_OUR_GAMMA)] + _RELEASED_GAMMA if key.endswith(_OUR_GAMMA) else key


def sam2_state_dict_from_checkpoint(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Bring a SAM2 state dict to ``SAM2Base`` parameter names.

    Accepts sam2's release format (``{'model': state_dict}``), keys with a ``grounding_encoder.sam2_model.`` or
    ``sam2_model.`` prefix (other keys are dropped when such prefixed keys exist), and the ``g_weight`` spelling
    of the ConvNeXt layer scale ``gamma`` found in the released HF files (reference §5.4).

    Args:
        state: The loaded checkpoint.

    Returns:
        A new dict with ``SAM2Base`` names.
    """
    if isinstance(state.get('model'), dict):
        state = state['model']
    prefixed = any(k.startswith(SAM2_KEY_PREFIXES) for k in state)
    out = {}
    for key, value in state.items():
        if prefixed:
            prefix = next((p for p in SAM2_KEY_PREFIXES if key.startswith(p)), None)
            if prefix is None:
                continue
            key = key[len(prefix):]
        out[sam2_key_from_released(key)] = value
    return out


# ------------------------------------------------------------------------------------------ the model
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


# ------------------------------------------------------------------------------------------ image features
def image_features(model: SAM2Base, images: Tensor, bf16_autocast: bool = False) -> Dict[str, List[Tensor]]:
    """Backbone + FPN features of a batch of frames (sam2's ``forward_image``, split for gradients).

    ``SAM2Base.forward_image`` also applies the mask decoder's ``conv_s0``/``conv_s1`` to the two high-resolution
    levels. It is re-done here so that the frozen image encoder runs without building a graph while those two
    decoder convolutions (trainable) still get gradients.
    """
    param = next(model.parameters())
    images = images.to(device=param.device, dtype=param.dtype)
    encoder_trains = any(p.requires_grad for p in model.image_encoder.parameters())
    autocast = torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16_autocast)
    with torch.set_grad_enabled(torch.is_grad_enabled() and encoder_trains), autocast:
        out = model.image_encoder(images)
    fpn = [f.to(param.dtype) for f in out['backbone_fpn']]
    pos = [p.to(param.dtype) for p in out['vision_pos_enc']]
    if model.use_high_res_features_in_sam:
        fpn[0] = model.sam_mask_decoder.conv_s0(fpn[0])
        fpn[1] = model.sam_mask_decoder.conv_s1(fpn[1])
    return {'backbone_fpn': fpn, 'vision_pos_enc': pos}


def select_frames(features: Dict[str, List[Tensor]], frames: Sequence[int], repeats: int):
    """Features of ``frames`` (indices into the batch), each repeated ``repeats`` times (frame-major)."""
    index = torch.as_tensor(list(frames), dtype=torch.long).repeat_interleave(repeats)
    if len(frames) == 1:  # one frame: a broadcast view instead of a copy
        return {k: [v[index[:1]].expand(repeats, *v.shape[1:]) for v in vs] for k, vs in features.items()}
    return {k: [v[index] for v in vs] for k, vs in features.items()}


def flatten_features(model: SAM2Base, features: Dict[str, List[Tensor]]):
    """sam2's flattening of features: ``(vision_feats, vision_pos_embeds, feat_sizes)``, each (HW)BC."""
    _, feats, pos, sizes = model._prepare_backbone_features(features)
    return feats, pos, sizes


# ------------------------------------------------------------------------------------------ decoding
def decode_without_memory(model: SAM2Base, features: Dict[str, List[Tensor]], prompts: Tensor):
    """Decode language-prompted masks on frames treated as initial conditioning frames (no memory).

    Args:
        model: The language-prompted SAM2.
        features: Image features of F frames (see :func:`image_features`).
        prompts: Language embeddings ``[K, 256]``.

    Returns:
        ``(flat_feats, feat_sizes, sam_outputs)`` for the ``F*K`` (frame-major) batch; ``sam_outputs`` is sam2's
        7-tuple of :meth:`LanguagePromptedSAM2._forward_sam_heads`.
    """
    num_frames = features['backbone_fpn'][0].shape[0]
    num_obj = prompts.shape[0]
    batch = select_frames(features, range(num_frames), num_obj)
    feats, pos, sizes = flatten_features(model, batch)
    # sam2's path for an initial conditioning frame: pix_feat + no_mem_embed (directly_add_no_mem_embed).
    pix_feat = model._prepare_memory_conditioned_features(
        frame_idx=0, is_init_cond_frame=True, current_vision_feats=feats[-1:],
        current_vision_pos_embeds=pos[-1:], feat_sizes=sizes[-1:],
        output_dict={'cond_frame_outputs': {}, 'non_cond_frame_outputs': {}}, num_frames=1)
    high_res = None
    if len(feats) > 1:
        high_res = [x.permute(1, 2, 0).reshape(x.size(1), x.size(2), *s) for x, s in zip(feats[:-1], sizes[:-1])]
    language = prompts.to(pix_feat.dtype).repeat(num_frames, 1)
    outputs = model._forward_sam_heads(backbone_features=pix_feat, high_res_features=high_res,
                                       multimask_output=True, language_embd=language)
    return feats, sizes, outputs


def encode_memory(model: SAM2Base, feats: List[Tensor], sizes, high_res_masks: Tensor, scores: Tensor,
                  from_prompt: bool):
    """sam2's memory encoder on decoded masks: ``(maskmem_features, maskmem_pos_enc)``."""
    return model._encode_new_memory(current_vision_feats=feats, feat_sizes=sizes, pred_masks_high_res=high_res_masks,
                                    object_score_logits=scores, is_mask_from_pts=from_prompt)


# ------------------------------------------------------------------------------------------ tracking
def shared_memory_attention(model: SAM2Base, num_obj: int) -> Callable:
    """sam2's ``MemoryAttention.forward`` with the object-independent first self-attention done once.

    The current frame's features are the same for every object, so the first layer's self-attention (and the
    input positional term) is computed on one copy and broadcast; everything that reads an object's memory runs
    batched over the objects. Same operations, same shapes per object: the same numbers.
    """
    attention = model.memory_attention

    def attend(curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0):
        if isinstance(curr, list):
            curr, curr_pos = curr[0], curr_pos[0]
        output, pos = curr[:, :1], curr_pos[:, :1]
        if attention.pos_enc_at_input:
            output = output + 0.1 * pos
        output, pos = output.transpose(0, 1), pos.transpose(0, 1)
        memory, memory_pos = memory.transpose(0, 1), memory_pos.transpose(0, 1)
        query_pos = pos.expand(num_obj, -1, -1)
        for i, layer in enumerate(attention.layers):
            if i == 0:
                output = layer._forward_sa(output, pos).expand(num_obj, -1, -1)
                output = layer._forward_ca(output, memory, query_pos, memory_pos, num_obj_ptr_tokens)
                hidden = layer.norm3(output)
                hidden = layer.linear2(layer.dropout(layer.activation(layer.linear1(hidden))))
                output = output + layer.dropout3(hidden)
            else:
                output = layer(tgt=output, memory=memory, pos=memory_pos, query_pos=query_pos,
                               num_k_exclude_rope=num_obj_ptr_tokens)
        return attention.norm(output).transpose(0, 1)

    return attend


class _SharedMemoryAttention:
    """``SAM2Base`` seen through a proxy whose ``memory_attention`` is replaced (see :func:`shared_memory_attention`).

    sam2's ``_prepare_memory_conditioned_features`` (which memories and pointers a frame reads, with their temporal
    encodings) is called on this proxy unchanged; only its final memory-attention call differs.
    """

    def __init__(self, model: nn.Module, attend: Callable):
        self._model = model
        self.memory_attention = attend

    def __getattr__(self, name):
        return getattr(self._model, name)


def track_frame(model: SAM2Base, attend: Callable, frame_idx: int, level_feats: List[Tensor],
                level_pos: List[Tensor], sizes: List[Tuple[int, int]], bank: dict, total: int, reverse: bool,
                num_obj: int):
    """One tracked frame for all K objects at once (sam2's ``track_step`` without a point prompt).

    Args:
        attend: The memory attention to use (:func:`shared_memory_attention`).
        level_feats / level_pos: The frame's flattened features per level, ``[HW, 1, C]`` (one copy).

    Returns:
        ``(high_res_logits [K, 1, S, S], maskmem_features, maskmem_pos_enc, obj_ptr)``.
    """
    # The top level is materialised per object, as sam2 gets it (its memory encoder views it as BCHW); the two
    # high-resolution levels are only added inside the decoder, so broadcast views are enough.
    top = level_feats[-1].permute(1, 2, 0).expand(num_obj, -1, -1).contiguous().permute(2, 0, 1)
    top_pos = level_pos[-1].expand(-1, num_obj, -1)
    feats = [f.expand(-1, num_obj, -1) for f in level_feats[:-1]] + [top]
    high_res = [x.permute(1, 2, 0).view(x.size(1), x.size(2), *s) for x, s in zip(feats[:-1], sizes[:-1])]
    if model.memory_attention.batch_first:
        shared = _SharedMemoryAttention(model, attend)
    else:  # not in any sam2 config: keep sam2's own path
        shared = model
    pix_feat = type(model)._prepare_memory_conditioned_features(
        shared, frame_idx=frame_idx, is_init_cond_frame=False, current_vision_feats=[top],
        current_vision_pos_embeds=[top_pos], feat_sizes=sizes[-1:], output_dict=bank, num_frames=total,
        track_in_reverse=reverse)
    outputs = model._forward_sam_heads(backbone_features=pix_feat, point_inputs=None, mask_inputs=None,
                                       high_res_features=high_res or None,
                                       multimask_output=model._use_multimask(False, None))
    _, _, _, _, high_res_masks, obj_ptr, scores = outputs
    mem, mem_pos = encode_memory(model, feats, sizes, high_res_masks, scores, from_prompt=False)
    return high_res_masks, mem, mem_pos, obj_ptr


# ------------------------------------------------------------------------------------------ region prompts
@torch.no_grad()
def mask_from_box_or_points(model: SAM2Base, frame: np.ndarray, box: Optional[Sequence[float]] = None,
                            points: Optional[Sequence[Sequence[float]]] = None,
                            point_labels: Optional[Sequence[int]] = None) -> np.ndarray:
    """SAM2's best single mask ``bool [H, W]`` for a box and/or points on one ``uint8 [H, W, 3]`` frame.

    sam2's own ``SAM2ImagePredictor`` does the prompting on ``model``.

    Raises:
        ValueError: Neither a box nor points.
    """
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    if box is None and not points:
        raise ValueError('a region prompt needs a box or points')
    predictor = SAM2ImagePredictor(model)
    # sam2's predictor hard-codes the feature sizes of a 1024-px input; derive them from this model's size.
    size = int(model.image_size)
    predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
    was_training = model.training
    model.eval()
    try:
        predictor.set_image(np.ascontiguousarray(frame))
        coords = np.asarray(points, np.float32) if points else None
        labels = None
        if coords is not None:
            labels = np.asarray(point_labels if point_labels is not None else [1] * len(coords), np.int32)
        masks, _, _ = predictor.predict(point_coords=coords, point_labels=labels,
                                        box=None if box is None else np.asarray(box, np.float32),
                                        multimask_output=False)
    finally:
        model.train(was_training)
    return masks[0] > 0
