"""Child registries resolve classes named in configs, by string or by type, without manual imports."""
import json
import subprocess
import sys

import pytest
from mmengine import registry as mm_registry
from mmengine.config import Config

from sama_mm import registry
from tests.conftest import HANG_TIMEOUT, REPO_ROOT

NAMES = ['RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
         'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'FUNCTIONS',
         'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'METRICS', 'EVALUATOR', 'VISUALIZERS',
         'VISBACKENDS', 'INFERENCERS']


@pytest.mark.parametrize('name', NAMES)
def test_child_of_the_mmengine_root(name):
    child = getattr(registry, name)
    assert child.parent is getattr(mm_registry, name)
    assert child.scope == 'sama_mm'
    assert child._locations and all(loc.startswith('sama_mm.') for loc in child._locations)
    child.import_from_location()  # every location imports


def test_string_type_builds_without_imports(demo_root):
    # A fresh interpreter that imports only the registry: the dataset class is found through `locations`.
    code = (
        'import sys\n'
        'from sama_mm.registry import DATASETS\n'
        'assert "sama_mm.datasets.sama239k" not in sys.modules\n'
        f'ds = DATASETS.build(dict(type="SAMA239KDataset", data_root="{demo_root}", '
        'ann_file="sama239k_train_final.json", mask_dicts=dict(mevis="mevis_train_mask_dict.json")))\n'
        'print(type(ds).__module__, len(ds))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    with open(f'{demo_root}/sama239k_train_final.json') as f:
        num_records = len(json.load(f))
    assert out.stdout.split() == ['sama_mm.datasets.sama239k', str(num_records)]


def test_scoped_string_and_parent_fallback():
    from mmengine.dataset import DefaultSampler
    from sama_mm.datasets import RefVOSDataset
    assert registry.DATASETS.get('sama_mm.RefVOSDataset') is RefVOSDataset
    # Classes of mmengine's root registries stay reachable through the children.
    assert registry.DATA_SAMPLERS.get('DefaultSampler') is DefaultSampler
    assert registry.HOOKS.get('CheckpointHook') is mm_registry.HOOKS.get('CheckpointHook')


def test_pure_python_config_with_types_builds(demo_root):
    cfg = Config.fromfile(f'{REPO_ROOT}/configs/demo/demo_data.py')
    assert cfg.default_scope == 'sama_mm'
    ds_cfg = cfg.train_dataloader.dataset.datasets[0]
    ds_cfg.data_root = str(demo_root) + '/'
    dataset = registry.DATASETS.build(ds_cfg)
    with open(f'{demo_root}/sama239k_train_final.json') as f:
        assert len(dataset) == len(json.load(f)) and dataset[0]['rounds']  # one sample per record


def test_register_all_modules_sets_the_default_scope():
    code = ('from mmengine import DefaultScope\n'
            'from sama_mm.utils import register_all_modules\n'
            'register_all_modules()\n'
            'print(DefaultScope.get_current_instance().scope_name)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'sama_mm'


def test_model_parts_resolve_by_string_from_their_rooms():
    # A fresh interpreter that imports only the registry: MODELS' location imports every room of sama_mm.models.
    code = ('from sama_mm.registry import MODELS\n'
            'for name in ("InternVLVideoLLM", "InternVisionModel", "STAggregator", "SAMA", "SAMADataPreprocessor"):\n'
            '    print(name, MODELS.get(name).__module__)\n'
            'neck = MODELS.build(dict(type="STAggregator", llm_hidden_size=8, qformer_hidden_size=8, '
            'num_attention_heads=1, intermediate_size=8, vision_width=8, spatial_num_layers=1, '
            'temporal_num_layers=1, temporal_vocab_size=40, region_token_id=30, box_token_id=31, '
            'region_mlp_hidden=8))\n'
            'print(type(neck).__mro__[1].__name__)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        'InternVLVideoLLM sama_mm.models.vlms.internvl_video_llm',
        'InternVisionModel sama_mm.models.vlms.intern_vit',
        'STAggregator sama_mm.models.necks.st_aggregator',
        'SAMA sama_mm.models.sama',
        'SAMADataPreprocessor sama_mm.models.data_preprocessor',
        'BaseNeck',
    ]
