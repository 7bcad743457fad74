"""A tiny offline byte-level BPE tokenizer with the chat and SAMA special tokens, for tests only.

It is built here on purpose (not with the library's tokenizer builder, which has its own owner and tests):
byte-level BPE decodes back to exactly the text it encoded, so tests can compare decoded strings.
"""
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from sama_mm.structures.tokens import INTERNVL_SPECIAL_TOKENS, SAMA_SPECIAL_TOKENS

CHAT_SPECIALS = ('<|im_start|>', '<|im_end|>', '<|endoftext|>')
_CORPUS = [
    'user assistant What is the shape doing in the video? It is moving left. Please segment the red square.',
    'Which objects move right? The blue circle and the green triangle. Response with interleaved masks.',
    'Please describe the region in the video in detail. There are 3 shapes: a red square, a blue circle.',
]


def make_tiny_tokenizer(bos: bool = False) -> PreTrainedTokenizerFast:
    """Byte-level BPE (vocab ~400) + chat specials + InternVL/SAMA specials, each one token.

    Args:
        bos: Give the tokenizer a BOS token ``<s>`` (as InternLM2's has; Qwen's has none).
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    kwargs = dict(eos_token='<|im_end|>', pad_token='<|endoftext|>')
    if bos:
        kwargs['bos_token'] = '<s>'
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **kwargs)
    fast.add_special_tokens(dict(additional_special_tokens=list(CHAT_SPECIALS)))
    fast.add_tokens(list(INTERNVL_SPECIAL_TOKENS) + list(SAMA_SPECIAL_TOKENS), special_tokens=True)
    return fast


def save_as_qwen2_tokenizer(tok_dir: str) -> str:
    """Save the tiny tokenizer to ``tok_dir`` declared as a Qwen2 fast tokenizer and return ``tok_dir``.

    The official recorders (``tools/dev/record_official_*``) load it with ``AutoTokenizer``: as Qwen2, xtuner
    treats it as the released SAMA-1B's (no BOS, EOS ``<|im_end|>``).
    """
    import json
    import os.path as osp
    make_tiny_tokenizer().save_pretrained(tok_dir)
    config_file = osp.join(tok_dir, 'tokenizer_config.json')
    with open(config_file) as f:
        config = json.load(f)
    config['tokenizer_class'] = 'Qwen2TokenizerFast'
    with open(config_file, 'w') as f:
        json.dump(config, f, indent=1)
    return tok_dir
