"""Full-size backbone configs build on the meta device with exactly the released parameter layout.

Reference numbers: ``tests/data/released_backbone_params.json`` (derived by hand from the released shapes; see
its ``derivation`` fields). The full-size configs read their tokenizer from a local checkpoint folder, so the
tests substitute the tiny tokenizer: it is shorter than the released vocabulary, so nothing is resized, exactly
as with the released tokenizer whose length equals the vocabulary.
"""
import json

import pytest
import torch
from mmengine.config import Config

from sama_mm.registry import MODELS
from tests.conftest import REPO_ROOT
from tests.models.backbone_helpers import tiny_tokenizer

with open(f'{REPO_ROOT}/tests/data/released_backbone_params.json') as f:
    REFERENCE = json.load(f)
CONFIGS = sorted(REFERENCE['models'])


def _expected(prefix, spec):
    shapes = {f'{prefix}{k}': v for k, v in spec.get('top', spec.get('embeddings', spec.get('shapes', {}))).items()}
    layer_prefix = spec.get('layer_prefix', 'encoder.layers.')
    for i in range(spec.get('layers', 0)):
        shapes.update({f'{prefix}{layer_prefix}{i}.{k}': v for k, v in spec['per_layer'].items()})
    return shapes


@pytest.fixture(scope='module', params=CONFIGS)
def built(request):
    name = request.param
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/{name}.py')
    backbone = cfg.backbone
    assert backbone.tokenizer.pretrained_model_name_or_path == cfg.checkpoint_root + '/' + \
        {'internvl_1b': 'Sa2VA-1B', 'internvl_4b': 'Sa2VA-4B', 'internvl_8b': 'Sa2VA-8B'}[name]
    backbone.tokenizer = tiny_tokenizer(backbone.template)
    with torch.device('meta'):
        model = MODELS.build(backbone)
    return name, model


def test_parameter_names_shapes_and_counts(built):
    name, model = built
    ref = REFERENCE['models'][name]
    expected = {}
    expected.update(_expected('vision_model.', REFERENCE['vision_model']))
    expected.update(_expected('mlp1.', ref['mlp1']))
    expected.update(_expected('language_model.', ref['language_model']))
    actual = {n: list(p.shape) for n, p in model.named_parameters()}
    assert sorted(set(actual) - set(expected)) == [] and sorted(set(expected) - set(actual)) == []
    assert actual == expected
    for prefix, spec in (('vision_model.', REFERENCE['vision_model']), ('mlp1.', ref['mlp1']),
                         ('language_model.', ref['language_model'])):
        params = [p for n, p in model.named_parameters() if n.startswith(prefix)]
        assert len(params) == spec['tensors'], prefix
        assert sum(p.numel() for p in params) == spec['numel'], prefix
    assert sum(p.numel() for p in model.parameters()) == ref['total_numel']
    assert all(p.is_meta for p in model.parameters())


def test_model_facts(built):
    name, model = built
    ref = REFERENCE['models'][name]
    assert model.hidden_size == ref['hidden_size']
    assert model.num_image_tokens == ref['num_image_tokens'] == 256
    assert model.template.name == ref['template']
    assert model.get_input_embeddings().num_embeddings == ref['vocab_size']
    assert model.llm_base.get_output_embeddings().out_features == ref['vocab_size']
    assert model.vision_model.dtype == torch.bfloat16 and model.llm_dtype == torch.bfloat16
    assert model.mlp1[1].weight.dtype == torch.float32
    assert all(not p.requires_grad for n, p in model.named_parameters() if not n.startswith('mlp1.'))
    config = model.language_model.config
    assert config.rope_theta == 1e6 and not config.tie_word_embeddings
    if name == 'internvl_8b':
        assert config.rope_scaling == dict(type='dynamic', factor=2.0) and config.rms_norm_eps == 1e-5


def test_tiny_config_builds_offline_with_released_key_names():
    from tests.models.backbone_helpers import build_tiny_backbone
    model = build_tiny_backbone()
    names = {n.split('.layers.')[0] + ('.layers' if '.layers.' in n else '') for n in model.state_dict()}
    assert names == {'vision_model.embeddings.class_embedding', 'vision_model.embeddings.patch_embedding.weight',
                     'vision_model.embeddings.patch_embedding.bias', 'vision_model.embeddings.position_embedding',
                     'vision_model.encoder.layers', 'mlp1.0.weight', 'mlp1.0.bias', 'mlp1.1.weight', 'mlp1.1.bias',
                     'mlp1.3.weight', 'mlp1.3.bias', 'language_model.model.embed_tokens.weight',
                     'language_model.model.layers', 'language_model.model.norm.weight',
                     'language_model.lm_head.weight'}


def test_tiny_config_survives_an_mmengine_dump(tmp_path):
    # Dumped configs name classes and functions by dotted path; the builders resolve them.
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/internvl_tiny.py')
    cfg.dump(str(tmp_path / 'dumped.py'))
    dumped = Config.fromfile(str(tmp_path / 'dumped.py'))
    assert dumped.backbone.llm.type == 'transformers.Qwen2ForCausalLM'
    model = MODELS.build(dumped.backbone)
    assert model.num_image_tokens == 4 and model.seg_token_id == model.tokenizer.convert_tokens_to_ids('[SEG]')
