# A tiny InternVL video LLM with random weights, built fully offline (tests, demos, CPU smoke runs).
# ViT: 2 layers, width 32, at 56 px (4x4 patches -> 4 LLM tokens per frame); LLM: Qwen2 with 2 layers, width 64;
# tokenizer: the in-package byte-level BPE (build_tiny_tokenizer), so nothing is downloaded.
from transformers import Qwen2ForCausalLM

from sama_mm.models.vlms import InternVLVideoLLM
from sama_mm.tokenizers import build_tiny_tokenizer

tiny_image_size = 56
tiny_template = 'qwen_chat'

backbone = dict(
    type=InternVLVideoLLM,
    vision=dict(image_size=tiny_image_size, patch_size=14, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=2, intermediate_size=64),
    llm=dict(
        type=Qwen2ForCausalLM,
        # vocab_size is smaller than the tokenizer: the model resizes the embeddings to len(tokenizer).
        config=dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                    rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False, use_sliding_window=False)),
    tokenizer=dict(type=build_tiny_tokenizer, vocab_size=512, template=tiny_template),
    template=tiny_template,
    downsample_ratio=0.5,
    select_layer=-1,
    ps_version='v2',
    force_image_size=tiny_image_size,
    freeze_vision=True,
    freeze_llm=True,
    llm_lora=None,
    use_activation_checkpointing=False,
    torch_dtype='float32',
)
