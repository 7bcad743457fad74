# SAMA-4B / Sa2VA-4B backbone: InternVL2.5-4B = InternViT-300M-448px (V2.5) + Qwen2.5-3B-Instruct; everything
# else as internvl_1b.py. The chat template is phi3_chat although the LLM is Qwen2.5: inherited from Sa2VA and
# kept for checkpoint parity.
from mmengine.config import read_base
from transformers import AutoTokenizer, Qwen2ForCausalLM

with read_base():
    from .internvl_1b import *  # noqa: F401,F403

backbone_template = 'phi3_chat'
backbone.update(  # noqa: F405
    llm=dict(
        type=Qwen2ForCausalLM,
        # Qwen2.5-3B-Instruct sizes; vocab 151679 after resize; Sa2VA-4B stores a separate lm_head (untied).
        config=dict(vocab_size=151679, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                    num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=32768,
                    rope_theta=1000000.0, rms_norm_eps=1e-6, hidden_act='silu', tie_word_embeddings=False,
                    use_sliding_window=False, sliding_window=32768, max_window_layers=70,
                    bos_token_id=151643, eos_token_id=151645)),
    tokenizer=dict(type=AutoTokenizer.from_pretrained,
                   pretrained_model_name_or_path=checkpoint_root + '/Sa2VA-4B',  # noqa: F405
                   trust_remote_code=False),
    template=backbone_template)
