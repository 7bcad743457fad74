# SAMA-8B / Sa2VA-8B backbone: InternVL2.5-8B = InternViT-300M-448px (V2.5) + internlm2_5-7b-chat; everything
# else as internvl_1b.py. InternLM2 is implemented in-package (sama_mm.models.llms.internlm2) with the
# released parameter names. The Sa2VA-8B tokenizer is InternLM2's SentencePiece tokenizer (remote code upstream):
# point pretrained_model_name_or_path at a folder holding a fast (tokenizer.json) export of it, since
# trust_remote_code stays off.
from mmengine.config import read_base
from transformers import AutoTokenizer

from sama_mm.models.llms import InternLM2ForCausalLM

with read_base():
    from .internvl_1b import *  # noqa: F401,F403

backbone_template = 'internlm2_chat'
backbone.update(  # noqa: F405
    llm=dict(
        type=InternLM2ForCausalLM,
        # internlm2_5-7b-chat sizes; vocab 92558 = 92544 + 9 InternVL + 5 Sa2VA tokens; untied `output`.
        config=dict(vocab_size=92558, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                    rope_theta=1000000.0, rope_scaling=dict(type='dynamic', factor=2.0), rms_norm_eps=1e-5,
                    hidden_act='silu', bias=False, tie_word_embeddings=False, pad_token_id=2, bos_token_id=1,
                    eos_token_id=2)),
    tokenizer=dict(type=AutoTokenizer.from_pretrained,
                   pretrained_model_name_or_path=checkpoint_root + '/Sa2VA-8B',  # noqa: F405
                   trust_remote_code=False),
    template=backbone_template)
