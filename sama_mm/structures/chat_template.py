"""Chat templates of the LLMs SAMA is built on (the strings of XTuner's PROMPT_TEMPLATE entries).

We keep our own copy of these few strings: sama_mm does not depend on xtuner (whose import pulls in DeepSpeed
and takes seconds), and the values are facts of the released models and must not change (the 4B model keeps
``phi3_chat`` although its LLM is Qwen2.5, for parity with its checkpoint).
"""
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class ChatTemplate:
    """How one conversation turn is written for an LLM.

    Attributes:
        name: Template name (``qwen_chat``, ``internlm2_chat``, ``phi3_chat``).
        system: System block with a ``{system}`` field (SAMA uses no system prompt).
        instruction: User block with an ``{input}`` field, ending where the assistant's answer starts.
        suffix: Appended to every answer; it doubles as the end-of-answer token (``SUFFIX_AS_EOS``).
        sep: Separator after each answer (not trained on).
        stop_words: Strings that end generation.
    """
    name: str
    system: str
    instruction: str
    suffix: str
    sep: str
    stop_words: Tuple[str, ...]

    def user_turn(self, text: str) -> str:
        """The prompt text of one user turn."""
        return self.instruction.format(input=text)


_IM = dict(system='<|im_start|>system\n{system}<|im_end|>\n',
           instruction='<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n', suffix='<|im_end|>', sep='\n')

CHAT_TEMPLATES = {
    'qwen_chat': ChatTemplate('qwen_chat', stop_words=('<|im_end|>', '<|endoftext|>'), **_IM),
    'internlm2_chat': ChatTemplate('internlm2_chat', stop_words=('<|im_end|>', ), **_IM),
    # The released LLaVA training loader writes qwen_chat without the separator after an answer.
    'qwen_chat_nosep': ChatTemplate('qwen_chat_nosep', stop_words=('<|im_end|>', '<|endoftext|>'),
                                    **dict(_IM, sep='')),
    # The released RefCOCO training loader (ReferSegmDataset, its InternVL branch) replaces the user block of
    # qwen_chat by '<|user|>\n{input}<|end|><|assistant|>\n' and writes no separator after an answer.
    'qwen_chat_refcoco': ChatTemplate('qwen_chat_refcoco', system='', suffix='<|im_end|>', sep='',
                                      instruction='<|user|>\n{input}<|end|><|assistant|>\n',
                                      stop_words=('<|im_end|>', '<|endoftext|>')),
    'phi3_chat': ChatTemplate('phi3_chat', system='<|system|>\n{system}<|end|>\n',
                              instruction='<|user|>\n{input}<|end|>\n<|assistant|>\n', suffix='<|end|>', sep='\n',
                              stop_words=('<|end|>', )),
}


def get_chat_template(name: str) -> ChatTemplate:
    """Look up a template by name (a clear error lists the known ones)."""
    try:
        return CHAT_TEMPLATES[name]
    except KeyError:
        raise KeyError(f'unknown chat template {name!r}; known: {sorted(CHAT_TEMPLATES)}') from None
