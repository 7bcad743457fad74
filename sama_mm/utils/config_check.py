"""Check a config before anything is built: unknown keys and wrong value types, named by their config path.

A typo in a config (``model.neck.hiden_size=...``) otherwise surfaces as ``TypeError: STAggregator.__init__()
got an unexpected keyword argument`` deep inside the Runner, after the work dir was written and possibly after
minutes of data loading, and without saying where in the config the key is. MMEngine 0.10's ``build_from_cfg``
does not add any context to such errors, and the Runner builds the model, datasets, transforms and metrics at
different times, so this module checks the whole config up front, statically, against the signatures of the
classes and functions its ``type`` entries name:

* a key that the callable does not accept is an error naming the config path, the class and the closest
  accepted names;
* a value whose type contradicts a plain annotation (``int``, ``float``, ``bool``, ``str``, ``dict``, ``list``,
  ``tuple`` and ``Optional``/``Union``/``Sequence``/``Dict``/``List`` of them) is an error naming the path, the
  expected and the given type. Numbers are not told apart (an int hint takes a float: MMEngine's own hints say
  int where fractions work), a bool takes 0 and 1, a str takes a path object, lists and tuples are
  interchangeable, and ``None`` is always accepted (parents fill in ``None`` placeholders).

Anything the signature cannot decide is left to the build itself: a callable taking ``**kwargs`` that it does not
visibly pass to its parent class, annotations that are not plain types, ``type`` strings that no (or more than
one) sama_mm registry knows, and values that are configs themselves (``dict(type=...)``).
"""
import ast
import difflib
import functools
import inspect
import numbers
import os
import textwrap
import typing
from collections.abc import Mapping as AbcMapping
from collections.abc import Sequence as AbcSequence
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

#: Keys that MMEngine's builders take out of a config before calling its ``type``: ``{top-level key: keys}``.
#: ``optim_wrapper``: ``build_optim_wrapper`` pops the constructor settings; ``param_scheduler``: the Runner
#: pops ``convert_to_iter_based`` from every scheduler.
CONSUMED_KEYS = {'optim_wrapper': {'constructor', 'paramwise_cfg'},
                 'param_scheduler': {'convert_to_iter_based'}}
#: Keys of any config dict that are never constructor arguments.
META_KEYS = {'type', '_scope_'}

_SIMPLE = {int: 'int', float: 'float', bool: 'bool', str: 'str', dict: 'dict', list: 'list', tuple: 'tuple'}


class ConfigError(ValueError):
    """A config value that cannot work: an unknown key, a wrong type, an unreadable config file.

    Args:
        path: Where in the config (``model.neck.hidden_size``) or which config file.
        message: What is wrong and what was expected.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f'{path}: {message}')


# ---------------------------------------------------------------------------------------------- signatures
def _resolve(obj_type: Any) -> Optional[Callable]:
    """The callable a ``type`` entry names: itself, or the one class a sama_mm registry holds under that name."""
    if callable(obj_type):
        return obj_type
    if not isinstance(obj_type, str):
        return None
    return _lookup(obj_type)


@functools.lru_cache(maxsize=None)
def _lookup(obj_type: str) -> Optional[Callable]:
    """Registry look-up of a ``type`` string (cached: ``Registry.get`` is slow and configs repeat names)."""
    from sama_mm import registry as reg
    from mmengine.registry import Registry
    found = []
    for value in vars(reg).values():
        if isinstance(value, Registry):
            try:
                obj = value.get(obj_type)
            except Exception:  # a registry whose locations fail to import cannot decide anything here
                obj = None
            if obj is not None and all(obj is not f for f in found):
                found.append(obj)
    return found[0] if len(found) == 1 else None


def _own_init(cls: type) -> Optional[Callable]:
    """The ``__init__`` a class defines itself (None if it inherits it)."""
    return cls.__dict__.get('__init__')


def _forwards_kwargs_to_super(func: Callable, varkw: str) -> bool:
    """Whether ``func``'s source calls ``super().__init__(..., **varkw)``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == '__init__'
                and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
                and node.func.value.func.id == 'super'):
            if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == varkw for k in node.keywords):
                return True
    return False


def accepted_arguments(target: Callable) -> Optional[Tuple[Dict[str, inspect.Parameter], Dict[str, Callable]]]:
    """The keyword arguments ``target`` accepts, following ``**kwargs`` that a class passes to its parent.

    Returns:
        ``(params, owners)``: ``{name: inspect.Parameter}`` and ``{name: the function that declares it}`` (whose
        annotations apply), or None when the set cannot be known (``**kwargs`` that go elsewhere, builtins).
    """
    if inspect.isclass(target):
        params: Dict[str, inspect.Parameter] = {}
        owners: Dict[str, Callable] = {}
        for klass in target.__mro__:
            init = _own_init(klass)
            if init is None:
                continue
            if klass is object or getattr(init, '__objclass__', None) is object:
                return params, owners  # object.__init__ takes nothing more
            if klass.__module__.startswith('torch.nn.modules.module'):
                return params, owners  # nn.Module.__init__ rejects unknown keyword arguments
            try:
                sig = inspect.signature(init)
            except (TypeError, ValueError):
                return None
            varkw = None
            for name, p in list(sig.parameters.items())[1:]:  # skip self
                if p.kind is p.VAR_KEYWORD:
                    varkw = name
                elif p.kind is not p.VAR_POSITIONAL and name not in params:
                    params[name] = p
                    owners[name] = init
            if varkw is None:
                return params, owners
            if not _forwards_kwargs_to_super(init, varkw):
                return None
        return params, owners
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    params = {n: p for n, p in sig.parameters.items() if p.kind is not p.VAR_POSITIONAL}
    return params, {n: target for n in params}


# ------------------------------------------------------------------------------------------------- types
def _type_hint(func: Callable, name: str) -> Any:
    try:
        return typing.get_type_hints(func).get(name)
    except Exception:  # unresolvable forward references: no check
        return None


def _allowed_types(hint: Any) -> Optional[List[type]]:
    """The plain Python types a hint allows, or None if the hint is not made of plain types only."""
    if hint is None:
        return None
    if hint is type(None):
        return [type(None)]
    if hint in _SIMPLE:
        return [hint]
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        out: List[type] = []
        for arg in typing.get_args(hint):
            sub = _allowed_types(arg)
            if sub is None:
                return None
            out += sub
        return out
    if origin in (dict, AbcMapping):
        return [dict]
    if origin in (list,):
        return [list, tuple]  # configs write tuples and lists interchangeably
    if origin in (tuple,):
        return [tuple, list]
    if origin in (AbcSequence,) or hint in (Sequence, typing.Sequence):
        return [list, tuple]
    return None


def _type_ok(value: Any, allowed: Iterable[type]) -> bool:
    for t in allowed:
        if t is type(None) and value is None:
            return True
        if t in (int, float) and isinstance(value, numbers.Real):
            return True  # numbers are not told apart: MMEngine's own hints say int where floats work
        if t is bool and (isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral)
                                                                  and value in (0, 1))):
            return True
        if t is str and isinstance(value, (str, os.PathLike)):
            return True
        if t is dict and isinstance(value, dict):
            return True
        if t in (list, tuple) and isinstance(value, (list, tuple)):
            return True
    return False


def _type_name(allowed: Sequence[type]) -> str:
    names = []
    for t in allowed:
        name = 'None' if t is type(None) else _SIMPLE.get(t, t.__name__)
        if name not in names:
            names.append(name)
    return ' or '.join(names)


def _is_config(value: Any) -> bool:
    return isinstance(value, dict) and 'type' in value


# ------------------------------------------------------------------------------------------------- walk
def _name(target: Callable) -> str:
    return getattr(target, '__qualname__', None) or getattr(target, '__name__', repr(target))


def _check_call(cfg: dict, path: str, consumed: set) -> None:
    target = _resolve(cfg['type'])
    if target is None:
        return
    accepted = accepted_arguments(target)
    if accepted is None:
        return
    params, owners = accepted
    for key, value in cfg.items():
        if key in META_KEYS or key in consumed:
            continue
        where = f'{path}.{key}' if path else key
        if key not in params:
            close = difflib.get_close_matches(key, list(params), n=3, cutoff=0.6)
            hint = f'; did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
            known = '' if close else f' (it accepts: {", ".join(sorted(params)) or "no keyword arguments"})'
            raise ConfigError(where, f'unknown key {key!r} for {_name(target)}{hint}{known}')
        if _is_config(value):
            continue  # built into something else first
        allowed = _allowed_types(_type_hint(owners[key], key))
        if allowed is None:
            continue
        if value is None:
            continue  # a placeholder that the parent fills in (``seg_head.llm_hidden_size=None``) or a default
        if not _type_ok(value, allowed):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + '...'
            raise ConfigError(where, f'{_name(target)} expects {_type_name(allowed)} for {key!r}, got '
                                     f'{type(value).__name__} {shown}')


def _walk(node: Any, path: str, consumed: set) -> None:
    if isinstance(node, dict):
        if 'type' in node:
            _check_call(node, path, consumed)
        for key, value in node.items():
            if key in META_KEYS:
                continue
            _walk(value, f'{path}.{key}' if path else str(key), set())
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _walk(value, f'{path}.{i}', consumed)


# ------------------------------------------------------------------------------------------------- values
def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _shown(value: Any) -> str:
    text = repr(value)
    return f'{type(value).__name__} {text if len(text) <= 60 else text[:57] + "..."}'


def _number_at_least(value: Any, path: str, low: float, what: str = 'a number') -> None:
    if not _is_number(value) or not np.isfinite(value) or value < low:
        raise ConfigError(path, f'expected {what} >= {low:g}, got {_shown(value)}')


def _int_at_least(value: Any, path: str, low: int) -> None:
    if not _is_int(value) or value < low:
        raise ConfigError(path, f'expected an integer >= {low}, got {_shown(value)}')


def _check_optimizer(optimizer: Any, path: str) -> None:
    if not isinstance(optimizer, dict):
        return
    for key in ('lr', 'weight_decay', 'momentum'):
        if optimizer.get(key) is not None:
            _number_at_least(optimizer[key], f'{path}.{key}', 0)
    if optimizer.get('eps') is not None:
        value = optimizer['eps']
        if not _is_number(value) or not value > 0:
            raise ConfigError(f'{path}.eps', f'expected a number > 0, got {_shown(value)}')
    betas = optimizer.get('betas')
    if betas is not None:
        if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                or not all(_is_number(b) and 0 <= b < 1 for b in betas)):
            raise ConfigError(f'{path}.betas', f'expected a pair of numbers in [0, 1) (e.g. [0.9, 0.999]), got '
                                               f'{_shown(betas)}')


def check_values(data: dict, keys: Optional[Sequence[str]] = None) -> None:
    """Check the values whose meaning is known, wherever a signature cannot: the optimizer's ``lr``,
    ``weight_decay``, ``momentum`` (numbers >= 0), ``eps`` (> 0) and ``betas`` (a pair in [0, 1)); every
    dataloader's ``batch_size`` (an integer >= 1) and ``num_workers`` (>= 0); ``train_cfg``'s ``max_iters`` /
    ``max_epochs`` / ``val_interval`` (integers >= 1).

    Raises:
        ConfigError: Naming the key (``optim_wrapper.optimizer.lr``), what it expects and what it got.
    """
    def wanted(key):
        return keys is None or key in keys

    wrapper = data.get('optim_wrapper')
    if wanted('optim_wrapper') and isinstance(wrapper, dict):
        _check_optimizer(wrapper.get('optimizer'), 'optim_wrapper.optimizer')
        for name, sub in wrapper.items():  # a multi-optimizer wrapper holds one wrapper per model part
            if isinstance(sub, dict) and isinstance(sub.get('optimizer'), dict):
                _check_optimizer(sub['optimizer'], f'optim_wrapper.{name}.optimizer')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = data.get(key)
        if not wanted(key) or not isinstance(loader, dict):
            continue
        if loader.get('batch_size') is not None:
            _int_at_least(loader['batch_size'], f'{key}.batch_size', 1)
        if loader.get('num_workers') is not None:
            _int_at_least(loader['num_workers'], f'{key}.num_workers', 0)
    train_cfg = data.get('train_cfg')
    if wanted('train_cfg') and isinstance(train_cfg, dict):
        for key in ('max_iters', 'max_epochs', 'val_interval'):
            if train_cfg.get(key) is not None:
                _int_at_least(train_cfg[key], f'train_cfg.{key}', 1)


def check_config(cfg: Any, keys: Optional[Sequence[str]] = None) -> None:
    """Check every ``dict(type=..., **kwargs)`` of a config against the signature of what ``type`` names.

    Args:
        cfg: An :class:`mmengine.config.Config` or a dict.
        keys: Top-level keys to check (default: all of them).

    Then the values whose ranges are known (:func:`check_values`).

    Raises:
        ConfigError: For the first unknown key, wrongly typed value or out-of-range value, naming its config path
            (``train_dataloader.dataset.datasets.0.pipeline.2.interval``).
    """
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    for key in (keys if keys is not None else list(data)):
        if key in data:
            _walk(data[key], key, CONSUMED_KEYS.get(key, set()))
    check_values(data, keys)


def read_config(path: str):
    """:meth:`mmengine.config.Config.fromfile` with its failures turned into a :class:`ConfigError` on the file.

    A Python config is code and runs when it is read. A converted folder (or a ``.json`` file) is read as a
    data-only config instead (:func:`sama_mm.utils.data_config.read_data_config`): nothing in it runs.

    Raises:
        ConfigError: The file does not exist, has a syntax error (with its line) or fails while it runs.
    """
    import os.path as osp

    from mmengine.config import Config

    from sama_mm.utils.data_config import read_data_config
    if osp.isdir(path) or str(path).endswith('.json'):
        return read_data_config(path)  # data only: nothing in it runs
    if not osp.isfile(path):
        raise ConfigError(str(path), 'config file not found' if not osp.exists(path) else 'not a file')
    try:
        return Config.fromfile(path)
    except SyntaxError as exc:
        where = f'{path}, line {exc.lineno}' if exc.lineno else str(path)
        raise ConfigError(where, f'syntax error: {exc.msg}') from None
    except Exception as exc:  # the config is code: whatever it raises is a problem of that file
        raise ConfigError(str(path), f'cannot load the config: {type(exc).__name__}: {exc}') from None
