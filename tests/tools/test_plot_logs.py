"""tools/analysis/plot_logs.py, and TensorBoard logging as configs/_base_/default_runtime.py documents it."""
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_tool
from tools.analysis.plot_logs import load_scalars, main, moving_average, plot_logs


def _write_scalars(path, losses, metric):
    """A scalars.json in MMEngine's format: training lines with "iter", one evaluation line between them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, loss in enumerate(losses, 1):
        rows.append(dict(lr=0.1, data_time=0.004, loss=loss, loss_mask=loss / 2, time=0.005, iter=2 * k, step=2 * k))
        if k == len(losses) // 2:
            rows.append(dict(mae=metric, data_time=0.0006, time=0.001, step=0))
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def _is_png_with_ink(path):
    with Image.open(path) as img:
        assert img.format == 'PNG'
        pixels = np.asarray(img.convert('L'))
    return pixels.min() < 128 and pixels.shape[0] > 100


def test_plots_two_runs_and_a_work_dir(tmp_path):
    a = _write_scalars(tmp_path / 'run_a' / '20260101_000000' / 'vis_data' / 'scalars.json', [1.5, 1.1, 0.8, 0.7], 0.4)
    b = _write_scalars(tmp_path / 'b.json', [1.6, 1.0, 0.9, 0.5], 0.3)
    train, evals = load_scalars(str(a))
    assert [r['iter'] for r in train] == [2, 4, 6, 8] and [r['mae'] for r in evals] == [0.4]
    out = tmp_path / 'out' / 'curves.png'
    # A work directory stands for its newest */vis_data/scalars.json.
    assert plot_logs([str(tmp_path / 'run_a'), str(b)], str(out), legend=['a', 'b'], smooth=2) == ['loss', 'loss_mask']
    assert _is_png_with_ink(out)
    assert main([str(a), '--keys', 'loss', 'mae', 'lr', '--out', str(tmp_path / 'm.png')]) == 0
    assert _is_png_with_ink(tmp_path / 'm.png')
    assert moving_average([1.0, 3.0, 5.0], 2) == [1.0, 2.0, 4.0]


def test_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / 'scalars.json'
    bad.write_text('{"loss": 1, "iter": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'scalars.json:2: not a JSON line'):
        plot_logs([str(bad)], str(tmp_path / 'x.png'))
    good = _write_scalars(tmp_path / 'good.json', [1.0, 0.5], 0.1)
    assert main([str(good), '--keys', 'nonesuch', '--out', str(tmp_path / 'x.png')]) == 1
    assert 'nonesuch' in capsys.readouterr().err and not (tmp_path / 'x.png').exists()
    assert main([str(tmp_path / 'missing_dir'), '--out', str(tmp_path / 'x.png')]) == 1
    assert 'missing_dir' in capsys.readouterr().err


@pytest.mark.slow
def test_tensorboard_run_writes_event_files_and_plots(tmp_path):
    pytest.importorskip('tensorboard')
    work = tmp_path / 'work'
    run_tool('tools/train.py', 'tests/data/configs/toy_tensorboard.py', '--work-dir', work, check=True)
    (vis,) = work.glob('*/vis_data')
    events = list(vis.glob('events.out.tfevents.*'))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(vis))
    acc.Reload()
    assert 'loss' in acc.Tags()['scalars']
    assert [e.step for e in acc.Scalars('loss')] == [2, 4, 6, 8]
    out = tmp_path / 'curves.png'
    run_tool('tools/analysis/plot_logs.py', work, '--keys', 'loss', 'mae', '--out', out, check=True)
    assert _is_png_with_ink(out)
