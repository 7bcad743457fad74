"""MMEngine's checkpoint loading (``load_from``, ``tools/test.py CHECKPOINT``) reads converted safetensors weights."""
import pytest
import torch

from sama_mm.engine.checkpoint import register_safetensors_loading


@pytest.fixture
def state():
    generator = torch.Generator().manual_seed(0)
    return {'backbone.proj.weight': torch.randn(3, 4, generator=generator),
            'seg_head.mask.bias': torch.randn(5, generator=generator),
            'neck.step': torch.tensor(7)}


def assert_same(loaded, state):
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_folder_file_shards_and_pth_through_the_runner_loader(tmp_path, state):
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

    from sama_mm.apis.convert import save_sharded
    from sama_mm.utils.weights import save_safetensors
    register_safetensors_loading()
    single = tmp_path / 'single'
    save_safetensors(state, str(single / 'model.safetensors'))
    sharded = tmp_path / 'sharded'
    sharded.mkdir()
    assert len(save_sharded(state, str(sharded), max_shard_bytes=40)) > 1
    for path in (single, single / 'model.safetensors', sharded):
        assert_same(_load_checkpoint(str(path), map_location='cpu')['state_dict'], state)
    # Every other path still goes to MMEngine's own loader (torch.load): the whole checkpoint comes back.
    pth = tmp_path / 'run.pth'
    torch.save(dict(state_dict=state, meta=dict(iter=3)), pth)
    loaded = _load_checkpoint(str(pth), map_location='cpu')
    assert loaded['meta'] == dict(iter=3)
    assert_same(loaded['state_dict'], state)
    with pytest.raises(FileNotFoundError, match='neither'):
        _load_checkpoint(str(tmp_path), map_location='cpu')  # a folder without weights
    # Registering again keeps one wrapper around MMEngine's loader.
    loader = CheckpointLoader._schemes['']
    register_safetensors_loading()
    assert CheckpointLoader._schemes[''] is loader


def test_load_from_a_converted_folder_in_a_training_run(tmp_path):
    """tools/train.py with ``load_from`` = a safetensors folder starts from exactly those weights."""
    from tests.conftest import run_tool

    from sama_mm.utils.weights import read_checkpoint, save_safetensors
    toy = 'tests/data/configs/toy_regression.py'
    first = tmp_path / 'first'
    run_tool('tools/train.py', toy, '--work-dir', first, '--cfg-options', 'train_cfg.max_iters=4', check=True)
    weights = read_checkpoint(str(first / 'iter_4.pth'))
    folder = tmp_path / 'converted'
    save_safetensors({k: v + 1 for k, v in weights.items()}, str(folder / 'model.safetensors'))
    second = tmp_path / 'second'
    proc = run_tool('tools/train.py', toy, '--work-dir', second, '--cfg-options', 'train_cfg.max_iters=4',
                    'optim_wrapper.optimizer.lr=0', f'load_from={folder}', check=True)
    assert f'Load checkpoint from {folder}' in proc.stdout + proc.stderr
    # With a zero learning rate the run ends on the weights it loaded.
    assert_same(read_checkpoint(str(second / 'iter_4.pth')), {k: v + 1 for k, v in weights.items()})


def test_resume_from_released_weights_is_refused(tmp_path):
    from tools.train import build_cfg, parse_args
    folder = tmp_path / 'converted'
    folder.mkdir()
    with pytest.raises(SystemExit, match='resuming needs a training checkpoint'):
        build_cfg(parse_args(['tests/data/configs/toy_regression.py', '--resume', str(folder)]))
