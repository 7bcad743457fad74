"""A tiny offline BPE tokenizer for the LLM of tests and demos.

:func:`build_tiny_tokenizer` trains a byte-level BPE (the Qwen2 scheme) on a fixed built-in English corpus, so it
needs no network and gives the same vocabulary on every call.
"""
from typing import Optional

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from sama_mm.structures.tokens import INTERNVL_SPECIAL_TOKENS, SAMA_SPECIAL_TOKENS

# Special tokens of the chat templates (qwen_chat / internlm2_chat use the <|im_*|> pair, phi3_chat the rest).
CHAT_SPECIAL_TOKENS = ('<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|user|>', '<|end|>', '<|assistant|>',
                       '<|system|>')
# SentencePiece-style ids 0..2 of the InternLM2 tokenizer (BOS is prepended to every encoded text).
INTERNLM2_BASE_TOKENS = ('<unk>', '<s>', '</s>')

_COLOURS = ('red', 'blue', 'green', 'yellow', 'magenta')
_SHAPES = ('circle', 'square', 'triangle', 'diamond')
_MOTIONS = ('moves', 'moving', 'left', 'right', 'up', 'down', 'above', 'below', 'across', 'steadily', 'enters',
            'leaves', 'starts', 'stops', 'stays', 'turns', 'rotates', 'slowly', 'quickly', 'towards', 'away')
_SENTENCES = (
    'Please segment the {c} {s} in the video.',
    'Please segment <mask> and describe the region.',
    'Can you describe the {c} {s}? It is {m} {m2} in the video.',
    'The {c} {s} moves {m} across the video. It enters the scene after the first {d} frames.',
    'What is <mask> doing in the video? The {s} is moving {m}.',
    'What colour is <mask>? It is {c}.',
    'Where does the {c} {s} start relative to the {s2}? It starts {m2} the {s2}.',
    'Which shapes can you see in the video? There are {d} shapes: a {c} {s}, a {s2}.',
    'Which objects move {m}? The {c} {s} and the {s2}.',
    'Describe the video in detail, frame {d} to frame {d2}, region {d}.',
    'user assistant system user assistant system',
    'Sure, it is [SEG]. The answer is {d}, {d2}; yes! no? (maybe) "quote" - end.',
)


def tiny_corpus() -> list:
    """The fixed English training corpus of :func:`build_tiny_tokenizer` (demo words, digits, punctuation)."""
    lines = []
    for i, c in enumerate(_COLOURS):
        for j, s in enumerate(_SHAPES):
            for k, template in enumerate(_SENTENCES):
                m = _MOTIONS[(i + j + k) % len(_MOTIONS)]
                m2 = _MOTIONS[(i * 3 + j + 2 * k) % len(_MOTIONS)]
                s2 = _SHAPES[(j + 1 + k) % len(_SHAPES)]
                lines.append(template.format(c=c, s=s, m=m, m2=m2, s2=s2, d=(i + j + k) % 10,
                                             d2=(3 * i + 7 * j + k) % 100))
    lines.append(' '.join(str(i) for i in range(100)))
    lines.append('0123456789 . , ; : ! ? \' " ( ) [ ] { } - _ / \\ + = * & % $ # @ < > | ~ `')
    lines.append(' '.join(_MOTIONS + _COLOURS + _SHAPES))
    return lines


def build_tiny_tokenizer(save_dir: Optional[str] = None, vocab_size: int = 512, template: str = 'qwen_chat',
                         add_model_special_tokens: bool = True) -> PreTrainedTokenizerFast:
    """Train a small deterministic byte-level BPE tokenizer offline.

    Layout (like the released Qwen2 tokenizer): BPE vocabulary first, then the chat-template specials
    (:data:`CHAT_SPECIAL_TOKENS`), then, when ``add_model_special_tokens``, InternVL's and SAMA's special tokens
    in their fixed order. Every special token is a single id. For ``internlm2_chat`` the first three ids are
    ``<unk>``, ``<s>``, ``</s>`` and ``<s>`` is prepended to every encoded text, as the InternLM2 tokenizer does.

    Args:
        save_dir: If given, ``save_pretrained`` the tokenizer there (loadable with ``AutoTokenizer``).
        vocab_size: BPE vocabulary size before special tokens (at least 256 + a few merges; the corpus may
            yield fewer merges than asked).
        template: Chat template the tokenizer is used with; sets EOS/BOS/pad.
        add_model_special_tokens: Also add ``<img>``, ``<IMG_CONTEXT>``, ``[SEG]``, ... (False leaves them to
            the model, to exercise its add-and-resize path).

    Returns:
        A ``PreTrainedTokenizerFast``.
    """
    internlm = template == 'internlm2_chat'
    base_specials = list(INTERNLM2_BASE_TOKENS) if internlm else []
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=base_specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(tiny_corpus(), trainer=trainer)
    if internlm:
        bpe.post_processor = processors.TemplateProcessing(single='<s> $A', pair='<s> $A <s> $B',
                                                           special_tokens=[('<s>', 1)])
    else:
        bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    kwargs = dict(eos_token='</s>', bos_token='<s>', unk_token='<unk>', pad_token='</s>') if internlm else \
        dict(eos_token='<|end|>' if template == 'phi3_chat' else '<|im_end|>', pad_token='<|endoftext|>')
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, clean_up_tokenization_spaces=False,
                                        model_max_length=32768)
    specials = list(CHAT_SPECIAL_TOKENS)
    if add_model_special_tokens:
        specials += list(INTERNVL_SPECIAL_TOKENS) + list(SAMA_SPECIAL_TOKENS)
    # Add the specials first (fixed order and ids), then name EOS/BOS/pad among the existing tokens.
    tokenizer.add_tokens(specials, special_tokens=True)
    tokenizer.add_special_tokens(kwargs)
    if save_dir is not None:
        tokenizer.save_pretrained(save_dir)
    return tokenizer


