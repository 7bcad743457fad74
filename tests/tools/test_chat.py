"""tools/chat.py: scripted mode on a demo video writes answers, RLE masks and a readable overlay video."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch

from sama_mm.apis import SAMAInferencer
from sama_mm.structures import decode_rle
from tests.apis.helpers import TINY_CONFIG, build_tiny_model, overfit_answer, write_frame_folder
from tests.conftest import REPO_ROOT, run_tool

QUESTION = 'Please segment the red circle and the square.'
ANSWER = '<p>circle</p> [SEG] and <p>square</p> [SEG].'
QUESTION2 = 'What else?'
ANSWER2 = 'Nothing else.'


def _load_chat():
    spec = importlib.util.spec_from_file_location('chat_tool', osp.join(REPO_ROOT, 'tools', 'chat.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def trained_checkpoint(tmp_path_factory, demo_root):
    """The tiny model taught (a few LM steps) to answer QUESTION about a demo video with two [SEG]."""
    model, cfg = build_tiny_model(seed=0)
    inferencer = SAMAInferencer.from_model(model, cfg)
    video = str(demo_root / 'videos' / 'bikes_a.mp4')
    overfit_answer(inferencer, video, [(QUESTION, ANSWER), (QUESTION2, ANSWER2)], steps=40, lr=6e-3)
    from sama_mm.utils.weights import save_safetensors
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.safetensors')
    save_safetensors(model.state_dict(), path)
    return path, video


@pytest.mark.slow
def test_chat_scripted_writes_answers_rle_and_overlay(trained_checkpoint, tmp_path, capsys):
    ckpt, video = trained_checkpoint
    questions = tmp_path / 'questions.txt'
    questions.write_text(QUESTION + '\n\n' + QUESTION2 + '\n')
    out = tmp_path / 'out'
    chat = _load_chat()
    results = chat.main([video, '--config', TINY_CONFIG, '--checkpoint', ckpt, '--questions', str(questions),
                         '--out', str(out), '--gif', '--max-new-tokens', '16'])
    assert len(results) == 2
    first = results[0]
    assert first.answer.startswith('<p>circle</p> [SEG] and <p>square</p> [SEG]') and first.num_objects == 2

    answers = json.load(open(out / 'answers.json'))
    assert [t['question'] for t in answers['turns']] == [QUESTION, QUESTION2]
    assert answers['turns'][0]['answer'] == first.answer
    assert results[1].answer == ANSWER2 and results[1].num_objects == 0
    assert answers['turns'][0]['objects'] == ['T1.1 circle', 'T1.2 square']
    num_frames = answers['num_frames']
    assert num_frames == 24

    masks = json.load(open(out / 'masks.json'))
    objects = [o for o in masks['objects'] if o['turn'] == 0]
    assert len(objects) == 2
    for k, obj in enumerate(objects):
        assert len(obj['rle']) == num_frames
        decoded = np.stack([decode_rle(r) for r in obj['rle']])
        assert np.array_equal(decoded.astype(bool), first.masks[k].numpy())
    total = sum(len(r.masks) for r in results)
    assert len(masks['objects']) == total

    from sama_mm.datasets.decord_backend import decord
    reader = decord.VideoReader(str(out / 'overlay.mp4'))
    assert len(reader) == num_frames
    assert tuple(reader[0].shape) == (*answers['ori_shape'], 3)
    assert osp.getsize(out / 'overlay.gif') > 0

    # A second run refuses the non-empty folder (before building anything), and --region needs the neck.
    proc = run_tool('tools/chat.py', video, '--config', TINY_CONFIG, '--questions', str(questions), '--out',
                    str(out))
    assert proc.returncode != 0 and 'not empty' in proc.stderr and '--force' in proc.stderr
    proc = run_tool('tools/chat.py', video, '--config', TINY_CONFIG, '--questions', str(questions),
                    '--region', '0:1,2,30,40')
    assert proc.returncode != 0 and 'neck' in proc.stderr


def test_chat_interactive_stdin_and_bad_region(tmp_path):
    video = write_frame_folder(str(tmp_path / 'clip'), num_frames=5)
    import subprocess
    import sys
    env_cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'chat.py'), video, '--config', TINY_CONFIG,
               '--max-new-tokens', '4', '--quiet']
    proc = subprocess.run(env_cmd, input='Hello?\nAnd?\nexit\nnot asked\n', capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '[turn 1] Q: Hello?' in proc.stdout and '[turn 2] Q: And?' in proc.stdout
    assert 'not asked' not in proc.stdout
    proc = run_tool('tools/chat.py', video, '--config', TINY_CONFIG, '--region', '0:5,5,1,1')
    assert proc.returncode != 0 and 'x2 > x1' in proc.stderr


def test_overlay_labels_and_phrases():
    from sama_mm.visualization import overlay_frame, seg_phrases
    assert seg_phrases('<p>a cat</p> [SEG] and [SEG], <p>x</p><p>dog</p>[SEG]') == ['a cat', '', 'dog']
    frame = np.zeros((20, 30, 3), np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:10] = True
    out = overlay_frame(frame, [mask], ['obj'])
    assert out[7, 7].any() and not out[0, 29].any()
    assert torch.is_tensor(torch.from_numpy(out))
