"""RVOSMetric on the demo data: local J&F (mask dict and PNG ground truth) and server submissions."""
import json
import zipfile

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from sama_mm.registry import METRICS
from sama_mm.structures import SAMADataSample, decode_rle


def load_videos(path):
    return json.loads(path.read_text())['videos']


def frame_shape(demo_root, split_dir, video):
    first = sorted((split_dir / 'JPEGImages' / video).iterdir())[0]
    return cv2.imread(str(first)).shape[:2]


def gt_track(mask_dict, anno_ids, num_frames, shape):
    out = np.zeros((num_frames,) + tuple(shape), bool)
    for key in anno_ids:
        for t, rle in enumerate(mask_dict[str(key)]):
            if rle:
                out[t] |= decode_rle(rle).astype(bool)
    return out


def sample(video, exp, masks):
    s = SAMADataSample(metainfo=dict(video_id=video, exp_id=exp))
    s.pred_masks = torch.from_numpy(np.asarray(masks, bool))
    return s.to_dict()


@pytest.fixture(scope='module')
def mevis(demo_root):
    split = demo_root / 'mevis' / 'valid_u'
    videos = load_videos(split / 'meta_expressions.json')
    mask_dict = json.loads((split / 'mask_dict.json').read_text())
    gts = {}
    for video, info in videos.items():
        shape = frame_shape(demo_root, split, video)
        for exp, expr in info['expressions'].items():
            gts[(video, exp)] = gt_track(mask_dict, expr['anno_id'], len(info['frames']), shape)
    return split, gts


def build(split, **kw):
    return METRICS.build(dict(type='RVOSMetric', ann_file=str(split / 'meta_expressions.json'),
                              mask_file=str(split / 'mask_dict.json'), **kw))


def test_predictions_equal_gt_score_one(mevis):
    split, gts = mevis
    metric = build(split)
    metric.process({}, [sample(v, e, gt[None]) for (v, e), gt in gts.items()])
    assert metric.evaluate(len(gts)) == {'rvos/J': 100.0, 'rvos/F': 100.0, 'rvos/J&F': 100.0}


def test_empty_prediction_expected_value(mevis):
    split, gts = mevis
    (v0, e0), gt0 = next(iter(gts.items()))
    samples = []
    for (v, e), gt in gts.items():
        if (v, e) == (v0, e0):
            samples.append(sample(v, e, np.zeros((0,) + gt.shape, bool)))  # no [SEG]: an empty prediction
        else:
            samples.append(sample(v, e, gt[None]))
    metric = build(split)
    metric.process({}, samples)
    out = metric.evaluate(len(samples))
    # Empty prediction: frames where the object is absent score J = F = 1 (both empty), the others J = F = 0.
    t = gt0.shape[0]
    empty_frames = int(sum(not gt0[i].any() for i in range(t)))
    expr = empty_frames / t
    expected = 100 * ((len(gts) - 1) + expr) / len(gts)
    assert out['rvos/J'] == pytest.approx(expected) and out['rvos/F'] == pytest.approx(expected)
    assert out['rvos/J&F'] == pytest.approx(expected) and expected < 100


def test_mismatched_expression_sets_are_errors(mevis):
    split, gts = mevis
    items = list(gts.items())
    metric = build(split)
    metric.process({}, [sample(v, e, gt[None]) for (v, e), gt in items[1:]] + [sample('nope', '0', items[0][1][None])])
    with pytest.raises(ValueError) as exc:
        metric.evaluate(len(items))
    msg = str(exc.value)
    assert f'{items[0][0][0]}/{items[0][0][1]}' in msg and 'nope/0' in msg and 'no prediction' in msg
    metric = build(split)
    metric.process({}, [sample(v, e, gt[None]) for (v, e), gt in items] + [sample(*items[0][0], items[0][1][None])])
    with pytest.raises(ValueError, match='more than once'):
        metric.evaluate(len(items) + 1)


def test_frame_count_mismatch(mevis):
    split, gts = mevis
    metric = build(split)
    metric.process({}, [sample(v, e, gt[None, :-1]) for (v, e), gt in gts.items()])
    with pytest.raises(ValueError, match='frame'):
        metric.evaluate(len(gts))


def test_png_ground_truth(demo_root):
    """Ref-YouTube-VOS-style indexed PNG ground truth (mask_dir + obj_id)."""
    meta = demo_root / 'rvos' / 'meta_expressions' / 'train' / 'meta_expressions.json'
    ann_dir = demo_root / 'rvos' / 'train' / 'Annotations'
    videos = load_videos(meta)
    samples = []
    for video, info in videos.items():
        ids = np.stack([np.array(Image.open(ann_dir / video / f'{f}.png')) for f in info['frames']])
        for exp, expr in info['expressions'].items():
            obj = [int(o) for o in (expr['obj_id'] if isinstance(expr['obj_id'], list) else [expr['obj_id']])]
            samples.append(sample(video, exp, np.isin(ids, obj)[None]))
    metric = METRICS.build(dict(type='RVOSMetric', ann_file=str(meta), mask_dir=str(ann_dir)))
    metric.process({}, samples)
    assert metric.evaluate(len(samples))['rvos/J&F'] == 100.0


def random_predictions(videos, shapes, seed=0):
    rng = np.random.default_rng(seed)
    preds = {}
    for video, info in videos.items():
        for exp in info['expressions']:
            preds[(video, exp)] = rng.random((len(info['frames']),) + shapes[video]) > 0.7
    return preds


@pytest.mark.parametrize('server,inner', [('refytvos', 'Annotations/'), ('mevis', '')])
def test_format_only_writes_server_layout_and_zip(demo_root, tmp_path, server, inner):
    if server == 'refytvos':
        meta = demo_root / 'rvos' / 'meta_expressions' / 'valid' / 'meta_expressions.json'
        frames_root = demo_root / 'rvos' / 'valid' / 'JPEGImages'
    else:
        meta = demo_root / 'mevis' / 'valid_u' / 'meta_expressions.json'
        frames_root = demo_root / 'mevis' / 'valid_u' / 'JPEGImages'
    videos = load_videos(meta)
    shapes = {v: cv2.imread(str(sorted((frames_root / v).iterdir())[0])).shape[:2] for v in videos}
    preds = random_predictions(videos, shapes)
    prefix = tmp_path / 'submission'
    cfg = dict(type='RVOSMetric', ann_file=str(meta), format_only=True, outfile_prefix=str(prefix), server=server)
    metric = METRICS.build(cfg)
    metric.process({}, [sample(v, e, m[None]) for (v, e), m in preds.items()])
    assert metric.evaluate(len(preds)) == {}
    expected = set()
    for (video, exp), masks in preds.items():
        for t, frame in enumerate(videos[video]['frames']):
            rel = f'{inner}{video}/{exp}/{frame}.png'
            expected.add(rel)
            png = cv2.imread(str(prefix / rel), cv2.IMREAD_UNCHANGED)
            assert png.ndim == 2 and png.dtype == np.uint8 and png.shape == shapes[video]
            assert set(np.unique(png)) <= {0, 255}
            np.testing.assert_array_equal(png == 255, masks[t])
    on_disk = {str(p.relative_to(prefix)) for p in prefix.rglob('*.png')}
    assert on_disk == expected
    with zipfile.ZipFile(str(prefix) + '.zip') as zf:
        names = set(zf.namelist())
        assert names == expected
        first = sorted(expected)[0]
        png = cv2.imdecode(np.frombuffer(zf.read(first), np.uint8), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(png, cv2.imread(str(prefix / first), cv2.IMREAD_UNCHANGED))
    # An existing submission is never replaced without overwrite=True ...
    again = METRICS.build(cfg)
    again.process({}, [sample(v, e, ~m[None]) for (v, e), m in preds.items()])
    with pytest.raises(FileExistsError):
        again.evaluate(len(preds))
    assert (prefix / first).exists()
    png = cv2.imread(str(prefix / first), cv2.IMREAD_UNCHANGED)
    video, exp = first[len(inner):].split('/')[:2]
    np.testing.assert_array_equal(png == 255, preds[(video, exp)][0])
    # ... and is replaced with it.
    over = METRICS.build(dict(cfg, overwrite=True))
    over.process({}, [sample(v, e, ~m[None]) for (v, e), m in preds.items()])
    over.evaluate(len(preds))
    png = cv2.imread(str(prefix / first), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(png == 255, ~preds[(video, exp)][0])


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match='outfile_prefix'):
        METRICS.build(dict(type='RVOSMetric', ann_file='x.json', format_only=True))
    with pytest.raises(ValueError, match='mask_file or mask_dir'):
        METRICS.build(dict(type='RVOSMetric', ann_file='x.json'))
    with pytest.raises(ValueError, match='server'):
        METRICS.build(dict(type='RVOSMetric', ann_file='x.json', format_only=True, outfile_prefix='o',
                           server='codalab'))


def tiny_split(tmp_path, expressions, num_frames):
    gt = np.zeros((num_frames, 8, 8), bool)
    gt[:, 2:6, 2:6] = True
    (tmp_path / 'meta.json').write_text(json.dumps({'videos': {'v': {
        'frames': [f'{t:05d}' for t in range(num_frames)], 'expressions': expressions}}}))
    from sama_mm.structures import encode_mask
    (tmp_path / 'masks.json').write_text(json.dumps({'1': [encode_mask(m.astype(np.uint8)) for m in gt]}))
    return gt


def test_revos_types(tmp_path):
    exps = {'0': dict(exp='a', anno_id=['1'], type_id=0), '1': dict(exp='b', anno_id=['1'], type_id=1),
            '2': dict(exp='c', anno_id=['1'], type_id=2)}
    gt = tiny_split(tmp_path, exps, 2)
    metric = METRICS.build(dict(type='RVOSMetric', ann_file=str(tmp_path / 'meta.json'),
                                mask_file=str(tmp_path / 'masks.json')))
    s1 = SAMADataSample(metainfo=dict(video_id='v', exp_id='1'))
    s1.pred_masks = torch.zeros((1,) + gt.shape, dtype=torch.bool)           # empty: J = F = 0
    metric.process({}, [sample('v', '0', gt[None]), s1, sample('v', '2', gt[None])])  # objects work too
    out = metric.evaluate(3)
    assert out['rvos/J&F_referring'] == 100.0 and out['rvos/J&F_reasoning'] == 0.0
    assert out['rvos/J&F'] == 50.0 and out['rvos/J'] == 50.0


def test_skip_first_last_and_score_file(tmp_path):
    gt = tiny_split(tmp_path, {'0': dict(exp='a', anno_id=['1'])}, 3)
    pred = np.zeros_like(gt)
    pred[1] = gt[1]                                 # right in the middle frame only
    for skip, expected in ((False, 100 / 3), (True, 100.0)):
        prefix = tmp_path / f'scores_{skip}'
        metric = METRICS.build(dict(type='RVOSMetric', ann_file=str(tmp_path / 'meta.json'),
                                    mask_file=str(tmp_path / 'masks.json'), skip_first_last=skip,
                                    outfile_prefix=str(prefix)))
        metric.process({}, [sample('v', '0', pred[None])])
        assert metric.evaluate(1)['rvos/J'] == pytest.approx(expected)
        saved = json.loads((tmp_path / f'scores_{skip}.json').read_text())
        assert saved['J'] == pytest.approx(expected) and 'v/0' in saved['expressions']
        metric.process({}, [sample('v', '0', pred[None])])
        with pytest.raises(FileExistsError):
            metric.evaluate(1)
