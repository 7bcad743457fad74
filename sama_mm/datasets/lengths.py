"""Estimated token lengths of samples, for length-grouped sampling (``modality_length`` as in LLaVA/xtuner).

Running the tokenizer over hundreds of thousands of records only to sort them is wasteful; grouping only needs
lengths that are comparable, so text counts as ``ceil(chars / 4)`` tokens (about right for English BPE) and the
vision tokens are counted exactly from the prompt layout: ``num_dense`` frames of ``256 + 2`` tokens, ``T``
context tokens per round and 4 tokens per ``<mask>`` region prompt (reference §1.6). Images count as one dense
frame and one context token per round. The sign follows the LLaVA convention: positive for samples with
visual input, negative for text-only ones.
"""
from typing import Any, Iterable

from ..structures.tokens import REGION_PLACEHOLDER

FRAME_TOKENS = 256 + 2


def text_tokens(text: str) -> int:
    """``ceil(len(text) / 4)``."""
    return (len(text) + 3) // 4


def sample_length(questions: Iterable[str], answers: Iterable[str], num_dense: int = 5, num_sparse: int = 32,
                  visual: bool = True) -> int:
    """Estimated tokens of a sample from its rounds' texts and frame counts (negative when not visual)."""
    questions, answers = list(questions), list(answers)
    text = sum(text_tokens(q) + 4 * q.count(REGION_PLACEHOLDER) for q in questions)
    text += sum(text_tokens(a) for a in answers) + 10 * len(questions)  # chat template markers per round
    if not visual:
        return -max(1, text)
    return num_dense * FRAME_TOKENS + len(questions) * num_sparse + text


def info_length(info: dict) -> int:
    """Estimated length of a data info of any sama_mm dataset (video: 5 dense/32 sparse; image: 1/1)."""
    image = 'img_path' in info
    dense, sparse = (1, 1) if image else (5, 32)
    if info.get('rounds'):
        return sample_length([r['question'] for r in info['rounds']], [r['answer'] for r in info['rounds']],
                             dense, sparse)
    if info.get('expression') is not None:
        return sample_length([f'Please segment {info["expression"]}.'], ['It is [SEG].'], dense, sparse)
    descriptions = info.get('descriptions') or {}
    return sample_length(['Please describe the region <mask> in the video in detail.'] * len(descriptions),
                         list(descriptions.values()), dense, sparse)


def sama239k_record_length(record: Any) -> int:
    """Estimated length of a raw SAMA-239K record (conversation and descriptions), used when indexing."""
    if not isinstance(record, dict):
        return 0
    conv = record.get('conversation') if isinstance(record.get('conversation'), list) else []
    texts = [t.get('value', '') for t in conv if isinstance(t, dict) and isinstance(t.get('value'), str)]
    desc = record.get('description') if isinstance(record.get('description'), dict) else {}
    questions = texts[0::2] + ['Please describe the region <mask> in the video in detail.'] * len(desc)
    answers = texts[1::2] + [str(v) for v in desc.values()]
    return sample_length(questions, answers)
