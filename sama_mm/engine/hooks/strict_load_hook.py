"""Refuse a checkpoint that does not fit the model, wherever the Runner loads one (``load_from``, ``--resume``,
``tools/test.py CHECKPOINT``).

MMEngine's ``Runner.load_checkpoint`` loads with ``strict=False``: weights of another config (wrong shapes aside)
only produce a warning in the log, and the run goes on with part of the model at its random initialisation, which
gives wrong numbers rather than an error. :class:`StrictLoadHook` checks the checkpoint in ``after_load_checkpoint``
(called by both runners before the weights are copied) and raises
:class:`~sama_mm.utils.weights.StateDictMismatchError` listing the missing, unexpected and mis-shaped keys.

Accepted on purpose:

* a missing tensor tied to another one that is present (a tied LM head saved once, as released folders do);
* missing LoRA matrices (``lora_A`` / ``lora_B`` ...) when the checkpoint holds no LoRA weight at all: a LoRA
  fine-tune starting from plain weights (the backbone maps the plain LLM names to peft's, and the adapters keep
  their initialisation); the hook says so in the log;
* BatchNorm's ``num_batches_tracked`` (MMEngine ignores it too).
"""
import logging
import re
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from sama_mm.registry import HOOKS
from sama_mm.utils.weights import StateDictMismatchError

LORA_MARKERS = ('.lora_A.', '.lora_B.', '.lora_embedding_A', '.lora_embedding_B', '.lora_magnitude_vector')


def _apply_load_pre_hooks(model: nn.Module, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """The key names ``model.load_state_dict`` sees after its modules' load pre-hooks (e.g. the plain-to-LoRA
    renaming of the backbone), computed on a copy: nothing is loaded."""
    state = dict(state)
    for name, module in model.named_modules():
        hooks = getattr(module, '_load_state_dict_pre_hooks', None)
        if not hooks:
            continue
        prefix = f'{name}.' if name else ''
        for hook in list(hooks.values()):
            hook(state, prefix, {}, True, [], [], [])
    return state


def checkpoint_mismatch(model: nn.Module, state: Dict[str, Tensor]):
    """``(missing, unexpected, shape_errors, new_lora)`` of loading ``state`` into ``model`` (see the module
    docstring for what is accepted); ``new_lora`` lists the LoRA matrices left at their initialisation."""
    mapped = _apply_load_pre_hooks(model, state)
    own = model.state_dict()
    present = {k for k in own if k in mapped}
    shared = {}
    for key in present:
        if own[key].numel():
            shared.setdefault(own[key].data_ptr(), key)
    has_lora = any(m in k for k in mapped for m in LORA_MARKERS)
    missing, new_lora = [], []
    for key in sorted(set(own) - present):
        if 'num_batches_tracked' in key:
            continue
        if own[key].numel() and own[key].data_ptr() in shared:
            continue  # tied to a tensor the checkpoint has
        if not has_lora and any(m in key for m in LORA_MARKERS):
            new_lora.append(key)
            continue
        missing.append(key)
    unexpected = sorted(set(mapped) - set(own))
    # A parameter with no elements is a partitioned placeholder (DeepSpeed ZeRO-3): its shape says nothing.
    shapes = [f'{k} {tuple(mapped[k].shape)} vs model {tuple(own[k].shape)}' for k in sorted(present)
              if own[k].numel() and hasattr(mapped[k], 'shape') and tuple(mapped[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, shapes, new_lora


def check_checkpoint_fits(model: nn.Module, state: Dict[str, Tensor], where: str = 'checkpoint') -> List[str]:
    """Raise unless ``state`` fits ``model`` (module docstring); returns the LoRA matrices it leaves new.

    Raises:
        StateDictMismatchError: Listing the missing, unexpected and mis-shaped keys, naming ``where``.
    """
    missing, unexpected, shapes, new_lora = checkpoint_mismatch(model, state)
    if missing or unexpected or shapes:
        raise StateDictMismatchError(missing, unexpected, shapes, where)
    return new_lora


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Make every checkpoint load of the Runner strict (see the module docstring).

    ``tools/train.py`` and ``tools/test.py`` register it on their runner (:func:`add_strict_load_hook`); a
    Python script building its own Runner can add ``dict(type='StrictLoadHook')`` to ``custom_hooks``.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = self._state_dict(checkpoint)
        if state is None:
            return  # no model weights in it (e.g. DeepSpeed keeps them in its own files): nothing to compare
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
        new_lora = check_checkpoint_fits(model, state, where=self._source(runner))
        if new_lora:
            print_log(f'the checkpoint holds no LoRA weights: the {len(new_lora)} LoRA matrices of the model keep '
                      'their initialisation (every other weight is loaded)', logger='current', level=logging.INFO)

    @staticmethod
    def _state_dict(checkpoint) -> Optional[Dict[str, Tensor]]:
        """The model weights of a loaded checkpoint: its ``state_dict``, or the checkpoint itself when it is a
        plain dict of tensors; None when it holds neither."""
        if not isinstance(checkpoint, dict):
            return None
        if isinstance(checkpoint.get('state_dict'), dict):
            return checkpoint['state_dict']
        if checkpoint and all(isinstance(v, Tensor) for v in checkpoint.values()):
            return checkpoint
        return None

    @staticmethod
    def _source(runner) -> str:
        from sama_mm.engine.checkpoint import checkpoint_to_load
        path = checkpoint_to_load(runner)
        return str(path) if path else 'the checkpoint'


def add_strict_load_hook(runner) -> None:
    """Register :class:`StrictLoadHook` on ``runner`` unless its config already did."""
    if not any(isinstance(hook, StrictLoadHook) for hook in runner.hooks):
        runner.register_hook(StrictLoadHook())
