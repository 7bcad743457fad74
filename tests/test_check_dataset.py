"""tools/check_dataset.py: zero problems on the demo data; each kind of bad input named with file and record."""
import copy
import json
import pickle
import shutil

import numpy as np
import pytest

from sama_mm.structures import encode_mask
from tests.conftest import run_tool

CONFIG = 'configs/demo/demo_data.py'


def test_demo_data_has_no_problems(demo_root, tmp_path):
    # The config names data/demo relative to the working directory.
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'demo').symlink_to(demo_root)
    from tests.conftest import REPO_ROOT
    proc = run_tool(f'{REPO_ROOT}/tools/check_dataset.py', f'{REPO_ROOT}/{CONFIG}', cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary == {'datasets': 5, 'problems': 0}
    manifest = json.loads((demo_root / 'manifest.json').read_text())
    train = [c for c in manifest['clips'].values() if c['split'] == 'train']
    from data_converters.build_demo_data import RECORDS_PER_CLIP
    objects = RECORDS_PER_CLIP * sum(len(c['objects']) for c in train)  # counted per record
    assert f'records: {RECORDS_PER_CLIP * len(train)}   videos: {len(train)}   objects: {objects}' in proc.stdout


def test_ann_mode_on_demo_data(demo_root):
    proc = run_tool('tools/check_dataset.py', '--ann', demo_root / 'sama239k_train_final.json',
                    '--video-root', demo_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_tool('tools/check_dataset.py', '--ann', demo_root / 'rvos/meta_expressions/train/meta_expressions.json',
                    '--video-root', demo_root / 'rvos/train/JPEGImages', '--mask-dir',
                    demo_root / 'rvos/train/Annotations')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # two single-object expressions per object of the training clips (appearance, motion)
    manifest = json.loads((demo_root / 'manifest.json').read_text())
    singles = sum(2 * len(c['objects']) for c in manifest['clips'].values() if c['split'] == 'train')
    assert f'expressions: {singles}' in proc.stdout


@pytest.fixture
def crafted(demo_root, tmp_path):
    """A writable copy of the SAMA-239K annotation and mask dict, with the videos linked in."""
    root = tmp_path / 'root'
    root.mkdir()
    (root / 'mevis').symlink_to(demo_root / 'mevis')
    records = json.loads((demo_root / 'sama239k_train_final.json').read_text())
    masks = json.loads((demo_root / 'mevis_train_mask_dict.json').read_text())

    def check(records=records, masks=masks, ann_name='ann.json', mask_name='mask_dict.json', extra=()):
        ann, mask_file = tmp_path / ann_name, tmp_path / mask_name
        for path, obj in ((ann, records), (mask_file, masks)):
            if path.suffix == '.pkl' or path.name.endswith('.pickle.json'):
                path.write_bytes(pickle.dumps(obj))
            else:
                path.write_text(json.dumps(obj))
        proc = run_tool('tools/check_dataset.py', '--ann', ann, '--video-root', root,
                        '--mask-dict', f'mevis={mask_file}', *extra)
        return proc, ann, mask_file

    return root, copy.deepcopy(records), copy.deepcopy(masks), check


def _problem_lines(proc, kind):
    return [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith(f'[{kind}]')]


def _assert_problem(proc, kind, file, record):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _problem_lines(proc, kind)
    assert lines, f'no [{kind}] problem in:\n{proc.stdout}'
    assert any(str(file) in line and f'record {record}' in line for line in lines), lines


def test_missing_video(crafted):
    _, records, masks, check = crafted
    records[1]['video'] = 'mevis/train/JPEGImages/no_such_clip'
    proc, ann, _ = check(records, masks)
    _assert_problem(proc, 'missing_video', ann, 1)
    assert 'no_such_clip' in _problem_lines(proc, 'missing_video')[0]


def test_missing_frames(crafted, demo_root):
    root, records, masks, check = crafted
    clip = records[0]['video_id']
    folder = root / 'copied' / clip
    shutil.copytree(demo_root / 'mevis/train/JPEGImages' / clip, folder)
    (folder / '00005.jpg').unlink()
    records[0]['video'] = f'mevis_copy/{clip}'
    (root / 'mevis_copy').symlink_to(root / 'copied')
    proc, ann, _ = check(records, masks, extra=['--mask-dict', f'mevis_copy={root}/../mask_dict.json'])
    _assert_problem(proc, 'missing_frames', ann, 0)
    assert '00005' in _problem_lines(proc, 'missing_frames')[0]


def test_malformed_rle(crafted):
    _, records, masks, check = crafted
    key = str(records[2]['anno_map'][0])
    t = next(i for i, m in enumerate(masks[key]) if m is not None)
    masks[key][t]['counts'] = masks[key][t]['counts'][:-3]
    proc, _, mask_file = check(records, masks)
    _assert_problem(proc, 'malformed_rle', mask_file, 2)
    assert f"mask key '{key}' frame {t}" in _problem_lines(proc, 'malformed_rle')[0]


def test_mask_video_size_mismatch(crafted):
    _, records, masks, check = crafted
    key = str(records[0]['anno_map'][1])
    t = next(i for i, m in enumerate(masks[key]) if m is not None)
    wrong = np.zeros((records[0]['height'] // 2, records[0]['width']), np.uint8)
    wrong[2:5, 2:5] = 1
    masks[key][t] = encode_mask(wrong)
    proc, _, mask_file = check(records, masks)
    _assert_problem(proc, 'size_mismatch', mask_file, 0)


def test_seg_count_differs_from_groundtruth(crafted):
    _, records, masks, check = crafted
    records[3]['conversation'][1]['value'] += ' Also [SEG].'
    proc, ann, _ = check(records, masks)
    _assert_problem(proc, 'seg_count_mismatch', ann, 3)
    assert 'round 0' in _problem_lines(proc, 'seg_count_mismatch')[0]


def test_region_count_and_unknown_object(crafted):
    _, records, masks, check = crafted
    records[0]['obj_masks'][0] = records[0]['obj_masks'][0] + [records[0]['anno_map'][0]]
    records[1]['anno_map'][0] = 999
    records[1]['groundtruth'] = [[[999] if g == [records[1]['groundtruth'][0][0][0]] else g for g in rnd]
                                 for rnd in records[1]['groundtruth']]
    proc, ann, mask_file = check(records, masks)
    _assert_problem(proc, 'region_count_mismatch', ann, 0)
    _assert_problem(proc, 'unknown_mask_key', mask_file, 1)
    assert "'999'" in _problem_lines(proc, 'unknown_mask_key')[0]


@pytest.mark.parametrize('ann_name, mask_name, bad', [
    ('ann.pkl', 'mask_dict.json', 'ann'),
    ('ann.json', 'mask_dict.pkl', 'mask'),
    ('ann.pickle.json', 'mask_dict.json', 'ann'),  # a pickle under a .json name is found by its bytes
])
def test_pickle_files_are_refused_not_loaded(crafted, ann_name, mask_name, bad):
    _, records, masks, check = crafted
    proc, ann, mask_file = check(records, masks, ann_name=ann_name, mask_name=mask_name)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _problem_lines(proc, 'pickle_file')
    assert lines and str(ann if bad == 'ann' else mask_file) in lines[0]
    assert 'pickle_to_json.py' in lines[0]


def test_corrupt_video_file(crafted, demo_root):
    root, records, masks, check = crafted
    data = (demo_root / 'videos' / f'{records[0]["video_id"]}.mp4').read_bytes()
    (root / 'sav_000').mkdir()
    (root / 'sav_000' / 'broken.mp4').write_bytes(data[:len(data) // 10])
    records[0]['video'] = 'sav_000/broken.mp4'
    records[0]['frames'] = None
    proc, ann, _ = check(records, masks, extra=['--mask-dict', f'sav={root}/../mask_dict.json'])
    _assert_problem(proc, 'unreadable_video', ann, 0)


def test_refvos_missing_mask_png(demo_root, tmp_path):
    ann_dir = tmp_path / 'Annotations'
    shutil.copytree(demo_root / 'rvos/train/Annotations', ann_dir)
    clip = sorted(p.name for p in ann_dir.iterdir())[0]
    (ann_dir / clip / '00007.png').unlink()
    proc = run_tool('tools/check_dataset.py', '--ann', demo_root / 'rvos/meta_expressions/train/meta_expressions.json',
                    '--video-root', demo_root / 'rvos/train/JPEGImages', '--mask-dir', ann_dir)
    assert proc.returncode == 1
    line = _problem_lines(proc, 'missing_frames')[0]
    assert f'{clip}/00007.png' in line and f'record {clip}' in line


def test_every_problem_of_a_video_is_reported(demo_root, tmp_path):
    # A missing frame, a text file named like a frame, a malformed RLE and an unknown anno_id, all in one video
    # of a MeViS-style split: every one is reported at once, not only the first.
    split = tmp_path / 'mevis_train'
    shutil.copytree(demo_root / 'mevis/train', split)
    meta = json.loads((split / 'meta_expressions.json').read_text())
    masks = json.loads((split / 'mask_dict.json').read_text())
    clip = sorted(meta['videos'])[0]
    video = meta['videos'][clip]
    exps = list(video['expressions'].values())
    key = str(exps[0]['anno_id'][0])
    t = next(i for i, m in enumerate(masks[key]) if m)
    masks[key][t]['counts'] = masks[key][t]['counts'][:-3]
    exps[1]['anno_id'] = ['999']
    (split / 'meta_expressions.json').write_text(json.dumps(meta))
    (split / 'mask_dict.json').write_text(json.dumps(masks))
    frames = split / 'JPEGImages' / clip
    (frames / f'{video["frames"][5]}.jpg').unlink()
    corrupt = frames / f'{video["frames"][3]}.jpg'
    corrupt.write_text('not a jpeg')
    proc = run_tool('tools/check_dataset.py', '--ann', split / 'meta_expressions.json', '--video-root',
                    split / 'JPEGImages', '--mask-dict', split / 'mask_dict.json')
    ann = split / 'meta_expressions.json'
    _assert_problem(proc, 'missing_frames', ann, clip)
    _assert_problem(proc, 'unreadable_frame', ann, clip)
    assert _problem_lines(proc, 'unreadable_frame') == [
        f'[unreadable_frame] {ann} record {clip}: {corrupt}: cannot decode frame: not an image file']
    _assert_problem(proc, 'malformed_rle', split / 'mask_dict.json', f'{clip}/0')
    _assert_problem(proc, 'unknown_mask_key', split / 'mask_dict.json', f'{clip}/1')
    assert json.loads(proc.stdout.strip().splitlines()[-1])['problems'] == 4


def test_corrupt_and_truncated_jpeg_frames(crafted, demo_root):
    # SAMA-239K records: a frame that is a text file and a truncated JPEG are found (each file named once, also
    # when two records share the video), and the record's masks are still checked.
    root, records, masks, check = crafted
    clip = records[0]['video_id']
    folder = root / 'copied' / clip
    shutil.copytree(demo_root / 'mevis/train/JPEGImages' / clip, folder)
    (root / 'mevis_copy').symlink_to(root / 'copied')
    (folder / '00003.jpg').write_text('this is not an image')
    data = (folder / '00004.jpg').read_bytes()
    (folder / '00004.jpg').write_bytes(data[:len(data) // 2])
    text, truncated = (root / 'mevis_copy' / clip / name for name in ('00003.jpg', '00004.jpg'))  # as named
    records[0]['video'] = f'mevis_copy/{clip}'
    records.append(copy.deepcopy(records[0]))
    key = str(records[0]['anno_map'][0])
    t = next(i for i, m in enumerate(masks[key]) if m is not None)
    masks[key][t]['counts'] = masks[key][t]['counts'][:-3]
    proc, ann, mask_file = check(records, masks, extra=['--mask-dict', f'mevis_copy={root}/../mask_dict.json'])
    lines = _problem_lines(proc, 'unreadable_frame')
    assert len(lines) == 2, proc.stdout
    assert lines[0] == f'[unreadable_frame] {ann} record 0 ({clip}): {text}: cannot decode frame: not an image file'
    assert lines[1].startswith(f'[unreadable_frame] {ann} record 0 ({clip}): {truncated}: cannot decode frame: '
                               'image file is truncated')
    _assert_problem(proc, 'malformed_rle', mask_file, f'0 ({clip})')


def test_a_dataset_that_cannot_be_built_does_not_stop_the_others(monkeypatch, capsys):
    import tools.check_dataset as tool
    from sama_mm.datasets import CheckReport, DataError

    class Sound:
        def check(self):
            return CheckReport('Sound', 'good.json', counts=dict(records=3))

    def broken():
        raise DataError('invalid_json', 'bad.json', 'not valid JSON')

    monkeypatch.setattr(tool, 'datasets_from_config', lambda args: iter([
        ('train_dataloader.dataset.datasets.0', broken), ('train_dataloader.dataset.datasets.1', Sound)]))
    assert tool.main(['some_config.py']) == 1
    out = capsys.readouterr().out
    assert 'train_dataloader.dataset.datasets.0 (unreadable): bad.json' in out
    assert '[invalid_json] bad.json: not valid JSON' in out and 'Sound: good.json' in out
    assert json.loads(out.strip().splitlines()[-1]) == {'datasets': 2, 'problems': 1}
