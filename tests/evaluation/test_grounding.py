"""Bench-G mIoU / recall and RefCOCO cIoU / gIoU on hand-made cases with hand-computed numbers."""
import numpy as np
import pytest

from sama_mm.evaluation.functional.grounding import (ciou_giou, extract_phrases, greedy_match, iou_matrix,
                                                     mask_intersection_union, question_miou, question_recall,
                                                     track_iou)


def box(t, y0, y1, x0, x1, frames=(0, 1), size=(1, 10)):
    """A [T=2, 1, 10] track: pixels x0..x1-1 set in the given frames (H = 1 keeps counting easy)."""
    m = np.zeros((2,) + size, bool)
    for f in frames:
        m[f, y0:y1, x0:x1] = True
    return m


def row(x0, x1, frames=(0, 1)):
    return box(None, 0, 1, x0, x1, frames)


def fake_similarity(a, b):
    """Deterministic encoder stand-in: 1 for identical phrases, 0.6 when they share a word, else 0."""
    out = np.zeros((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i, j] = 1.0 if x == y else (0.6 if set(x.split()) & set(y.split()) else 0.0)
    return out


def test_track_iou_counts_the_whole_volume():
    # pred: x 0..3 in both frames (8 px); gt: x 2..5 in frame 0 only (4 px); inter 2, union 10
    assert track_iou(row(0, 4), row(2, 6, frames=(0,))) == pytest.approx(2 / 10)
    assert track_iou(np.zeros((2, 1, 10)), np.zeros((2, 1, 10))) == 0.0


def test_greedy_matching_is_one_to_one_by_max_iou():
    iou = np.array([[0.9, 0.8], [0.85, 0.1], [0.0, 0.0]])
    # 0.9 (0,0) first; then row 0 and column 0 are gone: (1,1) 0.1 remains; row 2 has only zeros.
    assert greedy_match(iou) == [(0, 0), (1, 1)]
    assert greedy_match(iou, allowed=iou >= 0.5) == [(0, 0)]
    assert greedy_match(np.zeros((0, 3))) == []


def test_question_miou_by_hand():
    g0, g1 = row(0, 4), row(6, 10)             # two GT objects, 8 px each
    p0 = row(0, 4)                              # exact copy of g0: IoU 1
    p1 = row(6, 8)                              # half of g1: IoU 4/8 = 0.5
    p2 = row(4, 6)                              # touches nothing: IoU 0 with both
    preds, gts = np.stack([p0, p1, p2]), np.stack([g0, g1])
    np.testing.assert_allclose(iou_matrix(preds, gts), [[1, 0], [0, 0.5], [0, 0]])
    # strict: matched 1 + 0.5, unmatched p2 counts 0: (1 + 0.5) / (3 + 2 - 2) = 0.5
    assert question_miou(preds, gts) == pytest.approx(0.5)
    # official: matched pairs only: (1 + 0.5) / 2
    assert question_miou(preds, gts, convention='official') == pytest.approx(0.75)
    # one prediction for two objects: strict (1) / (1 + 2 - 1) = 0.5, official 1.0
    assert question_miou(p0[None], gts) == pytest.approx(0.5)
    assert question_miou(p0[None], gts, convention='official') == pytest.approx(1.0)
    # no prediction: 0 in both; no prediction and no GT: strict 1, official 0
    empty = np.zeros((0, 2, 1, 10), bool)
    assert question_miou(empty, gts) == 0.0 and question_miou(empty, gts, convention='official') == 0.0
    assert question_miou(empty, empty) == 1.0 and question_miou(empty, empty, convention='official') == 0.0
    with pytest.raises(ValueError):
        question_miou(preds, gts, convention='mean')


def test_question_recall_by_hand():
    g0, g1, g2 = row(0, 4), row(4, 7), row(7, 10)
    gts = np.stack([g0, g1, g2])
    gt_phrases = ['red car', 'blue bird', 'green tree']
    # p0 = g0 exactly with the right phrase (IoU 1, sim 1)        -> hit
    # p1 covers g1 and one pixel column more: IoU 6/8 = 0.75, phrase shares a word (0.6) -> hit
    # p2 = g2 exactly but an unrelated phrase (sim 0)             -> miss
    preds = np.stack([row(0, 4), row(4, 8), row(7, 10)])
    pred_phrases = ['red car', 'small bird', 'yellow sun']
    np.testing.assert_allclose(iou_matrix(preds, gts)[1, 1], 6 / 8)
    assert question_recall(preds, gts, pred_phrases, gt_phrases, fake_similarity) == (2, 3)
    # a stricter similarity threshold drops the 0.6 pair
    assert question_recall(preds, gts, pred_phrases, gt_phrases, fake_similarity, sim_thr=0.7) == (1, 3)
    # IoU threshold: x 4,5,7 over g1 (x 4..6): I 4, U 8 = 0.5 passes >= 0.5; x 4,7,8: I 2, U 10 fails
    half = np.stack([row(4, 6) | row(7, 8)])
    assert question_recall(half, g1[None], ['blue bird'], ['blue bird'], fake_similarity) == (1, 1)
    third = np.stack([row(4, 5) | row(7, 9)])
    assert question_recall(third, g1[None], ['blue bird'], ['blue bird'], fake_similarity) == (0, 1)


def test_recall_uses_prediction_by_gt_similarity():
    # Two predictions, one GT. The official bug reads sim[gt, pred] at (pred, gt); with a non-square case the
    # right pair is (1, 0): p1 = g0 with the same phrase. A transposed lookup would pair p1 with nothing.
    gts = np.stack([row(0, 4)])
    preds = np.stack([row(6, 10), row(0, 4)])
    assert question_recall(preds, gts, ['tree', 'dog'], ['dog'], fake_similarity) == (1, 1)
    # The similarity must be called as (predictions, ground truths).
    calls = []

    def spy(a, b):
        calls.append((list(a), list(b)))
        return fake_similarity(a, b)
    question_recall(preds, gts, ['tree', 'dog'], ['dog'], spy)
    assert calls == [(['tree', 'dog'], ['dog'])]


def test_recall_empty_predictions_are_misses():
    gts = np.stack([row(0, 4), row(6, 10)])
    empty = np.zeros((0, 2, 1, 10), bool)
    assert question_recall(empty, gts, [], ['a', 'b'], fake_similarity) == (0, 2)
    assert question_recall(empty, gts, [], ['a', 'b'], fake_similarity, skip_empty_predictions=True) == (0, 0)
    # masks but no phrases (no <p>): nothing can match, GT still counted
    assert question_recall(gts, gts, [], ['a', 'b'], fake_similarity) == (0, 2)


def test_extract_phrases():
    assert extract_phrases('The <p> Red  Car</p> [SEG] chases <p>a dog</p>[SEG].') == ['red car', 'a dog']
    assert extract_phrases('no phrases') == []


def test_ciou_giou_by_hand():
    a = np.zeros((4, 4), bool)
    a[:2, :2] = True                       # 4 px
    b = np.zeros((4, 4), bool)
    b[:2, :] = True                        # 8 px; with a: I 4, U 8
    c = np.zeros((4, 4), bool)
    c[3, 3] = True                         # disjoint from a: I 0, U 5
    pairs = [(a, b), (a, c), (np.zeros((4, 4)), np.zeros((4, 4)))]
    iu = [mask_intersection_union(p, g) for p, g in pairs]
    assert iu == [(4, 8), (0, 5), (0, 0)]
    out = ciou_giou([i for i, _ in iu], [u for _, u in iu])
    assert out['cIoU'] == pytest.approx(4 / 13)
    assert out['gIoU'] == pytest.approx((0.5 + 0 + 1) / 3)
    with pytest.raises(ValueError):
        ciou_giou([], [])


def test_sentence_embedding_similarity_with_a_tiny_local_model(tmp_path):
    """The transformers-based encoder on a tiny random BERT saved locally (nothing is downloaded)."""
    transformers = pytest.importorskip('transformers')
    from sama_mm.evaluation.functional.grounding import SentenceEmbeddingSimilarity
    words = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'red', 'car', 'blue', 'bird', 'tree']
    (tmp_path / 'vocab.txt').write_text('\n'.join(words) + '\n')
    transformers.BertTokenizerFast(vocab_file=str(tmp_path / 'vocab.txt')).save_pretrained(tmp_path)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32)
    import torch
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(tmp_path)
    sim = SentenceEmbeddingSimilarity(str(tmp_path), batch_size=2)
    out = sim(['a red car', 'blue bird', 'tree'], ['a red car', 'tree'])
    assert out.shape == (3, 2)
    assert out[0, 0] == pytest.approx(1.0, abs=1e-5) and out[2, 1] == pytest.approx(1.0, abs=1e-5)
    assert np.all(out <= 1 + 1e-5) and sim([], ['x']).shape == (0, 1)
    with pytest.raises(FileNotFoundError, match='never downloaded'):
        SentenceEmbeddingSimilarity(str(tmp_path / 'missing'))(['a'], ['b'])
