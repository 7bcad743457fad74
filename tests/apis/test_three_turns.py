"""A 3-turn grounded chat with the SAMA tiny model (context aggregator): region prompt, [SEG] masks, references to
an earlier answer. The KV-cached session equals recomputing the whole history from scratch (token ids, hidden
states, masks), and each cached turn feeds only its own new tokens to the LLM."""
import pytest
import torch
from mmengine.config import Config

from sama_mm.apis import SAMAInferencer
from sama_mm.datasets.transforms.frame_source import VideoFrameSource
from sama_mm.datasets.transforms.tokenize import ChatTokenize
from sama_mm.registry import MODELS
from sama_mm.structures import SAMADataSample
from sama_mm.structures.tokens import REGION_PLACEHOLDER, SEG_TOKEN
from sama_mm.utils import register_all_modules
from tests.apis.helpers import SAMA_TINY_CONFIG, write_frame_folder
from tests.apis.test_session import _session_pixels

Q1 = 'Please segment the red square.'
A1 = 'It is [SEG].'
Q2 = 'What is <mask> doing?'
REGIONS2 = [(3, (5, 5, 30, 25))]
Q3 = 'What about the object you segmented in your first answer?'
A3 = 'It moves to the right [SEG].'


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_frame_folder(str(tmp_path_factory.mktemp('frames') / 'clip3'), num_frames=8)


@pytest.fixture(scope='module')
def model_cfg():
    register_all_modules()
    cfg = Config.fromfile(SAMA_TINY_CONFIG)
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval(), cfg


class _LLMTokenCounter:
    """Records the sequence length of every ``backbone.forward_llm`` call (prefill and each decode step)."""

    def __init__(self, backbone):
        self.calls = []
        self._backbone = backbone
        self._original = backbone.forward_llm

        def counting(inputs_embeds, *args, **kwargs):
            self.calls.append(int(inputs_embeds.shape[1]))
            return self._original(inputs_embeds, *args, **kwargs)

        backbone.forward_llm = counting

    def take(self):
        calls, self.calls = self.calls, []
        return calls

    def restore(self):
        self._backbone.forward_llm = self._original


def _reference_ids(inferencer, session, rounds, generation):
    s = inferencer.settings
    backbone = inferencer.model.backbone
    tokenize = ChatTokenize(tokenizer=backbone.tokenizer, template=backbone.template.name,
                            num_image_tokens=s['num_image_tokens'], context_tokens=s['context_tokens'],
                            context_sep=s['context_sep'], max_length=4096, generation=generation)
    rounds = [dict(r, gt_keys=['o'] * r['answer'].count(SEG_TOKEN),
                   region_keys=['r'] * r['question'].count(REGION_PLACEHOLDER)) for r in rounds]
    return tokenize(dict(rounds=rounds, frame_indices=session.frame_indices,
                         dense_positions=session.dense_positions, video_id='clip'))['input_ids']


def _fresh_embeds(model, session, ids, turns):
    """The whole conversation embedded from scratch: new ViT features, the neck over every turn at once."""
    visual = model.extract_feat([_session_pixels(session)])[0]
    fill = torch.cat([visual[session.dense_positions].flatten(0, 1), model.neck(visual, turns)])
    ids_t = torch.tensor([ids])
    embeds = model.backbone.get_input_embeddings()(ids_t)
    return embeds.masked_scatter((ids_t == model.backbone.img_context_token_id)[..., None], fill)


def _reference_neck_turns(cfg, session, questions, regions):
    """The neck input of every round, from scratch: the config's own QFormerPrompts step on region masks drawn by
    hand (each box on the sparse frame nearest to its frame)."""
    import numpy as np

    from sama_mm.registry import TRANSFORMS
    step = next(s for s in cfg.test_pipeline if getattr(s['type'], '__name__', s['type']) == 'QFormerPrompts')
    sparse = np.asarray(session.frame_indices)
    masks = np.zeros((len(regions), len(sparse)) + tuple(session.ori_shape), np.uint8)
    for r, (frame, (x1, y1, x2, y2)) in enumerate(regions):
        masks[r, int(np.abs(sparse - frame).argmin()), y1:y2, x1:x2] = 1
    results = dict(rounds=[dict(question=q) for q in questions], dense_positions=session.dense_positions,
                   region_masks=masks if len(regions) else None, video_id='clip3')
    return TRANSFORMS.build(dict(step))(results)['neck_turns']


def _fresh_masks(model, session, seg_hidden):
    """SAM2 tracking of the recomputed [SEG] states with a fresh frame source."""
    head = model.seg_head
    sample = SAMADataSample(metainfo=dict(dense_frame_indices=session.dense_frame_indices))
    cond = model.prompt_frame_positions(sample, session.num_frames)
    source = VideoFrameSource(session.video_path, None, session.num_frames, session.settings['sam2_image_size'],
                              'clip')
    return head.track(source, head.project(seg_hidden), cond, session.ori_shape,
                      num_frames=session.num_frames).cpu()


def test_three_turn_grounded_chat_equals_full_recomputation(model_cfg, video):
    model, cfg = model_cfg
    backbone = model.backbone
    inferencer = SAMAInferencer.from_model(model, cfg, max_new_tokens=6)
    assert inferencer.settings['context_tokens']  # the aggregator's per-turn context tokens are in the prompt
    counter = _LLMTokenCounter(backbone)
    try:
        session = inferencer.open(video)
        cached_calls, lengths_before = [], []
        # Turn 1: teacher-forced answer with a [SEG], segmented.
        lengths_before.append(len(session.cached_ids))
        r1 = session.ask(Q1, answer=A1, segment=True)
        cached_calls.append(counter.take())
        # Turn 2: a box region prompt on frame 3, generated answer.
        lengths_before.append(len(session.cached_ids))
        r2 = session.ask(Q2, regions=REGIONS2, segment=False)
        cached_calls.append(counter.take())
        # Turn 3: refers to the first answer; teacher-forced answer with a [SEG], segmented.
        lengths_before.append(len(session.cached_ids))
        r3 = session.ask(Q3, answer=A3, segment=True)
        cached_calls.append(counter.take())
        assert r1.num_objects == 1 and r3.num_objects == 1 and len(r2.token_ids) >= 1

        # Recompute every turn from scratch over its whole history (no cache, fresh ViT features and neck).
        turns = _reference_neck_turns(cfg, session, [Q1, Q2, Q3], REGIONS2)
        history = [dict(question=Q1, answer=r1.history_answer), dict(question=Q2, answer=r2.history_answer)]
        ref_calls = []
        with torch.no_grad():
            # Turn 1 (teacher-forced): the [SEG] state and its masks.
            ids1 = _reference_ids(inferencer, session, [dict(question=Q1, answer='')], True)
            ans1 = list(backbone.tokenizer.encode(A1 + backbone.template.suffix, add_special_tokens=False))
            assert ans1 == r1.token_ids
            hidden, _ = backbone.forward_llm(_fresh_embeds(model, session, ids1 + ans1, turns[:1]))
            ref_calls.append(counter.take())
            states1 = hidden[0, -len(ans1):]
            seg1 = states1[torch.tensor(ans1) == backbone.seg_token_id]
            torch.testing.assert_close(seg1, r1.seg_hidden, rtol=1e-4, atol=1e-5)
            assert torch.equal(_fresh_masks(model, session, seg1), r1.masks)

            # Turn 2 (generated with the region prompt): the same tokens from the full history.
            ids2 = _reference_ids(inferencer, session, [history[0], dict(question=Q2, answer='')], True)
            assert session.cached_ids[:len(ids2)] == ids2
            out = backbone.generate(_fresh_embeds(model, session, ids2, turns[:2]), None, max_new_tokens=6,
                                    stop_words=backbone.template.stop_words)
            ref_calls.append(counter.take())
            assert list(out.token_ids) == r2.token_ids
            torch.testing.assert_close(out.hidden_states, r2.hidden_states, rtol=1e-4, atol=1e-5)

            # Turn 3 (teacher-forced, about the first answer): the [SEG] state and its masks.
            ids3 = _reference_ids(inferencer, session, history + [dict(question=Q3, answer='')], True)
            ans3 = list(backbone.tokenizer.encode(A3 + backbone.template.suffix, add_special_tokens=False))
            assert ans3 == r3.token_ids
            assert session.cached_ids == ids3 + ans3
            hidden, _ = backbone.forward_llm(_fresh_embeds(model, session, ids3 + ans3, turns))
            ref_calls.append(counter.take())
            seg3 = hidden[0, -len(ans3):][torch.tensor(ans3) == backbone.seg_token_id]
            torch.testing.assert_close(seg3, r3.seg_hidden, rtol=1e-4, atol=1e-5)
            masks3 = _fresh_masks(model, session, seg3)
            assert masks3.dtype == torch.bool and r3.masks.dtype == torch.bool
            assert torch.equal(masks3, r3.masks)
    finally:
        counter.restore()

    # Cost: a cached turn feeds the LLM only its own new tokens (first call = the new tokens of the turn:
    # the previous answer's closing, the question and, teacher-forced, the answer); recomputation feeds the whole
    # history. Generation then feeds one token per step on both sides.
    full_prefill = [len(ids1) + len(ans1), len(ids2), len(ids3) + len(ans3)]
    for k in (1, 2):
        prefill = cached_calls[k][0]
        assert lengths_before[k] + prefill == full_prefill[k]
        assert ref_calls[k][0] == full_prefill[k]
        assert prefill < full_prefill[k] / 2  # the history (frame block, earlier turns) is not fed again
        assert sum(cached_calls[k]) < sum(ref_calls[k])
        assert cached_calls[k][1:] == ref_calls[k][1:]  # the same decode steps
    assert cached_calls[1][1:] == [1] * len(r2.token_ids)  # one step per generated token
