"""The tiny offline tokenizer and build_tokenizer."""
import subprocess
import sys

import pytest
from transformers import AutoTokenizer

from sama_mm.structures.chat_template import get_chat_template
from sama_mm.structures.tokens import INTERNVL_SPECIAL_TOKENS, SAMA_SPECIAL_TOKENS
from sama_mm.tokenizers import CHAT_SPECIAL_TOKENS, build_qformer_tokenizer, build_tiny_tokenizer, build_tokenizer
from tests.conftest import HANG_TIMEOUT, REPO_ROOT
from tests.models.backbone_helpers import tiny_tokenizer

SPECIALS = CHAT_SPECIAL_TOKENS + INTERNVL_SPECIAL_TOKENS + SAMA_SPECIAL_TOKENS


def test_deterministic():
    a, b = build_tiny_tokenizer(), tiny_tokenizer()
    assert a.get_vocab() == b.get_vocab()
    text = 'Please segment the magenta diamond moving left, frame 12.'
    assert a(text).input_ids == b(text).input_ids


def test_special_tokens_are_single_ids_in_order():
    tok = tiny_tokenizer()
    ids = [tok.convert_tokens_to_ids(t) for t in SPECIALS]
    assert ids == list(range(ids[0], ids[0] + len(SPECIALS)))  # appended after the BPE vocabulary, in order
    assert len(tok) == ids[-1] + 1
    for t, i in zip(SPECIALS, ids):
        assert tok(t, add_special_tokens=False).input_ids == [i]
        assert tok(f'a {t}b', add_special_tokens=False).input_ids.count(i) == 1
    assert tok.eos_token == '<|im_end|>' and tok.pad_token == '<|endoftext|>' and tok.bos_token is None


@pytest.mark.parametrize('name', ['qwen_chat', 'internlm2_chat', 'phi3_chat'])
def test_chat_template_strings_round_trip(name):
    tok = tiny_tokenizer(name)
    template = get_chat_template(name)
    text = (template.user_turn('<img><IMG_CONTEXT><IMG_CONTEXT></img>\nPlease segment the red circle <vp><IMG_CONTEXT>'
                               '</vp>, then describe the region.') +
            '<p> The blue square </p> [SEG] moves up.' + template.suffix + template.sep +
            template.user_turn('What colour is it? 3, 4; yes!') + 'It is green.' + template.suffix)
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids) == text
    for word in template.stop_words:
        assert len(tok(word, add_special_tokens=False).input_ids) == 1
    # Demo words are whole tokens (with the byte-level leading-space marker).
    for word in ('red', 'blue', 'green', 'yellow', 'magenta', 'circle', 'square', 'triangle', 'diamond', 'segment',
                 'describe', 'region', 'video'):
        assert len(tok(' ' + word, add_special_tokens=False).input_ids) == 1, word


def test_internlm2_flavour_prepends_bos():
    tok = tiny_tokenizer('internlm2_chat')
    assert (tok.bos_token_id, tok.eos_token_id) == (1, 2)
    ids = tok('<|im_start|>user\nhi<|im_end|>').input_ids
    assert ids[0] == 1 and ids.count(1) == 1
    assert tok.decode(ids, skip_special_tokens=False).startswith('<s><|im_start|>')


def test_build_tokenizer_from_dict_configs_and_saved_folder(tmp_path):
    tok = tiny_tokenizer()
    assert build_tokenizer(tok) is tok
    built = build_tokenizer(dict(type=build_tiny_tokenizer, save_dir=str(tmp_path / 'tok')))
    assert built.get_vocab() == tok.get_vocab()
    for cfg in (dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=str(tmp_path / 'tok'),
                     trust_remote_code=False),
                dict(type=AutoTokenizer, pretrained_model_name_or_path=str(tmp_path / 'tok')),
                dict(type='AutoTokenizer', pretrained_model_name_or_path=str(tmp_path / 'tok'))):
        loaded = build_tokenizer(cfg)
        assert loaded.get_vocab() == tok.get_vocab()
        assert loaded.convert_tokens_to_ids('[SEG]') == tok.convert_tokens_to_ids('[SEG]')
    with pytest.raises(TypeError):
        build_tokenizer(dict(pretrained_model_name_or_path='x'))


def test_tokenizer_without_model_specials():
    tok = tiny_tokenizer(with_model_specials=False)
    vocab = tok.get_vocab()
    assert '<|im_end|>' in vocab and '[SEG]' not in vocab and '<IMG_CONTEXT>' not in vocab


def test_builders_by_plain_name():
    # The names a converted folder's data-only config stores build without an import path.
    tiny = build_tokenizer(dict(type='build_tiny_tokenizer'))
    assert tiny.get_vocab() == tiny_tokenizer().get_vocab()
    qformer = build_tokenizer(dict(type='build_qformer_tokenizer', tiny=True))
    assert qformer.get_vocab() == build_qformer_tokenizer(tiny=True).get_vocab()
    dotted = build_tokenizer(dict(type='sama_mm.tokenizers.build_qformer_tokenizer', tiny=True))
    assert dotted.get_vocab() == qformer.get_vocab()


def test_tokenizers_import_no_model_code():
    # Data configs and transforms import the tokenizer builders; that must not pull in the models.
    code = ('import sys\n'
            'import sama_mm.tokenizers\n'
            'print(sorted(m for m in sys.modules if m.startswith(("sama_mm.models", "sama_mm.datasets"))))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '[]'
