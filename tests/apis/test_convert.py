"""Checkpoint conversion (released HF layout <-> sama_mm), strict loading and LoRA merging."""
import json
import os
import os.path as osp
import stat

import pytest
import torch
from mmengine.config import Config

from sama_mm.apis.convert import (ConversionError, convert_from_hf, convert_to_hf, hf_config_from_model,
                                  infer_model_cfg, load_converted_config, load_our_folder, merge_lora,
                                  our_key_to_released, released_key_to_ours, rename_state, save_sharded)
from sama_mm.utils.weights import SAFETENSORS_INDEX, StateDictMismatchError, read_safetensors_folder
from tests.apis.helpers import TINY_CONFIG
from tests.conftest import REPO_ROOT

LAYOUT = osp.join(REPO_ROOT, 'tests', 'data', 'released_tiny_layout.json')


def _tiny_cfg(neck=True, lora=None):
    cfg = Config.fromfile(TINY_CONFIG)
    if neck:
        neck_cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'st_aggregator_tiny.py')).neck
        cfg.model.neck = dict(neck_cfg, llm_hidden_size=64)
    if lora is not None:
        cfg.model.backbone.llm_lora = lora
    return cfg


def _build(cfg, seed=0):
    from sama_mm.apis.convert import build_model
    torch.manual_seed(seed)
    return build_model(cfg).eval()


@pytest.fixture(scope='module')
def fake_released(tmp_path_factory):
    """A released-layout folder made from our tiny model (with the tiny aggregator) via the inverse key map."""
    model = _build(_tiny_cfg(neck=True))
    src = str(tmp_path_factory.mktemp('released') / 'SAMA_tiny')
    import os
    os.makedirs(src)
    state = rename_state(model.state_dict(), our_key_to_released)
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
    save_sharded(state, src, max_shard_bytes=40 * 1024**2)
    config = hf_config_from_model(model)
    config['torch_dtype'] = 'bfloat16'
    with open(osp.join(src, 'config.json'), 'w') as f:
        json.dump(config, f)
    model.backbone.tokenizer.save_pretrained(src)
    return src, state


def test_released_layout_maps_both_ways():
    layout = json.load(open(LAYOUT))
    names = list(layout['tensors'])
    ours = [released_key_to_ours(k) for k in names]
    assert len(set(ours)) == len(names)
    assert [our_key_to_released(k) for k in ours] == names
    assert 'seg_head.sam2_model.memory_encoder.fuser.layers.0.gamma' in ours
    assert {k.split('.')[0] for k in ours} == {'backbone', 'seg_head', 'neck'}
    with pytest.raises(ConversionError, match='unknown released key'):
        released_key_to_ours('cls.predictions.bias')
    with pytest.raises(ConversionError, match='LoRA'):
        our_key_to_released('backbone.language_model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')


def test_sizes_inferred_from_released_shapes():
    layout = json.load(open(LAYOUT))
    shapes = {k: v[0] for k, v in layout['tensors'].items()}
    cfg = infer_model_cfg(layout['config'], shapes, qformer_heads=2)
    llm = cfg['backbone']['llm']
    assert llm['type'] == 'Qwen2ForCausalLM'
    assert llm['config']['vocab_size'] == 488 and llm['config']['hidden_size'] == 64
    assert llm['config']['num_hidden_layers'] == 2 and llm['config']['intermediate_size'] == 128
    assert llm['config']['tie_word_embeddings'] is False
    vision = cfg['backbone']['vision']
    assert (vision['hidden_size'], vision['num_hidden_layers'], vision['image_size'], vision['intermediate_size']) == \
        (32, 2, 448, 64)
    neck_sizes = json.load(open(osp.join(REPO_ROOT, 'tests', 'data', 'released_tiny_neck_keys.json')))['sizes']
    neck = cfg['neck']
    for key, value in neck_sizes.items():
        assert neck[key] == value, key
    assert neck['spatial_cross_attention_freq'] == 2 and neck['temporal_cross_attention_freq'] == 1
    assert (neck['region_token_id'], neck['box_token_id']) == (30523, 30524)
    seg = cfg['seg_head']
    assert seg['llm_hidden_size'] == 64
    assert '++model.image_encoder.trunk.stages=[1,2,3,1]' in seg['hydra_overrides']
    assert '++model.image_encoder.trunk.embed_dim=16' in seg['hydra_overrides']


def test_round_trip_is_exact(fake_released, tmp_path):
    src, state = fake_released
    ours = str(tmp_path / 'ours')
    report = convert_from_hf(src, ours, sam2_image_size=256, qformer_heads=2)
    assert report['verified'] and report['num_tensors'] == len(state)
    assert report['model']['seg_head']['sam2_config'] == 'configs/sam2/sam2_hiera_t.yaml'
    assert report['settings'] == 'release defaults'
    assert osp.isfile(osp.join(ours, 'sama_mm_config.json')) and osp.isfile(osp.join(ours, 'tokenizer.json'))
    assert not osp.exists(osp.join(ours, 'config.py'))  # no code in a converted folder
    back = str(tmp_path / 'back')
    convert_to_hf(ours, back, max_shard_bytes=40 * 1024**2)
    for name in ('config.json', SAFETENSORS_INDEX, 'tokenizer.json', 'tokenizer_config.json', 'sama_mm_config.json'):
        assert osp.isfile(osp.join(back, name)), name
    assert json.load(open(osp.join(back, 'config.json'))) == json.load(open(osp.join(src, 'config.json')))
    index = json.load(open(osp.join(back, SAFETENSORS_INDEX)))
    assert len(set(index['weight_map'].values())) > 1  # sharded like the released folders
    # Written with the mode a plain open() gives (safetensors itself writes 0600).
    umask = os.umask(0)
    os.umask(umask)
    for folder, names in ((ours, ['model.safetensors']), (back, sorted(set(index['weight_map'].values())))):
        for name in names:
            assert stat.S_IMODE(os.stat(osp.join(folder, name)).st_mode) == 0o666 & ~umask, name
    # Converting the exported folder again keeps the settings it carries.
    again = str(tmp_path / 'again')
    assert convert_from_hf(back, again, verify=False)['settings'] == 'recorded'
    from sama_mm.apis.inference import chat_cfg_from_config
    first, second = load_converted_config(ours), load_converted_config(again)
    assert chat_cfg_from_config(second) == chat_cfg_from_config(first)
    assert second.test_pipeline == [_relocated(s, ours, again) for s in first.test_pipeline]
    again = read_safetensors_folder(back)
    assert sorted(again) == sorted(state)
    for key, value in state.items():
        assert again[key].dtype == value.dtype and torch.equal(again[key], value), key
    with pytest.raises(FileExistsError):
        convert_to_hf(ours, back)


def test_converted_folder_chats(fake_released, tmp_path):
    from sama_mm.apis import SAMAInferencer
    from tests.apis.helpers import write_frame_folder
    src, _ = fake_released
    ours = str(tmp_path / 'ours')
    convert_from_hf(src, ours, sam2_image_size=256, qformer_heads=2, verify=False)
    # The converted tiny model keeps the neck; chat with it needs the neck wiring, so drop it here.
    cfg = load_converted_config(ours)
    assert cfg.chat_cfg['num_image_tokens'] == 4 and cfg.chat_cfg['sam2_image_size'] == 256
    cfg.model.neck = None
    cfg.chat_cfg['context_tokens'] = False
    state = {k: v for k, v in read_safetensors_folder(ours).items() if not k.startswith('neck.')}
    from sama_mm.utils.weights import save_safetensors
    ckpt = str(tmp_path / 'no_neck.safetensors')
    save_safetensors(state, ckpt)
    inferencer = SAMAInferencer(cfg, ckpt, chat_cfg=dict(max_new_tokens=3))
    session = inferencer.open(write_frame_folder(str(tmp_path / 'clip'), num_frames=4))
    result = session.ask('Hello?', segment=False)
    assert len(result.token_ids) <= 3
    with pytest.raises(StateDictMismatchError, match='unexpected keys: neck'):
        SAMAInferencer(cfg, ours)


def test_strict_loading_fails_on_missing_and_unexpected(fake_released, tmp_path):
    src, released = fake_released
    ours = str(tmp_path / 'ours')
    convert_from_hf(src, ours, sam2_image_size=256, qformer_heads=2, verify=False)
    state = read_safetensors_folder(ours)
    model = _build(ours)
    missing = dict(state)
    del missing['seg_head.text_hidden_fcs.0.bias']
    with pytest.raises(StateDictMismatchError, match='1 missing keys: seg_head.text_hidden_fcs.0.bias') as err:
        load_our_folder(model, ours, missing)
    assert err.value.missing == ['seg_head.text_hidden_fcs.0.bias'] and not err.value.unexpected
    extra = dict(state, **{'neck.extra.weight': torch.zeros(2)})
    with pytest.raises(StateDictMismatchError, match='1 unexpected keys: neck.extra.weight'):
        load_our_folder(model, ours, extra)
    # A released folder with a key of no known prefix is refused before anything is written.
    from safetensors.torch import save_file
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'config.json').write_text(json.dumps(json.load(open(osp.join(src, 'config.json')))))
    save_file(dict(released, **{'cls.predictions.bias': torch.zeros(3)}), str(bad / 'model.safetensors'))
    with pytest.raises(ConversionError, match='unknown released key'):
        convert_from_hf(str(bad), str(tmp_path / 'never'))
    assert not osp.exists(tmp_path / 'never')


def _relocated(node, old, new):
    if isinstance(node, dict):
        return {k: _relocated(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_relocated(v, old, new) for v in node]
    return node.replace(old, new) if isinstance(node, str) else node


def test_lora_merge_keeps_outputs(tmp_path):
    lora = dict(type='LoraConfig', r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['q_proj', 'v_proj'])
    cfg = _tiny_cfg(neck=False, lora=lora)
    model = _build(cfg)
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if 'lora_B' in name:
            p.data.normal_(0, 0.5)  # non-zero adapters so that merging matters
    embeds = torch.randn(1, 7, 64)
    with torch.no_grad():
        before, _ = model.backbone.forward_llm(embeds)
        with model.backbone.language_model.disable_adapter():
            plain, _ = model.backbone.forward_llm(embeds)
    # Export the LoRA model: merged on the way, released names only.
    ckpt = str(tmp_path / 'lora.safetensors')
    from sama_mm.utils.weights import save_safetensors
    save_safetensors(model.state_dict(), ckpt)
    merge_lora(model)
    assert not hasattr(model.backbone.language_model, 'merge_and_unload')
    assert not any('lora_' in k for k in model.state_dict())
    with torch.no_grad():
        after, _ = model.backbone.forward_llm(embeds)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(plain, after, atol=1e-3)  # the adapters did change the outputs
    out = str(tmp_path / 'hf')
    report = convert_to_hf(str(tmp_path), out, config=cfg, checkpoint=ckpt)
    assert report['merged_lora']
    exported = read_safetensors_folder(out)
    assert not any('lora' in k or 'base_model' in k for k in exported)
    key = 'language_model.model.layers.0.self_attn.q_proj.weight'
    torch.testing.assert_close(exported[key], model.backbone.llm_base.model.layers[0].self_attn.q_proj.weight)


def test_release_folder_gets_release_settings_and_a_full_test_pipeline(fake_released, tmp_path):
    """A real release carries no settings: the released inference ones, and a test pipeline chat can use."""
    from sama_mm.apis import SAMAInferencer
    from sama_mm.apis.convert import default_chat_cfg
    from sama_mm.apis.inference import chat_cfg_from_config
    from sama_mm.tokenizers import build_qformer_tokenizer
    from tests.apis.helpers import write_frame_folder
    src, _ = fake_released
    vocab = str(tmp_path / 'bert_tiny')
    build_qformer_tokenizer(tiny=True).save_pretrained(vocab)
    ours = str(tmp_path / 'ours')
    report = convert_from_hf(src, ours, sam2_image_size=256, qformer_heads=2, qformer_vocab=vocab, verify=False)
    assert report['settings'] == 'release defaults'
    cfg = load_converted_config(ours)
    settings = chat_cfg_from_config(cfg)
    assert {k: settings[k] for k in cfg.chat_cfg} == default_chat_cfg(cfg.model.to_dict())
    assert (settings['max_frames'], settings['num_dense'], settings['max_length']) == (32, 5, 8192)
    steps = [step['type'] for step in cfg.test_pipeline]
    assert steps == ['VideoInit', 'SampleFrames', 'VideoDecode', 'RefVOSToRounds', 'InternVLImageTransform',
                     'ChatTokenize', 'QFormerPrompts', 'SAM2FrameSource', 'PackSAMAInputs']
    assert cfg.test_pipeline[6]['tokenizer']['vocab_file'] == osp.join(ours, 'qformer_tokenizer')
    # The folder alone is a config: chat with a region prompt works (the neck reads the region).
    inferencer = SAMAInferencer(ours, ours, chat_cfg=dict(max_new_tokens=2, max_frames=4, num_dense=2))
    session = inferencer.open(write_frame_folder(str(tmp_path / 'clip'), num_frames=4))
    result = session.ask('What is <mask>?', regions=[(1, (5, 5, 30, 30))], segment=False)
    assert len(result.token_ids) <= 2
