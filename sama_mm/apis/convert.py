"""Convert released SAMA / Sa2VA Hugging Face folders to ``sama_mm`` models and back.

Released layout (reference §5): ``config.json`` (``model_type = sa2va_chat``: ``llm_config``, ``vision_config``,
``template`` and InternVL fields), ``model-0000k-of-0000n.safetensors`` shards with ``model.safetensors.index.json``
(or one ``model.safetensors``), tokenizer files. Key names map by prefix:

==================================  ======================================
released                            ``sama_mm``
==================================  ======================================
``vision_model.*``                  ``backbone.vision_model.*``
``mlp1.*``                          ``backbone.mlp1.*``
``language_model.*``                ``backbone.language_model.*``
``grounding_encoder.sam2_model.*``  ``seg_head.sam2_model.*`` (``g_weight`` → ``gamma``)
``text_hidden_fcs.*``               ``seg_head.text_hidden_fcs.*``
``spatial_Qformer*``, ``temporal_Qformer*``, ``vlm2spatial_Qformer_proj.*``, ``Qformer_*``   ``neck.*`` (same name)
==================================  ======================================

Every size the released ``config.json`` lacks (Q-Former widths and depths, region MLPs, SAM2 trunk) is inferred
from tensor shapes. Sizes that no tensor shape determines are taken from conventions and can be overridden:
the Q-Former attention heads (``qformer_hidden_size // 64``), the temporal window (16 frames of queries), the
Q-Former ``<mask>``/``<pos>`` ids (the 7th and 6th ids from the end of its vocabulary, as in the released
tokenizer), the SAM2 input size (1024) and the SAM2 attention layout (from the sam2 config with the same trunk, or
Hiera-L's). The converted folder holds ``sama_mm_config.json`` (a data-only config: the model, the test pipeline
and the chat settings, read without running anything, see :mod:`sama_mm.utils.data_config`),
``model.safetensors`` (or shards + index), the tokenizer files and the released ``config.json`` as
``hf_config.json`` (used again by :func:`convert_to_hf`).

Settings: :func:`convert_to_hf` writes the source config's model, test pipeline and effective chat settings to
``sama_mm_config.json`` in the released folder too (the released model class ignores the file), so that
:func:`convert_from_hf` of an exported folder reproduces them exactly. A folder without that file (a real release)
gets the released inference settings (reference §1.6, :func:`default_chat_cfg`) and a test pipeline built from
them (:func:`release_test_pipeline`).

Loading is strict: a key the model lacks or a model key the checkpoint lacks is an error listing them.
"""
import json
import math
import os
import os.path as osp
import shutil
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from sama_mm.utils.data_config import (DATA_CONFIG_FILE, DATA_CONFIG_FORMAT, FOLDER_VAR, read_data_config,
                                       to_data_config, write_data_config)
from sama_mm.utils.weights import (SAFETENSORS_INDEX, SAFETENSORS_SINGLE, StateDictMismatchError,
                                   load_state_dict_strict, read_safetensors_folder, split_shards, tensor_bytes)

#: Released prefix → our prefix (order matters only for readability; prefixes do not overlap).
PREFIX_MAP: Tuple[Tuple[str, str], ...] = (
    ('vision_model.', 'backbone.vision_model.'),
    ('mlp1.', 'backbone.mlp1.'),
    ('language_model.', 'backbone.language_model.'),
    ('grounding_encoder.sam2_model.', 'seg_head.sam2_model.'),
    ('text_hidden_fcs.', 'seg_head.text_hidden_fcs.'),
)
#: Released top-level names of the context aggregator (kept unchanged under ``neck.``).
NECK_NAMES: Tuple[str, ...] = ('spatial_Qformer', 'temporal_Qformer', 'vlm2spatial_Qformer_proj', 'Qformer_')
#: Files of a released folder that are neither weights nor the config: copied as the tokenizer.
TOKENIZER_FILES: Tuple[str, ...] = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
                                    'added_tokens.json', 'vocab.json', 'merges.txt', 'tokenizer.model',
                                    'generation_config.json')
HF_CONFIG_COPY = 'hf_config.json'
#: The data-only config of a converted (or exported) folder.
OUR_CONFIG = DATA_CONFIG_FILE
#: Sub-folder holding the temporal Q-Former tokenizer when a folder carries it.
QFORMER_TOKENIZER_DIR = 'qformer_tokenizer'
#: Where a release's Q-Former vocabulary is read from when neither the folder nor ``qformer_vocab`` gives one:
#: the local bert-base-uncased of the project's configs (``checkpoint_root + '/bert-base-uncased'``).
DEFAULT_QFORMER_VOCAB = 'checkpoints/bert-base-uncased'
#: Known sam2 configs by trunk (embed_dim, stages).
SAM2_TRUNKS = {
    (96, (1, 2, 7, 2)): 'configs/sam2/sam2_hiera_t.yaml',
    (96, (1, 2, 11, 2)): 'configs/sam2/sam2_hiera_s.yaml',
    (112, (2, 3, 16, 3)): 'configs/sam2/sam2_hiera_b+.yaml',
    (144, (2, 6, 36, 4)): 'configs/sam2/sam2_hiera_l.yaml',
}


class ConversionError(ValueError):
    """A checkpoint cannot be converted (unknown keys, LoRA weights, missing files)."""


# ------------------------------------------------------------------------------------------------ key maps
def _is_neck_key(key: str) -> bool:
    return any(key.startswith(n) for n in NECK_NAMES)


def released_key_to_ours(key: str) -> str:
    """Map one released tensor name to ours.

    Raises:
        ConversionError: For a name outside the known prefixes.
    """
    for src, dst in PREFIX_MAP:
        if key.startswith(src):
            out = dst + key[len(src):]
            if src.startswith('grounding_encoder') and out.endswith('.g_weight'):
                out = out[:-len('g_weight')] + 'gamma'
            return out
    if _is_neck_key(key):
        return 'neck.' + key
    raise ConversionError(f'unknown released key {key!r} (known prefixes: '
                          f'{[p for p, _ in PREFIX_MAP] + list(NECK_NAMES)})')


def our_key_to_released(key: str) -> str:
    """Map one of our tensor names to the released name (inverse of :func:`released_key_to_ours`).

    Raises:
        ConversionError: For LoRA weights (merge them first, :func:`merge_lora`) or an unknown name.
    """
    if '.lora_' in key or '.base_model.model.' in key or '.base_layer.' in key:
        raise ConversionError(f'{key!r} is a LoRA weight: merge LoRA into the base model first (merge_lora)')
    for src, dst in PREFIX_MAP:
        if key.startswith(dst):
            out = src + key[len(dst):]
            if src.startswith('grounding_encoder') and out.endswith('.gamma'):
                out = out[:-len('gamma')] + 'g_weight'
            return out
    if key.startswith('neck.') and _is_neck_key(key[len('neck.'):]):
        return key[len('neck.'):]
    raise ConversionError(f'{key!r} has no released name')


def rename_state(state: Dict[str, Tensor], fn) -> Dict[str, Tensor]:
    """Apply a key map to a state dict, refusing collisions."""
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        new = fn(key)
        if new in out:
            raise ConversionError(f'two tensors map to {new!r}')
        out[new] = value
    return out


# ------------------------------------------------------------------------------------------------ LoRA
def merge_lora(model: nn.Module) -> nn.Module:
    """Merge LoRA adapters of the backbone LLM into its weights (peft ``merge_and_unload``), in place.

    Returns the model (unchanged when the LLM has no adapters).
    """
    backbone = getattr(model, 'backbone', model)
    llm = backbone.language_model
    if hasattr(llm, 'merge_and_unload'):
        backbone.language_model = llm.merge_and_unload()
    return model


# ------------------------------------------------------------------------------------------------ config inference
def _shape(shapes: Dict[str, Sequence[int]], key: str) -> Tuple[int, ...]:
    if key not in shapes:
        raise ConversionError(f'the checkpoint lacks {key!r}, needed to infer the model size')
    return tuple(int(v) for v in shapes[key])


def _count_layers(shapes: Dict[str, Sequence[int]], prefix: str) -> int:
    ids = {int(k[len(prefix):].split('.')[0]) for k in shapes if k.startswith(prefix)}
    return max(ids) + 1 if ids else 0


_LLM_FIELDS = ('hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads',
               'max_position_embeddings', 'rope_theta', 'rms_norm_eps', 'hidden_act', 'tie_word_embeddings',
               'use_sliding_window', 'sliding_window', 'max_window_layers', 'bos_token_id', 'eos_token_id',
               'pad_token_id', 'rope_scaling', 'bias', 'attn_implementation')


def infer_llm_cfg(hf_config: dict, shapes: Dict[str, Sequence[int]]) -> dict:
    """Our ``backbone.llm`` config: the architecture of ``llm_config`` with sizes checked against the tensors."""
    llm_config = dict(hf_config.get('llm_config') or {})
    arch = (llm_config.get('architectures') or ['Qwen2ForCausalLM'])[0]
    internlm = arch.startswith('InternLM2')
    embed_key = 'language_model.model.tok_embeddings.weight' if internlm else 'language_model.model.embed_tokens.weight'
    head_key = 'language_model.output.weight' if internlm else 'language_model.lm_head.weight'
    vocab, hidden = _shape(shapes, embed_key)
    layer_prefix = 'language_model.model.layers.'
    cfg = {k: llm_config[k] for k in _LLM_FIELDS if k in llm_config and llm_config[k] is not None}
    cfg.update(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=_count_layers(shapes, layer_prefix))
    ffn_key = '0.feed_forward.w1.weight' if internlm else '0.mlp.gate_proj.weight'
    cfg['intermediate_size'] = _shape(shapes, layer_prefix + ffn_key)[0]
    cfg['tie_word_embeddings'] = head_key not in shapes
    return dict(type=arch, config=cfg)


def infer_vision_cfg(hf_config: dict, shapes: Dict[str, Sequence[int]]) -> dict:
    """Our ``backbone.vision`` config (InternViT) from ``vision_config`` and the tensor shapes."""
    vc = dict(hf_config.get('vision_config') or {})
    width, _, patch, _ = _shape(shapes, 'vision_model.embeddings.patch_embedding.weight')
    positions = _shape(shapes, 'vision_model.embeddings.position_embedding')[1]
    grid = math.isqrt(positions - 1)
    prefix = 'vision_model.encoder.layers.'
    return dict(image_size=grid * patch, patch_size=patch, hidden_size=width,
                num_hidden_layers=_count_layers(shapes, prefix),
                num_attention_heads=int(vc.get('num_attention_heads', max(1, width // 64))),
                intermediate_size=_shape(shapes, prefix + '0.mlp.fc1.weight')[0],
                layer_norm_eps=float(vc.get('layer_norm_eps', 1e-6)),
                qkv_bias=prefix + '0.attn.qkv.bias' in shapes,
                drop_path_rate=0.0)


def infer_sam2_cfg(shapes: Dict[str, Sequence[int]], sam2_config: Optional[str] = None,
                   image_size: Optional[int] = None) -> dict:
    """Our ``seg_head`` config: the sam2 model config and hydra overrides that reproduce the trunk's shapes."""
    p = 'grounding_encoder.sam2_model.image_encoder.trunk.'
    embed = _shape(shapes, p + 'patch_embed.proj.weight')[0]
    blocks = _count_layers(shapes, p + 'blocks.')
    starts = sorted(i for i in range(blocks) if p + f'blocks.{i}.proj.weight' in shapes)
    bounds = [0] + starts + [blocks]
    stages = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:]))
    overrides: List[str] = []
    known = SAM2_TRUNKS.get((embed, stages))
    if sam2_config is None:
        sam2_config = known or 'configs/sam2/sam2_hiera_l.yaml'
        if known is None:
            dims = [embed * 2**i for i in range(len(stages))]
            bkg = _shape(shapes, p + 'pos_embed')[-2:]
            window = _shape(shapes, p + 'pos_embed_window')[-1]
            overrides += [f'++model.image_encoder.trunk.embed_dim={embed}',
                          f'++model.image_encoder.trunk.stages=[{",".join(map(str, stages))}]',
                          f'++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[{bkg[0]},{bkg[1]}]',
                          # Only the first window size has a parameter (pos_embed_window); the rest are Hiera-L's.
                          f'++model.image_encoder.trunk.window_spec=[{window},4,16,8]',
                          f'++model.image_encoder.neck.backbone_channel_list=[{",".join(map(str, dims[::-1]))}]']
    if image_size is not None and int(image_size) != 1024:
        side = int(image_size) // 16
        overrides += [f'++model.image_size={int(image_size)}',
                      f'++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]',
                      f'++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]']
    llm_hidden = _shape(shapes, 'text_hidden_fcs.0.weight')[1]
    return dict(type='SAM2SegHead', sam2_config=sam2_config, hydra_overrides=overrides, llm_hidden_size=llm_hidden)


def infer_neck_cfg(shapes: Dict[str, Sequence[int]], num_attention_heads: Optional[int] = None) -> Optional[dict]:
    """Our ``neck`` (``STAggregator``) config from the aggregator tensors, or None without them."""
    if not any(_is_neck_key(k) for k in shapes):
        return None
    _, spatial_q, width = _shape(shapes, 'spatial_Qformer_query_tokens')
    _, temporal_q, _ = _shape(shapes, 'temporal_Qformer_query_tokens')
    vision_width, llm_hidden = _shape(shapes, 'vlm2spatial_Qformer_proj.weight')
    sp, tp = 'spatial_Qformer.bert.encoder.layer.', 'temporal_Qformer.bert.encoder.layer.'

    def cross_freq(prefix: str, layers: int) -> int:
        cross = [i for i in range(layers) if f'{prefix}{i}.crossattention.self.query.weight' in shapes]
        return cross[1] - cross[0] if len(cross) > 1 else max(layers, 1)

    spatial_layers, temporal_layers = _count_layers(shapes, sp), _count_layers(shapes, tp)
    vocab, _ = _shape(shapes, 'temporal_Qformer.bert.embeddings.word_embeddings.weight')
    positions, _ = _shape(shapes, 'temporal_Qformer.bert.embeddings.position_embeddings.weight')
    mlp_hidden, mask_area = _shape(shapes, 'Qformer_mask_proj.layers.0.weight')
    return dict(type='STAggregator', llm_hidden_size=llm_hidden, qformer_hidden_size=width,
                num_attention_heads=int(num_attention_heads or max(1, width // 64)),
                intermediate_size=_shape(shapes, sp + '0.intermediate_query.dense.weight')[0],
                vision_width=vision_width, spatial_num_layers=spatial_layers,
                spatial_cross_attention_freq=cross_freq(sp, spatial_layers), spatial_num_queries=spatial_q,
                temporal_num_layers=temporal_layers, temporal_cross_attention_freq=cross_freq(tp, temporal_layers),
                temporal_num_queries=temporal_q, temporal_vocab_size=vocab, max_position_embeddings=positions,
                region_token_id=vocab - 7, box_token_id=vocab - 6, region_mask_size=math.isqrt(mask_area),
                region_mlp_hidden=mlp_hidden, window_size=16 * spatial_q, stride=16 * spatial_q)


def infer_model_cfg(hf_config: dict, shapes: Dict[str, Sequence[int]], tokenizer_dir: str = '{{ fileDirname }}',
                    sam2_config: Optional[str] = None, sam2_image_size: Optional[int] = None,
                    qformer_heads: Optional[int] = None) -> dict:
    """Our full ``model`` config (plain dict, string types) for a released checkpoint."""
    vision = infer_vision_cfg(hf_config, shapes)
    force = int(hf_config.get('force_image_size') or vision['image_size'])
    dtype = 'bfloat16' if hf_config.get('torch_dtype') == 'bfloat16' else 'float32'
    backbone = dict(type='InternVLVideoLLM', vision=vision, llm=infer_llm_cfg(hf_config, shapes),
                    tokenizer=dict(type='AutoTokenizer', pretrained_model_name_or_path=tokenizer_dir),
                    template=hf_config.get('template', 'qwen_chat'),
                    downsample_ratio=float(hf_config.get('downsample_ratio', 0.5)),
                    select_layer=int(hf_config.get('select_layer', -1)), ps_version=hf_config.get('ps_version', 'v2'),
                    force_image_size=force, freeze_vision=True, freeze_llm=True, llm_lora=None,
                    torch_dtype=dtype)
    seg_head = dict(infer_sam2_cfg(shapes, sam2_config, sam2_image_size), **RELEASED_SAM2_PREPROCESSING,
                    round_memory_to_bf16=True)
    neck = infer_neck_cfg(shapes, qformer_heads)
    if neck is not None:
        neck['no_region_bias'] = 'official'
    return dict(type='SAMA', backbone=backbone, seg_head=seg_head, neck=neck, max_new_tokens=512,
                sam2_prompt_frames='first')


#: How the released inference resizes frames for SAM2: PIL bicubic, mean/std rounded through bf16.
RELEASED_SAM2_PREPROCESSING = dict(resize_backend='pil', round_norm_to_bf16=True)


def default_chat_cfg(model_cfg: dict) -> dict:
    """Inference settings of a released model: those of the released referring-VOS inference (reference §1.6,
    docs/evaluation.md "Exact official inference").

    SAMA (with the aggregator): 32 sparse frames every 3rd, the first 5 of them dense, ``'\\n'`` after the context
    tokens. Sa2VA (``neck=None``): the LLM sees the first 5 frames of the video and ``'\\n'`` follows the frame
    block. Both: PIL bicubic resizing for the ViT and for SAM2 (whose mean/std are rounded through bf16).
    """
    bb = model_cfg['backbone']
    patch = bb['vision']['patch_size']
    tokens = int((bb['force_image_size'] // patch)**2 * bb['downsample_ratio']**2)
    if model_cfg.get('neck') is not None:
        frames = dict(interval=3, max_frames=32, min_frames=8, sparse_policy='spread', context_tokens=True,
                      context_sep='\n', frames_sep='')
    else:
        frames = dict(interval=1, max_frames=5, min_frames=5, sparse_policy='first', context_tokens=False,
                      context_sep='', frames_sep='\n')
    return dict(frames, num_dense=5, dense_policy='first', vit_image_size=bb['force_image_size'],
                num_image_tokens=tokens, max_length=8192, sam2_image_size=_sam2_image_size(model_cfg['seg_head']),
                resize_backend='pil', sam2_resize_backend=RELEASED_SAM2_PREPROCESSING['resize_backend'],
                sam2_round_norm_to_bf16=RELEASED_SAM2_PREPROCESSING['round_norm_to_bf16'])


def _sam2_image_size(seg_head: dict) -> int:
    for o in seg_head.get('hydra_overrides', []):
        if o.startswith('++model.image_size='):
            return int(o.split('=', 1)[1])
    return 1024


def release_test_pipeline(model_cfg: dict, chat_cfg: dict, qformer_vocab: str = DEFAULT_QFORMER_VOCAB) -> list:
    """The test pipeline of a released model at its inference settings (the referring-VOS prompt of the project's
    ``rvos_test_pipeline``), reading the LLM tokenizer from the converted folder.

    Args:
        model_cfg: The model config (:func:`infer_model_cfg`).
        chat_cfg: The inference settings (:func:`default_chat_cfg`); frames, sizes and the prompt layout follow it.
        qformer_vocab: The temporal Q-Former vocabulary (``build_qformer_tokenizer(vocab_file=...)``) of a model
            with the aggregator.
    """
    sampling = {k: chat_cfg[k] for k in ('interval', 'max_frames', 'min_frames', 'num_dense', 'dense_policy',
                                         'sparse_policy')}
    pipeline = [dict(type='VideoInit'), dict(type='SampleFrames', **sampling), dict(type='VideoDecode'),
                dict(type='RefVOSToRounds', question='Please segment {exp}.', answer='It is [SEG].'),
                dict(type='InternVLImageTransform', image_size=chat_cfg['vit_image_size'],
                     resize_backend=chat_cfg['resize_backend']),
                dict(type='ChatTokenize', tokenizer=dict(model_cfg['backbone']['tokenizer']),
                     template=model_cfg['backbone']['template'], num_image_tokens=chat_cfg['num_image_tokens'],
                     context_tokens=chat_cfg['context_tokens'], context_sep=chat_cfg['context_sep'],
                     frames_sep=chat_cfg['frames_sep'], max_length=chat_cfg['max_length'], generation=True)]
    if model_cfg.get('neck') is not None:
        pipeline.append(dict(type='QFormerPrompts',
                             tokenizer=dict(type='build_qformer_tokenizer', vocab_file=qformer_vocab),
                             grid_size=math.isqrt(int(chat_cfg['num_image_tokens'])), pooling_frame='random'))
    pipeline += [dict(type='SAM2FrameSource', image_size=chat_cfg['sam2_image_size'],
                      resize_backend=chat_cfg['sam2_resize_backend'],
                      round_norm_to_bf16=chat_cfg['sam2_round_norm_to_bf16']),
                 dict(type='PackSAMAInputs')]
    return pipeline


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


__all__: Iterable[str] = ('PREFIX_MAP', 'NECK_NAMES', 'ConversionError', 'StateDictMismatchError',
                          'released_key_to_ours', 'our_key_to_released', 'merge_lora', 'infer_model_cfg',
                          'infer_llm_cfg', 'infer_vision_cfg', 'infer_sam2_cfg', 'infer_neck_cfg', 'convert_from_hf',
                          'convert_to_hf', 'load_our_folder', 'save_sharded', 'build_model', 'load_converted_config',
                          'release_test_pipeline', 'default_chat_cfg')
