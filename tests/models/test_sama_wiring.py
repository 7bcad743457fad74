"""SAMA's own logic with stand-in parts: placeholder filling, [SEG] <-> ground-truth matching, errors."""
import pytest
import torch
from torch import nn

from sama_mm.models import SAMA, SAMADataPreprocessor
from sama_mm.models.heads import BaseSegHead
from sama_mm.registry import MODELS
from sama_mm.structures import SAMADataSample

IMG, SEG, H, NTOK = 5, 6, 8, 2


@MODELS.register_module(force=True)
class _StandInLLM(nn.Module):
    """Records what it is given; visual tokens are a linear map of the mean pixel."""

    hidden_size = H
    num_image_tokens = NTOK
    img_context_token_id = IMG
    seg_token_id = SEG

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, H)
        self.vis = nn.Linear(1, H * NTOK)

    def encode_images(self, pixel_values):
        return self.vis(pixel_values.mean((1, 2, 3))[:, None]).view(-1, NTOK, H)

    def get_input_embeddings(self):
        return self.embed

    def forward_llm(self, inputs_embeds, attention_mask, past_key_values=None, use_cache=False):
        self.seen = inputs_embeds
        return inputs_embeds * 2, None

    def lm_loss(self, hidden, labels):
        return hidden.mean() * 0 + 1.0


@MODELS.register_module(force=True)
class _StandInHead(BaseSegHead):
    """Records the [SEG] hidden states it gets; logits are a linear map of them, 4x4 on every dense frame."""

    def __init__(self, llm_hidden_size):
        super().__init__(llm_hidden_size)
        self.fc = nn.Linear(llm_hidden_size, 4)

    def loss(self, seg_hidden, inputs, data_samples):
        self.seen_hidden = seg_hidden
        targets = self.match_targets(seg_hidden, data_samples)
        logits, masks = [], []
        for b, (hidden, gt) in enumerate(zip(seg_hidden, targets)):
            if gt is None:
                continue
            frames = inputs['sam2_pixel_values'][b]
            pred = self.fc(hidden).sum(-1)[:, None, None, None].expand(-1, len(frames), 4, 4)
            logits.append(pred.flatten(0, 1))
            masks.append(torch.nn.functional.interpolate(gt.float(), size=(4, 4)).flatten(0, 1))
        if not logits:
            return self.zero_losses(('loss_mask', 'loss_dice'))
        self.targets = torch.cat(masks)
        return dict(loss_mask=torch.cat(logits).mean(), loss_dice=torch.cat(logits).mean())

    def predict(self, seg_hidden, frames, prompt_positions, out_size, num_frames, chunk_size=None):
        self.predicted = (seg_hidden, list(prompt_positions), tuple(out_size), num_frames)
        return torch.ones(len(seg_hidden), num_frames, *out_size, dtype=torch.bool)


def _batch(n_seg=1, n_gt=1, dense=(0, 2)):
    ids = [1, IMG, IMG, IMG, IMG, 2] + [SEG] * n_seg + [3]
    sample = SAMADataSample(metainfo=dict(video_id='clip', sample_idx=7))
    sample.gt_masks = torch.ones(n_gt, len(dense), 8, 8, dtype=torch.uint8)
    return dict(inputs=[dict(pixel_values=torch.arange(3.)[:, None, None, None].expand(3, 3, 4, 4),
                             dense_positions=list(dense), input_ids=ids, labels=ids,
                             sam2_pixel_values=torch.zeros(len(dense), 3, 4, 4))],
                data_samples=[sample])


def _model():
    return SAMA(backbone=dict(type=_StandInLLM), seg_head=dict(type=_StandInHead),
                data_preprocessor=dict(type=SAMADataPreprocessor))


def test_placeholders_are_filled_with_the_dense_frames_in_order():
    model = _model()
    data = model.data_preprocessor(_batch())
    losses = model.loss(**data)
    assert set(losses) == {'loss_lm', 'loss_mask', 'loss_dice'}
    seen = model.backbone.seen[0]
    visual = model.backbone.encode_images(data['inputs']['pixel_values'][0])
    torch.testing.assert_close(seen[1:5], visual[[0, 2]].flatten(0, 1))
    # The [SEG] hidden state (position 6) is what the head gets, and its masks are the supervision.
    torch.testing.assert_close(model.seg_head.seen_hidden[0], (seen[6:7] * 2))
    assert model.seg_head.targets.shape == (2, 4, 4)  # K * D masks, resized by the head


def test_seg_and_ground_truth_counts_must_agree():
    model = _model()
    with pytest.raises(ValueError, match=r"video 'clip', sample_idx 7: 2 \[SEG\] tokens but 1 ground-truth"):
        model.loss(**model.data_preprocessor(_batch(n_seg=2, n_gt=1)))


def test_placeholder_count_must_match():
    model = _model()
    with pytest.raises(ValueError, match='4 <IMG_CONTEXT> tokens but 6'):
        model.loss(**model.data_preprocessor(_batch(dense=(0, 1, 2))))


def test_no_seg_in_batch_keeps_the_head_in_the_graph():
    model = _model()
    losses = model.loss(**model.data_preprocessor(_batch(n_seg=0, n_gt=0)))
    assert losses['loss_mask'].item() == 0 and losses['loss_mask'].requires_grad


def test_preprocessor_pads_and_masks():
    pre = SAMADataPreprocessor(pad_token_id=0)
    a, b = _batch(n_seg=1), _batch(n_seg=3, n_gt=3)
    data = pre(dict(inputs=a['inputs'] + b['inputs'], data_samples=a['data_samples'] + b['data_samples']))
    ids, mask, labels = (data['inputs'][k] for k in ('input_ids', 'attention_mask', 'labels'))
    assert ids.shape == labels.shape == mask.shape == (2, 10)
    assert mask[0].tolist() == [True] * 8 + [False] * 2
    assert labels[0, 8:].tolist() == [-100, -100] and ids[0, 8:].tolist() == [0, 0]


def test_no_seg_zero_loss_reaches_every_trainable_head_parameter():
    model = _model()
    losses = model.loss(**model.data_preprocessor(_batch(n_seg=0, n_gt=0)))
    sum(losses.values()).backward()
    assert all(p.grad is not None and not p.grad.any() for p in model.seg_head.parameters())


@MODELS.register_module(force=True)
class _NotAHead(nn.Module):

    def __init__(self, llm_hidden_size):
        super().__init__()


def test_seg_head_must_follow_the_contract():
    with pytest.raises(TypeError, match='BaseSegHead'):
        SAMA(backbone=dict(type=_StandInLLM), seg_head=dict(type=_NotAHead))


class _Template:
    stop_words = ['<|end|>']


class _Tokenizer:
    def decode(self, ids, skip_special_tokens=False):
        return ' '.join({SEG: '[SEG]', 9: '<|end|>'}.get(i, str(i)) for i in ids)


def test_embed_turn_generate_and_segment():
    model = _model()
    llm = model.backbone
    llm.template, llm.tokenizer = _Template(), _Tokenizer()
    fill = torch.randn(2, H)
    embeds = model.embed_turn(torch.tensor([1, IMG, 2, IMG]), fill)
    assert embeds.shape == (1, 4, H)
    torch.testing.assert_close(embeds[0, [1, 3]], fill)
    torch.testing.assert_close(embeds[0, 0], llm.embed.weight[1])
    with pytest.raises(ValueError, match=r"turn 3: the prompt has 2 <IMG_CONTEXT> tokens but 1"):
        model.embed_turn(torch.tensor([[1, IMG, 2, IMG]]), fill[:1], where='turn 3')
    assert model.with_neck is False

    hidden = torch.randn(3, H)
    llm.generate = lambda embeds, mask, max_new_tokens, stop_words, past_key_values: ([SEG, 4, 9], hidden, 'cache')
    out = model.generate(embeds)
    assert out.text == '[SEG] 4 ' and out.token_ids == [SEG, 4, 9] and out.past_key_values == 'cache'
    assert out.hidden_states is hidden

    sample = SAMADataSample(metainfo=dict(ori_shape=(5, 6), dense_frame_indices=[2, 4], sam2_frame_indices=[0, 2, 4]))
    masks = model.segment(hidden[:1], torch.zeros(3, 3, 4, 4), sample, num_frames=3)
    assert masks.shape == (1, 3, 5, 6) and masks.dtype == torch.bool
    assert model.seg_head.predicted[1:] == ([1, 2], (5, 6), 3)
    assert model.segment(hidden[:0], None, sample, num_frames=3).shape == (0, 3, 5, 6)
