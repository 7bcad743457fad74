"""Bench metric parity: our ``official`` SAMA-Bench-G/C protocol against the official scoring scripts.

The fixtures ``tests/data/official_bench/bench_{g,c}.json`` were written by ``tools/dev/record_official_bench.py``,
which ran the official ``eval_gcg_metrics_demo.py`` functions, the per-video loops and the final averaging
scripts (sunye23/SAMA 7c75e44) on a fake prediction set. The phrase similarity (bert-base-uncased officially)
and the CLAIR judge (an OpenAI model) are stubs on both sides: the similarity values are the ones the official
recall asked for, replayed from the fixture; the judge answers every prompt with the fixture's fixed answer.
SPICE is not computed here (the recorder replaced it by 0 on the official side).
"""
import json
import os.path as osp

import numpy as np
import pytest

from sama_mm.evaluation.functional.bench_official import (official_caption_text, official_final,
                                                          official_phrases, official_question_recall,
                                                          official_video_grounding, per_video_caption_scores,
                                                          per_video_clair)
from sama_mm.evaluation.functional.clair import ClairJudge, parse_answer
from sama_mm.evaluation.metrics._official import official_scores
from tests.conftest import REPO_ROOT

FIXTURES = osp.join(REPO_ROOT, 'tests/data/official_bench')
NAMES = {'Bleu_1': 'BLEU-1', 'Bleu_2': 'BLEU-2', 'Bleu_3': 'BLEU-3', 'Bleu_4': 'BLEU-4', 'METEOR': 'METEOR',
         'ROUGE_L': 'ROUGE-L', 'CIDEr': 'CIDEr', 'clair': 'CLAIR', 'miou': 'mIoU', 'recall': 'recall'}


def _load(name):
    with open(osp.join(FIXTURES, name), encoding='utf-8') as f:
        return json.load(f)


class StubJudge(ClairJudge):
    """A CLAIR judge whose endpoint answers every prompt with one fixed text."""

    def __init__(self, answer):
        super().__init__(base_url='http://stub.invalid/v1', model='stub', api_key_env=None, cache_dir=None)
        self.answer = answer
        self.prompts = []

    def _request(self, prompt, headers):
        self.prompts.append(prompt)
        return parse_answer(self.answer)


def _similarity(table):
    def similarity(a, b):
        return np.array([[table[f'{x}\t{y}'] for y in b] for x in a], dtype=np.float64).reshape(len(a), len(b))
    return similarity


def _tracks(strings, d):
    shape = (d['frames'], d['height'], d['width'])
    out = [np.array([c == '1' for c in s]).reshape(shape) for s in strings]
    return np.stack(out) if out else np.zeros((0,) + shape, bool)


def _g_items(d):
    return [dict(video=v['video'], pred_text=q['pred_text'], gt_text=q['gt_text'], pred=_tracks(q['pred'], d),
                 gt=_tracks(q['gt'], d)) for v in d['videos'] for q in v['questions']]


def _c_items(d):
    return [dict(video=v['video'], pred_text=x['pred_text'], gt_text=x['gt_text'])
            for v in d['videos'] for x in v['descriptions']]


def test_bench_g_grounding_per_video_matches_official():
    d = _load('bench_g.json')
    sim = _similarity(d['similarity'])
    items = _g_items(d)
    for video in d['per_video']:
        mine = official_video_grounding([q for q in items if q['video'] == video], sim)
        assert mine['miou'] == pytest.approx(d['per_video'][video]['miou'], abs=1e-6), video
        assert mine['recall'] == pytest.approx(d['per_video'][video]['recall'], abs=1e-6), video


def test_bench_g_fixture_covers_the_official_special_cases():
    """The fake set exercises what makes the official protocol differ from the corrected one."""
    d = _load('bench_g.json')
    items = _g_items(d)
    assert any(len(q['pred']) == 0 and len(q['gt']) == 0 for q in items)  # official mIoU 0, strict 1
    assert any(len(q['pred']) == 0 and len(q['gt']) > 0 for q in items)  # skipped by the official recall
    assert any(len(q['pred']) > len(official_phrases(q['pred_text'])) > 0 for q in items)  # cut matrices
    assert 0 < d['final']['recall'] < 1 and 0 < d['final']['miou'] < 1
    assert any('VidSTG' not in v for v in d['per_video'])  # left out by the shipped final script


def test_official_recall_reads_the_transposed_similarity():
    """IoU is prediction x GT, similarity GT x prediction, both read at the same index (the official quirk)."""
    track = np.zeros((2, 1, 2, 2), bool)
    track[0, 0, 0, 0] = track[1, 0, 1, 1] = True
    # pred 0 overlaps gt 0 only; the similarity of (gt 0, pred 0) is low, of (gt 0, pred 1) high
    table = {'a': {'a': 0.1, 'b': 0.9}, 'b': {'a': 0.9, 'b': 0.1}}

    def sim(xs, ys):
        return np.array([[table[x][y] for y in ys] for x in xs])
    assert official_question_recall(track, track, ['a', 'b'], ['a', 'b'], sim) == (0, 2)
    assert official_question_recall(track[:0], track, [], ['a', 'b'], sim) is None
    assert official_question_recall(track, track, [], ['a', 'b'], sim) is None


@pytest.mark.slow  # Java (PTB tokeniser, METEOR): about 40 s
@pytest.mark.parametrize('name', ['bench_g.json', 'bench_c.json'])
def test_caption_and_clair_per_video_match_official(name):
    d = _load(name)
    items = _g_items(d) if name == 'bench_g.json' else _c_items(d)
    texts = {}
    for q in items:
        texts.setdefault(q['video'], []).append((official_caption_text(q['gt_text']),
                                                 official_caption_text(q['pred_text'])))
    scores = per_video_caption_scores(texts)
    judge = StubJudge(d['clair_answer'])
    clair = per_video_clair(texts, judge)
    assert judge.prompts
    for video, official in d['per_video'].items():
        for key, value in official['caption_scores'].items():
            if key != 'SPICE':
                assert scores[video][key] == pytest.approx(value, abs=1e-6), (video, key)
        assert clair[video] == pytest.approx(official['clair'], abs=1e-6)


@pytest.mark.slow  # Java (PTB tokeniser, METEOR): about 40 s
@pytest.mark.parametrize('name,video_filter', [('bench_g.json', 'VidSTG'), ('bench_c.json', None)])
def test_official_mode_equals_the_final_scripts(name, video_filter):
    """``official_scores`` (what the metrics report as ``official/...``) gives the final scripts' numbers."""
    d = _load(name)
    grounding = name == 'bench_g.json'
    items = _g_items(d) if grounding else _c_items(d)
    out = official_scores(items, similarity=_similarity(d['similarity']) if grounding else None,
                          judge=StubJudge(d['clair_answer']), grounding=grounding, video_filter=video_filter)
    for key, value in d['final'].items():
        if key == 'SPICE':
            continue
        assert out['official/' + NAMES[key]] == pytest.approx(value, abs=1e-6), key
    assert out['official/videos'] == sum(1 for v in d['per_video'] if video_filter is None or video_filter in v)


def test_official_final_refuses_an_empty_selection():
    with pytest.raises(ValueError, match='no video'):
        official_final({'mevis/a': {'mIoU': 1.0}}, 'VidSTG')
