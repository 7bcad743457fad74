"""Exact official inference: the switches that make a released SAMA checkpoint compute what the released code
computes (PIL resizing, the no-region bias terms of the temporal Q-Former), and end-to-end parity with
reference tensors recorded from the official model (``tests/data/official_parity/``, written by
``tools/dev/record_official_reference.py``; no official code or network at test time)."""
import math
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from sama_mm.datasets.transforms.frame_source import SAM2FrameSource
from sama_mm.datasets.transforms.image import (IMAGENET_MEAN, IMAGENET_STD, InternVLImageTransform,
                                               SAM2ImageTransform, resize_normalize)
from sama_mm.models.necks import STAggregator
from sama_mm.structures.region_prompt import format_qformer_prompt
from sama_mm.tokenizers import build_qformer_tokenizer
from sama_mm.registry import MODELS
from tests.conftest import REPO_ROOT

H = 64


def noise_frames(n=2, h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def pil_reference(frames, size, round_norm_to_bf16=False):
    """What the released inference feeds its encoders: PIL bicubic resize, /255, ImageNet mean/std (float32;
    the SAM2 path subtracts/divides bf16 mean/std, which is float32 arithmetic on bf16-rounded constants)."""
    out = []
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    if round_norm_to_bf16:
        mean, std = mean.bfloat16(), std.bfloat16()
    for frame in frames:
        pil = Image.fromarray(frame).resize((size, size), Image.BICUBIC)
        x = torch.from_numpy(np.array(pil)).permute(2, 0, 1).contiguous()
        x = x / 255.
        x -= mean
        x /= std
        out.append(x)
    return torch.stack(out)


# ------------------------------------------------------------------------------------------------ resizing
@pytest.mark.parametrize('size', [448, 1024])
def test_pil_backend_is_bit_identical_to_pil(size):
    frames = noise_frames()
    ours = resize_normalize(frames, size, resize_backend='pil')
    assert torch.equal(ours, pil_reference(frames, size))
    # The default torch backend is not: on noise many values move by several grey levels.
    grey = ((resize_normalize(frames, size) - ours) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255).abs()
    assert (grey > 0.5).float().mean() > 0.05 and grey.max() > 3


def test_sam2_normalisation_rounded_like_the_release():
    frames = noise_frames(1)
    ours = resize_normalize(frames, 256, resize_backend='pil', round_norm_to_bf16=True)
    assert torch.equal(ours, pil_reference(frames, 256, round_norm_to_bf16=True))
    assert not torch.equal(ours, pil_reference(frames, 256))


def test_transforms_take_the_backend(tmp_path):
    frames = noise_frames(3)
    vit = InternVLImageTransform(448, resize_backend='pil')
    assert torch.equal(vit(dict(imgs=frames))['pixel_values'], pil_reference(frames, 448))
    sam2 = SAM2ImageTransform(1024, resize_backend='pil', round_norm_to_bf16=True)
    out = sam2(dict(imgs=frames, dense_positions=[0, 2]))['sam2_pixel_values']
    assert torch.equal(out, pil_reference(frames[[0, 2]], 1024, round_norm_to_bf16=True))
    for name in ('PIL', 'cv2'):
        with pytest.raises(ValueError, match='resize_backend'):
            InternVLImageTransform(448, resize_backend=name)
    with pytest.raises(ValueError, match='uint8'):
        resize_normalize(frames.astype(np.float32), 448, resize_backend='pil')
    # The on-demand SAM2 frame source of inference (a frame folder here).
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f'{i:05d}.png')
    step = SAM2FrameSource(image_size=256, resize_backend='pil', round_norm_to_bf16=True)
    source = step(dict(video_path=str(tmp_path), num_frames=3, frames=None))['sam2_frames']
    assert torch.equal(source([1, 2]), pil_reference(frames[1:], 256, round_norm_to_bf16=True))
    assert 'resize_backend' in repr(step)


# ------------------------------------------------------------------------------------------------ no-region bias
@pytest.fixture(scope='module')
def tok():
    return build_qformer_tokenizer(tiny=True)


def tiny_neck(**kwargs):
    torch.manual_seed(0)
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/st_aggregator_tiny.py')
    neck = MODELS.build(dict(cfg.neck, llm_hidden_size=H, **kwargs)).eval()
    with torch.no_grad():  # non-zero biases (BERT init zeroes them), as in a trained checkpoint
        for module in (neck.Qformer_mask_pooling_proj_st, *neck.Qformer_mask_proj_st.layers):
            module.bias.normal_(std=0.5)
    return neck


def qformer_turn(tok, question, regions=()):
    enc = tok(format_qformer_prompt(question))
    return dict(qformer_input_ids=torch.tensor(enc['input_ids']),
                qformer_attention_mask=torch.tensor(enc['attention_mask']), regions=list(regions))


def test_no_region_bias_official_adds_the_region_modules_on_zeros(tok):
    neck = tiny_neck(no_region_bias='official')
    plain = tiny_neck()
    plain.load_state_dict(neck.state_dict())
    assert plain.no_region_bias == 'none' and plain.no_region_bias_terms() == ()
    visual = torch.randn(5, 256, H, generator=torch.Generator().manual_seed(1))
    turn = qformer_turn(tok, 'where is the person?')

    # What reaches the embedding LayerNorm: [queries; word + position] + pooling_proj_st(0) + mask_proj_st(0).
    seen = []
    neck.temporal_Qformer.bert.embeddings.LayerNorm.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        out = neck(visual, [turn])
        emb = neck.temporal_Qformer.bert.embeddings
        ids = turn['qformer_input_ids'][None]
        text = emb.word_embeddings(ids) + emb.position_embeddings(emb.position_ids[:, :ids.shape[1]])
        expected = torch.cat([neck.temporal_Qformer_query_tokens, text], dim=1)
        expected = expected + neck.Qformer_mask_pooling_proj_st(torch.zeros(1, H))
        expected = expected + neck.Qformer_mask_proj_st(torch.zeros(1, 112 * 112))
        assert len(seen) == len(neck.windows(5 * neck.spatial_Qformer_query_tokens.shape[1]))
        for hidden in seen:
            torch.testing.assert_close(hidden, expected, rtol=0, atol=0)
        ref = plain(visual, [turn])
    # The terms matter (this is the 150 % of a released checkpoint at full size) ...
    assert (out - ref).abs().max() > 1e-3
    # ... and a turn with region prompts is unchanged: the released code adds nothing there.
    mask = torch.zeros(16, 16)
    mask[2:6, 3:9] = 1
    region = dict(frame=0, mask16=mask, mask112=torch.nn.functional.interpolate(mask[None, None], (112, 112))[0, 0])
    with_region = qformer_turn(tok, 'what is <mask> doing?', [region])
    with torch.no_grad():
        torch.testing.assert_close(neck(visual, [with_region]), plain(visual, [with_region]), rtol=0, atol=0)


def test_no_region_bias_is_checked():
    with pytest.raises(ValueError, match='no_region_bias'):
        STAggregator(llm_hidden_size=H, no_region_bias='train')


# ------------------------------------------------------------------------------------------------ end to end
FIXTURE = f'{REPO_ROOT}/tests/data/official_parity'


def official_settings():
    """What a released checkpoint needs to compute what the released inference computes (docs/evaluation.md)."""
    return dict(model=dict(sam2_prompt_frames='first', neck=dict(no_region_bias='official'),
                           seg_head=dict(resize_backend='pil', round_norm_to_bf16=True, round_memory_to_bf16=True)),
                chat_cfg=dict(resize_backend='pil', sam2_resize_backend='pil', sam2_round_norm_to_bf16=True))


def load_reference(folder):
    """``(meta, tensors)`` recorded from the official model: ``reference.json`` and ``reference.safetensors``."""
    import json

    from safetensors.torch import load_file
    return json.load(open(f'{folder}/reference.json')), load_file(f'{folder}/reference.safetensors')


@pytest.fixture(scope='module')
def reference():
    return load_reference(FIXTURE)


@pytest.fixture(scope='module')
def official_inferencer(tmp_path_factory, reference):
    """The fixture checkpoint (weights rebuilt from the recipe) through our converter, used as it is written."""
    from sama_mm.apis import SAMAInferencer
    from sama_mm.apis.convert import convert_from_hf, load_converted_config
    root = tmp_path_factory.mktemp('official_parity')
    src = str(root / 'released')
    rebuild_released(FIXTURE, src)
    dst = str(root / 'converted')
    meta = reference[0]
    convert_from_hf(src, dst, sam2_image_size=meta['sam2_image_size'], qformer_heads=2,
                    qformer_vocab=f'{src}/qformer_vocab.txt')
    # The converter turns every official behaviour on by itself: nothing is set here but the generation limit.
    cfg = load_converted_config(dst)
    switches = official_settings()
    assert cfg.model.sam2_prompt_frames == switches['model']['sam2_prompt_frames']
    assert holds(cfg.model.neck, switches['model']['neck'])
    assert holds(cfg.model.seg_head, switches['model']['seg_head'])
    assert holds(cfg.chat_cfg, switches['chat_cfg'])
    return SAMAInferencer(dst, dst, chat_cfg=dict(max_new_tokens=meta['max_new_tokens']))


def holds(cfg, expected: dict) -> bool:
    """Whether the config dict ``cfg`` has every key/value of ``expected``."""
    return all(k in cfg and cfg[k] == v for k, v in expected.items())


def rel_err(ours, ref):
    ours, ref = ours.detach().float().reshape(ref.shape), ref.float()
    return float((ours - ref).abs().max() / ref.abs().max())


def mask_ious(ours, ref):
    inter = (ours & ref).flatten(-2).sum(-1).float()
    union = (ours | ref).flatten(-2).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


class _Taps:
    """Our intermediate tensors of one turn: temporal Q-Former output, neck output, fused LLM input and ids."""

    def __init__(self, session):
        self.data = {}
        neck = session.model.neck
        encode_temporal, forward, embed = neck.encode_temporal, neck.forward, session.model.embed_turn

        def tap_temporal(*args, **kwargs):
            out = encode_temporal(*args, **kwargs)
            self.data['temporal'] = out
            return out

        def tap_neck(*args, **kwargs):
            out = forward(*args, **kwargs)
            self.data['neck'] = out
            return out

        def tap_embed(ids, fill, where='the turn'):
            out = embed(ids, fill, where)
            self.data.setdefault('ids', ids[0].tolist())
            self.data.setdefault('embeds', out[0])
            return out

        neck.encode_temporal, neck.forward, session.model.embed_turn = tap_temporal, tap_neck, tap_embed
        self.restore = lambda: (neck.__dict__.pop('encode_temporal'), neck.__dict__.pop('forward'),
                                session.model.__dict__.pop('embed_turn'))


@pytest.mark.parametrize('case_name', ['text', 'box_frame0', 'box_every_frame'])
def test_end_to_end_matches_the_official_model(official_inferencer, reference, case_name):
    meta, ref = reference
    case = next(c for c in meta['cases'] if c['name'] == case_name)
    inferencer = official_inferencer
    inferencer.settings['context_sep'] = case['context_sep']  # RVOS prompt ('\n') / SAMA-Bench prompt ('')
    regions = []
    for r in case['regions']:
        x1, y1, x2, y2 = r['box']
        mask = np.zeros((meta['height'], meta['width']), bool)
        mask[y1:y2, x1:x2] = True
        regions.append((r['frame'], mask))
    # The region cases go through the bf16 region pooling of the released code (the Q-Former and LLM paths).
    tol = 1e-5 if not regions else 2e-2

    session = inferencer.open(f'{FIXTURE}/video')
    assert session.frame_indices == meta['sparse_indices']
    assert session.dense_positions == meta['dense_positions']
    assert rel_err(session.visual, ref['vit_features']) < 1e-5
    taps = _Taps(session)
    try:
        greedy = session.ask(case['question'], regions=regions, segment=False)
    finally:
        taps.restore()
    assert taps.data['ids'] == case['prompt_ids']
    assert greedy.token_ids == case['greedy_ids']
    T = len(meta['sparse_indices'])
    assert rel_err(taps.data['temporal'], ref[f'{case_name}.temporal']) < tol
    assert rel_err(taps.data['neck'][:T], ref[f'{case_name}.context_tokens']) < tol
    assert rel_err(taps.data['embeds'], ref[f'{case_name}.inputs_embeds']) < tol

    session.reset()
    forced = session.ask(case['question'], regions=regions, answer=meta['answer'])
    assert forced.token_ids == case['forced_ids']
    assert rel_err(forced.seg_hidden, ref[f'{case_name}.forced_seg_hidden']) < tol
    ious = mask_ious(forced.masks, ref[f'{case_name}.forced_masks'])
    assert ious.min() >= 0.999, ious


def test_official_preprocessing_pixels(official_inferencer, reference):
    """The ViT and SAM2 inputs of the released inference, bit for bit (PIL resize, bf16-rounded SAM2 mean/std)."""
    _, ref = reference
    session = official_inferencer.open(f'{FIXTURE}/video')
    from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
    info = VideoInit()(dict(video_path=f'{FIXTURE}/video', video_id='video'))
    imgs = VideoDecode()(dict(info, frame_indices=session.frame_indices))['imgs']
    pixels = resize_normalize(imgs, 448, resize_backend='pil')
    assert torch.equal(pixels[0], ref['pixel_values_frame0'])
    assert _same_sum(pixels, ref['pixel_values_sum'][0])
    sam2 = session.sam2_frames(list(range(session.num_frames)))
    assert torch.equal(sam2[0], ref['sam2_pixel_values_frame0'])
    assert _same_sum(sam2, ref['sam2_pixel_values_sum'][0])


def _same_sum(pixels: torch.Tensor, reference) -> bool:
    """The float64 sum of every pixel against the recorded one. The order in which torch adds depends on its
    thread count (1 vs 2 threads moved the last digits), so the check allows 1e-10 relative; any real pixel
    change (another resize or normalisation) moves the sum by orders of magnitude more."""
    return math.isclose(float(pixels.double().sum()), float(reference), rel_tol=1e-10)


# ------------------------------------------------------------------------------------------------ Sa2VA (neck=None)
SA2VA_FIXTURE = f'{FIXTURE}/sa2va'
#: The tokenizer files of the SAMA fixture, shared by the Sa2VA one (the recorder checks they are identical).
SHARED_TOKENIZER_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json')


def sa2va_official_settings():
    """What a released Sa2VA checkpoint (``neck=None``) needs to compute what the released inference computes when
    it is called as the released referring-VOS evaluation calls it (every frame of the video, ``"<image>\\n" +
    question``): the SAMA switches without the neck's, and every frame as a sparse frame so that the LLM sees the
    first 5 frames of the video (``interval=1``, ``max_frames`` at least the video length; docs/evaluation.md).
    ``sam2_prompt_frames='first'`` then coincides with the default ``'dense'``."""
    settings = official_settings()
    del settings['model']['neck']
    settings['chat_cfg'].update(interval=1, max_frames=5, min_frames=5, sparse_policy='first', num_dense=5,
                                dense_policy='first', frames_sep='\n')
    return settings


#: Our own defaults for the settings that the converter sets to the released inference's (the "defaults differ"
#: test turns them back on).
OUR_DEFAULTS = dict(model=dict(sam2_prompt_frames='dense',
                               seg_head=dict(resize_backend='torch', round_norm_to_bf16=False,
                                             round_memory_to_bf16=False)),
                    chat_cfg=dict(interval=3, max_frames=32, min_frames=8, sparse_policy='spread', frames_sep='',
                                  resize_backend='torch', sam2_resize_backend='torch', sam2_round_norm_to_bf16=False))


def rebuild_released(fixture, dst, tokenizer_from=None):
    """Copy ``fixture/released`` to ``dst`` with the weights rebuilt from the fixture's recipe (and the tokenizer
    files of ``tokenizer_from``). A recipe entry's ``row_scale`` (``{row: factor}``) multiplies rows of the drawn
    tensor."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file
    shutil.copytree(f'{fixture}/released', dst)
    for name in SHARED_TOKENIZER_FILES if tokenizer_from else ():
        shutil.copyfile(f'{tokenizer_from}/{name}', f'{dst}/{name}')
    recipe = json.load(open(f'{fixture}/recipe.json'))
    small = load_file(f'{fixture}/small_tensors.safetensors')
    state = {}
    for name, entry in recipe.items():
        if entry['rule'] == 'verbatim':
            state[name] = small[name]
        else:
            gen = torch.Generator().manual_seed(int(entry['seed']))
            state[name] = entry['mean'] + entry['std'] * torch.randn(entry['shape'], generator=gen)
            for row, factor in entry.get('row_scale', {}).items():
                state[name][int(row)] *= factor
    save_file(state, f'{dst}/model.safetensors')


@pytest.fixture(scope='module')
def sa2va_reference():
    return load_reference(SA2VA_FIXTURE)


@pytest.fixture(scope='module')
def sa2va_converted(tmp_path_factory, sa2va_reference):
    """The Sa2VA fixture checkpoint through our converter (a ``neck=None`` model)."""
    from sama_mm.apis.convert import convert_from_hf
    root = tmp_path_factory.mktemp('official_parity_sa2va')
    src, dst = str(root / 'released'), str(root / 'converted')
    rebuild_released(SA2VA_FIXTURE, src, tokenizer_from=f'{FIXTURE}/released')
    convert_from_hf(src, dst, sam2_image_size=sa2va_reference[0]['sam2_image_size'])
    return dst


def sa2va_inferencer(converted, meta, official=True):
    from sama_mm.apis import SAMAInferencer
    from sama_mm.apis.convert import load_converted_config
    cfg = load_converted_config(converted)
    assert cfg.model.neck is None
    chat_cfg = dict(max_new_tokens=meta['max_new_tokens'])
    # The converter writes the official settings by itself (checked here); ``official=False`` turns ours back on.
    switches = sa2va_official_settings()
    assert cfg.model.sam2_prompt_frames == switches['model']['sam2_prompt_frames']
    assert holds(cfg.model.seg_head, switches['model']['seg_head'])
    assert holds(cfg.chat_cfg, switches['chat_cfg'])
    if not official:
        cfg.model.sam2_prompt_frames = OUR_DEFAULTS['model']['sam2_prompt_frames']
        cfg.model.seg_head.update(OUR_DEFAULTS['model']['seg_head'])
        chat_cfg.update(OUR_DEFAULTS['chat_cfg'])
    return SAMAInferencer(cfg, converted, chat_cfg=chat_cfg)


def test_sa2va_end_to_end_matches_the_official_model(sa2va_converted, sa2va_reference):
    """Released Sa2VA chat model (no aggregator): prompt ids, ViT features, fused LLM input, greedy ids, the greedy
    and teacher-forced ``[SEG]`` hidden states and the masks of every frame (SAM2 prompted on the first 5)."""
    from sama_mm.structures import SAMADataSample
    meta, ref = sa2va_reference
    session = sa2va_inferencer(sa2va_converted, meta).open(f'{FIXTURE}/video')
    assert session.num_frames == meta['num_frames']
    assert session.dense_frame_indices == meta['vit_frames']
    sample = SAMADataSample(metainfo=dict(dense_frame_indices=session.dense_frame_indices))
    assert session.model.prompt_frame_positions(sample, session.num_frames) == meta['sam2_prompt_frames']
    assert rel_err(session.visual[session.dense_positions], ref['vit_features']) < 1e-5
    question = meta['question']
    seen = {}
    embed = session.model.embed_turn

    def tap_embed(ids, fill, where='the turn'):
        out = embed(ids, fill, where)
        seen.setdefault('ids', ids[0].tolist())
        seen.setdefault('embeds', out[0])
        return out

    session.model.embed_turn = tap_embed  # a fresh model per inferencer: nothing to restore
    greedy = session.ask(question)
    assert seen['ids'] == meta['prompt_ids']
    assert greedy.token_ids == meta['greedy_ids']
    assert rel_err(seen['embeds'], ref['inputs_embeds']) < 1e-5
    # The greedy answer holds one [SEG] (the fixture's LM head favours it): the hidden state of the generation step
    # that consumes it (the released get_seg_hidden_states) and its mask track.
    assert len(ref['greedy_seg_hidden']) == 1 and greedy.num_objects == 1
    assert rel_err(greedy.seg_hidden, ref['greedy_seg_hidden']) < 1e-5
    ious = mask_ious(greedy.masks, ref['greedy_masks'])
    assert ious.min() >= 0.999, ious

    session.reset()
    forced = session.ask(question, answer=meta['answer'])
    assert forced.token_ids == meta['forced_ids']
    assert rel_err(forced.seg_hidden, ref['forced_seg_hidden']) < 1e-5
    assert forced.masks.shape == ref['forced_masks'].shape
    assert ref['forced_masks'].any(-1).any(-1).all()  # a mask on every frame: the IoU below is not vacuous
    ious = mask_ious(forced.masks, ref['forced_masks'])
    assert ious.min() >= 0.999, ious


def test_sa2va_official_preprocessing_pixels(sa2va_converted, sa2va_reference):
    """The ViT input of the first 5 frames and the SAM2 input of every frame, bit for bit (per-frame sums)."""
    meta, ref = sa2va_reference
    session = sa2va_inferencer(sa2va_converted, meta).open(f'{FIXTURE}/video')
    from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
    info = VideoInit()(dict(video_path=f'{FIXTURE}/video', video_id='video'))
    imgs = VideoDecode()(dict(info, frame_indices=session.dense_frame_indices))['imgs']
    pixels = resize_normalize(imgs, 448, resize_backend=session.settings['resize_backend'])
    assert torch.equal(pixels.double().sum((1, 2, 3)), ref['pixel_values_sums'])
    sam2 = session.sam2_frames(list(range(session.num_frames)))
    assert torch.equal(sam2.double().sum((1, 2, 3)), ref['sam2_pixel_values_sums'])


def test_sa2va_defaults_differ_from_the_official_inference(sa2va_converted, sa2va_reference):
    """Without the switches a converted Sa2VA release does not compute the released inference: the LLM sees
    sparse frames 0, 3, 6, 9, 12 instead of frames 0-4, the prompt lacks the ``'\\n'`` after the frame block, the
    frames are resized by torch (so the test above is not vacuous)."""
    meta, ref = sa2va_reference
    session = sa2va_inferencer(sa2va_converted, meta, official=False).open(f'{FIXTURE}/video')
    assert session.dense_frame_indices == [0, 3, 6, 9, 12]
    ids = session.turn_ids(meta['question'], first=True)
    official = meta['prompt_ids']
    # Exactly one token missing: the '\n' between '</img>' and the question.
    k = next(i for i, (a, b) in enumerate(zip(ids, official)) if a != b)
    assert ids[:k] == official[:k] and ids[k:] == official[k + 1:]
    assert session.tokenizer.decode(official[k - 1:k + 1]) == '</img>\n'
    assert rel_err(session.visual[session.dense_positions], ref['vit_features']) > 1e-2


@pytest.mark.slow
def test_sa2va_tools_test_on_a_mevis_layout_set_gives_the_official_masks(sa2va_converted, sa2va_reference, tmp_path):
    """``tools/test.py`` on the converted release as it comes, over a MeViS-layout split holding the fixture video
    and the recorded question's expression, scored against the official model's masks as ground truth: J&F 100
    (masks identical on every frame)."""
    import json
    import os.path as osp

    from pycocotools import mask as mask_utils

    from sama_mm.utils.data_config import DATA_CONFIG_FILE
    from tests.conftest import run_tool
    meta, ref = sa2va_reference
    prefix = 'Please segment '
    assert meta['question'].startswith(prefix) and meta['question'].endswith('.')
    expression = meta['question'][len(prefix):-1]  # the release test pipeline asks 'Please segment {exp}.'
    split = tmp_path / 'mevis' / 'valid_u'
    import shutil
    shutil.copytree(f'{FIXTURE}/video', split / 'JPEGImages' / 'vid')
    frames = sorted(p.stem for p in (split / 'JPEGImages' / 'vid').iterdir())
    assert len(frames) == meta['num_frames']
    (split / 'meta_expressions.json').write_text(json.dumps(dict(videos=dict(vid=dict(
        frames=frames, expressions={'0': dict(exp=expression, anno_id=['7'], obj_id=[0])})))))
    official = ref['greedy_masks'][0].numpy()  # [N, H, W]: the official greedy answer's one [SEG] track
    assert official.any(-1).any(-1).all()
    rles = []
    for m in official:
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rles.append(dict(size=rle['size'], counts=rle['counts'].decode()))
    (split / 'mask_dict.json').write_text(json.dumps({'7': rles}))
    record = json.load(open(f'{sa2va_converted}/{DATA_CONFIG_FILE}'))
    record['model']['max_new_tokens'] = meta['max_new_tokens']  # the generation limit of the recording
    record.update(
        test_dataloader=dict(batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dict(type='RefVOSDataset', data_root=str(split) + '/',
                                          ann_file='meta_expressions.json', mask_file='mask_dict.json',
                                          test_mode=True, pipeline=record['test_pipeline'])),
        test_evaluator=dict(type='RVOSMetric', ann_file=str(split / 'meta_expressions.json'),
                            mask_file=str(split / 'mask_dict.json')),
        test_cfg=dict(type='TestLoop'))
    # Beside the folder's own config: the paths inside (the tokenizer) are relative to the file's folder.
    config = osp.join(sa2va_converted, 'mevis_test.json')
    with open(config, 'w', encoding='utf-8') as f:
        json.dump(record, f)
    out = tmp_path / 'metrics.json'
    run_tool('tools/test.py', config, sa2va_converted, '--out', out, '--work-dir', tmp_path / 'work', check=True)
    metrics = json.load(open(out))
    assert metrics['rvos/J&F'] == pytest.approx(100.0), metrics
