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
from tests.conftest import HANG_TIMEOUT, REPO_ROOT, run_tool

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
    overfit_answer(inferencer, video, [(QUESTION, ANSWER), (QUESTION2, ANSWER2)], max_steps=120, lr=6e-3)
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
                          cwd=REPO_ROOT, timeout=HANG_TIMEOUT)
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


@pytest.fixture()
def small_clip(tmp_path):
    return write_frame_folder(str(tmp_path / 'clip'), num_frames=4)


def test_failed_question_keeps_the_finished_turns(small_clip, tmp_path, monkeypatch, capsys):
    """Question 3 of 3 fails: turns 1 and 2 are already in answers.json / masks.json, the overlay is written and
    the error names the question and says the turns are saved."""
    from sama_mm.apis import ChatSession
    questions = tmp_path / 'q.txt'
    questions.write_text('What is it?\nAnd then?\nWhere to?\n')
    out = tmp_path / 'out'
    real_ask, calls = ChatSession.ask, []

    def ask(self, question, **kwargs):
        calls.append(question)
        if len(calls) == 3:
            saved = json.load(open(out / 'answers.json'))  # written as soon as turn 2 was done
            assert [t['question'] for t in saved['turns']] == ['What is it?', 'And then?']
            raise RuntimeError('CUDA out of memory')
        return real_ask(self, question, **kwargs)

    monkeypatch.setattr(ChatSession, 'ask', ask)
    with pytest.raises(SystemExit) as exc:
        _load_chat().main([small_clip, '--config', TINY_CONFIG, '--questions', str(questions), '--out', str(out),
                           '--max-new-tokens', '3', '--quiet'])
    message = str(exc.value.code)
    assert message.startswith('error: question 3 failed (RuntimeError: CUDA out of memory); the 2 earlier turn(s) '
                              f'are saved in {out} (answers.json, masks.json, overlay.mp4)'), message
    assert len(json.load(open(out / 'answers.json'))['turns']) == 2
    assert json.load(open(out / 'masks.json'))['num_frames'] == 4
    assert osp.getsize(out / 'overlay.mp4') > 0
    assert not [p for p in out.iterdir() if p.name.startswith('.partial-')]


def test_force_removes_only_this_tools_old_files(small_clip, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    for name in ('overlay.gif', 'answers.json', 'overlay.mp4', '.partial-masks.json', 'notes.txt'):
        (out / name).write_text('from an earlier run')
    questions = tmp_path / 'q.txt'
    questions.write_text('What is it?\n')
    args = [small_clip, '--config', TINY_CONFIG, '--questions', str(questions), '--out', str(out),
            '--max-new-tokens', '3', '--quiet']
    with pytest.raises(SystemExit, match='is not empty; pass --force'):
        _load_chat().main(args)
    _load_chat().main(args + ['--force'])
    assert sorted(p.name for p in out.iterdir()) == ['answers.json', 'masks.json', 'notes.txt', 'overlay.mp4']
    assert (out / 'notes.txt').read_text() == 'from an earlier run'
    assert json.load(open(out / 'answers.json'))['turns'][0]['question'] == 'What is it?'
    assert ('--force: removed answers.json, .partial-masks.json, overlay.mp4, overlay.gif of an earlier run'
            in capsys.readouterr().out)


@pytest.mark.parametrize('value', ['0', '-3'])
def test_non_positive_max_new_tokens_is_refused(value, capsys):
    with pytest.raises(SystemExit):
        _load_chat().parse_args(['video.mp4', '--config', TINY_CONFIG, '--max-new-tokens', value])
    assert (f'argument --max-new-tokens: must be a positive integer (the most tokens an answer may have), got '
            f'{int(value)}') in capsys.readouterr().err


def test_overlay_of_an_odd_sized_video_keeps_every_pixel(tmp_path):
    """333x187 frames: the mp4 is padded to 334x188 (4:2:0 needs even sizes) with the frame at its top-left; the
    gif keeps 333x187."""
    import cv2
    from PIL import Image

    from sama_mm.visualization import write_overlay_video
    frames = np.zeros((3, 187, 333, 3), np.uint8)
    frames[:, :, 330:] = 255  # a white band in the last columns: cropping would lose it
    track = np.zeros((3, 187, 333), bool)
    write_overlay_video(lambda idx: frames[idx], 3, [track], ['x'], str(tmp_path / 'o.mp4'),
                        gif_path=str(tmp_path / 'o.gif'))
    cap = cv2.VideoCapture(str(tmp_path / 'o.mp4'))
    ok, frame = cap.read()
    assert ok and frame.shape == (188, 334, 3)
    assert frame[:187, 331].min() > 200 and frame[:180, 333].max() < 60  # the band kept, then the black pad
    assert Image.open(tmp_path / 'o.gif').size == (333, 187)
