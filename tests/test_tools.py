"""tools/train.py and tools/test.py: MMDetection-shaped CLIs driving the MMEngine Runner."""
import json
import pickle

import pytest
import torch

from sama_mm.engine.checkpoint import trusted_checkpoint_loading
from tests.conftest import run_tool

TOY = 'tests/data/configs/toy_regression.py'


@pytest.mark.slow
def test_train_resume_and_test(tmp_path):
    work = tmp_path / 'work'
    run_tool('tools/train.py', TOY, '--work-dir', work, check=True)
    assert {p.name for p in work.glob('iter_*.pth')} == {'iter_4.pth', 'iter_8.pth'}
    first = torch.load(work / 'iter_8.pth', map_location='cpu', weights_only=False)
    assert first['meta']['iter'] == 8

    resumed = run_tool('tools/train.py', TOY, '--work-dir', work, '--resume', '--cfg-options',
                       'train_cfg.max_iters=12', check=True)
    assert 'Auto resumed from the latest checkpoint' in resumed.stdout + resumed.stderr
    final = torch.load(work / 'iter_12.pth', map_location='cpu', weights_only=False)
    assert final['meta']['iter'] == 12
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_12.pth')
    # Training went on from iteration 8, not from scratch.
    log = resumed.stdout + resumed.stderr
    assert 'Iter(train) [10/12]' in log and 'Iter(train) [ 2/12]' not in log

    out = tmp_path / 'metrics.json'
    run_tool('tools/test.py', TOY, work / 'iter_12.pth', '--work-dir', work, '--out', out, check=True)
    metrics = json.loads(out.read_text())
    assert 0 <= metrics['mae'] < 1.0
    again = run_tool('tools/test.py', TOY, work / 'iter_12.pth', '--work-dir', work, '--out', out)
    assert again.returncode != 0 and 'refusing to overwrite' in again.stderr


def test_train_cli_flags_reach_the_config(tmp_path):
    from tools.train import build_cfg, parse_args
    args = parse_args([TOY, '--amp', '--resume', 'ckpt.pth', '--cfg-options', 'train_cfg.max_iters=3',
                       '--work-dir', str(tmp_path)])
    cfg = build_cfg(args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.resume is True and cfg.load_from == 'ckpt.pth'
    assert cfg.train_cfg.max_iters == 3 and cfg.work_dir == str(tmp_path)
    default = build_cfg(parse_args([TOY]))
    assert default.work_dir.endswith('work_dirs/toy_regression') and default.resume is False


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ('echo pwned',))


def test_trusted_loading_still_rejects_foreign_code(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'state_dict': {}, 'x': _Evil()}, f)
    with trusted_checkpoint_loading(), pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu')


@pytest.mark.slow
def test_demo_model_trains_evaluates_and_writes_a_submission(demo_root, tmp_path):
    """The tiny SAMA through tools/train.py and tools/test.py: J&F on MeViS valid_u, then a server zip."""
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'demo').symlink_to(demo_root)
    from tests.conftest import REPO_ROOT
    config = f'{REPO_ROOT}/configs/demo/sama_tiny_demo.py'
    work = tmp_path / 'work'
    run_tool(f'{REPO_ROOT}/tools/train.py', config, '--work-dir', work, '--cfg-options',
             'train_cfg.max_iters=2', 'train_cfg.val_interval=100', cwd=tmp_path, check=True)
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file()
    metrics = tmp_path / 'metrics.json'
    run_tool(f'{REPO_ROOT}/tools/test.py', config, ckpt, '--work-dir', work, '--out', metrics, cwd=tmp_path,
             check=True)
    values = json.loads(metrics.read_text())
    assert set(values) >= {'rvos/J', 'rvos/F', 'rvos/J&F'} and 0 <= values['rvos/J&F'] <= 100
    submission = tmp_path / 'submission'
    run_tool(f'{REPO_ROOT}/tools/test.py', config, ckpt, '--work-dir', work, '--format-only', '--out', submission,
             cwd=tmp_path, check=True)
    import zipfile
    with zipfile.ZipFile(f'{submission}.zip') as zf:
        names = zf.namelist()
    # Ref-YouTube-VOS layout: Annotations/<video>/<expression>/<frame>.png for every frame of every expression.
    meta = json.loads((demo_root / 'mevis' / 'valid_u' / 'meta_expressions.json').read_text())['videos']
    expected = sum(len(v['expressions']) * len(v['frames']) for v in meta.values())
    assert len(names) == expected and all(n.startswith('Annotations/') and n.endswith('.png') for n in names)
