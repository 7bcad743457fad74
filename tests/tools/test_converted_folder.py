"""The tiny demo SAMA through to_hf.py -> from_hf.py, then chat.py and test.py on the converted folder alone."""
import json
import os.path as osp

import pytest
import torch

from tests.apis.helpers import SAMA_TINY_CONFIG, write_frame_folder
from tests.conftest import REPO_ROOT, run_tool


@pytest.mark.slow
def test_round_trip_folder_chats_and_tests_with_the_source_settings(demo_root, tmp_path):
    from mmengine.config import Config

    from sama_mm.apis.convert import build_model, load_converted_config
    from sama_mm.apis.inference import chat_cfg_from_config
    torch.manual_seed(0)
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=build_model(SAMA_TINY_CONFIG).state_dict(), meta=dict()), ckpt)
    hf, ours = tmp_path / 'hf', tmp_path / 'ours'
    run_tool('tools/convert/to_hf.py', tmp_path, hf, '--config', SAMA_TINY_CONFIG, '--checkpoint', ckpt, check=True)
    proc = run_tool('tools/convert/from_hf.py', hf, ours, '--sam2-image-size', '256', '--qformer-heads', '2',
                    check=True)
    assert '(recorded)' in proc.stdout and 'verified: strict load' in proc.stdout
    assert not osp.exists(ours / 'config.py')
    # The settings are the source config's, not the release defaults (32 frames, 5 dense, 8192 tokens...).
    source, converted = Config.fromfile(SAMA_TINY_CONFIG), load_converted_config(str(ours))
    assert chat_cfg_from_config(converted) == chat_cfg_from_config(source)
    assert chat_cfg_from_config(converted)['max_frames'] == 8 and converted.model.max_new_tokens == 16
    record = json.loads((ours / 'sama_mm_config.json').read_text())
    assert record['model']['backbone']['tokenizer'] == dict(type='AutoTokenizer',
                                                            pretrained_model_name_or_path='{{ fileDirname }}')

    # chat.py with the folder alone answers exactly as the source config with the .pth.
    clip = write_frame_folder(str(tmp_path / 'clip'), num_frames=8)
    questions = tmp_path / 'q.txt'
    questions.write_text('What is <mask> doing?\nPlease segment the square.\n')
    common = ['--questions', questions, '--region', '2:5,5,30,30', '--quiet', '--max-new-tokens', '6']
    folder_run = run_tool('tools/chat.py', clip, '--checkpoint', ours, *common, check=True)
    source_run = run_tool('tools/chat.py', clip, '--config', SAMA_TINY_CONFIG, '--checkpoint', ckpt, *common,
                          check=True)

    def answers(proc):
        return [line.split(' (')[0] for line in proc.stdout.splitlines() if line.startswith('[turn')]

    assert answers(folder_run) and answers(folder_run) == answers(source_run)

    # test.py with the folder as CONFIG (and CHECKPOINT) evaluates the recorded test set.
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'demo').symlink_to(demo_root)
    out = tmp_path / 'metrics' / 'm.json'
    run_tool(f'{REPO_ROOT}/tools/test.py', ours, '--work-dir', tmp_path / 'work', '--out', out, cwd=tmp_path,
             check=True)
    assert set(json.loads(out.read_text())) >= {'rvos/J', 'rvos/F', 'rvos/J&F'}
