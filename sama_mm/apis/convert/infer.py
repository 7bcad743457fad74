"""Model configs and inference settings of a released folder, inferred from ``config.json`` and tensor shapes.

Sizes that no tensor shape determines come from conventions and can be overridden (see
:mod:`sama_mm.apis.convert`).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from .keys import ConversionError, _is_neck_key

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
