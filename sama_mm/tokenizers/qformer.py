"""The temporal Q-Former's tokenizer: ``bert-base-uncased`` WordPiece plus SAMA's region tokens.

:func:`build_qformer_tokenizer` builds it from local files only (a BERT ``vocab.txt`` or a saved tokenizer
folder), or, for tests and demos, from the small deterministic vocabulary of :func:`tiny_qformer_vocab`. The
``<mask>`` / ``<pos>`` ids it assigns are the ``region_token_id`` / ``box_token_id`` of
:class:`~sama_mm.models.necks.STAggregator`; the data pipeline (``QFormerPrompts``) encodes each question with it.
"""
import os
import os.path as osp
import string
from typing import List, Optional, Sequence

#: Special tokens added to the BERT vocabulary for the temporal Q-Former, in id order: the bos token first,
#: then the additional special tokens. With ``bert-base-uncased`` (30522 entries) ``<mask>`` is 30523 and
#: ``<pos>`` 30524, 30530 entries in all.
QFORMER_BOS_TOKEN = '[DEC]'
QFORMER_ADDITIONAL_SPECIAL_TOKENS = ('<mask>', '<pos>', '[SEG]', '<p>', '</p>', '<vp>', '</vp>')
QFORMER_SPECIAL_TOKENS = (QFORMER_BOS_TOKEN, ) + QFORMER_ADDITIONAL_SPECIAL_TOKENS
QFORMER_MAX_LENGTH = 256

_BERT_SPECIALS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
# Whole words of the tiny vocabulary (the rest is characters and ``##`` continuations).
_TINY_WORDS = ('the', 'is', 'what', 'doing', 'in', 'video', 'person', 'where', 'and', 'of', 'this')

def tiny_qformer_vocab() -> List[str]:
    """A deterministic small WordPiece vocabulary (BERT specials, characters, ``##`` characters, a few words)."""
    chars = list(string.ascii_lowercase + string.digits)
    return (list(_BERT_SPECIALS) + chars + list(string.punctuation) + ['##' + c for c in chars] +
            list(_TINY_WORDS))


def _read_vocab(path: str) -> List[str]:
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f if line.rstrip('\n')]


def _bert_fast_from_vocab(vocab: Sequence[str]):
    """An uncased ``BertTokenizerFast`` built in memory from a vocabulary list (no file, no download)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    ids = {tok: i for i, tok in enumerate(vocab)}
    missing = [t for t in _BERT_SPECIALS if t not in ids]
    if missing:
        raise ValueError(f'vocabulary lacks the BERT special tokens {missing}')
    backend = Tokenizer(models.WordPiece(vocab=ids, unk_token='[UNK]', max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                    lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', ids['[CLS]']), ('[SEP]', ids['[SEP]'])])
    backend.decoder = decoders.WordPiece(prefix='##')
    return BertTokenizerFast(tokenizer_object=backend, do_lower_case=True, unk_token='[UNK]', sep_token='[SEP]',
                             pad_token='[PAD]', cls_token='[CLS]', mask_token='[MASK]')


def build_qformer_tokenizer(vocab_file: Optional[str] = None, tiny: bool = False):
    """The temporal Q-Former tokenizer, built from local files only.

    ``bert-base-uncased`` (uncased WordPiece) + bos ``[DEC]`` + the specials ``<mask>``, ``<pos>``, ``[SEG]``,
    ``<p>``, ``</p>``, ``<vp>``, ``</vp>`` in that order (30523 ... 30529 with the 30522-entry BERT vocabulary),
    ``truncation_side='left'``, ``model_max_length=256``.

    Args:
        vocab_file (str, optional): A BERT ``vocab.txt``, or a folder holding either a saved tokenizer
            (``tokenizer.json`` / ``tokenizer_config.json``, e.g. one written by this function's
            ``save_pretrained``) or a ``vocab.txt``.
        tiny (bool): Build the deterministic small vocabulary of :func:`tiny_qformer_vocab` (tests, demos);
            ``vocab_file`` must then be ``None``.

    Returns:
        transformers.BertTokenizerFast: The tokenizer; ``len(tokenizer)`` is the temporal Q-Former vocabulary.

    Raises:
        ValueError: If neither or both sources are given, or the special tokens do not get consecutive ids.
        FileNotFoundError: If ``vocab_file`` does not exist.
    """
    from transformers import BertTokenizerFast

    if tiny == (vocab_file is not None):
        raise ValueError('give exactly one of vocab_file (a local BERT vocabulary) or tiny=True; '
                         'the tokenizer is never downloaded')
    if tiny:
        tokenizer = _bert_fast_from_vocab(tiny_qformer_vocab())
    else:
        vocab_file = os.fspath(vocab_file)
        if osp.isdir(vocab_file):
            saved = any(osp.isfile(osp.join(vocab_file, f)) for f in ('tokenizer.json', 'tokenizer_config.json'))
            if saved:
                tokenizer = BertTokenizerFast.from_pretrained(vocab_file, local_files_only=True)
            elif osp.isfile(osp.join(vocab_file, 'vocab.txt')):
                tokenizer = _bert_fast_from_vocab(_read_vocab(osp.join(vocab_file, 'vocab.txt')))
            else:
                raise FileNotFoundError(f'no tokenizer.json, tokenizer_config.json or vocab.txt in {vocab_file}')
        elif osp.isfile(vocab_file):
            tokenizer = _bert_fast_from_vocab(_read_vocab(vocab_file))
        else:
            raise FileNotFoundError(f'Q-Former vocabulary not found: {vocab_file}')
    tokenizer.add_special_tokens({'bos_token': QFORMER_BOS_TOKEN})
    tokenizer.add_special_tokens({'additional_special_tokens': list(QFORMER_ADDITIONAL_SPECIAL_TOKENS)})
    tokenizer.truncation_side = 'left'
    tokenizer.model_max_length = QFORMER_MAX_LENGTH
    ids = tokenizer.convert_tokens_to_ids(list(QFORMER_SPECIAL_TOKENS))
    if ids != list(range(ids[0], ids[0] + len(ids))) or ids[-1] != len(tokenizer) - 1:
        raise ValueError(f'Q-Former special tokens {QFORMER_SPECIAL_TOKENS} got ids {ids}; expected consecutive ids '
                         f'at the end of the vocabulary (len {len(tokenizer)})')
    return tokenizer
