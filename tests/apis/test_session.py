"""ChatSession: KV-cached multi-turn equals full recomputation; features computed once; deterministic."""
import pytest
import torch

from sama_mm.apis import SAMAInferencer
from sama_mm.datasets.transforms.tokenize import ChatTokenize
from sama_mm.structures.tokens import SEG_TOKEN
from tests.apis.helpers import build_tiny_model, write_frame_folder


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_frame_folder(str(tmp_path_factory.mktemp('frames') / 'clip'), num_frames=8)


@pytest.fixture(scope='module')
def short_video(tmp_path_factory):
    return write_frame_folder(str(tmp_path_factory.mktemp('frames') / 'short'), num_frames=5)


@pytest.fixture(scope='module')
def inferencer():
    model, cfg = build_tiny_model(seed=0)
    return SAMAInferencer.from_model(model, cfg, max_new_tokens=12)


def _reference_ids(inferencer, session, rounds, generation=True):
    """The conversation tokenized by the training transform (generation prompt for the last round)."""
    s = inferencer.settings
    tokenize = ChatTokenize(tokenizer=inferencer.model.backbone.tokenizer,
                            template=inferencer.model.backbone.template.name,
                            num_image_tokens=s['num_image_tokens'], context_tokens=False, max_length=4096,
                            generation=generation)
    rounds = [dict(r, gt_keys=['o'] * r['answer'].count(SEG_TOKEN)) for r in rounds]
    return tokenize(dict(rounds=rounds, frame_indices=session.frame_indices,
                         dense_positions=session.dense_positions, video_id='clip'))['input_ids']


def _fresh_embeds(model, ids, pixel_session):
    visual = model.extract_feat([_session_pixels(pixel_session)])
    return model.build_inputs_embeds(torch.tensor([ids]), visual, [torch.tensor(pixel_session.dense_positions)],
                                     None)


def _session_pixels(session):
    from sama_mm.datasets.transforms.image import resize_normalize
    from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
    info = VideoInit()(dict(video_path=session.video_path))
    imgs = VideoDecode()(dict(info, frame_indices=session.frame_indices))['imgs']
    return resize_normalize(imgs, session.settings['vit_image_size'])


def test_multiturn_cache_equals_full_recomputation(inferencer, video):
    model = inferencer.model
    backbone = model.backbone
    session = inferencer.open(video)
    q1, q2, q3 = 'What is in the video?', 'Please segment the red square.', 'Where does it move?'
    r1 = session.ask(q1, segment=False)
    r2 = session.ask(q2, answer='It is [SEG].', segment=False)
    r3 = session.ask(q3, segment=False)
    assert [t.index for t in session.turns] == [0, 1, 2]

    # The context is exactly what training would tokenize: BOS once, answer + SUFFIX + SEP per round.
    rounds = [dict(question=q1, answer=r1.history_answer), dict(question=q2, answer='It is [SEG].'),
              dict(question=q3, answer='')]
    ref_ids = _reference_ids(inferencer, session, rounds)
    assert session.cached_ids[:len(ref_ids)] == ref_ids
    kept = session.cached_ids[len(ref_ids):]  # the generated tokens that agree with the canonical tokenization
    assert kept == r3.token_ids[:len(kept)]
    closed = rounds[:2] + [dict(question=q3, answer=r3.history_answer)]
    assert session.context_ids() == _reference_ids(inferencer, session, closed, generation=False)

    # Generating turn 3 from scratch over the whole conversation gives the same tokens and hidden states.
    with torch.no_grad():
        embeds = _fresh_embeds(model, ref_ids, session)
        out = backbone.generate(embeds, None, max_new_tokens=12, stop_words=backbone.template.stop_words)
    assert list(out.token_ids) == r3.token_ids
    torch.testing.assert_close(out.hidden_states, r3.hidden_states, rtol=1e-4, atol=1e-5)

    # Turn 2 (teacher-forced): its [SEG] hidden state equals the one of a full teacher-forced pass.
    ref2 = _reference_ids(inferencer, session, rounds[:2] + [dict(question='x', answer='')])
    with torch.no_grad():
        hidden, _ = backbone.forward_llm(_fresh_embeds(model, ref2, session))
    seg_pos = [i for i, t in enumerate(ref2) if t == backbone.seg_token_id]
    assert len(seg_pos) == 1 and r2.seg_hidden.shape[0] == 1
    torch.testing.assert_close(hidden[0, seg_pos], r2.seg_hidden, rtol=1e-4, atol=1e-5)


def test_frame_features_once_per_session(inferencer, video, monkeypatch):
    backbone = inferencer.model.backbone
    calls = []
    original = backbone.encode_images

    def counting(pixel_values):
        calls.append(pixel_values.shape[0])
        return original(pixel_values)

    monkeypatch.setattr(backbone, 'encode_images', counting)
    session = inferencer.open(video)
    for q in ('What is in the video?', 'And then?', 'Anything else?'):
        session.ask(q, segment=False)
    assert calls == [len(session.frame_indices)]


def test_sam2_features_once_per_frame_per_turn(inferencer, short_video, monkeypatch):
    video = short_video
    encoder = inferencer.model.seg_head.sam2_model.image_encoder
    frames_encoded = []
    original = encoder.forward

    def counting(x):
        frames_encoded.append(x.shape[0])
        return original(x)

    monkeypatch.setattr(encoder, 'forward', counting)
    session = inferencer.open(video)
    r = session.ask('Segment the square and the background.', answer='<p>square</p> [SEG] and <p>bg</p> [SEG].')
    assert r.num_objects == 2
    assert tuple(r.masks.shape) == (2, session.num_frames, *session.ori_shape) and r.masks.dtype == torch.bool
    assert sum(frames_encoded) == session.num_frames
    frames_encoded.clear()
    session.ask('Again.', answer='[SEG] [SEG] [SEG]')
    assert sum(frames_encoded) == session.num_frames


def test_sam2_prompt_frames_policy(inferencer, video, monkeypatch):
    head = inferencer.model.seg_head
    seen = {}

    def spy(images, prompts, cond_frames, out_size, num_frames=None, chunk_size=None):
        seen['cond'] = list(cond_frames)  # no need to track: only the conditioning frames are checked
        return torch.zeros(len(prompts), num_frames, *out_size, dtype=torch.bool)

    monkeypatch.setattr(head, 'predict', spy)
    session = inferencer.open(video)
    session.ask('Segment it.', answer='[SEG]')
    assert seen['cond'] == session.dense_frame_indices
    monkeypatch.setattr(inferencer.model, 'sam2_prompt_frames', 'first')
    session.ask('Again.', answer='[SEG]')
    assert seen['cond'] == list(range(len(session.dense_positions)))


def test_deterministic_and_regions_need_neck(inferencer, video):
    a = inferencer.open(video).ask('Describe the video.', segment=False)
    b = inferencer.open(video).ask('Describe the video.', segment=False)
    assert a.token_ids == b.token_ids and a.answer == b.answer
    session = inferencer.open(video)
    with pytest.raises(ValueError, match='neck'):
        session.ask('What is <mask> doing?', regions=[(0, (1, 2, 10, 12))])
    assert session.turns == [] and session.cached_ids == []


def test_neck_turn_context_plugs_in_and_stays_exact(video):
    """A model with the tiny aggregator: per-turn context tokens through the hook, cache still exact."""
    from mmengine.config import Config

    from sama_mm.structures.region_prompt import format_qformer_prompt
    from sama_mm.tokenizers import build_qformer_tokenizer
    from sama_mm.registry import MODELS
    from tests.apis.helpers import SAMA_TINY_CONFIG
    cfg = Config.fromfile(SAMA_TINY_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    inferencer = SAMAInferencer.from_model(model, cfg, max_new_tokens=6, context_tokens=True)
    qtok = build_qformer_tokenizer(tiny=True)

    def turn_context(session, question, regions):
        return dict(qformer_input_ids=qtok(format_qformer_prompt(question), return_tensors='pt')['input_ids'][0],
                    regions=regions)

    session = inferencer.open(video, turn_context=turn_context)
    calls = []
    original = model.neck.encode_spatial
    model.neck.encode_spatial = lambda v: calls.append(1) or original(v)
    questions = ['What is in the video?', 'Where is the square?']
    r1 = session.ask(questions[0], segment=False)
    r2 = session.ask(questions[1], segment=False)
    assert calls == [1]  # the spatial Q-Former runs once per session
    rounds = [dict(question=questions[0], answer=r1.history_answer), dict(question=questions[1], answer='')]
    tokenize = ChatTokenize(tokenizer=model.backbone.tokenizer, template='qwen_chat', num_image_tokens=4,
                            context_tokens=True, context_sep=inferencer.settings['context_sep'], max_length=4096,
                            generation=True)
    ref_ids = tokenize(dict(rounds=[dict(r, gt_keys=[]) for r in rounds], frame_indices=session.frame_indices,
                            dense_positions=session.dense_positions, video_id='clip'))['input_ids']
    assert session.cached_ids[:len(ref_ids)] == ref_ids
    with torch.no_grad():
        visual = model.extract_feat([_session_pixels(session)])[0]
        turns = [turn_context(session, q, []) for q in questions]
        fill = torch.cat([visual[session.dense_positions].flatten(0, 1), model.neck(visual, turns)])
        ids = torch.tensor([ref_ids])
        embeds = model.backbone.get_input_embeddings()(ids)
        embeds = embeds.masked_scatter((ids == model.backbone.img_context_token_id)[..., None], fill)
        out = model.backbone.generate(embeds, None, max_new_tokens=6)
    assert list(out.token_ids) == r2.token_ids
    torch.testing.assert_close(out.hidden_states, r2.hidden_states, rtol=1e-4, atol=1e-5)


def test_history_truncation_keeps_frames_and_last_turns(video):
    model, cfg = build_tiny_model(seed=0)
    inferencer = SAMAInferencer.from_model(model, cfg, max_new_tokens=6)
    session = inferencer.open(video)
    questions = ['What is in the video?', 'Where is the square?', 'What colour is it?']
    for q in questions[:2]:
        session.ask(q, segment=False)
    session.truncate(1)
    kept = [dict(question=questions[1], answer=session.turns[1].history_answer)]
    assert session.context_ids() == _reference_ids(inferencer, session, kept, generation=False)
    assert session.history() == kept and len(session.turns) == 2

    # Automatic: a max_length the next turn does not fit drops the oldest turns.
    needed = len(session.context_ids()) + 5  # the next question alone is longer than 5 tokens
    inferencer.settings['max_length'] = needed
    r3 = session.ask(questions[2], segment=False)
    ref_ids = _reference_ids(inferencer, session, [dict(question=questions[2], answer='')])
    assert session.cached_ids[:len(ref_ids)] == ref_ids
    with torch.no_grad():
        out = model.backbone.generate(_fresh_embeds(model, ref_ids, session), None,
                                      max_new_tokens=min(6, needed - len(ref_ids)))
    assert list(out.token_ids) == r3.token_ids
    torch.testing.assert_close(out.hidden_states, r3.hidden_states, rtol=1e-4, atol=1e-5)
    inferencer.settings['max_length'] = 10
    with pytest.raises(ValueError, match='max_length'):
        session.ask('Too long for any context?', segment=False)


def test_region_prompts_through_the_default_neck_context(video):
    """The SAMA demo model: a box region on a raw frame becomes the aggregator's region tokens of the turn."""
    from mmengine.config import Config

    from sama_mm.registry import MODELS
    from tests.apis.helpers import SAMA_TINY_CONFIG
    cfg = Config.fromfile(SAMA_TINY_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    inferencer = SAMAInferencer.from_model(model, cfg, max_new_tokens=4)
    session = inferencer.open(video)
    seen = []
    original = model.neck.forward
    model.neck.forward = lambda visual, turns, **kw: seen.append(turns) or original(visual, turns, **kw)
    result = session.ask('What is <mask> doing?', regions=[(3, (5, 5, 30, 25))], segment=False)
    assert isinstance(result.answer, str) and len(session.turns) == 1
    (turn, ), = seen
    (region, ) = turn['regions']
    sparse = session.frame_indices
    assert sparse[region['frame']] == min(sparse, key=lambda f: abs(f - 3))  # the nearest sparse frame
    assert region['mask16'].sum() > 0
    # A second, region-free turn; several regions in one question.
    session.ask('And now?', segment=False)
    session.ask('Compare <mask> with <mask>.', regions=[(0, (1, 1, 10, 10)), (5, (20, 10, 50, 35))],
                segment=False)
    assert [len(t['regions']) for (t, ) in seen] == [1, 0, 2]
    with pytest.raises(ValueError, match='outside'):
        session.ask('What is <mask>?', regions=[(0, (500, 500, 600, 600))], segment=False)
    with pytest.raises(ValueError, match='1 <mask> but 0 regions'):
        session.ask('What is <mask>?', segment=False)


def test_point_prompts_are_segmented_by_the_sam2_head(video, monkeypatch):
    """Clicked points: the model's SAM2 head (sam2's image predictor on our sam2_model) gives the region mask."""
    import numpy as np
    from mmengine.config import Config

    from sama_mm.registry import MODELS
    from tests.apis.helpers import SAMA_TINY_CONFIG
    cfg = Config.fromfile(SAMA_TINY_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    head = model.seg_head
    # The real call on a real frame: shape and dtype of SAM2's mask.
    frame = np.zeros((40, 56, 3), np.uint8)
    frame[10:30, 20:40] = 255
    mask = head.prompt_from_region(frame, points=[[30, 20]])
    assert mask.shape == (40, 56) and mask.dtype == bool
    with pytest.raises(ValueError, match='box or points'):
        head.prompt_from_region(frame)
    # In a chat turn the point prompt's mask becomes the region (a fixed mask keeps the random model out of it).
    calls = []
    fixed = np.zeros((40, 56), bool)
    fixed[5:20, 10:30] = True
    monkeypatch.setattr(head, 'prompt_from_region', lambda img, **kw: calls.append((img.shape, kw)) or fixed)
    inferencer = SAMAInferencer.from_model(model, cfg, max_new_tokens=2)
    session = inferencer.open(video)
    seen = []
    original = model.neck.forward
    model.neck.forward = lambda visual, turns, **kw: seen.append(turns) or original(visual, turns, **kw)
    session.ask('What is <mask>?', regions=[(2, dict(points=[[15, 12]]))], segment=False)
    assert calls and calls[0][0] == (40, 56, 3) and calls[0][1]['points'] == [[15, 12]]
    assert seen[0][0]['regions'][0]['mask16'].sum() > 0
    with pytest.raises(ValueError, match='outside'):
        session.ask('What is <mask>?', regions=[(2, dict(points=[[500, 12]]))], segment=False)
    # A box for SAM2 (dict form) goes the same way.
    session.ask('What is <mask>?', regions=[(4, dict(box=[10, 5, 30, 20]))], segment=False)
    assert calls[-1][1]['box'] == [10, 5, 30, 20] and calls[-1][1]['points'] is None
