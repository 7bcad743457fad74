"""tools/eval_masks.py on small synthetic mask folders, checked against vos-benchmark (DAVIS 2017 code)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from sama_mm.datasets.errors import DataError
from sama_mm.evaluation.functional import jf_per_object
from tests.conftest import run_tool
from tools.eval_masks import evaluate_davis, evaluate_rvos, main

PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [255] * (3 * 251)


def save_ids(path, ids, indexed=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.fromarray(ids.astype(np.uint8), mode='L')
    if indexed:
        img = img.convert('P')
        img.putpalette(PALETTE)
    img.save(path)


def shape_mask(h, w, kind, cy, cx, ry, rx):
    yy, xx = np.mgrid[:h, :w]
    if kind == 'ellipse':
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)


def make_davis(root, seed=0):
    """Two sequences of odd sizes, three objects moving; objects absent in some GT or prediction frames, one
    object appearing late in the GT, one spurious predicted id; one sequence palette PNGs, one grey PNGs."""
    rng = np.random.default_rng(seed)
    for seq, (h, w), t, indexed in [('seq_a', (37, 53), 6, True), ('seq_b', (61, 45), 5, False)]:
        for i in range(t):
            gt = np.zeros((h, w), np.uint8)
            pred = np.zeros((h, w), np.uint8)
            for obj, kind in [(1, 'ellipse'), (2, 'rect'), (3, 'ellipse')]:
                cy, cx = h * (0.2 + 0.2 * obj) + 2 * i, w * (0.9 - 0.25 * obj) + 3 * i
                ry, rx = h * 0.15, w * 0.12
                if not (obj == 3 and i < 2) and not (obj == 2 and i == 3):  # 3 enters late; 2 hidden once
                    gt[shape_mask(h, w, kind, cy, cx, ry, rx)] = obj
                if not (obj == 1 and i == 2):  # prediction loses object 1 once
                    dy, dx = rng.integers(-4, 5, 2)
                    pred[shape_mask(h, w, kind, cy + dy, cx + dx, ry * rng.uniform(0.8, 1.2), rx)] = obj
            if i == 4:
                pred[:4, :6] = 4  # an id the ground truth never has
            save_ids(str(root / 'gt' / seq / f'{i:05d}.png'), gt, indexed)
            save_ids(str(root / 'pred' / seq / f'{i:05d}.png'), pred, indexed)
    return root / 'gt', root / 'pred'


def oracle_davis(gt_root, pred_root):
    """Per-object J and F (0..100) from vos-benchmark's Evaluator, all frames of every ground-truth object."""
    from vos_benchmark.evaluator import Evaluator
    scores = {}
    for seq in sorted(os.listdir(gt_root)):
        frames = sorted(os.listdir(gt_root / seq))
        gts = [np.array(Image.open(gt_root / seq / f)) for f in frames]
        ev = Evaluator(name=seq)
        # vos-benchmark starts scoring an object at the first frame it appears in (GT or prediction); DAVIS 2017
        # scores every object on every frame, so tell it the GT objects up front.
        ev.objects_in_gt.update(int(o) for o in np.unique(gts) if o)
        for f, gt in zip(frames, gts):
            ev.feed_frame(np.array(Image.open(pred_root / seq / f)), gt)
        iou, bf = ev.conclude()
        scores[seq] = {str(o): (iou[o], bf[o]) for o in iou}
    return scores


def test_davis_matches_vos_benchmark(tmp_path):
    gt_root, pred_root = make_davis(tmp_path)
    report = evaluate_davis(str(gt_root), str(pred_root))
    oracle = oracle_davis(gt_root, pred_root)
    assert set(report['sequences']) == set(oracle) == {'seq_a', 'seq_b'}
    all_j, all_f = [], []
    for seq, objects in oracle.items():
        assert set(report['sequences'][seq]['objects']) == set(objects) == {'1', '2', '3'}
        for obj, (j, f) in objects.items():
            ours = report['sequences'][seq]['objects'][obj]
            assert ours['J'] * 100 == pytest.approx(j, abs=1e-6)
            assert ours['F'] * 100 == pytest.approx(f, abs=1e-6)
            all_j.append(j)
            all_f.append(f)
    assert 0 < report['J'] < 1 and 0 < report['F'] < 1
    assert report['J'] * 100 == pytest.approx(np.mean(all_j), abs=1e-6)
    assert report['F'] * 100 == pytest.approx(np.mean(all_f), abs=1e-6)
    assert report['J&F'] == pytest.approx((report['J'] + report['F']) / 2)
    assert report['num_objects'] == 6
    assert report['missing_frames'] == [] and report['missing_sequences'] == []


def test_davis_skip_first_last_matches_vos_benchmark_protocol(tmp_path):
    from vos_benchmark.benchmark import VideoEvaluator
    gt_root, pred_root = make_davis(tmp_path)
    report = evaluate_davis(str(gt_root), str(pred_root), skip_first_last=True)
    for seq in ('seq_a', 'seq_b'):
        # Every object is predicted on the second frame, so vos-benchmark scores it on all evaluated frames.
        _, iou, bf = VideoEvaluator(str(gt_root), str(pred_root), skip_first_and_last=True)(seq)
        assert sorted(iou) == [1, 2, 3]
        for obj in iou:
            assert report['sequences'][seq]['objects'][str(obj)]['J'] * 100 == pytest.approx(iou[obj], abs=1e-6)
            assert report['sequences'][seq]['objects'][str(obj)]['F'] * 100 == pytest.approx(bf[obj], abs=1e-6)


def test_cli_davis_missing_frame_and_sequence(tmp_path):
    gt_root, pred_root = make_davis(tmp_path)
    missing = pred_root / 'seq_a' / '00003.png'
    os.remove(missing)
    # A missing prediction frame counts as an empty mask and is reported.
    proc = run_tool('tools/eval_masks.py', '--gt', gt_root, '--pred', pred_root, check=True)
    assert 'warning: 1 ground-truth frame(s) have no prediction PNG' in proc.stderr
    report = json.loads(proc.stdout)
    assert report['missing_frames'] == ['seq_a/00003.png']
    # The missing frame counts as an empty prediction.
    gt = np.stack([np.array(Image.open(gt_root / 'seq_a' / f'{i:05d}.png')) for i in range(6)])
    pred = np.stack([np.array(Image.open(pred_root / 'seq_a' / f'{i:05d}.png')) if i != 3 else np.zeros_like(gt[0])
                     for i in range(6)])
    for obj in (1, 2, 3):
        expected = jf_per_object(pred == obj, gt == obj)
        got = report['sequences']['seq_a']['objects'][str(obj)]
        assert got == pytest.approx(expected)
    assert report['sequences']['seq_a']['J'] == pytest.approx(
        np.mean([report['sequences']['seq_a']['objects'][o]['J'] for o in '123']))

    # A whole prediction sequence missing: reported, scored as all-empty.
    for f in os.listdir(pred_root / 'seq_b'):
        os.remove(pred_root / 'seq_b' / f)
    os.rmdir(pred_root / 'seq_b')
    report = evaluate_davis(str(gt_root), str(pred_root))
    assert report['missing_sequences'] == ['seq_b']
    assert report['missing_frames'] == ['seq_a/00003.png']
    # object 3 is absent from the GT on frames 0 and 1, where an empty prediction is right
    assert report['sequences']['seq_b']['objects']['3']['J'] == pytest.approx(2 / 5)
    assert report['sequences']['seq_b']['objects']['1']['J'] == 0


def make_rvos(root):
    h, w = 33, 47
    truth = {}
    for video, n_expr in [('vid1', 2), ('vid2', 1)]:
        for e in range(n_expr):
            gts, preds = [], []
            for i in range(4):
                gt = shape_mask(h, w, 'ellipse', 10 + 2 * i + 3 * e, 15 + 3 * i, 6, 9)
                pred = shape_mask(h, w, 'rect', 11 + 2 * i + 3 * e, 14 + 3 * i + e, 5, 8)
                if video == 'vid2' and i == 1:
                    gt[:] = False
                gts.append(gt)
                preds.append(pred)
                save_ids(str(root / 'gt' / video / str(e) / f'{i:05d}.png'), gt * 255, indexed=False)
                save_ids(str(root / 'pred' / video / str(e) / f'{i:05d}.png'), pred * (e + 1), indexed=e == 1)
            truth[f'{video}/{e}'] = jf_per_object(np.stack(preds), np.stack(gts))
    return root / 'gt', root / 'pred', truth


def test_cli_rvos(tmp_path):
    gt_root, pred_root, truth = make_rvos(tmp_path)
    report = json.loads(run_tool('tools/eval_masks.py', '--gt', gt_root, '--pred', pred_root, '--layout', 'rvos',
                                 check=True).stdout)
    assert report['num_expressions'] == 3
    for key, expected in truth.items():
        video, expr = key.split('/')
        assert report['sequences'][video]['expressions'][expr] == pytest.approx(expected)
    assert report['J'] == pytest.approx(np.mean([t['J'] for t in truth.values()]))
    assert report['F'] == pytest.approx(np.mean([t['F'] for t in truth.values()]))
    assert report['sequences']['vid1']['J'] == pytest.approx(np.mean([truth['vid1/0']['J'], truth['vid1/1']['J']]))

    # A missing expression folder counts as all-empty predictions.
    for f in os.listdir(pred_root / 'vid1' / '1'):
        os.remove(pred_root / 'vid1' / '1' / f)
    os.rmdir(pred_root / 'vid1' / '1')
    os.remove(pred_root / 'vid2' / '0' / '00002.png')
    report = evaluate_rvos(str(gt_root), str(pred_root))
    assert report['missing_sequences'] == ['vid1/1']
    assert report['missing_frames'] == ['vid2/0/00002.png']
    assert report['sequences']['vid1']['expressions']['1'] == {'J': 0.0, 'F': 0.0, 'J&F': 0.0}


def test_cli_errors_name_the_file(tmp_path, capsys):
    gt_root, pred_root = make_davis(tmp_path)
    bad = pred_root / 'seq_b' / '00001.png'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n this is not a PNG')
    proc = run_tool('tools/eval_masks.py', '--gt', gt_root, '--pred', pred_root)
    assert proc.returncode != 0
    assert str(bad) in proc.stderr and 'unreadable_mask' in proc.stderr
    assert proc.stdout == ''

    # truncated file
    data = (gt_root / 'seq_b' / '00001.png').read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match='unreadable_mask') as info:
        evaluate_davis(str(gt_root), str(pred_root))
    assert info.value.file == str(bad)

    save_ids(str(bad), np.zeros((61, 44), np.uint8))
    with pytest.raises(DataError, match='size_mismatch') as info:
        evaluate_davis(str(gt_root), str(pred_root))
    assert info.value.file == str(bad)
    with pytest.raises(DataError, match='prediction folder not found'):
        evaluate_davis(str(gt_root), str(tmp_path / 'nowhere'))
    assert main(['--gt', str(gt_root), '--pred', str(pred_root)]) == 1
    assert str(bad) in capsys.readouterr().err


def test_cli_out_refuses_to_overwrite(tmp_path, capsys):
    gt_root, pred_root, _ = make_rvos(tmp_path)
    out = tmp_path / 'report.json'
    args = ('tools/eval_masks.py', '--gt', gt_root, '--pred', pred_root, '--layout', 'rvos', '--out', out)
    proc = run_tool(*args, check=True)
    assert json.loads(out.read_text()) == json.loads(proc.stdout)
    out.write_text('keep me')
    assert main([str(a) for a in args[1:]]) != 0
    captured = capsys.readouterr()
    assert str(out) in captured.err and 'overwrite' in captured.err and captured.out == ''
    assert out.read_text() == 'keep me'


def test_frames_in_natural_order_for_skip_first_last(tmp_path):
    # Frames 1..10 without zero padding: --skip-first-last must leave out 1 and 10 (not 1 and 9, string order).
    h, w = 20, 24
    for t in range(1, 11):
        gt = np.zeros((h, w), np.uint8)
        gt[4:12, 2 + t:10 + t] = 1
        save_ids(str(tmp_path / 'gt' / 's' / f'{t}.png'), gt)
        save_ids(str(tmp_path / 'pred' / 's' / f'{t}.png'), gt if t != 10 else np.zeros_like(gt))
    report = evaluate_davis(str(tmp_path / 'gt'), str(tmp_path / 'pred'), skip_first_last=True)
    assert report['J'] == 1.0 and report['F'] == 1.0


@pytest.mark.parametrize('fg, mode', [(255, 'L'), (257, 'I;16'), (65535, 'I;16')])
def test_davis_binary_prediction_is_refused(tmp_path, capsys, fg, mode):
    # One object (id 1) in the ground truth, the prediction saved as a binary 0/fg mask: an error, never J&F 0.
    h, w = 16, 20
    for t in range(3):
        gt = np.zeros((h, w), np.uint8)
        gt[3:9, 4 + t:12 + t] = 1
        save_ids(str(tmp_path / 'gt' / 's' / f'{t:05d}.png'), gt)
        os.makedirs(tmp_path / 'pred' / 's', exist_ok=True)
        pred = (gt.astype(np.uint32) * fg).astype(np.uint16 if mode != 'L' else np.uint8)
        Image.fromarray(pred, mode=mode).save(tmp_path / 'pred' / 's' / f'{t:05d}.png')
    first = tmp_path / 'pred' / 's' / '00000.png'
    assert main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred')]) == 1
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err == (
        f'error: [binary_prediction] {first}: prediction holds values {{0, {fg}}} but the ground-truth objects of s '
        f'are {{1}}; the davis layout needs object ids (1..N, 0 = background) in each PNG, not a 0/{fg} binary '
        'mask\n')
    # Saved as object ids, the same masks score perfectly; a spurious extra id next to a real one is just scored.
    for t in range(3):
        gt = np.array(Image.open(tmp_path / 'gt' / 's' / f'{t:05d}.png'))
        pred = gt.copy()
        pred[0, 0] = 255
        save_ids(str(tmp_path / 'pred' / 's' / f'{t:05d}.png'), pred)
    assert evaluate_davis(str(tmp_path / 'gt'), str(tmp_path / 'pred'))['J'] == pytest.approx(1.0)


@pytest.mark.parametrize('layout', ['davis', 'rvos'])
def test_cli_out_in_a_missing_folder_is_created(tmp_path, layout):
    gt_root, pred_root = make_davis(tmp_path)[:2] if layout == 'davis' else make_rvos(tmp_path)[:2]
    out = tmp_path / 'new' / 'deeper' / 'report.json'
    proc = run_tool('tools/eval_masks.py', '--gt', gt_root, '--pred', pred_root, '--layout', layout, '--out', out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == json.loads(proc.stdout)


def test_cli_out_below_a_file_fails_before_scoring(tmp_path, capsys, monkeypatch):
    gt_root, pred_root = make_davis(tmp_path)
    (tmp_path / 'afile').write_text('x')
    out = tmp_path / 'afile' / 'report.json'
    import tools.eval_masks as tool
    monkeypatch.setattr(tool, 'evaluate_davis', lambda *a, **k: pytest.fail('scored before checking --out'))
    assert main(['--gt', str(gt_root), '--pred', str(pred_root), '--out', str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err == (
        f'error: cannot create the folder {tmp_path / "afile"} for {out}: {tmp_path / "afile"} is a file\n')
