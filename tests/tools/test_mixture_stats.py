"""tools/analysis/mixture_stats.py on the demo data, and its estimates from given item counts."""
import json
import os.path as osp
import sys

import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis'))
import mixture_stats  # noqa: E402

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'sama_tiny_demo.py')
MIXTURE_1B = osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_mixture.py')
MIXTURE_1B_DEMO = osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_mixture_demo.py')


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    sys.path.insert(0, osp.join(REPO_ROOT, 'data_converters'))
    import build_demo_data
    root = tmp_path_factory.mktemp('mixture_stats')
    assert build_demo_data.main(['--out', str(root / 'data' / 'demo')]) == 0
    return root


def run(argv, capsys):
    assert mixture_stats.main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split()[:4] == ['source', 'items', 'rep', 'samples']
    return json.loads(out[-1])


def test_demo_mixture_per_source(demo_dir, capsys, monkeypatch):
    monkeypatch.chdir(demo_dir)
    stats = run([DEMO_CONFIG, '--gpus', '1', '--max-samples', '3', '--cfg-options',
                 'train_dataloader.dataset.repeats=[5,4,4]', 'train_dataloader.dataset.names=[sama239k,mevis,ytvos]',
                 'train_dataloader.dataset.official_lengths=[(100,True),(10000,False),(10000,False)]'], capsys)
    rows = {r['name']: r for r in stats['sources']}
    assert list(rows) == ['sama239k', 'mevis', 'ytvos']
    for row in rows.values():
        assert row['samples'] == row['items'] * row['repeat'] and row['measured'] == min(3, row['items'])
        assert row['tokens_per_sample'] > 0 and row['rounds_per_sample'] >= 1
        assert row['iters_per_epoch'] == pytest.approx(row['samples'] / 2, abs=0.05)
    # every referring-VOS round asks for one mask; SAMA-239K conversations have several rounds
    assert rows['mevis']['seg_per_sample'] == rows['mevis']['rounds_per_sample']
    assert rows['sama239k']['rounds_per_sample'] > 1 and rows['sama239k']['seg_per_sample'] > 0
    total = sum(r['samples'] for r in rows.values())
    assert stats['total'] == dict(samples=total, iters_per_epoch=-(-total // 2), optimizer_steps=-(-total // 2))
    # the official sampler's list lacks the RVOS repeats: that many indices at the end are never drawn
    missing = 3 * rows['mevis']['items'] + 3 * rows['ytvos']['items']
    assert sum(r['official_never_drawn'] for r in rows.values()) == missing
    assert rows['ytvos']['official_never_drawn'] == rows['ytvos']['samples']


def test_1b_video_sources_on_the_demo_data(demo_dir, capsys, monkeypatch):
    monkeypatch.chdir(demo_dir)
    stats = run([MIXTURE_1B_DEMO, '--max-samples', '2'], capsys)
    rows = {r['name']: r for r in stats['sources']}
    assert list(rows) == ['mevis', 'ref_ytvos', 'sama239k_conversation', 'sama239k_description']
    videos = {'mevis': 'mevis/train/meta_expressions.json',
              'ref_ytvos': 'rvos/meta_expressions/train/meta_expressions.json'}
    for name, meta in videos.items():
        with open(demo_dir / 'data' / 'demo' / meta) as f:
            n_videos = len(json.load(f)['videos'])
        # the official referring-VOS sample: one per video and repeat, five expressions, one [SEG] each
        assert rows[name]['items'] == n_videos and rows[name]['samples'] == 4 * n_videos
        assert rows[name]['seg_per_sample'] == rows[name]['rounds_per_sample'] == 5
    assert rows['sama239k_description']['seg_per_sample'] == 0
    assert stats['samples_per_iter'] == 16 and stats['accumulative_counts'] == 4


def test_estimates_from_item_counts(capsys):
    sizes = dict(refcoco=10, **{'refcoco+': 10}, refcocog=10, llava665k=100, mevis=7, revos=5, ref_ytvos=3,
                 chatunivi=20, ref_sav=11, gcg_openpsg=1, gcg_grandf=1, gcg_flickr=1, gcg_refcocog=1,
                 osprey_conversation=1, osprey_detail_description=1, osprey_part_level=1, osprey_short_form=1,
                 osprey_lvis_positive_negative=1, sama239k_conversation=400, sama239k_description=300)
    stats = run([MIXTURE_1B, '--sizes', *[f'{k}={v}' for k, v in sizes.items()]], capsys)
    rows = {r['name']: r for r in stats['sources']}
    assert rows['ref_sav']['samples'] == 44 and rows['chatunivi']['samples'] == 20
    assert all(r['estimated'] and 'measured' not in r for r in rows.values())
    never = 3 * 7 + 9 * 5 + 3 * 3 + 3 * 11
    assert rows['sama239k_description']['official_never_drawn'] == never
    assert sum(r['official_never_drawn'] for r in rows.values()) == never
    assert stats['samples_per_iter'] == 16 and stats['accumulative_counts'] == 4


def test_unknown_source_name_is_an_error():
    with pytest.raises(SystemExit, match='unknown sources'):
        mixture_stats.main([MIXTURE_1B, '--sizes', 'nope=3'])
