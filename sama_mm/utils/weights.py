"""Loading model weights strictly: every key of the model must be given and every given key must be used.

Weights come from safetensors (our converted folders, single files or sharded with an index) or from an
MMEngine ``.pth`` checkpoint loaded under the weights-only allow-list of :mod:`sama_mm.engine.checkpoint`.
"""
import json
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

SAFETENSORS_INDEX = 'model.safetensors.index.json'
SAFETENSORS_SINGLE = 'model.safetensors'


class StateDictMismatchError(KeyError):
    """A state dict does not match the model's keys (or shapes); the message lists every offending key."""

    def __init__(self, missing: List[str], unexpected: List[str], shape_errors: Optional[List[str]] = None,
                 where: str = 'checkpoint'):
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.shape_errors = list(shape_errors or [])
        super().__init__(self._message(where))

    def _message(self, where: str) -> str:
        lines = [f'{where} does not match the model:']
        for title, keys in (('missing keys', self.missing), ('unexpected keys', self.unexpected),
                            ('shape mismatches', self.shape_errors)):
            if keys:
                shown = keys[:20]
                more = f' ... and {len(keys) - 20} more' if len(keys) > 20 else ''
                lines.append(f'  {len(keys)} {title}: {", ".join(shown)}{more}')
        return '\n'.join(lines)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class UnreadableCheckpointError(ValueError):
    """A checkpoint file that cannot be read; the message names the file and says why in one line."""


# What reading a broken, truncated, foreign or refused checkpoint raises (torch, zipfile, pickle, safetensors).
def unreadable_checkpoint_exceptions() -> Tuple[type, ...]:
    """The exception types that mean "this file cannot be read as a checkpoint" (for ``except`` clauses)."""
    import pickle
    import zipfile

    from safetensors import SafetensorError
    return (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, RuntimeError, SafetensorError,
            UnreadableCheckpointError)


# torch's own text around a weights-only refusal: advice to turn the check off, or to allow-list the global.
_TORCH_ADVICE = re.compile(r'weights_only|safe_globals|file an issue|trusted source|documentation of torch', re.I)


def _weights_only_refusal(exc: BaseException) -> Tuple[BaseException, str]:
    """The unpickler's own error behind a weights-only refusal, and its words without torch's advice.

    torch re-raises the unpickler's error with advice added (``raise ... from None``, so the original is still
    the exception's ``__context__``); the original is used when present, else the advice is cut from the text.
    """
    import pickle
    inner = exc
    while isinstance(inner.__context__, pickle.UnpicklingError):
        inner = inner.__context__
    text = str(inner)
    if inner is exc:
        for marker in ('WeightsUnpickler error:', 'Weights only load failed.'):
            if marker in text:
                text = text.split(marker, 1)[1]
    for line in text.splitlines():  # the first line with something besides advice, without the advice
        kept = [s for s in re.split(r'(?<=[.:]) ', line.strip()) if s and not _TORCH_ADVICE.search(s)]
        if kept:
            return inner, ' '.join(kept)
    return inner, ''


def unreadable_checkpoint_error(checkpoint: str, exc: BaseException) -> UnreadableCheckpointError:
    """A ValueError that names ``checkpoint`` and says in one line why reading it failed.

    A weights-only refusal names the global (or the :mod:`sama_mm.engine.checkpoint` check) that refused the
    file; torch's advice to load with ``weights_only=False`` or to allow-list the global is dropped: it is no
    answer for a broken or foreign file, and following it would let the file run code.
    """
    import pickle

    from sama_mm.engine.checkpoint import BlockedCheckpointObject
    if isinstance(exc, UnreadableCheckpointError):
        return exc
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError):
        inner, detail = _weights_only_refusal(exc)
        found = (re.search(r'GLOBAL (\S+) was not an allowed global', detail)
                 or re.search(r'GLOBAL (\S+) whose module \S+ is blocked', detail))
        if found:
            reason = (f'it asks for GLOBAL {found.group(1)}, which is blocked: only tensors and the types MMEngine '
                      'writes are allowed (sama_mm/engine/checkpoint.py)')
        elif isinstance(inner, BlockedCheckpointObject) or ' is blocked: ' in detail:
            reason = f'{detail} (sama_mm/engine/checkpoint.py)'
        else:
            reason = ('not a PyTorch checkpoint, or one holding objects that weights-only loading refuses'
                      f' ({detail or "no detail"})')
    else:
        first = text.splitlines()[0] if text else type(exc).__name__
        reason = f'{type(exc).__name__}: {first.split(". ")[0]}'
    return UnreadableCheckpointError(f'{checkpoint}: cannot read the checkpoint: {reason}')


def read_safetensors_folder(folder: str) -> Dict[str, Tensor]:
    """Every tensor of a folder holding ``model.safetensors`` or shards listed in ``model.safetensors.index.json``.

    Raises:
        FileNotFoundError: If the folder holds neither.
    """
    from safetensors.torch import load_file
    index = osp.join(folder, SAFETENSORS_INDEX)
    if osp.isfile(index):
        with open(index) as f:
            weight_map = json.load(f)['weight_map']
        state: Dict[str, Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            part = load_file(osp.join(folder, shard))
            listed = {k for k, v in weight_map.items() if v == shard}
            if set(part) != listed:
                raise ValueError(f'{osp.join(folder, shard)} holds {sorted(set(part) ^ listed)[:5]} contrary to '
                                 f'{index}')
            state.update(part)
        return state
    single = osp.join(folder, SAFETENSORS_SINGLE)
    if osp.isfile(single):
        return load_file(single)
    raise FileNotFoundError(f'{folder} holds neither {SAFETENSORS_INDEX} nor {SAFETENSORS_SINGLE}')


def read_checkpoint(path: str) -> Dict[str, Tensor]:
    """A state dict from a safetensors folder or file, or an MMEngine ``.pth`` (weights-only, allow-listed).

    Raises:
        UnreadableCheckpointError: A ``.pth`` that torch cannot read or that the allow-list refuses; the
            message names the file and, for a refusal, the global that was refused.
    """
    if osp.isdir(path):
        return read_safetensors_folder(path)
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    from sama_mm.engine.checkpoint import trusted_checkpoint_loading
    try:
        with trusted_checkpoint_loading():
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch, zipfile, pickle, and the allow-listed globals called with crafted arguments
        raise unreadable_checkpoint_error(path, exc) from None
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(state, dict):
        raise ValueError(f'{path}: no state dict inside')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def check_state_dict(model: nn.Module, state: Dict[str, Tensor], where: str = 'checkpoint') -> None:
    """Raise :class:`StateDictMismatchError` unless ``state`` has exactly the model's keys and shapes."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}' for k in sorted(set(own) & set(state))
              if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise StateDictMismatchError(missing, unexpected, shapes, where)


def load_state_dict_strict(model: nn.Module, state: Dict[str, Tensor], where: str = 'checkpoint') -> None:
    """Check the keys and shapes (:func:`check_state_dict`), then copy the tensors into the model."""
    check_state_dict(model, state, where)
    model.load_state_dict(state, strict=True)


def load_checkpoint_strict(model: nn.Module, path: str) -> None:
    """Read ``path`` (see :func:`read_checkpoint`) and load it strictly into ``model``."""
    load_state_dict_strict(model, read_checkpoint(path), where=path)


def save_safetensors(state: Dict[str, Tensor], path: str) -> None:
    """Save a state dict as one safetensors file (tensors made contiguous; shared storage is copied)."""
    from safetensors.torch import save_file
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, path)


def split_shards(sizes: Dict[str, int], max_shard_bytes: int) -> List[List[str]]:
    """Group keys (in sorted order) into shards of at most ``max_shard_bytes`` (a larger tensor is alone)."""
    shards: List[List[str]] = [[]]
    used = 0
    for key in sorted(sizes):
        if shards[-1] and used + sizes[key] > max_shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append(key)
        used += sizes[key]
    return shards


def tensor_bytes(t: Tensor) -> int:
    """Storage size of a tensor in bytes."""
    return t.numel() * t.element_size()


__all__: Tuple[str, ...] = ('StateDictMismatchError', 'UnreadableCheckpointError', 'read_safetensors_folder',
                            'read_checkpoint', 'unreadable_checkpoint_error', 'unreadable_checkpoint_exceptions',
                            'check_state_dict', 'load_state_dict_strict', 'load_checkpoint_strict',
                            'save_safetensors', 'split_shards', 'tensor_bytes')
