"""DeepSpeed / FSDP / CPU-DDP config pieces and how tools/train.py routes them (no DeepSpeed run needed)."""
import pytest
from mmengine.config import Config
from mmengine.runner import FlexibleRunner, Runner

from tests.conftest import REPO_ROOT
from sama_mm.engine.strategies import type_name
from tools.train import build_cfg, parse_args, runner_class

SAMA_1B = f'{REPO_ROOT}/configs/sama/sama_1b_mixture.py'


def with_strategy(tmp_path, name, config=SAMA_1B):
    """A leaf config: ``config`` plus ``configs/_base_/strategies/<name>.py`` (old-style _base_ inheritance of
    the strategy file, merged onto the loaded leaf)."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(Config.fromfile(f'{REPO_ROOT}/configs/_base_/strategies/{name}.py').to_dict())
    path = tmp_path / f'{name}.py'
    cfg.dump(str(path))
    return str(path)


def test_deepspeed_zero2_takes_the_recipe_from_the_optim_wrapper(tmp_path):
    cfg = build_cfg(parse_args([f'{REPO_ROOT}/configs/sama/sama_1b_mixture_zero2.py', '--work-dir', str(tmp_path)]))
    assert runner_class(cfg) is FlexibleRunner
    strategy = cfg.strategy
    assert strategy.type == 'DeepSpeedStrategy' and strategy.zero_optimization.stage == 2
    # The SAMA recipe (sama_1epoch.py): batch 2 per GPU, 4 accumulation steps, clip 1.0, bf16.
    assert strategy.train_micro_batch_size_per_gpu == 2 and strategy.gradient_accumulation_steps == 4
    assert strategy.gradient_clipping == 1.0
    assert strategy.bf16.enabled is True and strategy.fp16.enabled is False
    assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == 4e-5 and cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert 'accumulative_counts' not in cfg.optim_wrapper and 'clip_grad' not in cfg.optim_wrapper


def test_deepspeed_zero3_and_fsdp(tmp_path):
    zero3 = build_cfg(parse_args([with_strategy(tmp_path, 'deepspeed_zero3')]))
    assert zero3.strategy.zero_optimization.stage == 3
    assert zero3.strategy.zero_optimization.stage3_gather_16bit_weights_on_model_save is True
    fsdp = build_cfg(parse_args([with_strategy(tmp_path, 'fsdp')]))
    assert runner_class(fsdp) is FlexibleRunner
    assert fsdp.strategy.type == 'FSDPStrategy' and fsdp.strategy.model_wrapper.use_orig_params is True
    # The bf16 AMP wrapper stays (guarded), with the sharded gradient scaler FSDP needs.
    assert type_name(fsdp.optim_wrapper.type) == 'GuardedAmpOptimWrapper' and fsdp.optim_wrapper.use_fsdp is True


def test_unresolvable_auto_field_is_an_error(tmp_path):
    path = with_strategy(tmp_path, 'deepspeed_zero2')
    with pytest.raises(ValueError, match=r"\['steps_per_print'\] are \"auto\""):
        build_cfg(parse_args([path, '--cfg-options', 'strategy.steps_per_print=auto']))


def test_plain_configs_keep_the_runner_and_cpu_ddp_uses_gloo(monkeypatch):
    toy = 'tests/data/configs/toy_regression.py'
    cfg = build_cfg(parse_args([toy]))
    assert runner_class(cfg) is Runner and 'strategy' not in cfg
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    ddp = build_cfg(parse_args([toy, '--launcher', 'pytorch']))
    assert ddp.env_cfg.dist_cfg.backend == 'gloo'
    assert ddp.model_wrapper_cfg.type == 'MMDistributedDataParallel' and ddp.model_wrapper_cfg.device_ids is None
    piece = Config.fromfile(f'{REPO_ROOT}/configs/_base_/strategies/ddp_cpu.py')
    assert piece.env_cfg.dist_cfg.backend == 'gloo' and piece.model_wrapper_cfg.device_ids is None
    with pytest.raises(SystemExit, match='DeepSpeedStrategy needs GPUs'):
        build_cfg(parse_args([toy, '--launcher', 'pytorch', '--cfg-options', 'strategy.type=DeepSpeedStrategy']))
