"""SAM2 segmentation head: ``[SEG]`` hidden states → 256-d prompts → SAM2 masks, tracked through a video.

Training (reference §1.10): every frame is decoded independently, without memory, prompted by the language
embedding; the mask with the highest predicted IoU among the 3 multimask outputs is supervised with point
sampled BCE + Dice (§2.2).

Inference: the conditioning frames are decoded the same way and stored as conditioning memories; every other
frame is tracked with SAM2's memory attention (mask memories + object pointers), forward from the first
conditioning frame and then backward to the frames before it. Unlike the released code (reference §6 item 20),
all objects are tracked together as one batch and each frame's image features are computed once.

The head follows the :class:`~sama_mm.models.heads.BaseSegHead` contract; every call into sam2's private API goes
through :mod:`sama_mm.models.heads.sam2_adapter`.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sam2.build_sam import build_sam2
from torch import Tensor

from sama_mm.datasets.transforms.image import check_resize_backend, resize_normalize
from sama_mm.models.heads import sam2_adapter as adapter
from sama_mm.models.heads.base_seg_head import BaseSegHead, describe_sample
from sama_mm.models.heads.frame_access import FrameAccess, FrameSource
from sama_mm.models.heads.sam2_adapter import sam2_state_dict_from_checkpoint
from sama_mm.models.losses.mask_loss import point_sampled_mask_losses
from sama_mm.registry import MODELS


@MODELS.register_module()
class SAM2SegHead(BaseSegHead):
    """SAM2 mask head prompted by projected ``[SEG]`` hidden states (the :class:`BaseSegHead` contract).

    :meth:`loss` reads the dense frames from ``inputs['sam2_pixel_values']`` and the targets from
    ``data_sample.gt_masks``; :meth:`predict` tracks through the frames it is given; :meth:`prompt_from_region`
    prompts SAM2 with a box or points. The LLM -> SAM2 projection is ``text_hidden_fcs`` (:meth:`project`).

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
        super().__init__(llm_hidden_size, init_cfg=init_cfg)
        overrides = [f'++model._target_={adapter.TARGET}', *hydra_overrides]
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
        """RGB uint8 frames → normalised SAM2 input, frame by frame with the data pipeline's own
        :func:`~sama_mm.datasets.transforms.image.resize_normalize` (S×S without keeping the aspect ratio,
        reference §1.10; ``resize_mode`` / ``resize_backend`` / ``round_norm_to_bf16`` as configured).

        Args:
            frames: ``[T, H, W, 3]`` (or one ``[H, W, 3]`` frame), uint8 RGB, numpy or torch.

        Returns:
            Float tensor ``[T, 3, S, S]``.
        """
        x = frames.cpu().numpy() if isinstance(frames, Tensor) else np.asarray(frames)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f'frames must be [T, H, W, 3], got {tuple(x.shape)}')
        size = self.image_size
        out = torch.empty(x.shape[0], 3, size, size)
        for i in range(x.shape[0]):  # one frame at a time: a float copy of a whole video can be huge
            frame = np.require(x[i:i + 1], requirements=['C', 'W'])
            out[i] = resize_normalize(frame, size, resize_backend=self.resize_backend,
                                      round_norm_to_bf16=self.round_norm_to_bf16, mode=self.resize_mode)[0]
        return out

    def prompt_from_region(self, image: np.ndarray, box: Optional[Sequence[float]] = None,
                           points: Optional[Sequence[Sequence[float]]] = None,
                           point_labels: Optional[Sequence[int]] = None) -> np.ndarray:
        """Segment one object on one frame from a box and/or clicked points, with this head's SAM2.

        Region prompts given as boxes or points become masks this way (the released code accepts masks only).

        Args:
            image: ``uint8 [H, W, 3]`` RGB frame.
            box: ``(x1, y1, x2, y2)`` in pixels.
            points: ``[[x, y], ...]`` in pixels.
            point_labels: 1 (on the object) or 0 (background) per point; default all 1.

        Returns:
            ``bool [H, W]``: SAM2's best single mask.

        Raises:
            ValueError: Neither a box nor points.
        """
        return adapter.mask_from_box_or_points(self.sam2_model, image, box=box, points=points,
                                               point_labels=point_labels)

    def project(self, seg_hidden: Tensor) -> Tensor:
        """``[SEG]`` hidden states ``[K, H]`` → SAM2 language prompts ``[K, 256]``."""
        weight = self.text_hidden_fcs[0].weight
        return self.text_hidden_fcs(seg_hidden.to(weight.dtype))

    # ------------------------------------------------------------------------------------ SAM2 pieces
    def _image_features(self, images: Tensor) -> Dict[str, List[Tensor]]:
        """Image features of a batch of frames (:func:`~sama_mm.models.heads.sam2_adapter.image_features`)."""
        return adapter.image_features(self.sam2_model, images, self.bf16_autocast)

    def _decode_without_memory(self, features: Dict[str, List[Tensor]], prompts: Tensor):
        """Language-prompted masks without memory (:func:`~.sam2_adapter.decode_without_memory`)."""
        return adapter.decode_without_memory(self.sam2_model, features, prompts)

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

    def loss(self, seg_hidden: List[Tensor], inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """BCE/Dice of every ``[SEG]`` on its sample's dense frames (``inputs['sam2_pixel_values'][b]``).

        The k-th ``[SEG]`` of a sample is supervised by the k-th of its ``gt_masks`` ``[K, D, H, W]``,
        nearest-resized to the logits; the losses are computed once over the masks of the whole batch.

        Raises:
            ValueError: A sample's ``[SEG]`` count differs from its number of ground-truth masks.
        """
        targets = self.match_targets(seg_hidden, data_samples)
        images = inputs.get('sam2_pixel_values')
        logits, masks = [], []
        for b, (hidden, gt) in enumerate(zip(seg_hidden, targets)):
            if gt is None:
                continue
            if images is None or images[b] is None:
                raise ValueError(f'{describe_sample(data_samples[b])}: [SEG] tokens but no sam2_pixel_values (put '
                                 'SAM2ImageTransform in its training pipeline)')
            pred = self.forward_train(images[b], self.project(hidden))  # [K, D, h, w]
            target = F.interpolate(gt.float(), size=pred.shape[-2:], mode='nearest')
            logits.append(pred.flatten(0, 1)[:, None])
            masks.append(target.flatten(0, 1)[:, None].to(pred.device))
        if not logits:
            return self.zero_losses(('loss_mask', 'loss_dice'))
        return self.mask_losses(torch.cat(logits), torch.cat(masks))

    def mask_losses(self, pred_logits: Tensor, gt_masks: Tensor) -> Dict[str, Tensor]:
        """Weighted point-sampled BCE and Dice losses ``dict(loss_mask, loss_dice)`` of logits ``[K, F, h, w]``
        (:meth:`forward_train`) against binary masks ``[K, F, Hg, Wg]`` (nearest-resized to ``h×w``)."""
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
        """The per-frame record of the memory bank: only what sam2's memory conditioning reads (memory
        features, their positional encoding, the same for every frame and so shared, and the object pointer)."""
        if self.round_memory_to_bf16:
            maskmem = maskmem.to(torch.bfloat16).float()
        return {'maskmem_features': maskmem, 'maskmem_pos_enc': pos_enc, 'obj_ptr': obj_ptr}

    def _to_masks(self, high_res: Tensor, out_size: Tuple[int, int]) -> Tensor:
        """S×S logits ``[K, 1, S, S]`` (sam2's upsampled low-res masks) → bool masks ``[K, H, W]``."""
        logits = high_res.float()
        if tuple(out_size) != tuple(logits.shape[-2:]):
            logits = F.interpolate(logits, size=tuple(out_size), mode='bilinear', align_corners=False)
        return logits[:, 0].sigmoid() > self.mask_threshold

    def _attend_memory(self, num_obj: int) -> Callable:
        """The batched memory attention (:func:`~.sam2_adapter.shared_memory_attention`)."""
        return adapter.shared_memory_attention(self.sam2_model, num_obj)

    def _track_frame(self, frame_idx: int, level_feats: List[Tensor], level_pos: List[Tensor],
                     sizes: List[Tuple[int, int]], bank: dict, total: int, reverse: bool, num_obj: int):
        """One tracked frame for all K objects (:func:`~.sam2_adapter.track_frame`)."""
        return adapter.track_frame(self.sam2_model, self._attend_memory(num_obj), frame_idx, level_feats, level_pos,
                                   sizes, bank, total, reverse, num_obj)

    @torch.no_grad()
    def predict(self, seg_hidden: Tensor, frames: FrameSource, prompt_positions: Sequence[int],
                out_size: Tuple[int, int], num_frames: Optional[int] = None,
                chunk_size: Optional[int] = None) -> Tensor:
        """One mask track per ``[SEG]`` hidden state: :meth:`project`, then :meth:`track` (``bool [K, N, H, W]``)."""
        return self.track(frames, self.project(seg_hidden), prompt_positions, out_size, num_frames=num_frames,
                          chunk_size=chunk_size)

    @torch.no_grad()
    def track(self,
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
        frames = FrameAccess(images, num_frames)
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

    def _predict(self, frames: FrameAccess, prompts: Tensor, cond: List[int], chunk: int, out_size: Tuple[int, int],
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
                mem, mem_pos = adapter.encode_memory(model, [f[:, rows] for f in feats], sizes, high_res[rows],
                                                     scores[rows], from_prompt=True)
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
                feats, pos, sizes = adapter.flatten_features(model, self._image_features(frames.get(todo)))
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


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module`` (works on the meta device)."""
    return sum(math.prod(p.shape) for p in module.parameters())
