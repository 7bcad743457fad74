"""Converted and released folders: writing, reading and the two conversions (see :mod:`sama_mm.apis.convert`)."""
import json
import os
import os.path as osp
import shutil
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from torch import Tensor, nn

from sama_mm.utils.data_config import (DATA_CONFIG_FILE, DATA_CONFIG_FORMAT, FOLDER_VAR, read_data_config,
                                       to_data_config, write_data_config)
from sama_mm.utils.weights import (SAFETENSORS_INDEX, SAFETENSORS_SINGLE, load_state_dict_strict,
                                   read_safetensors_folder, split_shards, tensor_bytes)
from .infer import DEFAULT_QFORMER_VOCAB, default_chat_cfg, infer_model_cfg, release_test_pipeline
from .keys import ConversionError, merge_lora, our_key_to_released, released_key_to_ours, rename_state

#: Files of a released folder that are neither weights nor the config: copied as the tokenizer.
TOKENIZER_FILES: Tuple[str, ...] = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
                                    'added_tokens.json', 'vocab.json', 'merges.txt', 'tokenizer.model',
                                    'generation_config.json')
HF_CONFIG_COPY = 'hf_config.json'
#: The data-only config of a converted (or exported) folder.
OUR_CONFIG = DATA_CONFIG_FILE
#: Sub-folder holding the temporal Q-Former tokenizer when a folder carries it.
QFORMER_TOKENIZER_DIR = 'qformer_tokenizer'


def _qformer_tokenizer_steps(node):
    """Every ``build_qformer_tokenizer`` config dict inside a record."""
    if isinstance(node, dict):
        if node.get('type') in ('build_qformer_tokenizer', 'sama_mm.tokenizers.build_qformer_tokenizer'):
            yield node
        for value in node.values():
            yield from _qformer_tokenizer_steps(value)
    elif isinstance(node, list):
        for value in node:
            yield from _qformer_tokenizer_steps(value)


def _store_qformer_tokenizer(record: dict, dst: str, required: bool = True) -> None:
    """Save a Q-Former tokenizer that the record reads from outside ``dst`` into ``dst/qformer_tokenizer`` and
    point the record there, so that the folder is self-contained. Unless ``required``, a vocabulary that is not
    on this machine stays a reference to its path."""
    from sama_mm.tokenizers import build_qformer_tokenizer
    saved = None
    for step in _qformer_tokenizer_steps(record):
        vocab = step.get('vocab_file')
        if vocab is None or str(vocab).startswith(FOLDER_VAR) or (not required and not osp.exists(vocab)):
            continue
        if saved is None:
            kwargs = {k: v for k, v in step.items() if k != 'type'}
            build_qformer_tokenizer(**kwargs).save_pretrained(osp.join(dst, QFORMER_TOKENIZER_DIR))
            saved = vocab
        if vocab != saved:
            raise ConversionError(f'the config names two Q-Former vocabularies ({saved}, {vocab}); one is expected')
        step['vocab_file'] = f'{FOLDER_VAR}/{QFORMER_TOKENIZER_DIR}'


# ------------------------------------------------------------------------------------------------ I/O
def _check_dst(dst: str, overwrite: bool) -> None:
    if osp.isdir(dst) and os.listdir(dst) and not overwrite:
        raise FileExistsError(f'{dst} is not empty (pass overwrite=True / --force to replace its files)')


def _prepare_dst(dst: str, overwrite: bool) -> None:
    _check_dst(dst, overwrite)
    os.makedirs(dst, exist_ok=True)


def _copy_tokenizer(src: str, dst: str) -> List[str]:
    copied = []
    for name in TOKENIZER_FILES:
        if osp.isfile(osp.join(src, name)):
            shutil.copyfile(osp.join(src, name), osp.join(dst, name))
            copied.append(name)
    return copied


def save_sharded(state: Dict[str, Tensor], dst: str, max_shard_bytes: int = 5 * 1024**3,
                 metadata: Optional[dict] = None) -> List[str]:
    """Write ``model-0000k-of-0000n.safetensors`` shards and ``model.safetensors.index.json`` (HF layout)."""
    from safetensors.torch import save_file
    groups = split_shards({k: tensor_bytes(v) for k, v in state.items()}, max_shard_bytes)
    n = len(groups)
    weight_map, names = {}, []
    for i, keys in enumerate(groups):
        name = f'model-{i + 1:05d}-of-{n:05d}.safetensors'
        save_file({k: state[k].detach().contiguous().clone() for k in keys}, osp.join(dst, name),
                  metadata={'format': 'pt'})
        weight_map.update({k: name for k in keys})
        names.append(name)
    _normal_file_mode(osp.join(dst, name) for name in names)
    index = dict(metadata=dict(total_size=sum(tensor_bytes(v) for v in state.values()), **(metadata or {})),
                 weight_map=dict(sorted(weight_map.items())))
    with open(osp.join(dst, SAFETENSORS_INDEX), 'w') as f:
        json.dump(index, f, indent=2)
    return names


def build_model(config, device: str = 'cpu') -> nn.Module:
    """Build the ``model`` of a config (a file, a converted folder, its JSON or a :class:`Config`); weights
    uninitialised beyond construction."""
    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    from sama_mm.utils.config_check import read_config
    register_all_modules()
    cfg = read_config(config) if isinstance(config, str) else config
    return MODELS.build(cfg.model).to(device)


def load_converted_config(folder: str):
    """The data-only config of a converted folder (or of its ``sama_mm_config.json``) as a :class:`Config`.

    Nothing in the folder runs (see :mod:`sama_mm.utils.data_config`).

    Raises:
        ConfigError: No ``sama_mm_config.json``, or one that is not a valid data-only config.
    """
    return read_data_config(folder)


def _normal_file_mode(paths: Iterable[str]) -> None:
    """Give written files the mode a plain ``open()`` would (0666 less the umask): safetensors writes 0600."""
    mask = os.umask(0)
    os.umask(mask)
    for path in paths:
        os.chmod(path, 0o666 & ~mask)


# ------------------------------------------------------------------------------------------------ conversions
def convert_from_hf(src: str, dst: str, sam2_config: Optional[str] = None, sam2_image_size: Optional[int] = None,
                    qformer_heads: Optional[int] = None, max_shard_bytes: int = 5 * 1024**3, verify: bool = True,
                    overwrite: bool = False, qformer_vocab: Optional[str] = None) -> dict:
    """Convert a released SAMA / Sa2VA folder into a ``sama_mm`` folder (see the module docstring).

    The settings of ``sama_mm_config.json`` are those ``src`` carries (a folder exported by :func:`convert_to_hf`:
    the source config's model, test pipeline and chat settings, unchanged), else the released inference settings
    with the model inferred from the tensor shapes; ``sam2_config``, ``sam2_image_size``, ``qformer_heads`` and
    ``qformer_vocab`` only apply to the latter.

    Args:
        src: Released folder (``config.json``, safetensors, tokenizer files).
        dst: Output folder (must be empty unless ``overwrite``).
        sam2_config: sam2 model config name (default: inferred from the trunk shapes).
        sam2_image_size: SAM2 input size when not the released 1024.
        qformer_heads: Q-Former attention heads (not determined by any shape; default width // 64).
        max_shard_bytes: Shard size of the written weights.
        verify: Build the model from the written config and load the weights strictly.
        overwrite: Allow a non-empty ``dst``.
        qformer_vocab: The temporal Q-Former vocabulary of a release (a BERT ``vocab.txt`` or a folder holding
            one or a saved tokenizer); it is saved into ``dst/qformer_tokenizer``. Default: ``src``'s
            ``qformer_tokenizer`` folder, else :data:`DEFAULT_QFORMER_VOCAB`.

    Returns:
        A report: ``num_tensors``, ``model`` (the config), ``tokenizer_files``, ``verified``, ``settings``
        (``'recorded'`` or ``'release defaults'``).

    Raises:
        ConversionError: Unknown keys, no ``config.json``.
        StateDictMismatchError: When ``verify`` finds missing or unexpected keys (or shapes).
    """
    if not osp.isfile(osp.join(src, 'config.json')):
        raise ConversionError(f'{src} has no config.json')
    _check_dst(dst, overwrite)
    hf_config = json.load(open(osp.join(src, 'config.json')))
    state = read_safetensors_folder(src)
    ours = rename_state(state, released_key_to_ours)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if osp.isfile(osp.join(src, DATA_CONFIG_FILE)):
        read_data_config(src)  # refuse a record that is not a valid data-only config before writing anything
        with open(osp.join(src, DATA_CONFIG_FILE), encoding='utf-8') as f:
            record = json.load(f)
        settings = 'recorded'
    else:
        model_cfg = infer_model_cfg(hf_config, shapes, sam2_config=sam2_config, sam2_image_size=sam2_image_size,
                                    qformer_heads=qformer_heads)
        chat_cfg = default_chat_cfg(model_cfg)
        if qformer_vocab is None and osp.isdir(osp.join(src, QFORMER_TOKENIZER_DIR)):
            qformer_vocab = osp.join(src, QFORMER_TOKENIZER_DIR)
        record = dict(format=DATA_CONFIG_FORMAT, model=model_cfg,
                      test_pipeline=release_test_pipeline(model_cfg, chat_cfg, qformer_vocab or DEFAULT_QFORMER_VOCAB),
                      chat_cfg=chat_cfg)
        settings = 'release defaults'
    _prepare_dst(dst, overwrite)
    if len(state) and sum(tensor_bytes(v) for v in ours.values()) > max_shard_bytes:
        save_sharded(ours, dst, max_shard_bytes)
    else:
        from sama_mm.utils.weights import save_safetensors
        save_safetensors(ours, osp.join(dst, SAFETENSORS_SINGLE))
        _normal_file_mode([osp.join(dst, SAFETENSORS_SINGLE)])
    if osp.isdir(osp.join(src, QFORMER_TOKENIZER_DIR)):
        shutil.copytree(osp.join(src, QFORMER_TOKENIZER_DIR), osp.join(dst, QFORMER_TOKENIZER_DIR),
                        dirs_exist_ok=True)
    if settings != 'recorded' and qformer_vocab is not None:
        _store_qformer_tokenizer(record, dst)
    write_data_config(osp.join(dst, OUR_CONFIG), record)
    shutil.copyfile(osp.join(src, 'config.json'), osp.join(dst, HF_CONFIG_COPY))
    copied = _copy_tokenizer(src, dst)
    report = dict(num_tensors=len(ours), model=record['model'], tokenizer_files=copied, verified=False,
                  settings=settings)
    if verify:
        model = build_model(dst)
        load_our_folder(model, dst, ours)
        report['verified'] = True
    return report


def load_our_folder(model: nn.Module, folder: str, state: Optional[Dict[str, Tensor]] = None) -> None:
    """Load a converted folder's weights strictly; a tied LM head may be absent from the file."""
    state = dict(state if state is not None else read_safetensors_folder(folder))
    own = model.state_dict()
    llm = 'backbone.language_model.'
    for head, embed in ((llm + 'lm_head.weight', llm + 'model.embed_tokens.weight'),
                        (llm + 'output.weight', llm + 'model.tok_embeddings.weight')):
        if head in own and head not in state and embed in state and own[head].data_ptr() == own[embed].data_ptr():
            state[head] = state[embed]
    load_state_dict_strict(model, state, where=folder)


def convert_to_hf(src: str, dst: str, config: Optional[str] = None, checkpoint: Optional[str] = None,
                  dtype: Optional[str] = None, max_shard_bytes: int = 5 * 1024**3, overwrite: bool = False) -> dict:
    """Write a ``sama_mm`` model in the released layout (sharded safetensors + index + config.json + tokenizer).

    The model is built from ``config`` (default: the data-only ``SRC/sama_mm_config.json``), its weights loaded
    strictly from ``checkpoint`` (default: the safetensors of ``src``; an MMEngine ``.pth`` also works), LoRA
    adapters merged, and every tensor renamed to the released names. The config's model, test pipeline and chat
    settings go to ``DST/sama_mm_config.json`` (with the tokenizers read from ``DST``), so that
    :func:`convert_from_hf` restores them.

    Args:
        src: A converted folder, or any folder holding the tokenizer files and ``hf_config.json`` (optional).
        dst: Output folder.
        config: Our config, a file or a :class:`Config` (default ``SRC/sama_mm_config.json``).
        checkpoint: Weights (default ``src``).
        dtype: Cast floating tensors to ``'bfloat16'`` / ``'float32'`` (default: the ``torch_dtype`` of
            ``SRC/hf_config.json`` when present, else keep the model's dtypes).
        max_shard_bytes: Shard size.
        overwrite: Allow a non-empty ``dst``.

    Returns:
        A report: ``num_tensors``, ``shards``, ``merged_lora``.
    """
    from sama_mm.utils.config_check import read_config
    from sama_mm.utils.weights import read_checkpoint
    _check_dst(dst, overwrite)
    if config is None and not osp.isfile(osp.join(src, OUR_CONFIG)):
        raise ConversionError(f'{src} has no {OUR_CONFIG}: pass the config of the weights (--config)')
    cfg = read_config(config or src) if isinstance(config, (str, type(None))) else config
    record = to_data_config(cfg)
    model = build_model(cfg)
    ckpt = checkpoint or src
    if osp.isdir(ckpt):
        load_our_folder(model, ckpt)
    else:
        load_state_dict_strict(model, read_checkpoint(ckpt), where=ckpt)
    merged = hasattr(model.backbone.language_model, 'merge_and_unload')
    merge_lora(model)
    state = rename_state(model.state_dict(), our_key_to_released)
    hf_config_path = osp.join(src, HF_CONFIG_COPY)
    hf_config = json.load(open(hf_config_path)) if osp.isfile(hf_config_path) else hf_config_from_model(model)
    if dtype is None and hf_config.get('torch_dtype') in ('bfloat16', 'float32', 'float16'):
        dtype = hf_config['torch_dtype']
    if dtype is not None:
        target = getattr(torch, dtype)
        state = {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}
    # A tied LM head is written once (as the released class does).
    llm_cfg = model.backbone.llm_base.config
    if getattr(llm_cfg, 'tie_word_embeddings', False):
        state.pop('language_model.lm_head.weight', None)
        state.pop('language_model.output.weight', None)
    _prepare_dst(dst, overwrite)
    shards = save_sharded(state, dst, max_shard_bytes)
    with open(osp.join(dst, 'config.json'), 'w') as f:
        json.dump(hf_config, f, indent=2, sort_keys=True)
    _store_qformer_tokenizer(record, dst, required=False)
    write_data_config(osp.join(dst, OUR_CONFIG), record)
    copied = _copy_tokenizer(src, dst)
    if not any(n.startswith('tokenizer') for n in copied):
        model.backbone.tokenizer.save_pretrained(dst)
    return dict(num_tensors=len(state), shards=shards, merged_lora=merged)


def hf_config_from_model(model: nn.Module) -> dict:
    """A released-style ``config.json`` for a model that did not come from a released folder."""
    bb = model.backbone
    vit = bb.vision_model
    llm_config = bb.llm_base.config.to_dict()
    llm_config['vocab_size'] = bb.get_input_embeddings().num_embeddings
    return dict(architectures=['Sa2VAChatModel'], model_type='sa2va_chat', template=bb.template.name,
                downsample_ratio=bb.downsample_ratio, select_layer=bb.select_layer, ps_version=bb.ps_version,
                force_image_size=bb.force_image_size, hidden_size=bb.hidden_size, tie_word_embeddings=False,
                use_backbone_lora=0, use_llm_lora=0, torch_dtype=str(bb.llm_dtype).replace('torch.', ''),
                llm_config=llm_config,
                vision_config=dict(architectures=['InternVisionModel'], image_size=vit.image_size,
                                   patch_size=vit.patch_size, hidden_size=vit.hidden_size,
                                   num_hidden_layers=len(vit.encoder.layers),
                                   num_attention_heads=vit.encoder.layers[0].attn.num_heads,
                                   intermediate_size=vit.encoder.layers[0].mlp.fc1.out_features))
