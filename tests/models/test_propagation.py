"""SAM2 propagation (``SAM2SegHead.predict``): the same masks as the previous path, batched, bounded, streamed."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sama_mm.models.heads.frame_access import FrameAccess
from tests.models.test_sam2_seg_head import HIDDEN, EncoderCalls, build_tiny, square_video


@pytest.fixture(scope='module')
def head():
    return build_tiny(seed=0).eval()


@pytest.fixture(scope='module')
def clip(head):
    """16 frames: the moving square forth and back (it leaves and comes back)."""
    frames = square_video(num_frames=10)
    return head.preprocess(np.concatenate([frames, frames[::-1][:6]]))


@pytest.fixture(scope='module')
def prompts(head):
    torch.manual_seed(1)
    return head.project(torch.randn(4, HIDDEN)).detach()


# ------------------------------------------------------------------------------------ the previous path
# A copy of SAM2SegHead.predict's propagation as it was before the batched/bounded rewrite (commit 9ead6c9),
# kept here so that the new path can be checked against the old behaviour on every run. It only calls sam2's
# own SAM2Base methods and the head's image encoding / memory-free decoding, which the rewrite left unchanged.
def reference_predict(head, images, prompts, cond_frames, out_size, num_frames=None, chunk_size=8):
    """The previous ``SAM2SegHead.predict`` (memory bank pruning included): bool masks ``[K, T, H, W]``."""
    model = head.sam2_model
    frames = FrameAccess(images, num_frames)
    total, num_obj = frames.num_frames, prompts.shape[0]
    cond = sorted({int(c) for c in cond_frames})
    masks = torch.zeros(num_obj, total, *out_size, dtype=torch.bool)
    size = head.image_size

    def to_masks(low_res):
        logits = F.interpolate(low_res.float(), size=(size, size), mode='bilinear', align_corners=False)
        if tuple(out_size) != (size, size):
            logits = F.interpolate(logits, size=tuple(out_size), mode='bilinear', align_corners=False)
        return logits[:, 0].sigmoid() > head.mask_threshold

    def flatten(features, j):
        index = torch.as_tensor([j]).repeat_interleave(num_obj)
        batch = {k: [v[index[:1]].expand(num_obj, *v.shape[1:]) for v in vs] for k, vs in features.items()}
        _, feats, pos, sizes = model._prepare_backbone_features(batch)
        return feats, pos, sizes

    def store(out, pos_enc, rows):
        return {'maskmem_features': out['maskmem_features'][rows], 'maskmem_pos_enc': pos_enc,
                'pred_masks': out['pred_masks'][rows], 'obj_ptr': out['obj_ptr'][rows],
                'object_score_logits': out['object_score_logits'][rows]}

    bank = {'cond_frame_outputs': {}, 'non_cond_frame_outputs': {}}
    with torch.no_grad():
        for start in range(0, len(cond), chunk_size):
            group = cond[start:start + chunk_size]
            features = head._image_features(frames.get(group))
            feats, sizes, outputs = head._decode_without_memory(features, prompts)
            _, _, _, low_res, high_res, obj_ptr, scores = outputs
            for j, frame_idx in enumerate(group):
                rows = slice(j * num_obj, (j + 1) * num_obj)
                mem, mem_pos = model._encode_new_memory(
                    current_vision_feats=[f[:, rows] for f in feats], feat_sizes=sizes,
                    pred_masks_high_res=high_res[rows], object_score_logits=scores[rows], is_mask_from_pts=True)
                out = {'maskmem_features': mem, 'pred_masks': low_res[rows], 'obj_ptr': obj_ptr[rows],
                       'object_score_logits': scores[rows]}
                bank['cond_frame_outputs'][frame_idx] = store(out, mem_pos, slice(None))
                masks[:, frame_idx] = to_masks(low_res[rows])
        first, cond_set = cond[0], set(cond)

        def track(order, reverse):
            for start in range(0, len(order), chunk_size):
                todo = [f for f in order[start:start + chunk_size] if f not in cond_set]
                if not todo:
                    continue
                features = head._image_features(frames.get(todo))
                for j, frame_idx in enumerate(todo):
                    feats, pos, sizes = flatten(features, j)
                    out = model.track_step(frame_idx=frame_idx, is_init_cond_frame=False,
                                           current_vision_feats=feats, current_vision_pos_embeds=pos,
                                           feat_sizes=sizes, point_inputs=None, mask_inputs=None,
                                           output_dict=bank, num_frames=total, track_in_reverse=reverse,
                                           run_mem_encoder=True)
                    bank['non_cond_frame_outputs'][frame_idx] = store(out, out['maskmem_pos_enc'], slice(None))
                    masks[:, frame_idx] = to_masks(out['pred_masks'])

        track(list(range(first, total)), reverse=False)
        track(list(range(first - 1, -1, -1)), reverse=True)
    return masks


# ------------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize('cond_frames,num_obj', [([0], 1), ([0], 4), ([5, 9], 3), ([15], 2)])
def test_masks_equal_the_previous_path(head, clip, prompts, cond_frames, num_obj):
    expected = reference_predict(head, clip, prompts[:num_obj], cond_frames, (48, 64))
    masks = head.track(clip, prompts[:num_obj], cond_frames, out_size=(48, 64))
    assert masks.shape == expected.shape == (num_obj, 16, 48, 64)
    assert 0 < expected.sum() < expected.numel()  # a test that can fail: the masks are neither empty nor full
    assert torch.equal(masks, expected)


def test_masks_equal_the_previous_path_at_full_size(head, clip, prompts):
    expected = reference_predict(head, clip[:6], prompts[:2], [2], (256, 256), chunk_size=4)
    masks = head.track(clip[:6], prompts[:2], [2], out_size=(256, 256), chunk_size=4)
    assert torch.equal(masks, expected)


def test_image_encoder_runs_once_per_frame_whatever_the_number_of_objects(head, clip, prompts):
    for num_obj in (1, 4):
        calls = EncoderCalls(head)
        try:
            head.track(clip, prompts[:num_obj], [3], out_size=(24, 32), chunk_size=5)
        finally:
            calls.close()
        assert sum(calls.sizes) == 16 and max(calls.sizes) <= 5


def test_object_independent_attention_runs_once(head, clip, prompts):
    """The first memory-attention self-attention sees one copy of the frame, the cross-attention all K."""
    layer = head.sam2_model.memory_attention.layers[0]
    seen = {'self': [], 'cross': []}
    hooks = [layer.self_attn.register_forward_hook(lambda m, a, o: seen['self'].append(o.shape[0])),
             layer.cross_attn_image.register_forward_hook(lambda m, a, o: seen['cross'].append(o.shape[0]))]
    try:
        head.track(clip[:5], prompts[:4], [0], out_size=(24, 32))
    finally:
        for h in hooks:
            h.remove()
    assert seen['self'] == [1] * 4 and seen['cross'] == [4] * 4


def test_sink_receives_every_frame_once_per_chunk(head, clip, prompts):
    dense = head.track(clip, prompts[:2], [6], out_size=(24, 32), chunk_size=4)
    calls = []
    got = torch.zeros_like(dense)

    def sink(indices, masks):
        assert masks.dtype == torch.bool and masks.shape == (2, len(indices), 24, 32)
        calls.append(list(indices))
        got[:, indices] = masks

    assert head.track(clip, prompts[:2], [6], out_size=(24, 32), chunk_size=4, sink=sink) is None
    assert sorted(i for c in calls for i in c) == list(range(16))
    assert calls[0] == [6] and max(len(c) for c in calls) <= 4
    assert calls[1] == [7, 8, 9]  # forward from the conditioning frame, then backward
    assert calls[-1] == [1, 0]
    assert torch.equal(got, dense)


def test_bank_holds_only_what_later_frames_read(head, clip, prompts, monkeypatch):
    """Bounded bank of compact records: at most the window of frame records, no masks, one shared pos enc."""
    model = head.sam2_model
    monkeypatch.setattr(model, 'max_obj_ptrs_in_encoder', 4)  # window = num_maskmem = 7 frames
    video = torch.cat([clip, clip])  # 32 frames
    seen = []
    original = type(model)._prepare_memory_conditioned_features

    def spy(self, **kwargs):
        bank = kwargs['output_dict']
        seen.append((len(bank['non_cond_frame_outputs']), bank))
        return original(self, **kwargs)

    monkeypatch.setattr(type(model), '_prepare_memory_conditioned_features', spy)
    head.track(video, prompts[:2], [0], out_size=(8, 8), chunk_size=6)
    assert len(seen) == 32 and max(n for n, _ in seen) <= 2 * 7  # the conditioning frame, then 31 tracked
    bank = seen[-1][1]
    records = list(bank['non_cond_frame_outputs'].values()) + list(bank['cond_frame_outputs'].values())
    compact = {'maskmem_features', 'maskmem_pos_enc', 'obj_ptr'}
    assert all(set(r) == compact for r in bank['non_cond_frame_outputs'].values())  # no masks kept
    assert set(bank['cond_frame_outputs'][0]) == compact | {'pred_masks', 'object_score_logits'}
    assert len({id(r['maskmem_pos_enc']) for r in records}) == 1


def test_no_objects_and_sink(head, clip):
    got = []
    out = head.track(clip[:3], torch.zeros(0, 256), [0], out_size=(8, 8),
                       sink=lambda i, m: got.append((list(i), tuple(m.shape))))
    assert out is None and got == [([0, 1, 2], (0, 3, 8, 8))]


def test_benchmark_heap_peak_sees_torch_allocations():
    """benchmarks/propagation.py measures tensors (which tracemalloc cannot see) and only while they live."""
    import sys

    from tests.conftest import REPO_ROOT
    sys.path.insert(0, f'{REPO_ROOT}/benchmarks')
    try:
        from propagation import PeakSampler, heap_bytes
    finally:
        sys.path.remove(f'{REPO_ROOT}/benchmarks')
    import time
    before = heap_bytes()
    with PeakSampler() as peak:
        block = torch.ones(40 * 2**20, dtype=torch.uint8)
        # Keep the tensor alive until the sampling thread has looked (on a loaded machine it may not run for a
        # while); the deadline only guards against a sampler that never sees it.
        deadline = time.monotonic() + 120
        while peak.heap_peak - before < 40 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.01)
        del block
    assert peak.heap_peak - before >= 40 * 2**20
    assert heap_bytes() - before < 4 * 2**20
