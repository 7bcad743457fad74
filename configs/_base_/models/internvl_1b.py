# SAMA-1B / Sa2VA-1B backbone: InternVL2.5-1B = InternViT-300M-448px (V2.5) + Qwen2.5-0.5B-Instruct.
# The architecture is built from the sizes below (random weights); the weights come from a converted Sa2VA/SAMA
# checkpoint (load_from / init_cfg), whose keys vision_model.*, mlp1.*, language_model.* match by prefix.
# The tokenizer is read from the local checkpoint folder (set checkpoint_root, e.g. with --cfg-options).
from transformers import AutoTokenizer, Qwen2ForCausalLM

from sama_mm.models.vlms import InternVLVideoLLM

checkpoint_root = 'checkpoints'
backbone_template = 'qwen_chat'

# InternViT-300M-448px V2.5 (sama-reference section 1.2).
internvit_300m = dict(image_size=448, patch_size=14, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                      intermediate_size=4096, layer_norm_eps=1e-6, qkv_bias=True, drop_path_rate=0.0)

backbone = dict(
    type=InternVLVideoLLM,
    vision=internvit_300m,
    llm=dict(
        type=Qwen2ForCausalLM,
        # Qwen2.5-0.5B-Instruct sizes; vocab 151679 = len(tokenizer) after InternVL's and Sa2VA's tokens.
        # The released InternVL2.5-1B / Sa2VA-1B LLM keeps a separate lm_head (untied; the released model class
        # writes language_model.lm_head.weight, see released-layout-tiny). Verify against the downloaded
        # model.safetensors.index.json; if lm_head is absent there, set tie_word_embeddings=True.
        config=dict(vocab_size=151679, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                    rope_theta=1000000.0, rms_norm_eps=1e-6, hidden_act='silu', tie_word_embeddings=False,
                    use_sliding_window=False, sliding_window=32768, max_window_layers=21,
                    bos_token_id=151643, eos_token_id=151645)),
    tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=checkpoint_root + '/Sa2VA-1B',
                   trust_remote_code=False),
    template=backbone_template,
    downsample_ratio=0.5,
    select_layer=-1,
    ps_version='v2',
    force_image_size=448,
    freeze_vision=True,
    freeze_llm=True,
    llm_lora=None,
    use_activation_checkpointing=True,
    torch_dtype='bfloat16',
)
