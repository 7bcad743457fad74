"""Record reference tensors of the official SAMA model at tiny size (fixtures of tests/models/test_official_parity.py).

Usage::

    python tools/dev/record_official_reference.py --official /tmp/official_sama --out tests/data/official_parity
    python tools/dev/record_official_reference.py --official /tmp/official_sama --out tests/data/official_parity \
        --model sa2va

``--official`` is a checkout of github.com/sunye23/SAMA (commit 7c75e44); nothing of it is copied. The script
imports the released model class (``projects/llava_sam2/hf/models/modeling_sa2va_chat_all.py``,
``Sa2VAChatModel``; with ``--model sa2va`` the Sa2VA chat model without the aggregator,
``modeling_sa2va_chat.py``, see :func:`record_sa2va`) without running the packages' ``__init__`` files, and adapts
it at run time, without editing any official file, so that it builds offline and runs on a CPU:

* ``bert-base-uncased`` (config and tokenizer, downloaded by the constructor) is replaced by a tiny BERT config
  and our tiny Q-Former vocabulary;
* the hard-coded sizes are shrunk: the region MLPs' hidden width (1024 -> ``REGION_MLP_HIDDEN``), the SAM2 trunk
  (a Hiera of ``SAM2_EMBED`` channels, one block per stage) and its input size (1024 -> ``SAM2_IMAGE_SIZE``);
  everything else (Q-Former queries, the 1408-wide vision projection, SAM2's 256-wide decoder and memory) keeps
  the released sizes;
* ``.cuda()`` calls and the cuda device of the SAM2 inference state become the CPU (the SAM2 autocast to cuda
  bf16 is then disabled by torch itself, so SAM2 runs in fp32 apart from the released code's own bf16 roundings);
* the Q-Former-path region pooling runs in bf16, as in the released bf16 model (in float32 the official code
  fails there: it multiplies float32 features with a bf16 mask);
* the random choice of the region pooling frame becomes deterministic (``--pool-choice``: the first or the last
  dense frame where the region is non-empty) so that our deterministic choice can reproduce it.

The weights: the model is built with the official initialisation, then every tensor of more than
``VERBATIM_NUMEL`` elements is replaced by ``mean + std * N(0, 1)`` (its own mean and std, a seed per tensor,
``torch.Generator``), so that the test can rebuild the exact weights from a small recipe (``recipe.json`` +
``small_tensors.safetensors``) instead of storing ~90 MB. The model runs in float32.

Written into ``--out``: ``released/`` (config.json, tokenizer files, the Q-Former ``vocab.txt``; the weights are
rebuilt from the recipe), ``recipe.json``, ``small_tensors.safetensors``, ``video/`` (PNG frames),
``reference.json`` (cases, prompts, ids) and ``reference.safetensors`` (tensors per case). ``--model sa2va`` writes
the same files (but the tokenizer and the video, which it reuses from ``--out``) into ``--out/sa2va``; the
Q-Former and region-pooling adaptations above do not concern that model.
"""
import argparse
import json
import os
import os.path as osp
import random
import sys
import types
from typing import Dict, List

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

VERBATIM_NUMEL = 4096
REGION_MLP_HIDDEN = 16
SAM2_EMBED = 8
SAM2_IMAGE_SIZE = 256
NUM_FRAMES, HEIGHT, WIDTH = 24, 96, 128  # >= 22 frames: 8 sparse frames (see the report on shorter videos)
MAX_NEW_TOKENS = 8
TINY_BERT = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64, num_hidden_layers=2,
                 max_position_embeddings=512, layer_norm_eps=1e-12, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, initializer_range=0.02)


# ------------------------------------------------------------------------------------------------ official import
def _stub_package(name: str, path: str) -> None:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module


def import_official(official: str, vocab_file: str, module: str = 'modeling_sa2va_chat_all'):
    """Import the released model module (``modeling_sa2va_chat_all``: SAMA, ``modeling_sa2va_chat``: Sa2VA) with
    the run-time adaptations of the module docstring."""
    root = osp.join(official, 'projects')
    for name, sub in (('projects', ''), ('projects.llava_sam2', 'llava_sam2'),
                      ('projects.llava_sam2.models', 'llava_sam2/models'), ('projects.llava_sam2.hf', 'llava_sam2/hf'),
                      ('projects.llava_sam2.hf.models', 'llava_sam2/hf/models')):
        _stub_package(name, osp.join(root, sub))

    from transformers import BertConfig, BertTokenizer

    def bert_config(cls, name, *args, **kwargs):
        from sama_mm.tokenizers import tiny_qformer_vocab
        return cls(vocab_size=len(tiny_qformer_vocab()), **TINY_BERT)

    def bert_tokenizer(cls, name, *args, **kwargs):
        return cls(vocab_file, do_lower_case=True, **kwargs)

    BertConfig.from_pretrained = classmethod(bert_config)
    BertTokenizer.from_pretrained = classmethod(bert_tokenizer)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self

    import importlib
    sam2 = importlib.import_module('projects.llava_sam2.hf.models.sam2')
    modeling = importlib.import_module(f'projects.llava_sam2.hf.models.{module}')

    if hasattr(modeling, 'MLP'):  # the region MLPs of the aggregator (SAMA only)
        official_mlp = modeling.MLP
        modeling.MLP = lambda i, h, o, n: official_mlp(i, REGION_MLP_HIDDEN, o, n)

    class SmallPredictor(sam2.SAM2VideoPredictor):

        def __init__(self, **kwargs):
            kwargs['image_size'] = SAM2_IMAGE_SIZE
            super().__init__(**kwargs)

        def init_state(self, images):
            state = super().init_state(images)
            state['device'] = state['storage_device'] = torch.device('cpu')
            return state

    sam2.SAM2VideoPredictor = SmallPredictor

    def build_image_encoder(self):
        dims = [SAM2_EMBED * 2**i for i in range(4)]
        trunk = sam2.Hiera(embed_dim=SAM2_EMBED, num_heads=2, stages=[1, 1, 1, 1], global_att_blocks=[23, 33, 43],
                           window_pos_embed_bkg_spatial_size=[7, 7], window_spec=[8, 4, 16, 8])
        position = sam2.PositionEmbeddingSine(num_pos_feats=256, normalize=True, scale=None, temperature=10000)
        neck = sam2.FpnNeck(d_model=256, position_encoding=position, backbone_channel_list=dims[::-1],
                            fpn_top_down_levels=[2, 3], fpn_interp_model='nearest')
        return sam2.ImageEncoder(scalp=1, trunk=trunk, neck=neck)

    sam2.SAM2.build_image_encoder = build_image_encoder

    # The Q-Former-path region pooling multiplies the frame features (model dtype) with a bf16 mask; in a bf16
    # model (the released use) both are bf16, in float32 einsum refuses the mix. Pool in the mask's dtype, i.e.
    # exactly what the bf16 model computes there (the LLM path casts the features to bf16 itself).
    utils = importlib.import_module('projects.llava_sam2.models.utils')
    pooling_forward = utils.MaskPooling.forward
    utils.MaskPooling.forward = lambda self, x, mask: pooling_forward(self, x.to(mask.dtype), mask)
    return modeling


def make_config(modeling, vocab_size: int):
    from transformers import Qwen2Config

    from projects.llava_sam2.hf.models.configuration_intern_vit import InternVisionConfig  # noqa: E402
    vision = InternVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                image_size=448, patch_size=14, qkv_bias=True, norm_type='layer_norm',
                                drop_path_rate=0.0, use_flash_attn=False, qk_normalization=False,
                                layer_scale_init_value=0.1).to_dict()
    llm = Qwen2Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, tie_word_embeddings=False,
                      architectures=['Qwen2ForCausalLM']).to_dict()
    return modeling.Sa2VAChatConfig(vision_config=vision, llm_config=llm, template='qwen_chat', force_image_size=448,
                                    downsample_ratio=0.5, select_layer=-1, ps_version='v2', hidden_size=64,
                                    use_backbone_lora=0, use_llm_lora=0, torch_dtype='float32')


# ------------------------------------------------------------------------------------------------ weights recipe
def make_recipe(state: Dict[str, torch.Tensor], seed: int = 0):
    """Recipe entries and the verbatim small tensors (see the module docstring)."""
    recipe, small = {}, {}
    for i, name in enumerate(sorted(state)):
        t = state[name]
        if not t.is_floating_point() or t.numel() <= VERBATIM_NUMEL:
            small[name] = t.contiguous()
            recipe[name] = dict(rule='verbatim')
        else:
            t = t.float()
            recipe[name] = dict(rule='normal', shape=list(t.shape), mean=float(t.mean()), std=float(t.std()),
                                seed=seed + i)
    return recipe, small


def tensor_from_recipe(entry: dict) -> torch.Tensor:
    """A ``normal`` recipe entry's tensor; ``row_scale`` (``{row: factor}``, optional) multiplies rows after."""
    gen = torch.Generator().manual_seed(int(entry['seed']))
    t = entry['mean'] + entry['std'] * torch.randn(entry['shape'], generator=gen)
    for row, factor in entry.get('row_scale', {}).items():
        t[int(row)] *= factor
    return t


# ------------------------------------------------------------------------------------------------ data
def make_video(folder: str) -> List[np.ndarray]:
    """Smooth moving shapes plus mild noise, as PNG frames (lossless, so both sides read identical pixels)."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for t in range(NUM_FRAMES):
        img = np.stack([(xx * 2 + t * 7) % 256, (yy * 2 + t * 5) % 256, ((xx + yy) + t * 11) % 256], -1).astype(float)
        cy, cx = 30 + t, 40 + 2 * t
        img[(yy - cy)**2 + (xx - cx)**2 < 200] = (250, 40, 40)
        img += rng.normal(0, 12, img.shape)
        frame = np.clip(img, 0, 255).astype(np.uint8)
        Image.fromarray(frame).save(osp.join(folder, f'{t:05d}.png'))
        frames.append(frame)
    return frames


def box_mask(box, shape=(HEIGHT, WIDTH)) -> np.ndarray:
    x1, y1, x2, y2 = box
    mask = np.zeros(shape, np.float32)
    mask[y1:y2, x1:x2] = 1
    return mask


def region_inputs(per_frame_boxes):
    """Official ``prompt_masks`` / ``prompt_masks_112`` of one object: box masks of every video frame, nearest-resized
    to the 16x16 token grid and to 112x112 (as the official SAMA-Bench scripts prepare them)."""
    import torch.nn.functional as F
    full = torch.stack([torch.from_numpy(box_mask(b)) if b is not None else torch.zeros(HEIGHT, WIDTH)
                        for b in per_frame_boxes])
    m16 = F.interpolate(full[None], size=(16, 16), mode='nearest')[0]
    m112 = F.interpolate(full[None], size=(112, 112), mode='nearest')[0]
    return m16, m112


# ------------------------------------------------------------------------------------------------ recording
class Recorder:
    """Hooks on the official model that keep the tensors of the latest call."""

    def __init__(self, model):
        self.model = model
        self.store: Dict[str, torch.Tensor] = {}
        self.temporal: List[torch.Tensor] = []
        if hasattr(model, 'temporal_Qformer'):  # SAMA's aggregator (the Sa2VA model has none)
            model.temporal_Qformer.bert.register_forward_hook(
                lambda m, i, o: self.temporal.append(o.last_hidden_state[:, :32].detach().clone()))
            model.Qformer_final_proj.register_forward_hook(
                lambda m, i, o: self.store.__setitem__('context_tokens',
                                                       o.detach().reshape(-1, o.shape[-1]).clone()))
        model_generate = model.generate

        def generate_ids(*args, **kwargs):
            self.store['prompt_ids'] = kwargs['input_ids'][0].clone()
            return model_generate(*args, **kwargs)

        model.generate = generate_ids
        extract = model.extract_feature

        def extract_feature(pixel_values):
            self.store['pixel_values'] = pixel_values.detach().clone()
            out = extract(pixel_values)
            self.store['vit_features'] = out.detach().clone()
            return out

        model.extract_feature = extract_feature
        llm_generate = model.language_model.generate

        def generate(*args, **kwargs):
            self.store['inputs_embeds'] = kwargs['inputs_embeds'].detach()[0].clone()
            out = llm_generate(*args, **kwargs)
            self.store['sequences'] = out.sequences[0].clone()
            return out

        model.language_model.generate = generate
        embeddings = model.grounding_encoder.get_sam2_embeddings

        def get_sam2_embeddings(images):
            self.store['sam2_pixel_values'] = images.detach().clone()
            return embeddings(images)

        model.grounding_encoder.get_sam2_embeddings = get_sam2_embeddings

    def reset(self):
        self.store, self.temporal = {}, []


def fused_inputs(model, rec, call_kwargs):
    """The official fused LLM input of a prompt (its ``generate`` up to the LLM call), without decoding."""
    saved = model.language_model.generate
    captured = {}

    def fake(*args, **kwargs):
        captured['embeds'] = kwargs['inputs_embeds']
        raise StopIteration

    model.language_model.generate = fake
    try:
        model.predict_forward(**call_kwargs)
    except StopIteration:
        pass
    finally:
        model.language_model.generate = saved
    return captured['embeds']


@torch.no_grad()
def teacher_forced(model, tokenizer, embeds, answer: str, num_frames: int, sam2_pixels, ori_hw):
    """Official-path hidden states and masks for a given answer (the released code has no teacher forcing; this
    uses its modules in the order of ``predict_forward``)."""
    import torch.nn.functional as F
    ids = tokenizer.encode(answer + '<|im_end|>', add_special_tokens=False)
    ans = model.language_model.get_input_embeddings()(torch.tensor([ids]))
    out = model.language_model(inputs_embeds=torch.cat([embeds, ans], 1), output_hidden_states=True)
    hidden = out.hidden_states[-1][0, -len(ids):]
    seg = torch.tensor(ids) == model.seg_token_idx
    seg_hidden = hidden[seg]
    masks = []
    for emb in model.text_hidden_fcs(seg_hidden):
        state = model.grounding_encoder.get_sam2_embeddings(sam2_pixels)
        pred = model.grounding_encoder.language_embd_inference(state, [emb[None]] * num_frames)
        h, w = ori_hw
        masks.append((F.interpolate(pred, size=(h, w), mode='bilinear', align_corners=False)[:, 0].sigmoid() > 0.5))
    return ids, seg_hidden, torch.stack(masks) if masks else torch.zeros(0, 0, h, w, dtype=torch.bool)


def read_video(folder: str) -> List[np.ndarray]:
    """The PNG frames of ``folder`` in name order (the SAMA fixtures' video, shared by the Sa2VA fixtures)."""
    from PIL import Image
    names = sorted(n for n in os.listdir(folder) if n.endswith('.png'))
    return [np.array(Image.open(osp.join(folder, n)).convert('RGB')) for n in names]


def check_shared_tokenizer(tokenizer, folder: str) -> None:
    """Fail unless ``tokenizer`` saves exactly the tokenizer files of ``folder`` (the Sa2VA fixtures reuse them)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        for name in ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'):
            with open(osp.join(tmp, name)) as a, open(osp.join(folder, name)) as b:
                if json.load(a) != json.load(b):
                    raise SystemExit(f'{folder}/{name} differs from the tiny tokenizer: record --model sama first')


def save_released_layout(model, released: str, recipe: dict, small: Dict[str, torch.Tensor], out: str) -> None:
    """``out/recipe.json``, ``out/small_tensors.safetensors`` and the released folder without weights (the test
    rebuilds them from the recipe), its ``config.json`` in float32."""
    from safetensors.torch import save_file
    os.makedirs(released, exist_ok=True)
    with open(osp.join(out, 'recipe.json'), 'w') as f:
        json.dump(recipe, f, indent=0)
    save_file(small, osp.join(out, 'small_tensors.safetensors'))
    model.save_pretrained(released, safe_serialization=True)
    for name in os.listdir(released):
        if name.endswith('.safetensors') or name.endswith('.index.json'):
            os.remove(osp.join(released, name))
    with open(osp.join(released, 'config.json')) as f:
        cfg = json.load(f)
    cfg['torch_dtype'] = 'float32'
    with open(osp.join(released, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)


#: The referring question of the Sa2VA case, as the released referring-VOS evaluation writes it
#: (``projects/llava_sam2/evaluation/dataset/refVOS.py``: ``"<image>\nPlease segment {}."``).
SA2VA_QUESTION = 'Please segment the red circle.'
SEG_ROW_SCALE = 4.0


def record_sa2va(args) -> None:
    """Record the released Sa2VA chat model (``modeling_sa2va_chat.py``, no aggregator) into ``--out``/sa2va.

    It is called as the released referring-VOS evaluation calls it (``ref_vos_eval.py``): every frame of the
    video, the text ``"<image>\n" + question``; the model itself takes the first 5 frames for the LLM, every
    frame for SAM2, and prompts SAM2 on the first 5. Written: ``sa2va/released/config.json`` (the tokenizer and
    the video are the SAMA fixtures', checked identical), ``sa2va/recipe.json``,
    ``sa2va/small_tensors.safetensors``, ``sa2va/reference.json`` and ``sa2va/reference.safetensors``.
    """
    from PIL import Image
    from safetensors.torch import save_file

    from sama_mm.tokenizers import build_tiny_tokenizer

    out = osp.join(args.out, 'sa2va')
    shared = osp.join(args.out, 'released')
    tokenizer = build_tiny_tokenizer(template='qwen_chat')
    check_shared_tokenizer(tokenizer, shared)
    video_dir = osp.join(args.out, 'video')
    frames = read_video(video_dir) if osp.isdir(video_dir) else make_video(video_dir)
    num_frames, (height, width) = len(frames), frames[0].shape[:2]

    modeling = import_official(args.official, osp.join(shared, 'qformer_vocab.txt'), 'modeling_sa2va_chat')
    torch.manual_seed(args.seed)
    model = modeling.Sa2VAChatModel(make_config(modeling, len(tokenizer)), use_flash_attn=False).eval()
    recipe, small = make_recipe(model.state_dict(), args.seed)
    # The LM head's [SEG] row x SEG_ROW_SCALE: the greedy answer then holds one [SEG] (at the 5th token; the same
    # for factors 3 to 8), so that the greedy path's [SEG] hidden state and masks are recorded too.
    recipe['language_model.lm_head.weight']['row_scale'] = {
        str(tokenizer.convert_tokens_to_ids('[SEG]')): SEG_ROW_SCALE}
    state = {k: (small[k] if e['rule'] == 'verbatim' else tensor_from_recipe(e)) for k, e in recipe.items()}
    model.load_state_dict(state, strict=True)
    save_released_layout(model, osp.join(out, 'released'), recipe, small, out)

    model.preparing_for_generation(tokenizer, max_new_tokens=MAX_NEW_TOKENS, torch_dtype=torch.float32)
    model.extra_image_processor = modeling.DirectResize(target_length=SAM2_IMAGE_SIZE)  # hard-coded 1024 there
    rec = Recorder(model)
    model.text_hidden_fcs.register_forward_hook(
        lambda m, i, o: rec.store.__setitem__('seg_hidden', i[0].detach().clone()))
    video = [Image.fromarray(f) for f in frames]
    text = '<image>\n' + SA2VA_QUESTION
    answer = 'It is [SEG].'
    with torch.no_grad():
        result = model.predict_forward(video=list(video), text=text, tokenizer=tokenizer)
    store = dict(rec.store)
    vit_frames = list(range(len(store['pixel_values'])))
    sam2_pixels = store.get('sam2_pixel_values')
    with torch.no_grad():
        embeds = fused_inputs(model, rec, dict(video=list(video), text=text, tokenizer=tokenizer))
        if sam2_pixels is None:  # no [SEG] in the greedy answer: the SAM2 input as predict_forward builds it
            sam2_pixels = torch.stack([model.grounding_encoder.preprocess_image(
                torch.from_numpy(model.extra_image_processor.apply_image(np.array(v))).permute(2, 0, 1).contiguous())
                for v in video])
        ids, seg_hidden, masks = teacher_forced(model, tokenizer, embeds, answer, len(vit_frames), sam2_pixels,
                                                (height, width))
    assert torch.equal(embeds[0], store['inputs_embeds'])
    greedy_masks = result['prediction_masks'] or []
    tensors = {
        'pixel_values_sums': store['pixel_values'].double().sum((1, 2, 3)),
        'sam2_pixel_values_sums': sam2_pixels.double().sum((1, 2, 3)),
        'vit_features': store['vit_features'],
        'inputs_embeds': store['inputs_embeds'],
        'greedy_seg_hidden': store.get('seg_hidden', torch.zeros(0, model.language_model.config.hidden_size)),
        'greedy_masks': torch.from_numpy(np.stack(greedy_masks)) if greedy_masks else
        torch.zeros(0, num_frames, height, width, dtype=torch.bool),
        'forced_seg_hidden': seg_hidden,
        'forced_masks': masks,
    }
    meta = dict(model='Sa2VAChatModel (modeling_sa2va_chat.py)', num_frames=num_frames, height=height, width=width,
                vit_frames=vit_frames, sam2_prompt_frames=vit_frames, question=SA2VA_QUESTION, official_text=text,
                answer=answer, max_new_tokens=MAX_NEW_TOKENS, sam2_image_size=SAM2_IMAGE_SIZE,
                prompt_ids=store['prompt_ids'].tolist(), greedy_ids=store['sequences'].tolist(),
                greedy_text=result['prediction'], forced_ids=ids)
    save_file({k: v.contiguous() for k, v in tensors.items()}, osp.join(out, 'reference.safetensors'))
    with open(osp.join(out, 'reference.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(f'sa2va: greedy {result["prediction"]!r}, {len(greedy_masks)} greedy mask tracks, forced masks '
          f'{tuple(masks.shape)} ({int(masks.sum())} px); written {out}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--official', required=True, help='checkout of github.com/sunye23/SAMA')
    parser.add_argument('--out', required=True, help='fixture folder to write')
    parser.add_argument('--model', choices=('sama', 'sa2va'), default='sama',
                        help="'sama': the SAMA model (modeling_sa2va_chat_all.py) into OUT; 'sa2va': the Sa2VA "
                        "model without aggregator (modeling_sa2va_chat.py) into OUT/sa2va, reusing OUT's tokenizer "
                        "and video")
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    if args.model == 'sa2va':
        record_sa2va(args)
        return

    from PIL import Image
    from safetensors.torch import save_file

    from sama_mm.tokenizers import build_tiny_tokenizer, tiny_qformer_vocab

    released = osp.join(args.out, 'released')
    os.makedirs(released, exist_ok=True)
    vocab_file = osp.join(released, 'qformer_vocab.txt')
    with open(vocab_file, 'w') as f:
        f.write('\n'.join(tiny_qformer_vocab()) + '\n')
    tokenizer = build_tiny_tokenizer(template='qwen_chat')

    modeling = import_official(args.official, vocab_file)
    torch.manual_seed(args.seed)
    config = make_config(modeling, len(tokenizer))
    model = modeling.Sa2VAChatModel(config, use_flash_attn=False).eval()

    # Weights: the official init, the large tensors redrawn from the recipe.
    recipe, small = make_recipe(model.state_dict(), args.seed)
    state = {k: (small[k] if e['rule'] == 'verbatim' else tensor_from_recipe(e)) for k, e in recipe.items()}
    model.load_state_dict(state, strict=True)
    with open(osp.join(args.out, 'recipe.json'), 'w') as f:
        json.dump(recipe, f, indent=0)
    save_file(small, osp.join(args.out, 'small_tensors.safetensors'))
    model.save_pretrained(released, safe_serialization=True)  # the layout; the test rebuilds the weights
    for name in os.listdir(released):
        if name.endswith('.safetensors') or name.endswith('.index.json'):
            os.remove(osp.join(released, name))
    tokenizer.save_pretrained(released)
    with open(osp.join(released, 'config.json')) as f:
        cfg = json.load(f)
    cfg['torch_dtype'] = 'float32'
    with open(osp.join(released, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)

    model.preparing_for_generation(tokenizer, max_new_tokens=MAX_NEW_TOKENS, torch_dtype=torch.float32)
    model.extra_image_processor = modeling.DirectResize(target_length=SAM2_IMAGE_SIZE)  # hard-coded 1024 there
    rec = Recorder(model)
    frames = make_video(osp.join(args.out, 'video'))
    video = [Image.fromarray(f) for f in frames]
    sparse = model.get_sparse_indices_uniform(NUM_FRAMES, max_frames=32)
    dense = list(range(min(5, len(sparse))))
    T = len(sparse)
    frame_block = '\n'.join(['<img>' + '<IMG_CONTEXT>' * 256 + '</img>'] * len(dense))
    vp = '<vp>' + '<IMG_CONTEXT>' * 2 + '</vp>'

    moving = [(10 + 2 * t, 8 + t, 50 + 2 * t, 40 + t) for t in range(NUM_FRAMES)]
    cases = [
        dict(name='text', question='Please segment the red circle.', regions=[], context_sep='\n'),
        dict(name='box_frame0', question='What is <mask> doing?', context_sep='',
             regions=[dict(frame=0, box=[20, 10, 70, 60])], pool_choice='first', boxes=[[(20, 10, 70, 60)] +
                                                                                        [None] * (NUM_FRAMES - 1)]),
        dict(name='box_every_frame', question='Where does <mask> go?', context_sep='', pool_choice='last',
             regions=[dict(frame=sparse[dense[-1]], box=list(moving[sparse[dense[-1]]]))], boxes=[moving]),
    ]
    answer = 'It is [SEG].'
    tensors: Dict[str, torch.Tensor] = {}
    meta = dict(sparse_indices=sparse, dense_positions=dense, num_frames=NUM_FRAMES, height=HEIGHT, width=WIDTH,
                answer=answer, max_new_tokens=MAX_NEW_TOKENS, sam2_image_size=SAM2_IMAGE_SIZE, cases=[])
    for case in cases:
        boxes = case.pop('boxes', None)
        choice = case.pop('pool_choice', None)
        modeling.random.choice = (lambda seq: seq[0]) if choice != 'last' else (lambda seq: seq[-1])
        if case['regions']:
            m16, m112 = region_inputs(boxes[0])
            text = frame_block + '<IMG_CONTEXT>' * T + case['question'].replace('<mask>', vp)
            kwargs = dict(video=video, text=text, text_prompts=case['question'], prompt_masks=[m16],
                          prompt_masks_112=[m112], mask_count=[1], prediction_only=False, tokenizer=tokenizer)
        else:
            kwargs = dict(video=video, text='<image>\n' + case['question'], prediction_only=False,
                          tokenizer=tokenizer)
        key = case['name']
        rec.reset()
        with torch.no_grad():
            out = model.predict_forward(**dict(kwargs, video=list(video)))
        greedy = rec.store['sequences'].tolist()
        if key == 'text':  # the same for every case: kept once (first frame of the pixels, to stay small)
            tensors['pixel_values_frame0'] = rec.store['pixel_values'][0]
            tensors['pixel_values_sum'] = rec.store['pixel_values'].double().sum()[None]
            tensors['vit_features'] = rec.store['vit_features']
        tensors[f'{key}.temporal'] = torch.cat([t[0] for t in rec.temporal], 0)
        tensors[f'{key}.context_tokens'] = rec.store['context_tokens']
        tensors[f'{key}.inputs_embeds'] = rec.store['inputs_embeds']
        sam2_pixels = rec.store.get('sam2_pixel_values')
        greedy_masks = out['prediction_masks'] or []
        tensors[f'{key}.greedy_masks'] = torch.from_numpy(np.stack(greedy_masks)) if greedy_masks else \
            torch.zeros(0, NUM_FRAMES, HEIGHT, WIDTH, dtype=torch.bool)
        # Teacher-forced "It is [SEG]." after the same prompt (fused input re-built by the official generate).
        rec.reset()
        with torch.no_grad():
            embeds = fused_inputs(model, rec, dict(kwargs, video=list(video), prediction_only=True))
            if sam2_pixels is None:
                sam2_pixels = torch.stack([model.grounding_encoder.preprocess_image(
                    torch.from_numpy(model.extra_image_processor.apply_image(np.array(v))).permute(2, 0, 1))
                    for v in video])
            ids, seg_hidden, masks = teacher_forced(model, tokenizer, embeds, answer, len(dense), sam2_pixels,
                                                    (HEIGHT, WIDTH))
        if key == 'text':
            tensors['sam2_pixel_values_frame0'] = sam2_pixels[0]
            tensors['sam2_pixel_values_sum'] = sam2_pixels.double().sum()[None]
        tensors[f'{key}.forced_seg_hidden'] = seg_hidden
        tensors[f'{key}.forced_masks'] = masks
        prompt_ids = tokenizer.encode(model.template['INSTRUCTION'].format(
            input=(kwargs['text'] if case['regions'] else frame_block + '<IMG_CONTEXT>' * T + '\n' +
                   case['question']), round=1, bot_name='BOT'), add_special_tokens=False)
        meta['cases'].append(dict(case, greedy_text=out['prediction'], greedy_ids=greedy, forced_ids=ids,
                                  prompt_ids=prompt_ids))
        print(f'{key}: greedy {out["prediction"]!r}, {len(greedy_masks)} greedy mask tracks, '
              f'forced masks {tuple(masks.shape)} ({int(masks.sum())} px)')
    save_file({k: v.contiguous() for k, v in tensors.items()}, osp.join(args.out, 'reference.safetensors'))
    with open(osp.join(args.out, 'reference.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print('written', args.out)


if __name__ == '__main__':
    main()
