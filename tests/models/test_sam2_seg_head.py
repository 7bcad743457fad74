"""SAM2SegHead on the 256-px SAM2-Hiera-T (random weights, CPU): API shapes, decoding, losses, tracking."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from sam2.modeling.sam2_base import SAM2Base

from sama_mm.models.heads.sam2_seg_head import SAM2SegHead, count_parameters
from sama_mm.models.losses.mask_loss import point_sampled_mask_losses
from sama_mm.registry import MODELS
from tests.conftest import REPO_ROOT
from tests.learning import train_until

HIDDEN = 32
TINY_CFG = f'{REPO_ROOT}/configs/_base_/models/sam2_tiny_256.py'


def build_tiny(seed=0, **kwargs):
    cfg = Config.fromfile(TINY_CFG).seg_head
    cfg.update(llm_hidden_size=HIDDEN, **kwargs)
    torch.manual_seed(seed)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def head():
    return build_tiny().eval()


def square_video(num_frames=10, height=48, width=64, size=14):
    """A bright square moving right and down on a dark, slightly textured background (uint8 RGB)."""
    rng = np.random.default_rng(0)
    frames = (rng.random((num_frames, height, width, 3)) * 40).astype(np.uint8)
    for t in range(num_frames):
        y, x = 4 + 2 * t, 3 + 3 * t
        frames[t, y:y + size, x:x + size] = (230, 60, 40)
    return frames


@pytest.fixture(scope='module')
def video(head):
    return head.preprocess(square_video())


@pytest.fixture(scope='module')
def prompts(head):
    torch.manual_seed(1)
    return head.project(torch.randn(3, HIDDEN)).detach()


class EncoderCalls:
    """Records the batch size of every image-encoder call."""

    def __init__(self, head):
        self.sizes = []
        self._handle = head.sam2_model.image_encoder.register_forward_hook(
            lambda mod, args, out: self.sizes.append(args[0].shape[0]))

    def close(self):
        self._handle.remove()


# --------------------------------------------------------------------------------------- structure
def test_submodules_and_freeze_policy(head):
    assert isinstance(head.sam2_model, SAM2Base)
    assert head.image_size == 256
    fcs = head.text_hidden_fcs
    assert [type(m) for m in fcs] == [nn.Linear, nn.ReLU, nn.Linear, nn.Dropout]
    assert fcs[0].weight.shape == (HIDDEN, HIDDEN) and fcs[2].weight.shape == (256, HIDDEN)
    keys = set(head.state_dict())
    assert {'text_hidden_fcs.0.weight', 'text_hidden_fcs.0.bias', 'text_hidden_fcs.2.weight',
            'text_hidden_fcs.2.bias'} <= keys
    for name, p in head.named_parameters():
        expected = name.startswith(('sam2_model.sam_mask_decoder.', 'text_hidden_fcs.'))
        assert p.requires_grad == expected, name
    assert head.sam2_model.suppress_no_object_masks is False


def test_unknown_trainable_part_is_rejected():
    with pytest.raises(ValueError, match='unknown trainable'):
        build_tiny(trainable=('sam_mask_decodr', ))
    cfg = Config.fromfile(TINY_CFG).seg_head  # llm_hidden_size is left to the model config
    with pytest.raises(ValueError, match='llm_hidden_size'):
        MODELS.build(cfg)


def test_checkpoint_with_released_names_loads(tmp_path, head):
    # Released files prefix the SAM2 keys and spell the ConvNeXt layer scale `gamma` as `g_weight`.
    state = {f'grounding_encoder.sam2_model.{k}'.replace('.gamma', '.g_weight'): v.clone()
             for k, v in head.sam2_model.state_dict().items()}
    state['text_hidden_fcs.0.weight'] = torch.zeros(1)  # other top-level keys are ignored
    assert any(k.endswith('fuser.layers.0.g_weight') for k in state)
    path = tmp_path / 'sam2.pt'
    torch.save(state, path)
    loaded = build_tiny(seed=123, sam2_checkpoint=str(path))
    for (name, a), (_, b) in zip(head.sam2_model.state_dict().items(), loaded.sam2_model.state_dict().items()):
        assert torch.equal(a, b), name


# -------------------------------------------------------------------------------------- preprocess
def test_preprocess_shapes_and_normalisation(head):
    frames = np.full((2, 30, 50, 3), 255, dtype=np.uint8)
    out = head.preprocess(frames)
    assert out.shape == (2, 3, 256, 256) and out.dtype == torch.float32
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(out[:, :, 100, 100], expected.expand(2, 3))
    torch.testing.assert_close(head.preprocess(torch.from_numpy(frames[0])), out[:1])
    head.round_norm_to_bf16 = True
    try:
        rounded = head.preprocess(frames)
    finally:
        head.round_norm_to_bf16 = False
    mean = torch.tensor([0.485, 0.456, 0.406]).bfloat16().float()
    std = torch.tensor([0.229, 0.224, 0.225]).bfloat16().float()
    torch.testing.assert_close(rounded[0, :, 0, 0], (1 - mean) / std)
    assert not torch.equal(rounded, out)


def test_preprocess_matches_pil_resize(head):
    Image = pytest.importorskip('PIL.Image')
    rng = np.random.default_rng(0)
    # A natural-looking (smooth) frame: PIL rounds to uint8 between its two separable passes, so on pure
    # pixel noise bicubic overshoots are clipped differently; on image-like content the two agree.
    coarse = (rng.random((12, 20, 3)) * 255).astype(np.uint8)
    frame = np.asarray(Image.fromarray(coarse).resize((150, 90), Image.BILINEAR))
    ref = np.asarray(Image.fromarray(frame).resize((256, 256))).astype(np.float32) / 255  # PIL default: bicubic
    ours = head.preprocess(frame)[0] * torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    ours = ours + torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    diff = (ours.permute(1, 2, 0).numpy() - ref) * 255
    assert np.abs(diff).max() <= 1.0 + 1e-3  # at most one grey level from PIL
    assert np.abs(diff).mean() < 0.3


def test_project_shape(head):
    assert head.project(torch.randn(4, HIDDEN)).shape == (4, 256)
    assert head.project(torch.randn(4, HIDDEN, dtype=torch.bfloat16)).dtype == torch.float32


# ---------------------------------------------------------------------------------------- training
def test_forward_train_shape_and_single_encoder_call(head, video, prompts):
    calls = EncoderCalls(head)
    try:
        logits = head.forward_train(video[:2], prompts)
    finally:
        calls.close()
    assert logits.shape == (3, 2, 64, 64)
    assert calls.sizes == [2]  # one backbone pass for all frames, shared by the objects
    assert head.forward_train(video[:2], prompts[:0]).shape == (0, 2, 64, 64)


def test_forward_train_keeps_the_best_of_three_masks(head, video, prompts):
    model = head.sam2_model
    images = video[:2]
    logits = head.forward_train(images, prompts)
    with torch.no_grad():
        backbone = model.forward_image(images)  # sam2's own path (conv_s0/s1 applied inside)
        fpn = backbone['backbone_fpn']
        for k in range(prompts.shape[0]):
            for f in range(images.shape[0]):
                pix = fpn[2][f:f + 1] + model.no_mem_embed.view(1, -1, 1, 1)
                sparse, dense = model.sam_prompt_encoder(
                    points=(torch.zeros(1, 1, 2), -torch.ones(1, 1, dtype=torch.int32)), boxes=None, masks=None)
                assert sparse.shape[1] == 2  # the padding point plus the encoder's own padding token
                sparse = torch.cat([sparse, prompts[k].view(1, 1, 256)], dim=1)
                masks, ious, _, _ = model.sam_mask_decoder(
                    image_embeddings=pix, image_pe=model.sam_prompt_encoder.get_dense_pe(),
                    sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True,
                    repeat_image=False, high_res_features=[fpn[0][f:f + 1], fpn[1][f:f + 1]])
                assert masks.shape[1] == 3
                best = masks[0, ious[0].argmax()]
                torch.testing.assert_close(logits[k, f], best, rtol=1e-4, atol=1e-4)


def test_only_decoder_and_projection_get_gradients(video):
    head = build_tiny(seed=3).train()
    hidden = torch.randn(2, HIDDEN)
    logits = head.forward_train(video[:2], head.project(hidden))
    gt = torch.zeros(2, 2, 48, 64, dtype=torch.bool)
    gt[:, :, 10:30, 20:40] = True
    losses = head.mask_losses(logits, gt)
    sum(losses.values()).backward()
    for name, p in head.named_parameters():
        if name.startswith('text_hidden_fcs.'):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        elif not name.startswith('sam2_model.sam_mask_decoder.'):
            assert p.grad is None, name
    decoder = dict(head.sam2_model.sam_mask_decoder.named_parameters())
    for name in ('conv_s0.weight', 'conv_s1.weight', 'transformer.layers.0.self_attn.q_proj.weight',
                 'output_upscaling.0.weight', 'output_hypernetworks_mlps.1.layers.0.weight'):
        assert decoder[name].grad is not None and decoder[name].grad.abs().sum() > 0, name


def test_loss_is_weighted_point_loss_on_nearest_resized_gt(head):
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    gt = torch.zeros(2, 3, 16, 16, dtype=torch.bool)
    gt[:, :, 4:12, 2:10] = True
    torch.manual_seed(5)
    losses = head.mask_losses(logits, gt)
    small = gt.float().flatten(0, 1)[:, ::2, ::2]  # nearest 16 -> 8 picks every other pixel
    torch.manual_seed(5)
    bce, dice = point_sampled_mask_losses(logits.flatten(0, 1), small, num_points=12544)
    assert set(losses) == {'loss_mask', 'loss_dice'}
    torch.testing.assert_close(losses['loss_mask'], 2.0 * bce)
    torch.testing.assert_close(losses['loss_dice'], 0.5 * dice)
    with pytest.raises(ValueError):
        head.mask_losses(logits, gt[:1])


def test_contract_loss_reads_frames_and_targets_and_equals_the_batched_mask_losses(video):
    """loss(seg_hidden, inputs, data_samples): the head projects, decodes each sample's dense frames, resizes its
    gt_masks and computes the losses once over the batch (as SAMA.loss did before the contract)."""
    from sama_mm.structures import SAMADataSample
    import torch.nn.functional as F
    head = build_tiny(seed=3).train()
    hidden = [torch.randn(2, HIDDEN), torch.randn(0, HIDDEN), torch.randn(1, HIDDEN)]
    samples = [SAMADataSample(metainfo=dict(video_id=f'v{b}')) for b in range(3)]
    for sample, h in zip(samples, hidden):
        if len(h):
            gt = torch.zeros(len(h), 2, 48, 64, dtype=torch.uint8)
            gt[:, :, 10:30, 20:40] = 1
            sample.gt_masks = gt
    inputs = dict(sam2_pixel_values=[video[:2], video[2:4], video[4:6]])
    torch.manual_seed(7)
    losses = head.loss(hidden, inputs, samples)
    logits, targets = [], []
    for b in (0, 2):
        pred = head.forward_train(inputs['sam2_pixel_values'][b], head.project(hidden[b]))
        logits.append(pred.flatten(0, 1)[:, None])
        targets.append(F.interpolate(samples[b].gt_masks.float(), size=pred.shape[-2:]).flatten(0, 1)[:, None])
    torch.manual_seed(7)
    expected = head.mask_losses(torch.cat(logits), torch.cat(targets))
    for name in ('loss_mask', 'loss_dice'):
        assert torch.equal(losses[name], expected[name])
    with pytest.raises(ValueError, match="video 'v0': .* no sam2_pixel_values .*SAM2ImageTransform"):
        head.loss(hidden, {}, samples)
    with pytest.raises(ValueError, match="video 'v2': .* no sam2_pixel_values"):
        head.loss(hidden, dict(sam2_pixel_values=[video[:2], None, None]), samples)
    samples[0].gt_masks = samples[0].gt_masks[:1]
    with pytest.raises(ValueError, match="video 'v0': 2 \\[SEG\\] tokens but 1 ground-truth masks"):
        head.loss(hidden, inputs, samples)
    zero = head.loss([hidden[1]], inputs, [samples[1]])
    sum(zero.values()).backward()
    trainable = [p for p in head.parameters() if p.requires_grad]
    assert all(v.item() == 0 for v in zero.values()) and all(p.grad is not None for p in trainable)


def test_contract_predict_is_project_then_track(head, video):
    hidden = torch.randn(2, HIDDEN)
    masks = head.predict(hidden, video[:4], [1], (48, 64), num_frames=4, chunk_size=2)
    assert torch.equal(masks, head.track(video[:4], head.project(hidden), [1], (48, 64), chunk_size=2))


def test_released_sam2_key_spelling_is_shared_with_the_converter():
    from sama_mm.apis.convert import our_key_to_released, released_key_to_ours
    from sama_mm.models.heads.sam2_adapter import sam2_state_dict_from_checkpoint
    released = 'grounding_encoder.sam2_model.memory_encoder.fuser.layers.0.g_weight'
    ours = 'seg_head.sam2_model.memory_encoder.fuser.layers.0.gamma'
    assert released_key_to_ours(released) == ours and our_key_to_released(ours) == released
    assert list(sam2_state_dict_from_checkpoint({released: 1, 'text_hidden_fcs.0.weight': 2})) == [
        'memory_encoder.fuser.layers.0.gamma']


def test_bf16_autocast_and_no_object_suppression_options(video):
    head = build_tiny(seed=4, bf16_autocast=True, suppress_no_object=True).eval()
    # Force "object absent" everywhere: suppressed masks become sam2's NO_OBJ_SCORE.
    last = head.sam2_model.sam_mask_decoder.pred_obj_score_head.layers[-1]
    with torch.no_grad():
        last.bias.fill_(-100.0)
        logits = head.forward_train(video[:1], torch.randn(2, 256))
    assert logits.dtype == torch.float32 and logits.shape == (2, 1, 64, 64)
    assert (logits == -1024.0).all()


# --------------------------------------------------------------------------------------- inference
def test_predict_encodes_each_frame_once_for_all_objects(head, video, prompts):
    calls = EncoderCalls(head)
    try:
        masks = head.track(video, prompts, cond_frames=[0, 2], out_size=(48, 64), chunk_size=4)
    finally:
        calls.close()
    assert masks.shape == (3, 10, 48, 64) and masks.dtype == torch.bool
    assert sum(calls.sizes) == 10  # every frame exactly once, K=3 objects sharing it
    assert max(calls.sizes) <= 4


def test_predict_chunked_sources_and_determinism(head, video, prompts):
    clip = video[:7]
    full = head.track(clip, prompts, cond_frames=[1], out_size=(48, 64), chunk_size=7)
    chunked = head.track(clip, prompts, cond_frames=[1], out_size=(48, 64), chunk_size=3)
    assert torch.equal(full, chunked)
    as_list = head.track([clip[:4], clip[4:5], clip[5:]], prompts, cond_frames=[1], out_size=(48, 64),
                           chunk_size=2)
    assert torch.equal(full, as_list)
    loaded = []

    def load(indices):
        loaded.extend(indices)
        return clip[indices]

    from_loader = head.track(load, prompts, cond_frames=[1], out_size=(48, 64), num_frames=7, chunk_size=7)
    assert torch.equal(full, from_loader)  # also: the same call twice gives the same masks
    assert sorted(loaded) == list(range(7))


def test_predict_batches_objects_like_separate_runs(head, video, prompts):
    together = head.track(video[:5], prompts, cond_frames=[0], out_size=(48, 64))
    for k in range(prompts.shape[0]):
        alone = head.track(video[:5], prompts[k:k + 1], cond_frames=[0], out_size=(48, 64))
        mismatch = (alone[0] != together[k]).float().mean().item()
        assert mismatch < 1e-3  # batched vs single-object float rounding may flip a border pixel at most


def test_predict_propagates_backward_before_the_conditioning_frame(head, video, prompts, monkeypatch):
    steps = []
    original = head._track_frame

    def spy(**kwargs):
        steps.append((kwargs['frame_idx'], kwargs['reverse'], sorted(kwargs['bank']['cond_frame_outputs'])))
        return original(**kwargs)

    monkeypatch.setattr(head, '_track_frame', spy)
    masks = head.track(video, prompts, cond_frames=[4, 6], out_size=(24, 32))
    assert masks.shape == (3, 10, 24, 32)
    assert [s[0] for s in steps] == [5, 7, 8, 9, 3, 2, 1, 0]
    assert [s[1] for s in steps] == [False] * 4 + [True] * 4
    assert all(s[2] == [4, 6] for s in steps)


def test_predict_memory_bank_is_bounded_and_pruning_is_exact(video, prompts, monkeypatch):
    head = build_tiny(seed=0).eval()
    model = head.sam2_model
    monkeypatch.setattr(model, 'max_obj_ptrs_in_encoder', 4)  # window = num_maskmem = 7 frames
    frames = torch.cat([video, video.flip(0)])[:16]  # 16 frames
    sizes = []
    original = head._track_frame

    def spy(**kwargs):
        sizes.append(len(kwargs['bank']['non_cond_frame_outputs']))
        return original(**kwargs)

    monkeypatch.setattr(head, '_track_frame', spy)
    pruned = head.track(frames, prompts[:1], cond_frames=[0], out_size=(24, 32), chunk_size=6)
    assert max(sizes) <= 2 * 7

    # Without pruning (every entry kept, as sam2's video predictor does) the result is the same.
    sizes.clear()
    monkeypatch.setattr(head, '_prune_memory', False)
    kept = head.track(frames, prompts[:1], cond_frames=[0], out_size=(24, 32), chunk_size=6)
    assert max(sizes) == 14  # frames 1..14 when frame 15 is tracked
    assert torch.equal(pruned, kept)


def test_predict_restores_training_mode(video, prompts):
    head = build_tiny(seed=0).train()
    head.track(video[:3], prompts[:1], cond_frames=[0], out_size=(8, 8))
    assert head.sam2_model.training
    with pytest.raises(ValueError):
        head.track(video[:3], prompts[:1], cond_frames=[3], out_size=(8, 8))


# ------------------------------------------------------------------------------- full-size config
def test_large_config_on_meta_has_released_names():
    accelerate = pytest.importorskip('accelerate')
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/sam2_large.py').seg_head
    cfg.update(llm_hidden_size=896)
    # sam2's Hiera calls .item() while building, which a plain `torch.device('meta')` context cannot run;
    # accelerate's init_empty_weights moves each parameter to meta as it is registered instead.
    with accelerate.init_empty_weights():
        head = MODELS.build(cfg)
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    released = {  # released key (reference §5.3) -> shape
        'grounding_encoder.sam2_model.image_encoder.trunk.blocks.47.attn.qkv.weight': (3456, 1152),
        'grounding_encoder.sam2_model.image_encoder.neck.convs.3.conv.weight': (256, 144, 1, 1),
        'grounding_encoder.sam2_model.memory_attention.layers.3.cross_attn_image.k_proj.weight': (256, 64),
        'grounding_encoder.sam2_model.memory_encoder.fuser.layers.1.g_weight': (256, ),
        'grounding_encoder.sam2_model.sam_mask_decoder.obj_score_token.weight': (1, 256),
        'grounding_encoder.sam2_model.sam_mask_decoder.output_hypernetworks_mlps.3.layers.2.weight': (32, 256),
        'grounding_encoder.sam2_model.maskmem_tpos_enc': (7, 1, 1, 64),
        'grounding_encoder.sam2_model.no_mem_embed': (1, 1, 256),
        'grounding_encoder.sam2_model.no_obj_ptr': (1, 256),
        'grounding_encoder.sam2_model.obj_ptr_proj.layers.2.weight': (256, 256),
        'grounding_encoder.sam2_model.mask_downsample.weight': (1, 1, 4, 4),
        'text_hidden_fcs.0.weight': (896, 896),
        'text_hidden_fcs.2.weight': (256, 896),
    }
    for key, shape in released.items():
        ours = key.replace('grounding_encoder.', '', 1).replace('.g_weight', '.gamma')
        assert shapes.get(ours) == shape, key
    # SAM2.1-only parameters are absent: the released checkpoints use the SAM2.0 config.
    assert not any('no_obj_embed_spatial' in k or 'obj_ptr_tpos_proj' in k for k in shapes)
    # 224,430,130 parameters: the "224.4 M" of SAM2-Hiera-L in the model table of sam2's README.
    assert count_parameters(head.sam2_model) == 224_430_130
    assert head.sam2_model.image_size == 1024


# ------------------------------------------------------------------------------------------- overfit
def test_decoder_and_projection_overfit_one_square(monkeypatch, deterministic):
    head = build_tiny(seed=0, num_points=1024).train()
    frame = np.full((1, 64, 64, 3), 30, np.uint8)
    frame[0, 16:40, 20:44] = (220, 80, 40)
    image = head.preprocess(frame)  # 64 px -> 256 px; the 64x64 low-res logits align with the frame
    gt = torch.zeros(1, 1, 64, 64, dtype=torch.bool)
    gt[0, 0, 16:40, 20:44] = True
    # The image encoder is frozen, so reusing its output across steps is exact and keeps the test fast.
    encoder = head.sam2_model.image_encoder
    with torch.no_grad():
        cached = encoder(image)
    monkeypatch.setattr(encoder, 'forward', lambda x: {k: list(v) for k, v in cached.items()})
    torch.manual_seed(0)
    hidden = torch.randn(1, HIDDEN)
    optim = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    last = {}

    def step():
        logits = head.forward_train(image, head.project(hidden))
        loss = sum(head.mask_losses(logits, gt).values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        pred = logits.detach()[0, 0] > 0
        last['iou'] = ((pred & gt[0, 0]).sum() / (pred | gt[0, 0]).sum()).item()

    # Train to IoU 0.9 (margin), assert 0.8 (tests/learning.py).
    run = train_until(step, lambda: last['iou'] >= 0.9, max_steps=200)
    assert last['iou'] >= 0.8, (str(run), last['iou'])


@pytest.mark.parametrize('name,count', [('tiny', 38_945_986), ('small', 46_043_842), ('base_plus', 80_833_666)])
def test_every_size_config_builds_on_meta(name, count):
    # Counts match the 38.9 M / 46 M / 80.8 M of the model table in sam2's README.
    accelerate = pytest.importorskip('accelerate')
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/sam2_{name}.py').seg_head
    cfg.update(llm_hidden_size=64)
    with accelerate.init_empty_weights():
        head = MODELS.build(cfg)
    assert count_parameters(head.sam2_model) == count
    assert head.image_size == 1024


def test_predict_with_bf16_rounded_memories(head, video, prompts):
    plain = head.track(video[:3], prompts, cond_frames=[0], out_size=(48, 64))
    head.round_memory_to_bf16 = True
    try:
        rounded = head.track(video[:3], prompts, cond_frames=[0], out_size=(48, 64))
    finally:
        head.round_memory_to_bf16 = False
    assert rounded.shape == plain.shape
    assert torch.equal(rounded[:, 0], plain[:, 0])  # the conditioning frame does not read memories


def test_sam_heads_override_equals_sam2_without_language(head, video):
    """With no language token the override reproduces SAM2Base._forward_sam_heads (points and masks too)."""
    model = head.sam2_model
    with torch.no_grad():
        fpn = model.forward_image(video[:2])['backbone_fpn']
        kwargs = dict(backbone_features=fpn[2], high_res_features=[fpn[0], fpn[1]], multimask_output=True,
                      point_inputs=dict(point_coords=torch.tensor([[[40.0, 60.0]], [[200.0, 10.0]]]),
                                        point_labels=torch.ones(2, 1, dtype=torch.int32)))
        for suppress in (True, False):
            model.suppress_no_object_masks = suppress
            try:
                ours = model._forward_sam_heads(**kwargs)
                sam2 = SAM2Base._forward_sam_heads(model, **kwargs)
            finally:
                model.suppress_no_object_masks = False
            if suppress:  # sam2 always suppresses
                for a, b in zip(ours, sam2):
                    torch.testing.assert_close(a, b)
            else:  # identical wherever sam2 did not replace the masks of absent objects
                present = (ours[6] > 0).view(-1)
                torch.testing.assert_close(ours[0][present], sam2[0][present])
                torch.testing.assert_close(ours[5], sam2[5])
        mask_kwargs = dict(backbone_features=fpn[2], high_res_features=[fpn[0], fpn[1]],
                           mask_inputs=(torch.rand(2, 1, 256, 256) > 0.5).float())
        model.suppress_no_object_masks = True
        try:
            for a, b in zip(model._forward_sam_heads(**mask_kwargs), SAM2Base._forward_sam_heads(model, **mask_kwargs)):
                torch.testing.assert_close(a, b)
        finally:
            model.suppress_no_object_masks = False


def test_predict_tracks_like_sam2_video_predictor(video, prompts, monkeypatch):
    """Our batched, pruned tracking reproduces sam2's own SAM2VideoPredictor run object by object.

    The predictor gets our conditioning-frame outputs (it has no language prompt) and propagates forward
    then backward; both sides use sam2's no-object mask suppression and bf16-stored memories, as the predictor
    always does.
    """
    from collections import OrderedDict

    from sam2.build_sam import build_sam2_video_predictor

    clip, cond, num_obj = video[:6], 2, 2
    head = build_tiny(seed=0).eval()
    # Random weights call every object absent, which would make all masks empty: force "present".
    with torch.no_grad():
        head.sam2_model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(100.0)
    cfg = Config.fromfile(TINY_CFG).seg_head
    predictor = build_sam2_video_predictor(cfg.sam2_config, ckpt_path=None, device='cpu',
                                           hydra_overrides_extra=list(cfg.hydra_overrides),
                                           apply_postprocessing=False)
    predictor.load_state_dict(head.sam2_model.state_dict())

    captured = {}
    original = head._track_frame

    def spy(**kwargs):
        captured.setdefault('cond', dict(kwargs['bank']['cond_frame_outputs']))
        return original(**kwargs)

    monkeypatch.setattr(head, '_track_frame', spy)
    monkeypatch.setattr(head, 'round_memory_to_bf16', True)
    monkeypatch.setattr(head.sam2_model, 'suppress_no_object_masks', True)
    ours = head.track(clip, prompts[:num_obj], cond_frames=[cond], out_size=(256, 256))

    state = dict(images=clip, num_frames=6, offload_video_to_cpu=False, offload_state_to_cpu=False,
                 video_height=256, video_width=256, device=torch.device('cpu'),
                 storage_device=torch.device('cpu'), point_inputs_per_obj={}, mask_inputs_per_obj={},
                 cached_features={}, constants={}, obj_id_to_idx=OrderedDict(), obj_idx_to_id=OrderedDict(),
                 obj_ids=[], output_dict_per_obj={}, temp_output_dict_per_obj={}, frames_tracked_per_obj={})
    for k in range(num_obj):
        idx = predictor._obj_id_to_idx(state, k)
        out = captured['cond'][cond]
        rows = slice(k, k + 1)
        state['output_dict_per_obj'][idx]['cond_frame_outputs'][cond] = {
            'maskmem_features': out['maskmem_features'][rows].to(torch.bfloat16),
            'maskmem_pos_enc': [p[rows] for p in out['maskmem_pos_enc']],
            'pred_masks': out['pred_masks'][rows], 'obj_ptr': out['obj_ptr'][rows],
            'object_score_logits': out['object_score_logits'][rows]}
    theirs = {}
    for reverse in (False, True):
        for frame_idx, _, logits in predictor.propagate_in_video(state, reverse=reverse):
            theirs[frame_idx] = logits[:, 0] > 0
    assert sorted(theirs) == list(range(6))
    assert ours.flatten(2).any(-1).all() and not ours.all()  # non-trivial masks on every frame
    for t in range(6):
        mismatch = (ours[:, t] != theirs[t]).float().mean().item()
        assert mismatch < 1e-3, (t, mismatch)
