# SAMA-8B / Sa2VA-8B backbone: InternVL2.5-8B = InternViT-300M-448px (V2.5) + internlm2_5-7b-chat.
# InternLM2 is implemented in-package (sama_mm.models.backbones.internlm2) with the released parameter names.
# Weights come from a converted checkpoint (load_from / init_cfg); see internvl_1b.py.
# The Sa2VA-8B tokenizer is InternLM2's SentencePiece tokenizer (remote code upstream): point
# pretrained_model_name_or_path at a folder holding a fast (tokenizer.json) export of it, since
# trust_remote_code stays off.
from transformers import AutoTokenizer

from sama_mm.models.backbones.internlm2 import InternLM2ForCausalLM
from sama_mm.models.backbones.internvl_video_llm import InternVLVideoLLM

checkpoint_root = 'checkpoints'
backbone_template = 'internlm2_chat'

internvit_300m = dict(image_size=448, patch_size=14, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                      intermediate_size=4096, layer_norm_eps=1e-6, qkv_bias=True, drop_path_rate=0.0)

backbone = dict(
    type=InternVLVideoLLM,
    vision=internvit_300m,
    llm=dict(
        type=InternLM2ForCausalLM,
        # internlm2_5-7b-chat sizes; vocab 92558 = 92544 + 9 InternVL + 5 Sa2VA tokens; untied `output`.
        config=dict(vocab_size=92558, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                    rope_theta=1000000.0, rope_scaling=dict(type='dynamic', factor=2.0), rms_norm_eps=1e-5,
                    hidden_act='silu', bias=False, tie_word_embeddings=False, pad_token_id=2, bos_token_id=1,
                    eos_token_id=2)),
    tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=checkpoint_root + '/Sa2VA-8B',
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
