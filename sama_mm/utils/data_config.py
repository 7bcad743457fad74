"""Data-only configs: the model, test pipeline and chat settings of a converted folder, as JSON.

A Python config is a program: loading one (``Config.fromfile``) runs its code, and so does a JSON or YAML config
read by MMEngine when it names a ``_base_`` Python file, or a dotted ``type`` path that the registry imports.
A converted folder shared with others (``tools/convert/from_hf.py``, ``to_hf.py``) therefore carries its
settings in ``sama_mm_config.json``, which :func:`read_data_config` reads with :func:`json.load` and checks:

* the top level holds only :data:`DATA_CONFIG_KEYS` (no ``_base_`` inheritance, no code);
* every ``type`` is a plain name (no dots) of a class or function that a ``sama_mm`` / MMEngine registry
  holds, a ``transformers`` ``*ForCausalLM`` class, or one of the tokenizer builders of
  :data:`TOKENIZER_BUILDERS`; nothing is imported by a path the file chooses;
* ``{{ fileDirname }}`` in a string stands for the folder of the JSON file (the tokenizer lives there).

:func:`to_data_config` goes the other way: it turns a (trusted, Python) config's ``model``, test pipeline and
chat settings into such a record, naming every class by its registry name.
"""
import copy
import json
import os.path as osp
import re
from typing import Any, Dict, Optional, Tuple

from sama_mm.utils.config_check import ConfigError

#: The file name of a converted folder's data-only config.
DATA_CONFIG_FILE = 'sama_mm_config.json'
#: What a data-only config may hold at its top level.
DATA_CONFIG_KEYS = ('format', 'model', 'test_pipeline', 'chat_cfg', 'test_dataloader', 'test_evaluator',
                    'test_cfg')
#: The value of the ``format`` key.
DATA_CONFIG_FORMAT = 'sama_mm data-only config v1'
#: Stands for the folder of the JSON file in its strings.
FOLDER_VAR = '{{ fileDirname }}'
#: Tokenizer builders a data-only config may name, and what the loaded config names instead.
TOKENIZER_BUILDERS = {'AutoTokenizer': 'AutoTokenizer', 'build_tiny_tokenizer': 'build_tiny_tokenizer',
                      'build_qformer_tokenizer': 'build_qformer_tokenizer'}
_LLM_NAME = re.compile(r'^[A-Za-z0-9_]+ForCausalLM$')


# ------------------------------------------------------------------------------------------------ registries
def _registries():
    from mmengine.registry import Registry

    from sama_mm import registry as reg
    for value in vars(reg).values():
        if isinstance(value, Registry):
            yield value


def _registered(name: str) -> bool:
    """Whether a ``sama_mm`` registry (or one of its MMEngine parents) holds ``name``."""
    for registry in _registries():
        try:
            registry.import_from_location()
        except Exception:  # a location that fails to import cannot hold the name
            pass
        node = registry
        while node is not None:
            if name in node.module_dict:
                return True
            node = node.parent
    return False


def _registered_name(obj: Any) -> Optional[str]:
    """The name under which a registry holds exactly ``obj``."""
    for registry in _registries():
        try:
            registry.import_from_location()
        except Exception:
            pass
        node = registry
        while node is not None:
            for name, value in node.module_dict.items():
                if value is obj:
                    return name
            node = node.parent
    return None


def _llm_class(name: str) -> bool:
    if name == 'InternLM2ForCausalLM':
        return True
    if not _LLM_NAME.match(name):
        return False
    import transformers
    return hasattr(transformers, name)


def type_name(obj: Any, where: str) -> str:
    """The plain name a data-only config stores for a ``type`` entry (a class, function or string).

    Raises:
        ConfigError: When no registry, tokenizer builder or ``transformers`` LLM class has the object.
    """
    if isinstance(obj, str):
        if '.' not in obj:
            if obj in TOKENIZER_BUILDERS or _llm_class(obj) or _registered(obj):
                return obj
            raise ConfigError(where, f'type {obj!r} is not a registered name')
        from sama_mm.tokenizers import resolve_dotted
        try:
            obj = resolve_dotted(obj)  # a source config is the user's own code: its paths may be imported
        except (ImportError, AttributeError) as exc:
            raise ConfigError(where, f'cannot resolve type {obj!r}: {exc}') from None
    from transformers import AutoTokenizer

    from sama_mm.tokenizers import build_qformer_tokenizer, build_tiny_tokenizer
    if obj is AutoTokenizer or (getattr(obj, '__self__', None) is AutoTokenizer
                                and getattr(obj, '__name__', '') == 'from_pretrained'):
        return 'AutoTokenizer'
    if obj is build_tiny_tokenizer:
        return 'build_tiny_tokenizer'
    if obj is build_qformer_tokenizer:
        return 'build_qformer_tokenizer'
    name = getattr(obj, '__name__', None)
    if isinstance(name, str) and _llm_class(name):
        import transformers
        if getattr(transformers, name, None) is obj or name == 'InternLM2ForCausalLM':
            return name
    found = _registered_name(obj)
    if found is None:
        raise ConfigError(where, f'{getattr(obj, "__qualname__", obj)!r} has no registry name, so a data-only '
                          'config cannot name it (register it, or use a registered class)')
    return found


# ------------------------------------------------------------------------------------------------ writing
def _to_data(node: Any, where: str, tokenizer: Optional[dict]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            path = f'{where}.{key}' if where else str(key)
            if key == 'type':
                out[key] = type_name(value, path)
            elif (key == 'tokenizer' and tokenizer is not None and isinstance(value, dict) and 'type' in value
                  and type_name(value.get('type'), path + '.type') in ('AutoTokenizer', 'build_tiny_tokenizer')):
                out[key] = dict(tokenizer)  # the LLM tokenizer: read from the folder
            else:
                out[key] = _to_data(value, path, tokenizer)
        return out
    if isinstance(node, (list, tuple)):
        return [_to_data(v, f'{where}.{i}', tokenizer) for i, v in enumerate(node)]
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise ConfigError(where, f'a {type(node).__name__} value cannot be stored in a data-only config')


def to_data_config(cfg, tokenizer_dir: Optional[str] = FOLDER_VAR) -> Dict[str, Any]:
    """The data-only record of a config: ``model``, ``test_pipeline``, ``chat_cfg`` and, when the config has
    them, ``test_dataloader``, ``test_evaluator`` and ``test_cfg``.

    Weights come from the folder, so the record's model builds without loading any: ``llm_lora`` (merged on
    export), ``seg_head.sam2_checkpoint`` and ``init_cfg`` entries are cleared. ``chat_cfg`` holds the
    effective inference settings (:func:`sama_mm.apis.chat_inputs.chat_cfg_from_config`), so a model built from
    the record chats exactly as one built from ``cfg``.

    Args:
        cfg: An :class:`mmengine.config.Config` (or dict) with ``model``.
        tokenizer_dir: Where the LLM tokenizer is read from (every ``AutoTokenizer`` / ``build_tiny_tokenizer``
            entry is replaced by ``AutoTokenizer`` of this folder); None keeps them.

    Raises:
        ConfigError: A value that JSON cannot hold or a class without a registry name, naming its key.
    """
    from sama_mm.apis.chat_inputs import chat_cfg_from_config, test_pipeline_of
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    tok = None if tokenizer_dir is None else dict(type='AutoTokenizer', pretrained_model_name_or_path=tokenizer_dir)
    model = copy.deepcopy(dict(data['model']))
    model.pop('init_cfg', None)
    if isinstance(model.get('backbone'), dict):
        model['backbone'] = dict(model['backbone'])
        if 'llm_lora' in model['backbone']:
            model['backbone']['llm_lora'] = None  # merged into the exported weights
        model['backbone'].pop('init_cfg', None)
    if isinstance(model.get('seg_head'), dict) and 'sam2_checkpoint' in model['seg_head']:
        model['seg_head'] = dict(model['seg_head'], sam2_checkpoint=None)
    model = _to_data(model, 'model', tok)
    record = dict(format=DATA_CONFIG_FORMAT, model=model,
                  test_pipeline=_to_data(list(test_pipeline_of(cfg)), 'test_pipeline', tok),
                  chat_cfg=_to_data(chat_cfg_from_config(cfg), 'chat_cfg', None))
    for key in ('test_dataloader', 'test_evaluator', 'test_cfg'):
        if data.get(key):
            record[key] = _to_data(data[key], key, tok)
    return record


def write_data_config(path: str, record: Dict[str, Any]) -> None:
    """Write a record (see :func:`to_data_config`) as indented JSON."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=1)
        f.write('\n')


# ------------------------------------------------------------------------------------------------ reading
def _from_data(node: Any, where: str, folder: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            path = f'{where}.{key}' if where else str(key)
            if key == 'type':
                if not isinstance(value, str):
                    raise ConfigError(path, f'type must be a registered name (a string), got {value!r:.60}')
                if '.' in value:
                    raise ConfigError(path, f'type {value!r} is an import path; a data-only config names '
                                      'registered classes only (e.g. "SAMA")')
                if value in TOKENIZER_BUILDERS:
                    out[key] = TOKENIZER_BUILDERS[value]
                elif _llm_class(value) or _registered(value):
                    out[key] = value
                else:
                    raise ConfigError(path, f'type {value!r} is not a registered name')
            elif key == '_base_':
                raise ConfigError(path, 'a data-only config cannot inherit from other files (_base_)')
            else:
                out[key] = _from_data(value, path, folder)
        if where.endswith('collate_fn') and isinstance(out.get('type'), str):
            # The Runner looks collate functions up in MMEngine's root registry, which does not follow the
            # default scope: name the sama_mm one with its scope.
            from sama_mm.registry import FUNCTIONS
            FUNCTIONS.import_from_location()
            if out['type'] in FUNCTIONS.module_dict:
                out['type'] = f'{FUNCTIONS.scope}.{out["type"]}'
        return out
    if isinstance(node, list):
        return [_from_data(v, f'{where}.{i}', folder) for i, v in enumerate(node)]
    if isinstance(node, str):
        return node.replace(FOLDER_VAR, folder)
    return node


def data_config_path(path: str) -> Optional[str]:
    """The data-only config that ``path`` names: the JSON file itself or a folder's ``sama_mm_config.json``."""
    if osp.isdir(path):
        candidate = osp.join(path, DATA_CONFIG_FILE)
        return candidate if osp.isfile(candidate) else None
    return path if path.endswith('.json') else None


def read_data_config(path: str):
    """Read a data-only config (a ``.json`` file, or a converted folder holding ``sama_mm_config.json``).

    Nothing in the file is executed or imported by a path it names (see the module docstring).

    Returns:
        An :class:`mmengine.config.Config` with the record's keys and ``default_scope='sama_mm'``.

    Raises:
        ConfigError: A folder without ``sama_mm_config.json``, a file that is not JSON, an unknown top-level key,
            a ``type`` that is not a registered name; the message names the file and the key.
    """
    from mmengine.config import Config
    json_path = data_config_path(path)
    if json_path is None:
        raise ConfigError(str(path), f'no {DATA_CONFIG_FILE} in this folder (a folder written by '
                          'tools/convert/from_hf.py or to_hf.py has one)')
    if not osp.isfile(json_path):
        raise ConfigError(json_path, 'config file not found')
    try:
        with open(json_path, encoding='utf-8') as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(json_path, f'not a JSON file: {exc}') from None
    if not isinstance(data, dict):
        raise ConfigError(json_path, f'expected a JSON object, got {type(data).__name__}')
    for key in data:
        if key not in DATA_CONFIG_KEYS:
            raise ConfigError(f'{json_path}: {key}', f'unknown key of a data-only config (known: '
                              f'{", ".join(DATA_CONFIG_KEYS)})')
    if 'model' not in data:
        raise ConfigError(json_path, 'no "model" in the data-only config')
    folder = osp.dirname(osp.abspath(json_path))
    try:
        body = {k: _from_data(v, k, folder) for k, v in data.items() if k != 'format'}
    except ConfigError as exc:
        raise ConfigError(f'{json_path}: {exc.path}', exc.message) from None
    body['default_scope'] = 'sama_mm'
    return Config(body, filename=json_path)


__all__: Tuple[str, ...] = ('DATA_CONFIG_FILE', 'FOLDER_VAR', 'read_data_config', 'to_data_config', 'write_data_config',
                     'data_config_path', 'type_name')
