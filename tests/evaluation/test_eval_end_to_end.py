"""tools/test.py with the tiny demo SAMA on ReVOS, RefCOCO and SAMA-Bench-G (fake data in the real layouts).

The configs (tests/data/configs/tiny_test_*.py) are the released evaluation sets and test pipelines of
configs/_base_/datasets/*_test.py rebound to the tiny model. The checkpoint holds seeded random weights: with
4 new tokens that model answers without any ``[SEG]``, so every prediction is empty and the scores can be
worked out by hand from the fakes (tests/datasets/fakes.py); the keys and ranges are checked as well.
"""
import json
import math

import pytest

from tests.conftest import REPO_ROOT, run_tool
from tests.evaluation.eval_fixtures import build_eval_tree, save_random_checkpoint

CONFIGS = f'{REPO_ROOT}/tests/data/configs'
EMPTY = 'hand-computed for empty predictions: the seeded tiny model was expected to generate no [SEG]'


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp('eval_e2e')
    build_eval_tree(root)
    save_random_checkpoint(f'{CONFIGS}/tiny_test_revos.py', root / 'tiny.pth')
    return root


def run_test(root, name):
    out = root / f'{name}.json'
    run_tool(f'{REPO_ROOT}/tools/test.py', f'{CONFIGS}/tiny_test_{name}.py', root / 'tiny.pth', '--work-dir',
             root / 'work' / name, '--out', out, cwd=root, check=True)
    metrics = json.loads(out.read_text())
    assert all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in metrics.values()), metrics
    return metrics


@pytest.mark.slow
def test_revos_end_to_end(workspace):
    m = run_test(workspace, 'revos')
    names = ('J', 'F', 'J&F', 'A', 'R')
    assert set(m) == {f'rvos/{k}' for k in names} | {f'rvos/{k}_{t}' for k in names
                                                      for t in ('referring', 'reasoning')}
    assert all(v <= 100 for v in m.values())
    # make_revos: every expression's object is a 8 x 9 box on frames 0, 2, 4 of 6 (24 x 32 pixels), absent on
    # the others. Empty prediction: J = F = 1 where the object is absent and 0 where it is present; A misses the
    # box pixels on half of the frames; R = 1 (no false positive).
    assert m['rvos/J'] == pytest.approx(50.0) and m['rvos/F'] == pytest.approx(50.0), EMPTY
    assert m['rvos/A'] == pytest.approx(100 * (1 - 0.5 * 72 / 768)), EMPTY
    assert m['rvos/R'] == pytest.approx(100.0)
    assert m['rvos/J&F_referring'] == pytest.approx(m['rvos/J&F_reasoning'])


@pytest.mark.slow
def test_refcoco_end_to_end(workspace):
    m = run_test(workspace, 'refcoco')
    assert set(m) == {'refcoco_val/cIoU', 'refcoco_val/gIoU'} and all(v <= 100 for v in m.values())
    assert m == {'refcoco_val/cIoU': 0.0, 'refcoco_val/gIoU': 0.0}, EMPTY  # non-empty ground truth, no mask


@pytest.mark.slow
def test_sama_bench_g_end_to_end(workspace):
    m = run_test(workspace, 'bench_g')
    names = ('mIoU', 'BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'ROUGE-L', 'CIDEr')
    assert set(m) == ({f'sama_bench_g/{k}' for k in names} | {f'sama_bench_g/official/{k}' for k in names}
                      | {'sama_bench_g/official/videos'})
    assert all(m[f'sama_bench_g/{k}'] <= 1 for k in ('mIoU', 'BLEU-1', 'BLEU-4', 'ROUGE-L'))
    # Strict mIoU per question: q0 (one object, nothing predicted) 0, q1 (no object, nothing predicted) 1, q2 0;
    # per video m0 (q0, q1) 0.5 and 7 (q2) 0; over videos 0.25.
    assert m['sama_bench_g/mIoU'] == pytest.approx(0.25), EMPTY
    # The official protocol (matched pairs only, 0 without predictions): 0 everywhere.
    assert m['sama_bench_g/official/mIoU'] == 0.0, EMPTY
