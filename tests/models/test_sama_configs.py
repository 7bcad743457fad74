"""The released-size SAMA configs build (on the meta device) with the released parameter counts and freeze
policy, and swapping the LLM or the SAM2 size is a one-line change that builds."""
import json

import accelerate
import pytest
from mmengine.config import Config

from sama_mm.registry import MODELS
from sama_mm.utils.pipeline import transform_name
from tests.conftest import REPO_ROOT
from tests.models.backbone_helpers import tiny_tokenizer

SIZES = {'1b': ('internvl_1b', 896), '4b': ('internvl_4b', 2048), '8b': ('internvl_8b', 4096)}
# SAM2-Hiera-L: 224.4 M parameters in the model table of sam2's README (224,430,130 counted by the head tests).
SAM2_LARGE = 224_430_130
BACKBONES = json.load(open(f'{REPO_ROOT}/tests/data/released_backbone_params.json'))['models']
NECKS = json.load(open(f'{REPO_ROOT}/tests/data/released_neck_params.json'))['by_hidden_size']
# What the reference trains (section 2.1): everything else is frozen.
TRAINABLE = ('backbone.mlp1.', 'neck.', 'seg_head.text_hidden_fcs.', 'seg_head.sam2_model.sam_mask_decoder.')


def _build_meta(cfg: Config):
    model_cfg = cfg.model
    model_cfg.backbone.tokenizer = tiny_tokenizer(model_cfg.backbone.template)
    # sam2's Hiera calls .item() while it is built, which a plain `torch.device('meta')` context cannot run;
    # accelerate's init_empty_weights puts each parameter on meta as it is registered instead.
    with accelerate.init_empty_weights():
        return MODELS.build(model_cfg)


@pytest.fixture(scope='module', params=sorted(SIZES))
def built(request):
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/sama/sama_{request.param}_mixture.py')
    return request.param, _build_meta(cfg)


def test_released_parameter_counts(built):
    size, model = built
    backbone_name, hidden = SIZES[size]
    text_hidden_fcs = hidden * hidden + hidden + 256 * hidden + 256
    assert sum(p.numel() for p in model.backbone.parameters()) == BACKBONES[backbone_name]['total_numel']
    assert sum(p.numel() for p in model.neck.parameters()) == NECKS[str(hidden)]['total']
    assert sum(p.numel() for p in model.seg_head.sam2_model.parameters()) == SAM2_LARGE
    assert sum(p.numel() for p in model.seg_head.text_hidden_fcs.parameters()) == text_hidden_fcs
    total = (BACKBONES[backbone_name]['total_numel'] + NECKS[str(hidden)]['total'] + SAM2_LARGE + text_hidden_fcs)
    assert sum(p.numel() for p in model.parameters()) == total
    assert all(p.is_meta for p in model.parameters())


def test_reference_freeze_policy(built):
    _, model = built
    dead = set(model.neck.dead_parameter_names)
    for name, param in model.named_parameters():
        trainable = name.startswith(TRAINABLE) and name[len('neck.'):] not in dead
        assert param.requires_grad == trainable, name


def test_swapping_the_sam2_size_is_one_line():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/sama/sama_1b_mixture.py')
    tiny = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/sam2_tiny.py')
    cfg.model.seg_head = tiny.seg_head  # the one-line change
    model = _build_meta(cfg)
    assert sum(p.numel() for p in model.seg_head.sam2_model.parameters()) == 38_945_986  # SAM2-Hiera-T
    assert model.seg_head.text_hidden_fcs[0].in_features == 896


def test_swapping_the_llm_is_one_line():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/sama/sama_1b_mixture.py')
    other = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/internvl_8b.py')
    cfg.model.backbone = other.backbone  # the one-line change; the neck and head follow the LLM's width
    model = _build_meta(cfg)
    assert model.backbone.hidden_size == 4096
    assert model.neck.llm_hidden_size == 4096 and model.seg_head.text_hidden_fcs[0].in_features == 4096
    assert sum(p.numel() for p in model.neck.parameters()) == NECKS['4096']['total']


def test_without_the_neck_it_is_sa2va():
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/sama/sama_1b_mixture.py')
    cfg.model.neck = None
    model = _build_meta(cfg)
    assert model.neck is None
    assert not any(name.startswith('neck.') for name, _ in model.named_parameters())


@pytest.mark.parametrize('size', sorted(SIZES))
def test_pipelines_use_the_model_tokenizer_and_template(size):
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/sama/sama_{size}_mixture.py')
    backbone = cfg.model.backbone
    for source in cfg.train_dataloader.dataset.datasets:
        chat = [step for step in source.pipeline if transform_name(step) == 'ChatTokenize']
        assert len(chat) == 1
        # For the 1B's qwen_chat the released RefCOCO loader writes its own user block and the LLaVA loader no
        # answer separator (docs/training.md).
        released = dict(RefCOCODataset='qwen_chat_refcoco', LLaVADataset='qwen_chat_nosep')
        name = getattr(source.type, '__name__', str(source.type))
        qwen = backbone.template == 'qwen_chat'
        assert chat[0]['template'] == (released[name] if qwen and name in released else backbone.template)
        assert chat[0]['tokenizer'] == backbone.tokenizer


def test_reference_mixture_repeats():
    # The released 8B config trains without SAMA-239K; sama_8b_mixture_sama239k is the named option with it.
    for name, expected in (('1b', 5), ('4b', 3), ('8b', None), ('8b_mixture_sama239k', 5)):
        path = f'{REPO_ROOT}/configs/sama/sama_{name}.py' if 'mixture' in name else \
            f'{REPO_ROOT}/configs/sama/sama_{name}_mixture.py'
        mixture = Config.fromfile(path).train_dataloader.dataset
        repeats = dict(zip(mixture.names, mixture.repeats))
        assert repeats.get('sama239k_conversation') == repeats.get('sama239k_description') == expected, name
        assert (repeats['chatunivi'], repeats['ref_sav']) == (1, 4), name
        assert mixture.names.index('chatunivi') == mixture.names.index('ref_ytvos') + 1, name
        assert len(mixture.official_lengths) == len(mixture.names), name
