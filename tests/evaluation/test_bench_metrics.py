"""SAMA-Bench-G / -C, GCG and RefCOCO metric classes on small hand-made data with hand-computed numbers."""
import json

import numpy as np
import pytest
import torch

from sama_mm.evaluation.functional.captions import caption_scores
from sama_mm.registry import METRICS
from sama_mm.structures import SAMADataSample, encode_mask
from tests.evaluation.test_clair import FakeServer
from tests.evaluation.test_grounding import fake_similarity


def row(x0, x1, frames=(0, 1), width=10):
    m = np.zeros((2, 1, width), bool)
    for f in frames:
        m[f, 0, x0:x1] = True
    return m


A, B, C = row(0, 4), row(6, 10), row(4, 6, frames=(0,))

ANSWERS = {
    'q1': '<p> The red car </p> [SEG] and <p> the blue bird </p> [SEG].',
    'q2': '<p> A green tree </p> [SEG] stands there.',
    'q3': '<p> The red car </p> [SEG] passes <p> the tree </p> [SEG].',
}
PRED_TEXT = {
    'q1': '<p> the red car </p> [SEG] is near <p> a bird </p> [SEG].',
    'q2': 'I do not know.',
    'q3': '<p> the red car </p> [SEG] drives away.',
}


@pytest.fixture
def bench_g(tmp_path):
    masks = {str(k): [encode_mask(m[t].astype(np.uint8)) if m[t].any() else None for t in range(2)]
             for k, m in ((1, A), (2, B), (3, C))}
    masks['3'] = masks['3'][:1]  # a track shorter than the video: the missing frame is empty
    records = [
        dict(video='mevis/valid_u/JPEGImages/v1', video_id='v1', frames=['00000', '00001'], height=1, width=10,
             conversation=[{'from': 'human', 'value': 'What is there?', 'question_id': 'q1'},
                           {'from': 'gpt', 'value': ANSWERS['q1']},
                           {'from': 'human', 'value': 'What is green?', 'question_id': 'q2'},
                           {'from': 'gpt', 'value': ANSWERS['q2']}],
             groundtruth=[[[1], [2]], [[3]]]),
        dict(video='mevis/valid_u/JPEGImages/v2', video_id='v2', frames=['00000', '00001'], height=1, width=10,
             conversation=[{'from': 'human', 'value': 'And here?', 'question_id': 'q3'},
                           {'from': 'gpt', 'value': ANSWERS['q3']}],
             groundtruth=[[[1], [2, 3]]]),
    ]
    ann, mask_file = tmp_path / 'bench_g.json', tmp_path / 'masks.json'
    ann.write_text(json.dumps(records))
    mask_file.write_text(json.dumps(masks))
    return str(ann), str(mask_file)


def g_samples():
    s1 = SAMADataSample(metainfo=dict(video_id='v1', question_ids=['q1', 'q2']))
    s1.pred_text = [PRED_TEXT['q1'], PRED_TEXT['q2']]
    s1.pred_masks = torch.from_numpy(np.stack([A, row(6, 8)]))     # IoU 1 with A, 4/8 with B; q2: no [SEG]
    s2 = SAMADataSample(metainfo=dict(video_id='v2', question_id='q3'))
    s2.pred_text = [PRED_TEXT['q3']]
    s2.pred_masks = torch.from_numpy(row(0, 2)[None])                 # IoU 4/8 with A, 0 with B|C
    return [s1.to_dict(), s2.to_dict()]


def test_bench_g_by_hand(bench_g):
    ann, mask_file = bench_g
    metric = METRICS.build(dict(type='SAMABenchGMetric', ann_file=ann, mask_file=mask_file,
                                similarity=fake_similarity, meteor=False))
    metric.process({}, g_samples())
    out = metric.evaluate(2)
    # q1: pairs (A, 1.0) and (B, 0.5): (1 + 0.5) / (2 + 2 - 2) = 0.75; q2: no prediction: 0 -> v1 = 0.375
    # q3: (A, 0.5), second GT unmatched: 0.5 / (1 + 2 - 1) = 0.25 -> v2 = 0.25. Mean over videos: 0.3125.
    assert out['sama_bench_g/mIoU'] == pytest.approx(0.3125)
    # recall: q1 2 of 2 (IoU 1 / sim 1; IoU 0.5 / sim 0.6), q2 0 of 1 (no masks = misses) -> v1 2/3;
    # q3 1 of 2 -> v2 1/2. Mean 7/12.
    assert out['sama_bench_g/recall'] == pytest.approx(7 / 12)
    refs = {q: [a] for q, a in ANSWERS.items()}
    expected = caption_scores(refs, PRED_TEXT, meteor=False)
    for key, value in expected.items():
        assert out[f'sama_bench_g/{key}'] == pytest.approx(value)
    assert 'sama_bench_g/METEOR' not in out and 'sama_bench_g/CLAIR' not in out


def test_bench_g_official_conventions(bench_g):
    ann, mask_file = bench_g
    metric = METRICS.build(dict(type='SAMABenchGMetric', ann_file=ann, mask_file=mask_file,
                                similarity=fake_similarity, miou_convention='official',
                                skip_empty_predictions=True, caption_metrics=False))
    metric.process({}, g_samples())
    out = metric.evaluate(2)
    # official mIoU: q1 (1 + 0.5) / 2, q2 0 -> v1 0.375; q3 0.5 -> mean 0.4375
    assert out['sama_bench_g/mIoU'] == pytest.approx(0.4375)
    # q2 skipped: v1 2/2, v2 1/2 -> 0.75
    assert out['sama_bench_g/recall'] == pytest.approx(0.75)
    # the official protocol beside it (issue 21 item 5): same mIoU here, 2 videos averaged
    assert set(out) == {'sama_bench_g/mIoU', 'sama_bench_g/recall', 'sama_bench_g/official/mIoU',
                        'sama_bench_g/official/recall', 'sama_bench_g/official/videos'}
    assert out['sama_bench_g/official/mIoU'] == pytest.approx(0.4375)
    assert out['sama_bench_g/official/videos'] == 2


def test_bench_g_errors(bench_g):
    ann, mask_file = bench_g
    metric = METRICS.build(dict(type='SAMABenchGMetric', ann_file=ann, mask_file=mask_file, caption_metrics=False))
    metric.process({}, g_samples()[:1])
    with pytest.raises(ValueError, match="no prediction: q3"):
        metric.evaluate(1)
    bad = SAMADataSample(metainfo=dict(video_id='v2', question_id='q3'))
    bad.pred_text = ['<p> x </p> [SEG] and <p> y </p> [SEG]']
    bad.pred_masks = torch.from_numpy(row(0, 2)[None])
    with pytest.raises(ValueError, match=r'2 \[SEG\]'):
        metric.process({}, [bad.to_dict()])


def test_bench_g_clair_failures_are_reported(bench_g, tmp_path):
    ann, mask_file = bench_g
    server = FakeServer()
    try:
        server.script = [('answer', '{"score": 80, "reason": "a"}'), ('answer', 'no json'),
                         ('answer', '{"score": 40, "reason": "b"}'), ('answer', 'still no json')]
        clair = dict(base_url=server.url, model='judge', api_key_env=None, max_attempts=1,
                     cache_dir=str(tmp_path / 'clair'))
        metric = METRICS.build(dict(type='SAMABenchGMetric', ann_file=ann, mask_file=mask_file,
                                    caption_metrics=False, clair=clair))
        metric.process({}, g_samples())
        out = metric.evaluate(2)
        assert out['sama_bench_g/CLAIR'] == pytest.approx(0.6)
        assert out['sama_bench_g/CLAIR_failures'] == 1
        assert 'sama_bench_g/recall' not in out  # no similarity configured
        # the official pass re-asks only the failed judgement (the others come from the cache) and scores a
        # failure 0: per video (0.8 + 0) / 2 and 0.4 -> 0.4
        assert len(server.requests) == 4
        assert out['sama_bench_g/official/CLAIR'] == pytest.approx(0.4)
    finally:
        server.close()


def test_bench_c(tmp_path):
    records = [dict(video_id='v1', description={'obj0': 'A red car drives to the left.', 'obj1': 'A dog runs.'},
                    description_id={'obj0': 11, 'obj1': 12}),
               dict(video_id='v2', description={'obj0': 'A bird flies over the lake.'}, description_id={'obj0': 21})]
    ann = tmp_path / 'bench_c.json'
    ann.write_text(json.dumps(records))
    preds = {'11': 'A red car moves left.', '12': 'A dog is running <|im_end|>', '21': 'A bird flies.'}
    samples = []
    for did, text in preds.items():
        s = SAMADataSample(metainfo=dict(description_id=int(did)))
        s.pred_text = [text]
        samples.append(s.to_dict())
    metric = METRICS.build(dict(type='SAMABenchCMetric', ann_file=str(ann), meteor=False))
    metric.process({}, samples)
    out = metric.evaluate(3)
    refs = {'11': ['A red car drives to the left.'], '12': ['A dog runs.'], '21': ['A bird flies over the lake.']}
    for key, value in caption_scores(refs, preds, meteor=False).items():
        assert out[f'sama_bench_c/{key}'] == pytest.approx(value)
    metric = METRICS.build(dict(type='SAMABenchCMetric', ann_file=str(ann), meteor=False))
    metric.process({}, samples[:2])
    with pytest.raises(ValueError, match='no prediction: 21'):
        metric.evaluate(2)


def square(y0, y1, x0, x1, shape=(4, 4)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_refcoco_from_sample_gt():
    pairs = [(square(0, 2, 0, 2), square(0, 2, 0, 4)),      # I 4, U 8
             (square(0, 2, 0, 2), square(3, 4, 3, 4)),      # I 0, U 5
             (None, np.zeros((4, 4), bool))]                # empty prediction of an empty target: I 0, U 0
    samples = []
    for pred, gt in pairs:
        s = SAMADataSample(metainfo=dict(ori_shape=(4, 4)))
        s.pred_masks = torch.zeros((0, 4, 4), dtype=torch.bool) if pred is None else torch.from_numpy(pred[None])
        s.gt_masks = torch.from_numpy(gt[None, None].astype(np.uint8))
        samples.append(s.to_dict())
    metric = METRICS.build(dict(type='RefCOCOMetric'))
    metric.process({}, samples)
    out = metric.evaluate(3)
    assert out['refcoco/cIoU'] == pytest.approx(100 * 4 / 13)
    assert out['refcoco/gIoU'] == pytest.approx(100 * (0.5 + 0 + 1) / 3)


def test_refcoco_from_coco_file(tmp_path):
    rle = encode_mask(square(0, 2, 0, 4).astype(np.uint8))
    coco = dict(images=[dict(id=1, height=4, width=4)],
                annotations=[dict(id=5, image_id=1, segmentation=rle),
                             dict(id=6, image_id=1, segmentation=[[3, 3, 4, 3, 4, 4, 3, 4]])])
    ann = tmp_path / 'instances.json'
    ann.write_text(json.dumps(coco))
    s = SAMADataSample(metainfo=dict(ann_id=5))
    s.pred_masks = torch.from_numpy(square(0, 2, 0, 2)[None])
    metric = METRICS.build(dict(type='RefCOCOMetric', ann_file=str(ann)))
    metric.process({}, [s.to_dict()])
    out = metric.evaluate(1)
    assert out['refcoco/cIoU'] == pytest.approx(50.0) and out['refcoco/gIoU'] == pytest.approx(50.0)


def test_gcg(tmp_path):
    a, b = square(0, 2, 0, 4), square(2, 4, 0, 4)
    coco = dict(images=[dict(id=7, height=4, width=4, caption='<p> A cat </p> sits on <p> a mat </p>.')],
                annotations=[dict(id=1, image_id=7, segmentation=encode_mask(a.astype(np.uint8))),
                             dict(id=2, image_id=7, segmentation=encode_mask(b.astype(np.uint8)))])
    ann = tmp_path / 'gcg.json'
    ann.write_text(json.dumps(coco))
    s = SAMADataSample(metainfo=dict(image_id=7))
    s.pred_text = ['<p> a cat </p> [SEG] on <p> a rug </p> [SEG].']
    s.pred_masks = torch.from_numpy(np.stack([a, square(2, 4, 0, 2)])[:, None])   # IoU 1 and 4/8
    metric = METRICS.build(dict(type='GCGMetric', ann_file=str(ann), similarity=fake_similarity, meteor=False))
    metric.process({}, [s.to_dict()])
    out = metric.evaluate(1)
    assert out['gcg/mIoU'] == pytest.approx(0.75)
    # 'a rug' vs 'a mat' share the word 'a' (fake similarity 0.6) and IoU 0.5: both recalled.
    assert out['gcg/recall'] == pytest.approx(1.0)
    assert 'gcg/CIDEr' in out
