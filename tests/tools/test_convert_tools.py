"""tools/convert/from_hf.py and to_hf.py on a fake released folder (command line)."""
import json
import os.path as osp

import pytest
import torch

from sama_mm.utils.weights import read_safetensors_folder
from tests.conftest import run_tool


@pytest.fixture(scope='module')
def released(tmp_path_factory):
    from sama_mm.apis.convert import hf_config_from_model, our_key_to_released, rename_state, save_sharded
    from tests.apis.test_convert import _build, _tiny_cfg
    model = _build(_tiny_cfg(neck=False))
    src = tmp_path_factory.mktemp('released') / 'Sa2VA_tiny'
    src.mkdir()
    state = rename_state(model.state_dict(), our_key_to_released)
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
    save_sharded(state, str(src), max_shard_bytes=40 * 1024**2)
    config = dict(hf_config_from_model(model), torch_dtype='bfloat16')
    (src / 'config.json').write_text(json.dumps(config))
    model.backbone.tokenizer.save_pretrained(str(src))
    return str(src), state


@pytest.mark.slow
def test_convert_command_lines_round_trip(released, tmp_path):
    src, state = released
    ours, back = str(tmp_path / 'ours'), str(tmp_path / 'back')
    proc = run_tool('tools/convert/from_hf.py', src, ours, '--sam2-image-size', '256', check=True)
    assert 'verified: strict load' in proc.stdout
    assert osp.isfile(osp.join(ours, 'sama_mm_config.json')) and not osp.exists(osp.join(ours, 'config.py'))
    proc = run_tool('tools/convert/from_hf.py', src, ours)
    assert proc.returncode != 0 and 'not empty' in proc.stderr
    run_tool('tools/convert/to_hf.py', ours, back, '--max-shard-gb', '0.04', check=True)
    again = read_safetensors_folder(back)
    assert sorted(again) == sorted(state)
    assert all(torch.equal(again[k], v) for k, v in state.items())
    assert json.load(open(osp.join(back, 'config.json'))) == json.load(open(osp.join(src, 'config.json')))
