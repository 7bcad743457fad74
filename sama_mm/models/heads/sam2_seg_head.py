"""SAM2 segmentation head: ``[SEG]`` hidden states → 256-d prompts → SAM2 masks, tracked through a video.

Training (reference §1.10): every frame is decoded independently, without memory, prompted by the language
embedding; the mask with the highest predicted IoU among the 3 multimask outputs is supervised with point
sampled BCE + Dice (§2.2).

Inference: the conditioning frames are decoded the same way and stored as conditioning memories; every other
frame is tracked with SAM2's memory attention (mask memories + object pointers), forward from the first
conditioning frame and then backward to the frames before it. Unlike the released code (reference §6 item 20),
all objects are tracked together as one batch and each frame's image features are computed once.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from sam2.build_sam import build_sam2
from torch import Tensor

from sama_mm.models.heads.sam2_language import TARGET as _SAM2_TARGET
from sama_mm.models.losses.mask_loss import point_sampled_mask_losses
from sama_mm.registry import MODELS

#: ImageNet statistics used by SAM2's input normalisation (RGB, on [0, 1] pixels).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Name prefixes that released/full-model checkpoints put before the SAM2 keys.
_SAM2_KEY_PREFIXES = ('grounding_encoder.sam2_model.', 'sam2_model.')

FrameSource = Union[Tensor, Sequence[Tensor], Callable[[List[int]], Tensor]]


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
    prefixed = [k for k in state if k.startswith(_SAM2_KEY_PREFIXES)]
    out = {}
    for key, value in state.items():
        if prefixed:
            prefix = next((p for p in _SAM2_KEY_PREFIXES if key.startswith(p)), None)
            if prefix is None:
                continue
            key = key[len(prefix):]
        if key.endswith('.g_weight'):
            key = key[:-len('g_weight')] + 'gamma'
        out[key] = value
    return out


class _Frames:
    """Random access to preprocessed frames given as a tensor, a list of chunk tensors or a loader callable."""

    def __init__(self, images: FrameSource, num_frames: Optional[int]):
        if isinstance(images, Tensor):
            if images.dim() != 4:
                raise ValueError(f'images must be [T, 3, S, S], got {tuple(images.shape)}')
            self._tensor, self.num_frames = images, images.shape[0]
        elif callable(images):
            if num_frames is None:
                raise ValueError('num_frames is required when images is a callable')
            self._loader, self.num_frames = images, int(num_frames)
        else:
            # An iterable of chunks: kept as given (a list of tensors the caller already holds); for long
            # videos pass a callable instead so frames are read on demand.
            self._chunks = [c if c.dim() == 4 else c.unsqueeze(0) for c in images]
            sizes = [c.shape[0] for c in self._chunks]
            self._starts = np.cumsum([0] + sizes)
            self.num_frames = int(self._starts[-1])
        if num_frames is not None and int(num_frames) != self.num_frames:
            raise ValueError(f'num_frames={num_frames} but the source has {self.num_frames} frames')

    def get(self, indices: List[int]) -> Tensor:
        """Frames ``indices`` as ``[len(indices), 3, S, S]``."""
        if hasattr(self, '_tensor'):
            return self._tensor[indices]
        if hasattr(self, '_loader'):
            frames = self._loader(list(indices))
            if frames.shape[0] != len(indices):
                raise ValueError(f'the loader returned {frames.shape[0]} frames for {len(indices)} indices')
            return frames
        out = []
        for i in indices:
            c = int(np.searchsorted(self._starts, i, side='right')) - 1
            out.append(self._chunks[c][i - self._starts[c]])
        return torch.stack(out)


@MODELS.register_module()
class SAM2SegHead(BaseModule):
    """SAM2 mask head prompted by projected ``[SEG]`` hidden states.

    Args:
        sam2_config: Name of a model config inside the sam2 package, e.g. ``'configs/sam2/sam2_hiera_l.yaml'``
            (the released SAMA/Sa2VA checkpoints use the SAM2.0 Hiera-L config, reference §1.10).
        llm_hidden_size: Hidden size H of the LLM (896 / 2048 / 4096 for 1B / 4B / 8B).
        hydra_overrides: Extra hydra overrides for sam2's builder (e.g. ``'++model.image_size=256'``).
        sam2_checkpoint: Optional local ``.pt`` with SAM2 weights (sam2 release format or prefixed keys).
        trainable: Names of ``sam2_model`` children that train; everything else of SAM2 is frozen
            (reference: only ``sam_mask_decoder``). ``text_hidden_fcs`` always trains.
        loss_mask: Weight of the point-sampled BCE loss.
        loss_dice: Weight of the Dice loss.
        num_points: Sampled points per mask for the losses.
        oversample_ratio: Oversampling ratio of the uncertainty point sampling.
        importance_sample_ratio: Share of uncertainty-chosen points.
        mask_threshold: Threshold on sigmoid probabilities in :meth:`predict`.
        bf16_autocast: Run the SAM2 image encoder under bf16 autocast (the reference trains that way).
        suppress_no_object: Replace masks of objects predicted absent by a large negative logit (sam2's
            behaviour); the reference disables it.
        round_memory_to_bf16: Round stored memory features through bf16 as sam2's video predictor does
            (a hidden quirk of the released inference, reference §6.x); off by default.
        round_norm_to_bf16: Round the ImageNet mean/std through bf16 in :meth:`preprocess`, as the released
            inference effectively does (reference §6.x); off by default.
        resize_mode: Interpolation of :meth:`preprocess` with the torch backend (``'bicubic'`` matches PIL's
            default ``resize`` used by the reference; ``'bilinear'`` also allowed).
        resize_backend: ``'torch'`` (default: ``resize_mode`` with antialiasing, within about one grey level of
            PIL on natural images) or ``'pil'`` (PIL's bicubic ``Image.resize`` frame by frame, as the released
            inference does: bit-identical pixels for uint8 frames; use it for released checkpoints).
        predict_chunk_size: Frames read and encoded together in :meth:`predict`.
        init_cfg: MMEngine init config.
    """

    #: Drop memory-bank entries no later frame can attend to (False keeps all, for tests).
    _prune_memory = True

    def __init__(self,
                 sam2_config: str,
                 llm_hidden_size: int,
                 hydra_overrides: Sequence[str] = (),
                 sam2_checkpoint: Optional[str] = None,
                 trainable: Sequence[str] = ('sam_mask_decoder', ),
                 loss_mask: float = 2.0,
                 loss_dice: float = 0.5,
                 num_points: int = 12544,
                 oversample_ratio: float = 3.0,
                 importance_sample_ratio: float = 0.75,
                 mask_threshold: float = 0.5,
                 bf16_autocast: bool = False,
                 suppress_no_object: bool = False,
                 round_memory_to_bf16: bool = False,
                 round_norm_to_bf16: bool = False,
                 resize_mode: str = 'bicubic',
                 resize_backend: str = 'torch',
                 predict_chunk_size: int = 8,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(llm_hidden_size, int) or llm_hidden_size <= 0:
            raise ValueError(f'llm_hidden_size must be a positive int (set it in the model config), '
                             f'got {llm_hidden_size!r}')
        overrides = [f'++model._target_={_SAM2_TARGET}', *hydra_overrides]
        # device=None keeps the parameters where they were created (CPU, or meta under
        # accelerate's init_empty_weights); callers move the head like any module.
        self.sam2_model = build_sam2(sam2_config, ckpt_path=None, device=None, mode='eval',
                                     hydra_overrides_extra=overrides)
        self.sam2_model.suppress_no_object_masks = bool(suppress_no_object)
        self.text_hidden_fcs = nn.Sequential(
            nn.Linear(llm_hidden_size, llm_hidden_size), nn.ReLU(),
            nn.Linear(llm_hidden_size, self.sam2_model.hidden_dim), nn.Dropout(0.0))
        if sam2_checkpoint is not None:
            self.load_sam2_checkpoint(sam2_checkpoint)

        self.trainable = tuple(trainable)
        children = dict(self.sam2_model.named_children())
        unknown = [t for t in self.trainable if t.split('.')[0] not in children and t not in dict(
            self.sam2_model.named_parameters())]
        if unknown:
            raise ValueError(f'unknown trainable SAM2 parts {unknown}; children are {sorted(children)}')
        for name, param in self.sam2_model.named_parameters():
            param.requires_grad_(any(name == t or name.startswith(t + '.') for t in self.trainable))

        self.loss_mask_weight = float(loss_mask)
        self.loss_dice_weight = float(loss_dice)
        self.num_points = int(num_points)
        self.oversample_ratio = float(oversample_ratio)
        self.importance_sample_ratio = float(importance_sample_ratio)
        self.mask_threshold = float(mask_threshold)
        self.bf16_autocast = bool(bf16_autocast)
        self.round_memory_to_bf16 = bool(round_memory_to_bf16)
        self.round_norm_to_bf16 = bool(round_norm_to_bf16)
        if resize_mode not in ('bicubic', 'bilinear'):
            raise ValueError(f"resize_mode must be 'bicubic' or 'bilinear', got {resize_mode!r}")
        self.resize_mode = resize_mode
        from sama_mm.datasets.transforms.image import check_resize_backend
        self.resize_backend = check_resize_backend(resize_backend)
        self.predict_chunk_size = int(predict_chunk_size)

    # ------------------------------------------------------------------------------------------ basics
    @property
    def image_size(self) -> int:
        """Square input size S of SAM2 (1024 for the released models)."""
        return int(self.sam2_model.image_size)

    def load_sam2_checkpoint(self, path: str) -> None:
        """Load SAM2 weights from a local ``.pt`` (weights only, strict key match)."""
        state = torch.load(path, map_location='cpu', weights_only=True)
        self.sam2_model.load_state_dict(sam2_state_dict_from_checkpoint(state), strict=True)

    def preprocess(self, frames: Union[np.ndarray, Tensor]) -> Tensor:
        """RGB uint8 frames → normalised SAM2 input.

        Resizes to S×S without preserving the aspect ratio (reference §1.10). The reference resizes with PIL,
        whose default ``resize`` filter is an antialiased bicubic that returns uint8; PIL itself is not used here
        (frames may already be tensors), so the default is torch's antialiased bicubic interpolation followed by
        rounding to integers (within one grey level of PIL on natural images, see the tests); then /255 and
        ImageNet mean/std. With ``resize_backend='pil'`` each uint8 frame is resized by PIL itself (bit-identical
        to the released inference).

        Args:
            frames: ``[T, H, W, 3]`` (or one ``[H, W, 3]`` frame), uint8 RGB, numpy or torch.

        Returns:
            Float tensor ``[T, 3, S, S]``.
        """
        x = torch.from_numpy(np.require(frames, requirements=['C', 'W'])) if isinstance(frames, np.ndarray) else frames
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[-1] != 3:
            raise ValueError(f'frames must be [T, H, W, 3], got {tuple(x.shape)}')
        size = self.image_size
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        if self.round_norm_to_bf16:
            mean, std = mean.bfloat16().float(), std.bfloat16().float()
        out = torch.empty(x.shape[0], 3, size, size)
        for i in range(x.shape[0]):  # one frame at a time: a float copy of a whole video can be huge
            frame = x[i:i + 1]
            if self.resize_backend == 'pil' and tuple(frame.shape[1:3]) != (size, size):
                from sama_mm.datasets.transforms.image import pil_resize
                frame = torch.from_numpy(pil_resize(frame.cpu().numpy(), size))
            frame = frame.permute(0, 3, 1, 2).float()
            if frame.shape[-2:] != (size, size):
                frame = F.interpolate(frame, size=(size, size), mode=self.resize_mode, align_corners=False,
                                      antialias=True)
                frame = frame.round().clamp_(0, 255)
            out[i] = ((frame / 255.0 - mean) / std)[0]
        return out

    @torch.no_grad()
    def mask_from_prompt(self, frame: np.ndarray, box: Optional[Sequence[float]] = None,
                         points: Optional[Sequence[Sequence[float]]] = None,
                         point_labels: Optional[Sequence[int]] = None) -> np.ndarray:
        """Segment one object on one frame from a box and/or clicked points, with this head's SAM2.

        Region prompts given as boxes or points become masks this way (the released code accepts masks only).
        sam2's own ``SAM2ImagePredictor`` does the prompting on our ``sam2_model``.

        Args:
            frame: ``uint8 [H, W, 3]`` RGB frame.
            box: ``(x1, y1, x2, y2)`` in pixels.
            points: ``[[x, y], ...]`` in pixels.
            point_labels: 1 (on the object) or 0 (background) per point; default all 1.

        Returns:
            ``bool [H, W]``: SAM2's best single mask.

        Raises:
            ValueError: Neither a box nor points.
        """
        from sam2.sam2_image_predictor import SAM2ImagePredictor
        if box is None and not points:
            raise ValueError('a region prompt needs a box or points')
        predictor = SAM2ImagePredictor(self.sam2_model)
        # sam2's predictor hard-codes the feature sizes of a 1024-px input; derive them from this model's size.
        size = int(self.sam2_model.image_size)
        predictor._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
        was_training = self.sam2_model.training
        self.sam2_model.eval()
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
            self.sam2_model.train(was_training)
        return masks[0] > 0

    def project(self, seg_hidden: Tensor) -> Tensor:
        """``[SEG]`` hidden states ``[K, H]`` → SAM2 language prompts ``[K, 256]``."""
        weight = self.text_hidden_fcs[0].weight
        return self.text_hidden_fcs(seg_hidden.to(weight.dtype))

    # ------------------------------------------------------------------------------------ SAM2 pieces
    def _image_features(self, images: Tensor) -> Dict[str, List[Tensor]]:
        """Backbone + FPN features of a batch of frames (sam2's ``forward_image``, split for gradients).

        ``SAM2Base.forward_image`` also applies the mask decoder's ``conv_s0``/``conv_s1`` to the two
        high-resolution levels. It is re-done here so that the frozen image encoder runs without building a
        graph while those two decoder convolutions (trainable) still get gradients.
        """
        model = self.sam2_model
        param = next(model.parameters())
        images = images.to(device=param.device, dtype=param.dtype)
        encoder_trains = any(p.requires_grad for p in model.image_encoder.parameters())
        autocast = torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=self.bf16_autocast)
        with torch.set_grad_enabled(torch.is_grad_enabled() and encoder_trains), autocast:
            out = model.image_encoder(images)
        fpn = [f.to(param.dtype) for f in out['backbone_fpn']]
        pos = [p.to(param.dtype) for p in out['vision_pos_enc']]
        if model.use_high_res_features_in_sam:
            fpn[0] = model.sam_mask_decoder.conv_s0(fpn[0])
            fpn[1] = model.sam_mask_decoder.conv_s1(fpn[1])
        return {'backbone_fpn': fpn, 'vision_pos_enc': pos}

    @staticmethod
    def _select_frames(features: Dict[str, List[Tensor]], frames: Sequence[int], repeats: int):
        """Features of ``frames`` (indices into the batch), each repeated ``repeats`` times (frame-major)."""
        index = torch.as_tensor(list(frames), dtype=torch.long).repeat_interleave(repeats)
        if len(frames) == 1:  # one frame: a broadcast view instead of a copy
            return {k: [v[index[:1]].expand(repeats, *v.shape[1:]) for v in vs] for k, vs in features.items()}
        return {k: [v[index] for v in vs] for k, vs in features.items()}

    def _flatten(self, features: Dict[str, List[Tensor]]):
        """sam2's flattening of features: (vision_feats, vision_pos_embeds, feat_sizes), each (HW)BC."""
        _, feats, pos, sizes = self.sam2_model._prepare_backbone_features(features)
        return feats, pos, sizes

    def _decode_without_memory(self, features: Dict[str, List[Tensor]], prompts: Tensor):
        """Decode language-prompted masks on frames treated as initial conditioning frames (no memory).

        Args:
            features: Image features of F frames (see :meth:`_image_features`).
            prompts: Language embeddings ``[K, 256]``.

        Returns:
            ``(flat_feats, feat_sizes, sam_outputs)`` for the ``F*K`` (frame-major) batch; ``sam_outputs`` is
            sam2's 7-tuple of :meth:`LanguagePromptedSAM2._forward_sam_heads`.
        """
        model = self.sam2_model
        num_frames = features['backbone_fpn'][0].shape[0]
        num_obj = prompts.shape[0]
        batch = self._select_frames(features, range(num_frames), num_obj)
        feats, pos, sizes = self._flatten(batch)
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

    # -------------------------------------------------------------------------------------- training
    def forward_train(self, images: Tensor, prompts: Tensor) -> Tensor:
        """Low-resolution mask logits of every object on every frame, decoded without memory.

        Args:
            images: Preprocessed frames ``[F, 3, S, S]``.
            prompts: Language prompts ``[K, 256]`` (see :meth:`project`).

        Returns:
            Mask logits ``[K, F, S/4, S/4]`` (the best of 3 multimask outputs by predicted IoU).
        """
        num_frames, num_obj = images.shape[0], prompts.shape[0]
        if num_obj == 0:  # nothing to decode (callers that need a graph use dummy prompts, reference §2.2)
            low = self.image_size // 4
            return prompts.new_zeros(0, num_frames, low, low)
        features = self._image_features(images)
        _, _, outputs = self._decode_without_memory(features, prompts)
        low_res = outputs[3]  # [F*K, 1, h, w], frame-major
        return low_res.view(num_frames, num_obj, *low_res.shape[-2:]).transpose(0, 1)

    def loss(self, pred_logits: Tensor, gt_masks: Tensor) -> Dict[str, Tensor]:
        """Weighted point-sampled BCE and Dice losses.

        Args:
            pred_logits: ``[K, F, h, w]`` logits from :meth:`forward_train`.
            gt_masks: ``[K, F, Hg, Wg]`` binary masks; nearest-resized to ``h×w``.

        Returns:
            ``dict(loss_mask=..., loss_dice=...)``.
        """
        if pred_logits.shape[:2] != gt_masks.shape[:2]:
            raise ValueError(f'{tuple(pred_logits.shape[:2])} predicted vs {tuple(gt_masks.shape[:2])} GT masks')
        logits = pred_logits.flatten(0, 1).float()
        targets = gt_masks.flatten(0, 1).float().to(logits.device)
        if targets.shape[-2:] != logits.shape[-2:] and targets.shape[0] > 0:
            targets = F.interpolate(targets.unsqueeze(1), size=logits.shape[-2:], mode='nearest').squeeze(1)
        bce, dice = point_sampled_mask_losses(logits, targets, num_points=self.num_points,
                                              oversample_ratio=self.oversample_ratio,
                                              importance_sample_ratio=self.importance_sample_ratio)
        return dict(loss_mask=bce * self.loss_mask_weight, loss_dice=dice * self.loss_dice_weight)

    # ------------------------------------------------------------------------------------- inference
    def _record(self, maskmem: Tensor, pos_enc: List[Tensor], obj_ptr: Tensor) -> Dict[str, Tensor]:
        """The compact per-frame record the memory bank keeps: what later frames attend to, nothing more.

        sam2's memory conditioning reads only the memory features, their positional encoding (the same for
        every frame, so one shared copy) and the object pointer; the masks themselves go to the output.
        """
        if self.round_memory_to_bf16:
            maskmem = maskmem.to(torch.bfloat16).float()
        return {'maskmem_features': maskmem, 'maskmem_pos_enc': pos_enc, 'obj_ptr': obj_ptr}

    def _to_masks(self, high_res: Tensor, out_size: Tuple[int, int]) -> Tensor:
        """S×S logits ``[K, 1, S, S]`` (sam2's upsampled low-res masks) → bool masks ``[K, H, W]``."""
        logits = high_res.float()
        if tuple(out_size) != tuple(logits.shape[-2:]):
            logits = F.interpolate(logits, size=tuple(out_size), mode='bilinear', align_corners=False)
        return logits[:, 0].sigmoid() > self.mask_threshold

    def _attend_memory(self, num_obj: int):
        """sam2's ``MemoryAttention.forward`` with the object-independent first self-attention done once.

        The current frame's features are the same for every object, so the first layer's self-attention (and
        the input positional term) is computed on one copy and broadcast; everything that reads an object's
        memory runs batched over the objects. Same operations, same shapes per object: the same numbers.
        """
        attention = self.sam2_model.memory_attention

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

    def _track_frame(self, frame_idx: int, level_feats: List[Tensor], level_pos: List[Tensor],
                     sizes: List[Tuple[int, int]], bank: dict, total: int, reverse: bool, num_obj: int):
        """One tracked frame for all K objects at once (sam2's ``track_step`` without a point prompt).

        Args:
            level_feats / level_pos: The frame's flattened features per level, ``[HW, 1, C]`` (one copy).

        Returns:
            ``(high_res_logits [K, 1, S, S], maskmem_features, maskmem_pos_enc, obj_ptr)``.
        """
        model = self.sam2_model
        # The top level is materialised per object, as sam2 gets it (its memory encoder views it as BCHW);
        # the two high-resolution levels are only added inside the decoder, so broadcast views are enough.
        top = level_feats[-1].permute(1, 2, 0).expand(num_obj, -1, -1).contiguous().permute(2, 0, 1)
        top_pos = level_pos[-1].expand(-1, num_obj, -1)
        feats = [f.expand(-1, num_obj, -1) for f in level_feats[:-1]] + [top]
        high_res = [x.permute(1, 2, 0).view(x.size(1), x.size(2), *s) for x, s in zip(feats[:-1], sizes[:-1])]
        if model.memory_attention.batch_first:
            shared = _SharedMemoryAttention(model, self._attend_memory(num_obj))
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
        mem, mem_pos = model._encode_new_memory(current_vision_feats=feats, feat_sizes=sizes,
                                                pred_masks_high_res=high_res_masks, object_score_logits=scores,
                                                is_mask_from_pts=False)
        return high_res_masks, mem, mem_pos, obj_ptr

    @torch.no_grad()
    def predict(self,
                images: FrameSource,
                prompts: Tensor,
                cond_frames: Sequence[int],
                out_size: Tuple[int, int],
                num_frames: Optional[int] = None,
                chunk_size: Optional[int] = None,
                sink: Optional[Callable[[List[int], Tensor], None]] = None) -> Optional[Tensor]:
        """Segment and track K objects through a video.

        The conditioning frames are decoded with the language prompts (no memory, best of 3 masks) and stored
        as conditioning memories. Then every other frame is tracked with SAM2's memory attention (over the
        conditioning memories, the last 6 frame memories and up to 16 object pointers), decoder and memory
        encoder: first forward from the first conditioning frame to the end, then backward from it to frame 0
        (the order of sam2's video predictor when both directions are propagated).

        Cost and memory: every frame is read and encoded once, ``chunk_size`` frames at a time, whatever the
        number of objects; all per-object work (memory attention, mask decoder, memory encoder, upsampling)
        runs as one batch of K, and the part of the memory attention that does not depend on the object (the
        first self-attention over the frame's features) runs once. The memory bank holds the conditioning
        frames and only the frame records a later step can still read (about ``max(num_maskmem,
        max_obj_ptrs_in_encoder)`` frames, each a ``[K, 64, S/16, S/16]`` memory and a pointer); nothing else
        per frame is kept. With a ``sink`` the masks leave chunk by chunk and nothing grows with the video.

        Args:
            images: Preprocessed frames: a tensor ``[T, 3, S, S]``, a list of chunk tensors ``[t_i, 3, S, S]``
                (in temporal order), or a callable ``load(indices: list[int]) -> Tensor[len, 3, S, S]``
                (with ``num_frames``) that reads frames on demand.
            prompts: Language prompts ``[K, 256]``.
            cond_frames: Frame indices prompted with the language embeddings.
            out_size: ``(H, W)`` of the returned masks.
            num_frames: Number of frames T (required for a callable ``images``).
            chunk_size: Frames per chunk (default ``predict_chunk_size``).
            sink: Optional ``sink(frame_indices, masks)`` called once per chunk with the chunk's frames (in
                processing order: the conditioning frames, then forward, then backward) and their bool masks
                ``[K, len(frame_indices), H, W]``; every frame is given exactly once. With a sink no dense
                ``[K, T, H, W]`` tensor is built and None is returned.

        Returns:
            Bool masks ``[K, T, H, W]``, or None when ``sink`` is given.
        """
        frames = _Frames(images, num_frames)
        total = frames.num_frames
        num_obj = prompts.shape[0]
        cond = sorted({int(c) for c in cond_frames})
        if not cond:
            raise ValueError('at least one conditioning frame is required')
        if cond[0] < 0 or cond[-1] >= total:
            raise ValueError(f'conditioning frames {cond} outside [0, {total})')
        chunk = int(chunk_size or self.predict_chunk_size)
        height, width = (int(v) for v in out_size)
        masks = None
        if sink is None:
            masks = torch.zeros(num_obj, total, height, width, dtype=torch.bool)

            def sink(indices: List[int], chunk_masks: Tensor) -> None:
                masks[:, indices] = chunk_masks
        if num_obj == 0:
            sink(list(range(total)), torch.zeros(0, total, height, width, dtype=torch.bool))
            return masks

        model = self.sam2_model
        was_training = model.training
        model.eval()  # sam2's memory selection and dropout depend on the mode
        try:
            self._predict(frames, prompts, cond, chunk, (height, width), sink)
        finally:
            model.train(was_training)
        return masks

    def _predict(self, frames: _Frames, prompts: Tensor, cond: List[int], chunk: int, out_size: Tuple[int, int],
                 sink: Callable[[List[int], Tensor], None]) -> None:
        model = self.sam2_model
        total, num_obj = frames.num_frames, prompts.shape[0]
        param = next(model.parameters())
        prompts = prompts.to(device=param.device, dtype=param.dtype)
        bank = {'cond_frame_outputs': {}, 'non_cond_frame_outputs': {}}
        pos_enc_cache: List[Tensor] = []  # maskmem_pos_enc is the same for every frame: keep one copy

        def pos_enc(out):
            if not pos_enc_cache:
                pos_enc_cache.extend(p[:num_obj].clone() for p in out)
            return pos_enc_cache

        # 1) Conditioning frames: language prompt, no memory; then their memories.
        for start in range(0, len(cond), chunk):
            group = cond[start:start + chunk]
            features = self._image_features(frames.get(group))
            feats, sizes, outputs = self._decode_without_memory(features, prompts)
            del features
            _, _, _, low_res, high_res, obj_ptr, scores = outputs
            chunk_masks = []
            # One memory-encoder call per frame: sam2's optional non-overlap constraint (off in every released
            # config) works across the batch, which must then hold the objects of a single frame.
            for j, frame_idx in enumerate(group):
                rows = slice(j * num_obj, (j + 1) * num_obj)
                mem, mem_pos = model._encode_new_memory(
                    current_vision_feats=[f[:, rows] for f in feats], feat_sizes=sizes,
                    pred_masks_high_res=high_res[rows], object_score_logits=scores[rows], is_mask_from_pts=True)
                record = self._record(mem, pos_enc(mem_pos), obj_ptr[rows])
                # Conditioning frames keep sam2's full record (a few KB each, not per video frame).
                record.update(pred_masks=low_res[rows], object_score_logits=scores[rows])
                bank['cond_frame_outputs'][frame_idx] = record
                chunk_masks.append(self._to_masks(high_res[rows], out_size))
            sink(list(group), torch.stack(chunk_masks, dim=1))
            del feats, outputs, low_res, high_res

        # Non-conditioning entries later frames may still read: the last (num_maskmem - 1) memories and up to
        # (max_obj_ptrs_in_encoder - 1) object pointers.
        window = max(model.num_maskmem, min(total, model.max_obj_ptrs_in_encoder))
        first = cond[0]
        cond_set = set(cond)
        non_cond = bank['non_cond_frame_outputs']

        def track(order: List[int], reverse: bool) -> None:
            for start in range(0, len(order), chunk):
                todo = [f for f in order[start:start + chunk] if f not in cond_set]
                if not todo:
                    continue
                # One encoder call for the chunk; each frame's flattened features are [HW, 1, C] views.
                feats, pos, sizes = self._flatten(self._image_features(frames.get(todo)))
                chunk_masks = []
                for j, frame_idx in enumerate(todo):
                    high_res, mem, mem_pos, obj_ptr = self._track_frame(
                        frame_idx=frame_idx, level_feats=[f[:, j:j + 1] for f in feats],
                        level_pos=[p[:, j:j + 1] for p in pos], sizes=sizes, bank=bank, total=total,
                        reverse=reverse, num_obj=num_obj)
                    non_cond[frame_idx] = self._record(mem, pos_enc(mem_pos), obj_ptr)
                    chunk_masks.append(self._to_masks(high_res, out_size))
                    del high_res
                    # Forget what no later step can attend to. The backward pass (after the forward one)
                    # still reads the forward results right after the first conditioning frame.
                    if not self._prune_memory:
                        continue
                    if reverse:
                        stale = [t for t in non_cond if t >= frame_idx + window]
                    else:
                        stale = [t for t in non_cond if t <= frame_idx - window and t >= first + window]
                    for t in stale:
                        del non_cond[t]
                del feats, pos
                sink(todo, torch.stack(chunk_masks, dim=1))

        track(list(range(first, total)), reverse=False)
        track(list(range(first - 1, -1, -1)), reverse=True)


class _SharedMemoryAttention:
    """``SAM2Base`` seen through a proxy whose ``memory_attention`` is replaced (see ``_attend_memory``).

    sam2's ``_prepare_memory_conditioned_features`` (which memories and pointers a frame reads, with their
    temporal encodings) is called on this proxy unchanged; only its final memory-attention call differs.
    """

    def __init__(self, model: nn.Module, attend: Callable):
        self._model = model
        self.memory_attention = attend

    def __getattr__(self, name):
        return getattr(self._model, name)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module`` (works on the meta device)."""
    return sum(math.prod(p.shape) for p in module.parameters())
