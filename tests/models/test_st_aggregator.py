"""STAggregator neck: shapes (tiny and full size on the meta device), released names and parameter counts,
region pooling, windowing, multi-turn independence and order, gradients, determinism, Q-Former tokenizer."""
import json
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from sama_mm.models.layers import masked_average_pool
from sama_mm.models.necks import BaseNeck, STAggregator
from sama_mm.registry import MODELS
from sama_mm.structures.region_prompt import format_qformer_prompt, region_masks
from sama_mm.tokenizers import QFORMER_SPECIAL_TOKENS, build_qformer_tokenizer
from tests.conftest import REPO_ROOT

DATA = Path(REPO_ROOT) / 'tests' / 'data'
H = 64  # tiny LLM width
T = 5  # sparse frames
TINY_CFG = f'{REPO_ROOT}/configs/_base_/models/st_aggregator_tiny.py'


@pytest.fixture(scope='module')
def tok():
    return build_qformer_tokenizer(tiny=True)


@pytest.fixture(scope='module')
def neck():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY_CFG)
    return MODELS.build(dict(cfg.neck, llm_hidden_size=H)).eval()


@pytest.fixture(scope='module')
def visual():
    return torch.randn(T, 256, H, generator=torch.Generator().manual_seed(1))


def box_region(frame, y0, y1, x0, x1):
    mask = torch.zeros(16, 16)
    mask[y0:y1, x0:x1] = 1
    big = torch.nn.functional.interpolate(mask[None, None], size=(112, 112), mode='nearest')[0, 0]
    return dict(frame=frame, mask16=mask, mask112=big)


def make_turn(tok, question, regions=()):
    enc = tok(format_qformer_prompt(question), truncation=True)
    return dict(qformer_input_ids=torch.tensor(enc['input_ids']),
                qformer_attention_mask=torch.tensor(enc['attention_mask']), regions=list(regions))


@pytest.fixture(scope='module')
def turns(tok):
    return [
        make_turn(tok, 'what is <mask> doing with <mask>?', [box_region(0, 2, 6, 3, 9), box_region(3, 8, 16, 0, 4)]),
        make_turn(tok, 'where is the person?'),
        make_turn(tok, 'and <mask>?', [box_region(4, 0, 1, 0, 1)]),
    ]


def full_size_meta(hidden, **kwargs):
    with torch.device('meta'):
        return STAggregator(llm_hidden_size=hidden, **kwargs)


# ------------------------------------------------------------------------------------------------ shapes
def test_tiny_shapes_of_every_stage(neck, visual, turns, tok):
    spatial = neck.encode_spatial(visual)
    assert spatial.shape == (T, 4, 32)
    # T=5 frames x 4 queries = 20 tokens, windows of 8 -> 3 windows of 4 query outputs.
    assert neck.windows(20) == [(0, 8), (8, 16), (16, 20)]
    temporal = neck.encode_temporal(spatial, turns[1]['qformer_input_ids'], turns[1]['qformer_attention_mask'])
    assert temporal.shape == (3 * 4, 32)
    assert neck.inject_context(visual, temporal).shape == (T, H)
    pooled, shapes = neck.pool_regions(visual, turns[0]['regions'])
    assert pooled.shape == (2, H) and shapes.shape == (2, 112 * 112)
    out = neck(visual, turns)
    assert out.shape == (3 * T + 2 * 3, H) == (neck.num_tokens(T, turns), H)
    assert torch.isfinite(out).all()
    assert neck(visual, []).shape == (0, H)


def test_full_size_shapes_on_meta():
    neck = full_size_meta(896)
    visual = torch.empty(20, 256, 896, device='meta')
    spatial = neck.encode_spatial(visual)
    assert spatial.shape == (20, 32, 768)
    ids = torch.tensor([101, 2054, 30528, 30523, 30524, 30529, 102])
    mask16, mask112 = region_masks(torch.ones(30, 40, dtype=torch.bool))
    turn = dict(qformer_input_ids=ids, qformer_attention_mask=torch.ones_like(ids),
                regions=[dict(frame=7, mask16=mask16, mask112=mask112)])
    out = neck(visual, [turn, dict(qformer_input_ids=ids[[0, 1, 6]])], spatial=spatial)
    assert out.shape == (2 * 20 + 2, 896) and out.device.type == 'meta'


def test_windowing_full_size():
    visual = torch.empty(20, 256, 896, device='meta')
    ids = torch.tensor([101, 2054, 102])
    neck = full_size_meta(896)
    assert neck.windows(20 * 32) == [(0, 512), (512, 640)]
    assert neck.encode_temporal(neck.encode_spatial(visual), ids).shape == (64, 768)
    assert neck.windows(16 * 32) == [(0, 512)]
    single = full_size_meta(896, window_size=0)
    assert single.windows(20 * 32) == [(0, 640)]
    assert single.encode_temporal(single.encode_spatial(visual), ids).shape == (32, 768)


def test_windows_are_independent_passes(neck, visual, turns):
    spatial = neck.encode_spatial(visual)
    ids, mask = turns[1]['qformer_input_ids'], turns[1]['qformer_attention_mask']
    z = neck.encode_temporal(spatial, ids, mask)
    # Window 2 covers frames 2-3 (tokens 8..15): the same as a pass over those frames alone.
    z_mid = neck.encode_temporal(spatial[2:4], ids, mask)
    torch.testing.assert_close(z[4:8], z_mid)
    neck.window_size = 0
    try:
        assert neck.encode_temporal(spatial, ids, mask).shape == (4, 32)
    finally:
        neck.window_size = 8


# ------------------------------------------------------------------------------------------------ released layout
RELEASED_FULL = {
    'spatial_Qformer.bert.embeddings.LayerNorm.weight': (768, ),
    'spatial_Qformer.bert.encoder.layer.0.attention.self.query.weight': (768, 768),
    'spatial_Qformer.bert.encoder.layer.0.crossattention.self.key.weight': (768, 1408),
    'spatial_Qformer.bert.encoder.layer.10.crossattention.self.value.weight': (768, 1408),
    'spatial_Qformer.bert.encoder.layer.11.intermediate_query.dense.weight': (3072, 768),
    'spatial_Qformer.bert.encoder.layer.11.output_query.dense.weight': (768, 3072),
    'spatial_Qformer_query_tokens': (1, 32, 768),
    'spatial_Qformer_ln.weight': (1408, ),
    'temporal_Qformer.bert.embeddings.word_embeddings.weight': (30530, 768),
    'temporal_Qformer.bert.embeddings.position_embeddings.weight': (512, 768),
    'temporal_Qformer.bert.encoder.layer.1.crossattention.self.key.weight': (768, 768),
    'temporal_Qformer.bert.encoder.layer.1.intermediate.dense.weight': (3072, 768),
    'temporal_Qformer.bert.encoder.layer.0.output_query.LayerNorm.bias': (768, ),
    'temporal_Qformer_query_tokens': (1, 32, 768),
    'Qformer_mask_proj.layers.0.weight': (1024, 12544),
    'Qformer_mask_proj_st.layers.2.weight': (768, 1024),
    'Qformer_temp_attn_k.weight': ('H', 768),
}


@pytest.mark.parametrize('hidden', [896, 2048, 4096])
def test_full_size_names_and_parameter_count(hidden):
    neck = full_size_meta(hidden)
    state = neck.state_dict()
    for name, shape in RELEASED_FULL.items():
        assert tuple(state[name].shape) == tuple(hidden if s == 'H' else s for s in shape), name
    assert tuple(state['vlm2spatial_Qformer_proj.weight'].shape) == (1408, hidden)
    assert tuple(state['Qformer_mask_proj.layers.2.weight'].shape) == (hidden, 1024)
    # Layers 1, 3, .. of the spatial Q-Former have no cross-attention; it has no text FFN or text embeddings.
    assert not any(k.startswith('spatial_Qformer.bert.encoder.layer.1.crossattention') for k in state)
    assert not any('.intermediate.' in k or 'word_embeddings' in k for k in state if k.startswith('spatial_'))
    assert not any(k.startswith('cls.') or '.cls.' in k for k in state)
    expected = json.loads((DATA / 'released_neck_params.json').read_text())
    assert sum(p.numel() for p in neck.parameters()) == expected['by_hidden_size'][str(hidden)]['total']
    by_module = {}
    for name, p in neck.named_parameters():
        by_module[name.split('.')[0]] = by_module.get(name.split('.')[0], 0) + p.numel()
    assert by_module == expected['by_hidden_size'][str(hidden)]['modules']


def test_key_set_equals_the_released_tiny_layout():
    ref = json.loads((DATA / 'released_tiny_neck_keys.json').read_text())
    with torch.device('meta'):
        neck = STAggregator(**ref['sizes'])
    ours = {k: list(v.shape) for k, v in neck.state_dict().items()}
    assert ours == ref['keys']
    numel = {}
    for k, v in neck.state_dict().items():
        numel[k.split('.')[0]] = numel.get(k.split('.')[0], 0) + v.numel()
    assert numel == ref['prefix_numel']


# ------------------------------------------------------------------------------------------------ regions
def test_pooling_is_area_normalised(neck):
    features = torch.full((256, 8), 3.5)
    small = torch.zeros(16, 16)
    small[2:4, 2:6] = 1
    torch.testing.assert_close(masked_average_pool(features, small), torch.full((8, ), 3.5))
    # A mask twice as large over a region of constant features has the same mean.
    grid = torch.zeros(16, 16, 8)
    grid[0:8, 0:8] = torch.arange(8.)
    large = torch.zeros(16, 16)
    large[2:6, 2:6] = 1
    torch.testing.assert_close(masked_average_pool(grid.reshape(256, 8), small),
                               masked_average_pool(grid.reshape(256, 8), large))
    # Equal to the plain mean of the tokens inside the mask, whatever the mask values > 0 are.
    rand = torch.randn(256, 8)
    weighted = large * 7
    torch.testing.assert_close(masked_average_pool(rand, weighted), rand[large.reshape(-1) > 0].mean(0))


def test_empty_region_names_turn_and_region(neck, visual, tok):
    good = box_region(0, 0, 4, 0, 4)
    empty = dict(frame=1, mask16=torch.zeros(16, 16), mask112=torch.zeros(112, 112))
    turns = [make_turn(tok, 'what is this?'), make_turn(tok, '<mask> and <mask>', [good, empty])]
    with pytest.raises(ValueError, match=r'turn 1, region 1: region mask is empty'):
        neck(visual, turns)
    with pytest.raises(ValueError, match='empty'):
        region_masks(torch.zeros(10, 10, dtype=torch.bool))


def test_region_prompt_errors(neck, visual, tok):
    region = box_region(0, 0, 4, 0, 4)
    with pytest.raises(ValueError, match=r'turn 0: .*1 <mask>.*0 region'):
        neck(visual, [make_turn(tok, 'what is <mask>?')])
    with pytest.raises(ValueError, match=r'turn 0, region 0: frame index 9'):
        neck(visual, [make_turn(tok, 'what is <mask>?', [dict(region, frame=9)])])


def test_region_masks_helper():
    mask = torch.zeros(64, 48, dtype=torch.bool)
    mask[8, 6] = mask[40, 30] = True  # two pixels: the box spans rows 8..40, columns 6..30
    m16, m112 = region_masks(mask)
    assert m16.shape == (16, 16) and m112.shape == (112, 112)
    assert m16.dtype == torch.float32 and set(m16.unique().tolist()) == {0.0, 1.0}
    rows, cols = m16.nonzero().unbind(1)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 10, 2, 10)
    assert m16.sum() == 9 * 9  # filled
    raw16, _ = region_masks(mask, box=False, ensure_nonempty=False)
    assert raw16.sum() <= 2
    tiny = torch.zeros(448, 448, dtype=torch.bool)
    tiny[5, 5] = True  # smaller than a grid cell, missed by the nearest resize
    assert region_masks(tiny)[0].sum() == 1
    assert region_masks(tiny, ensure_nonempty=False)[0].sum() == 0


# ------------------------------------------------------------------------------------------------ turns
def test_turns_are_independent(neck, visual, turns):
    one = neck(visual, turns[:1])
    two = neck(visual, turns[:2])
    assert one.shape == (T + 4, H) and two.shape == (2 * T + 4, H)
    assert torch.equal(two[:T + 4], one)
    assert torch.equal(neck(visual, turns[1:2]), two[T + 4:])


def test_region_tokens_in_prompt_order(neck, visual, turns):
    out = neck(visual, turns)
    expected = []
    for turn in turns:
        for region in turn['regions']:
            pooled = masked_average_pool(visual[region['frame']], region['mask16'])
            expected += [neck.Qformer_mask_pooling_proj(pooled), neck.Qformer_mask_proj(region['mask112'].reshape(-1))]
    # Layout: ST_0 (T), 2 x 2 region tokens, ST_1 (T), ST_2 (T), 1 x 2 region tokens.
    region_rows = [T, T + 1, T + 2, T + 3, 3 * T + 4, 3 * T + 5]
    torch.testing.assert_close(out[region_rows], torch.stack(expected))
    # Different pooling frames give different tokens (frame index is honoured).
    assert not torch.allclose(out[T], out[T + 2])


def test_output_count_several_turns(neck, visual, tok):
    region = box_region(1, 3, 9, 3, 9)
    turns = [make_turn(tok, '<mask> <mask> <mask>', [region] * 3), make_turn(tok, 'the video'),
             make_turn(tok, '<mask>', [region]), make_turn(tok, 'what')]
    assert neck(visual, turns).shape == (4 * T + 2 * 4, H)


def test_region_feature_enters_the_temporal_qformer(neck, visual, tok):
    a = make_turn(tok, 'what is <mask>?', [box_region(0, 0, 4, 0, 4)])
    b = make_turn(tok, 'what is <mask>?', [box_region(0, 8, 16, 8, 16)])
    assert not torch.allclose(neck(visual, [a])[:T], neck(visual, [b])[:T])


def test_gradients_reach_every_trainable_parameter(tok):
    cfg = Config.fromfile(TINY_CFG)
    neck = MODELS.build(dict(cfg.neck, llm_hidden_size=H))
    visual = torch.randn(T, 256, H, requires_grad=True)
    turns = [make_turn(tok, 'what is <mask> doing?', [box_region(2, 1, 5, 1, 5)]), make_turn(tok, 'the video')]
    neck(visual, turns).square().sum().backward()
    frozen = {n for n, p in neck.named_parameters() if not p.requires_grad}
    assert frozen == set(neck.dead_parameter_names)
    assert frozen == {f'temporal_Qformer.bert.encoder.layer.0.{m}' for m in (
        'intermediate.dense.weight', 'intermediate.dense.bias', 'output.dense.weight', 'output.dense.bias',
        'output.LayerNorm.weight', 'output.LayerNorm.bias')}
    missing = [n for n, p in neck.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert missing == []
    assert visual.grad is not None and visual.grad.any()


def test_deterministic(neck, visual, turns):
    assert torch.equal(neck(visual, turns), neck(visual, turns))
    spatial = neck.encode_spatial(visual)
    assert torch.equal(neck(visual, turns, spatial=spatial), neck(visual, turns))


# ------------------------------------------------------------------------------------------------ tokenizer
def test_tokenizer_full_size_ids(tmp_path):
    # A stand-in for bert-base-uncased's vocab.txt: same size and special-token positions (offline).
    vocab = ['[PAD]'] + [f'[unused{i}]' for i in range(99)] + ['[UNK]', '[CLS]', '[SEP]', '[MASK]']
    vocab += [f'w{i}' for i in range(30522 - len(vocab))]
    (tmp_path / 'vocab.txt').write_text('\n'.join(vocab) + '\n')
    tokenizer = build_qformer_tokenizer(str(tmp_path / 'vocab.txt'))
    assert len(tokenizer) == 30530
    assert tokenizer.convert_tokens_to_ids(list(QFORMER_SPECIAL_TOKENS)) == list(range(30522, 30530))
    assert tokenizer.convert_tokens_to_ids(['<mask>', '<pos>']) == [30523, 30524]
    assert tokenizer.bos_token == '[DEC]' and tokenizer.truncation_side == 'left'
    assert tokenizer.model_max_length == 256
    ids = tokenizer(format_qformer_prompt('W5 <mask> w7'))['input_ids']
    assert ids == [101, 5 + 104, 30528, 30523, 30524, 30529, 7 + 104, 102]  # lower-cased
    tokenizer.save_pretrained(tmp_path / 'saved')
    again = build_qformer_tokenizer(str(tmp_path / 'saved'))
    assert len(again) == 30530 and again(format_qformer_prompt('W5 <mask> w7'))['input_ids'] == ids
    assert build_qformer_tokenizer(str(tmp_path))('w5')['input_ids'] == [101, 109, 102]  # a folder with vocab.txt
    with pytest.raises(ValueError):
        build_qformer_tokenizer()
    with pytest.raises(FileNotFoundError):
        build_qformer_tokenizer(str(tmp_path / 'missing.txt'))


def test_tiny_tokenizer_matches_tiny_config(tok):
    cfg = Config.fromfile(TINY_CFG).neck
    assert len(tok) == cfg.temporal_vocab_size
    assert tok.convert_tokens_to_ids(['<mask>', '<pos>']) == [cfg.region_token_id, cfg.box_token_id]
    enc = tok(format_qformer_prompt('What is <mask> DOING?'))['input_ids']
    pieces = tok.convert_ids_to_tokens(enc)
    assert pieces[:8] == ['[CLS]', 'what', 'is', '<vp>', '<mask>', '<pos>', '</vp>', 'doing']
    assert enc.count(cfg.region_token_id) == 1 and enc.count(cfg.box_token_id) == 1
    long = tok(format_qformer_prompt('video ' * 300 + '<mask>'), truncation=True)['input_ids']
    assert len(long) == 256 and cfg.region_token_id in long  # left truncation keeps the end of the question


def test_format_qformer_prompt():
    assert format_qformer_prompt('Is <mask> left of <mask>?') == (
        'Is <vp><mask><pos></vp> left of <vp><mask><pos></vp>?')
    assert format_qformer_prompt('no regions') == 'no regions'


def test_full_size_config_needs_hidden_size():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/st_aggregator.py').neck
    assert cfg.llm_hidden_size is None and cfg.window_size == 512 and cfg.temporal_vocab_size == 30530
    with pytest.raises(ValueError, match='llm_hidden_size'):
        MODELS.build(cfg)
    with torch.device('meta'):
        built = MODELS.build(dict(cfg, llm_hidden_size=2048))
    assert built.Qformer_final_proj.weight.shape == (2048, 2048)
    assert math.isclose(built.spatial_Qformer.bert.embeddings.LayerNorm.eps, 1e-12)


# ------------------------------------------------------------------------------------------------ BaseNeck contract
def test_st_aggregator_follows_the_neck_contract(neck, visual, turns):
    assert isinstance(neck, BaseNeck)
    spatial = neck.encode_spatial(visual)
    assert torch.equal(neck(visual, turns, spatial=spatial), neck(visual, turns))
    with pytest.raises(ValueError, match=r'STAggregator: visual tokens must be \[T, N, 64\]'):
        neck(visual[..., :8], turns)


def test_base_neck_is_abstract_and_caches_nothing_by_default():
    with pytest.raises(TypeError, match='abstract'):
        BaseNeck(llm_hidden_size=H)

    class MeanNeck(BaseNeck):
        """One token per frame: the mean of its visual tokens (a neck defined here alone)."""

        def forward(self, visual, turns, spatial=None):
            self.check_visual(visual)
            return visual.mean(dim=1).repeat(len(turns), 1)

        def num_tokens(self, num_frames, turns):
            return num_frames * len(turns)

    mean_neck = MeanNeck(llm_hidden_size=H)
    visual = torch.randn(T, 4, H)
    assert mean_neck.encode_spatial(visual) is None
    assert mean_neck(visual, [{}, {}]).shape == (mean_neck.num_tokens(T, [{}, {}]), H)
    for bad in (0, None, True, 2.5):
        with pytest.raises(ValueError, match='MeanNeck: llm_hidden_size must be a positive int'):
            MeanNeck(llm_hidden_size=bad)
