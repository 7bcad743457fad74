"""Fit a config's optimizer settings to a DeepSpeed or FSDP strategy (``configs/_base_/strategies/``).

The leaf configs describe the optimisation once, as an MMEngine ``optim_wrapper`` (optimizer, gradient clipping,
accumulation, bf16 autocast). DeepSpeed owns all of these itself, so, as XTuner's ``train.py`` does for its
``--deepspeed`` flag, :func:`apply_strategy` moves them into the strategy's ``"auto"`` fields and replaces the
wrapper with ``DeepSpeedOptimWrapper``; for FSDP it only asks the mixed-precision wrapper for a sharded gradient
scaler. Strategies are named by string so that a config builds on machines without DeepSpeed.
"""
import copy
from typing import Any, List

from mmengine.config import Config

AMP_WRAPPERS = ('AmpOptimWrapper', 'GuardedAmpOptimWrapper')
# Keys of an optim_wrapper config that belong to the optimizer constructor, not to the wrapper.
CONSTRUCTOR_KEYS = ('constructor', 'paramwise_cfg')


def type_name(t: Any) -> str:
    """The class name of a config ``type`` given as a class, a name or a dotted path."""
    return getattr(t, '__name__', str(t).rsplit('.', 1)[-1])


def strategy_name(cfg: Config) -> str:
    """``DeepSpeedStrategy``, ``FSDPStrategy``, ... or ``''`` when the config has no strategy."""
    strategy = cfg.get('strategy', None)
    return type_name(strategy.get('type', '')) if strategy else ''


def _fill(section: dict, key: str, value: Any, notes: List[str]) -> None:
    if section.get(key, 'auto') == 'auto':
        section[key] = value
        notes.append(f'{key}={value}')


def apply_strategy(cfg: Config) -> List[str]:
    """Adapt ``cfg`` in place to its ``strategy`` (if any); returns what was changed, for the log.

    Raises:
        ValueError: If a DeepSpeed ``"auto"`` field cannot be derived from the config.
    """
    name = strategy_name(cfg)
    notes: List[str] = []
    if not name:
        return notes
    cfg.setdefault('runner_type', 'FlexibleRunner')
    wrapper = cfg.optim_wrapper
    wrapper_type = type_name(wrapper.get('type', 'OptimWrapper'))
    if name == 'FSDPStrategy':
        if wrapper_type in AMP_WRAPPERS and 'use_fsdp' not in wrapper:
            wrapper.use_fsdp = True  # ShardedGradScaler: each rank only holds its shard of the gradients
            notes.append('optim_wrapper.use_fsdp=True')
        return notes
    if name != 'DeepSpeedStrategy' or wrapper_type == 'DeepSpeedOptimWrapper':
        return notes

    strategy = cfg.strategy
    _fill(strategy, 'train_micro_batch_size_per_gpu', cfg.train_dataloader.batch_size, notes)
    _fill(strategy, 'gradient_accumulation_steps', wrapper.get('accumulative_counts', 1), notes)
    clip = wrapper.get('clip_grad', None) or {}
    _fill(strategy, 'gradient_clipping', float(clip.get('max_norm', 0.0)), notes)
    dtype = wrapper.get('dtype', 'float16') if wrapper_type in AMP_WRAPPERS else None
    for key, wanted in (('bf16', 'bfloat16'), ('fp16', 'float16')):
        section = strategy.setdefault(key, dict(enabled='auto'))
        if section.get('enabled', 'auto') == 'auto':
            section['enabled'] = dtype == wanted
            notes.append(f'{key}.enabled={section["enabled"]}')
    leftover = [k for k, v in strategy.items() if v == 'auto']
    if leftover:
        raise ValueError(f'DeepSpeed strategy fields {leftover} are "auto" and cannot be derived from the config')
    new_wrapper = dict(type='DeepSpeedOptimWrapper', optimizer=copy.deepcopy(wrapper.optimizer))
    new_wrapper.update({k: copy.deepcopy(wrapper[k]) for k in CONSTRUCTOR_KEYS if k in wrapper})
    cfg.optim_wrapper = new_wrapper
    notes.append(f'optim_wrapper {wrapper_type} -> DeepSpeedOptimWrapper')
    return notes
