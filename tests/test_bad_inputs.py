"""Bad input across the public surface: each case gives a clear error naming the key / file / record, and
leaves what the user already had untouched.

Covered: configs (unknown key in a model, dataset, transform or metric; wrong value types; a missing config, a
syntax error; a missing or broken checkpoint) through ``tools/train.py``, ``tools/test.py``,
``tools/check_dataset.py``, ``tools/chat.py`` and :class:`~sama_mm.apis.SAMAInferencer`; inference on unreadable,
empty and missing videos, regions outside the frame / empty / on a frame that does not exist, empty questions
and ``<mask>`` counts that differ from the regions, through ``tools/chat.py`` and :class:`~sama_mm.apis.ChatSession`;
evaluation with prediction sets that do not match the ground truth, unreadable PNGs and mismatched mask sizes
(``tools/eval_masks.py``), caption ids that do not match (``tools/eval_captions.py``) and the metrics.

Every CLI case checks the one-line ``error: ...`` message (no traceback) and a sentinel output folder or file
that must come out byte-for-byte unchanged.
"""
import importlib.util
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from tests.apis.helpers import SAMA_TINY_CONFIG, TINY_CONFIG, write_frame_folder
from tests.conftest import REPO_ROOT, run_tool

DEMO = SAMA_TINY_CONFIG  # the tiny SAMA demo config: model with the neck, datasets, transforms, a metric


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(f'bad_inputs_{name}', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(path):
    """``{relative path: (bytes, mtime_ns)}`` of a file or of every file below a folder (None if absent)."""
    path = str(path)
    if not osp.exists(path):
        return None
    if osp.isfile(path):
        return {'': (open(path, 'rb').read(), os.stat(path).st_mtime_ns)}
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = osp.join(root, name)
            out[osp.relpath(full, path)] = (open(full, 'rb').read(), os.stat(full).st_mtime_ns)
    return out


@pytest.fixture(autouse=True)
def _keep_excepthook(monkeypatch):
    """tools/train.py and tools/test.py install their user-error hook; the test process keeps its own."""
    monkeypatch.setattr(sys, 'excepthook', sys.excepthook)


@pytest.fixture
def sentinel_dir(tmp_path):
    """An output folder that already holds a user's results (must stay unchanged)."""
    out = tmp_path / 'existing_out'
    out.mkdir()
    (out / 'answers.json').write_text('{"mine": true}')
    (out / 'notes.txt').write_text('keep me')
    return out


def exit_message(excinfo) -> str:
    code = excinfo.value.code
    assert code not in (0, None), 'a user error must exit non-zero'
    return str(code)


# ================================================================================================ configs
# (cfg-option, expected fragments of the message): each names the config path of the key and the class.
CONFIG_CASES = {
    'model: unknown key': ('model.neck.hiden_size=8', ['model.neck.hiden_size', "unknown key 'hiden_size'",
                                                       'STAggregator']),
    'dataset: unknown key': ('train_dataloader.dataset.datasets.0.ann_fle=x.json',
                             ['train_dataloader.dataset.datasets.0.ann_fle', 'SAMA239KDataset',
                              "did you mean 'ann_file'"]),
    'transform: unknown key': ('train_dataloader.dataset.datasets.1.pipeline.1.intervall=2',
                               ['train_dataloader.dataset.datasets.1.pipeline.1.intervall', 'SampleFrames',
                                "did you mean 'interval'"]),
    'metric: unknown key': ('val_evaluator.mask_fle=x.json', ['val_evaluator.mask_fle', 'RVOSMetric',
                                                             "did you mean 'mask_file'"]),
    'model: str for int': ('model.max_new_tokens=many', ['model.max_new_tokens', 'SAMA expects int',
                                                         "got str 'many'"]),
    'dataset: list for dict': ('train_dataloader.dataset.datasets.1.data_prefix=[a,b]',
                               ['train_dataloader.dataset.datasets.1.data_prefix', 'expects dict or None',
                                'got list']),
    'transform: str for int': ('val_dataloader.dataset.pipeline.1.max_frames=eight',
                               ['val_dataloader.dataset.pipeline.1.max_frames', 'SampleFrames expects int']),
    'loop: str for int': ('train_cfg.max_iters=abc', ['train_cfg.max_iters', 'IterBasedTrainLoop expects int']),
}


@pytest.mark.parametrize('case', list(CONFIG_CASES))
def test_train_rejects_bad_config_before_touching_the_work_dir(case, tmp_path, sentinel_dir):
    from tools.train import main as train_main
    option, fragments = CONFIG_CASES[case]
    before = snapshot(sentinel_dir)
    with pytest.raises(SystemExit) as info:
        train_main([DEMO, '--work-dir', str(sentinel_dir), '--cfg-options', option])
    message = exit_message(info)
    assert message.startswith('error: ') and '\n' not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert snapshot(sentinel_dir) == before


def test_config_files_missing_or_broken(tmp_path, sentinel_dir, capsys):
    from tools.test import main as test_main
    from tools.train import main as train_main
    check_dataset = _load_tool('check_dataset')
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type="SAMA",\n    backbone=dict(\n')
    missing = str(tmp_path / 'nowhere.py')
    before = snapshot(sentinel_dir)
    for run in (lambda c: train_main([c, '--work-dir', str(sentinel_dir)]),
                lambda c: test_main([c, str(tmp_path / 'x.pth'), '--work-dir', str(sentinel_dir)])):
        with pytest.raises(SystemExit) as info:
            run(missing)
        assert exit_message(info) == f'error: {missing}: config file not found'
        with pytest.raises(SystemExit) as info:
            run(str(broken))
        message = exit_message(info)
        assert message.startswith(f'error: {broken}, line ') and 'syntax error' in message
    # tools/test.py: a checkpoint that does not exist, before the Runner is built.
    with pytest.raises(SystemExit) as info:
        test_main([DEMO, str(tmp_path / 'missing.pth'), '--work-dir', str(sentinel_dir)])
    assert exit_message(info) == f'error: {tmp_path / "missing.pth"}: checkpoint not found'
    # tools/check_dataset.py: the same messages, exit status 1.
    assert check_dataset.main([missing]) == 1
    assert f'error: {missing}: config file not found' in capsys.readouterr().err
    assert check_dataset.main([DEMO, '--split', 'val', '--cfg-options', 'val_dataloader.dataset.ann_fle=x']) == 1
    err = capsys.readouterr().err
    assert "error: val_dataloader.dataset.ann_fle: unknown key 'ann_fle' for RefVOSDataset" in err
    assert snapshot(sentinel_dir) == before


def test_test_tool_bad_checkpoint_and_existing_submission(tmp_path, sentinel_dir):
    """tools/test.py: a junk checkpoint (.pth, .safetensors, folder) is one line naming it; --format-only refuses an existing submission
    before any inference."""
    from tools.test import main as test_main
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a checkpoint at all')
    before = snapshot(sentinel_dir)
    with pytest.raises(SystemExit) as info:
        test_main([DEMO, str(junk), '--work-dir', str(tmp_path / 'work')])
    assert exit_message(info).startswith(f'error: {junk}: cannot read the checkpoint: ')
    # Released-format weights take the safetensors reader: a broken file or a folder without weights is one line.
    junk_weights = tmp_path / 'junk.safetensors'
    junk_weights.write_bytes(b'not safetensors either')
    for bad in (junk_weights, tmp_path):
        with pytest.raises(SystemExit) as info:
            test_main([DEMO, str(bad), '--work-dir', str(tmp_path / 'work')])
        assert exit_message(info).startswith(f'error: {bad}: cannot read the checkpoint: ')
    submission_config = osp.join(REPO_ROOT, 'configs', 'sama', 'sama_1b_test_mevis_valid.py')
    with pytest.raises(SystemExit) as info:
        test_main([submission_config, str(junk), '--format-only', '--out', str(sentinel_dir),
                   '--work-dir', str(tmp_path / 'work2')])
    message = exit_message(info)
    assert message.startswith(f'error: {sentinel_dir} already exist(s); refusing to overwrite a submission')
    assert not (tmp_path / 'work2').exists()
    assert snapshot(sentinel_dir) == before


def test_shipped_configs_pass_the_check():
    """The check knows the signatures well enough not to reject any config the repository ships."""
    import glob

    from mmengine.config import Config

    from sama_mm.utils.config_check import check_config
    paths = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'demo', '*.py')) +
                   glob.glob(osp.join(REPO_ROOT, 'configs', 'sama', '*.py')))
    assert len(paths) >= 8
    for path in paths:
        check_config(Config.fromfile(path))


def test_config_check_details():
    """What the check decides on and what it leaves to the build."""
    from sama_mm.utils.config_check import ConfigError, accepted_arguments, check_config

    class Base:
        def __init__(self, a: int = 1):
            self.a = a

    class Child(Base):
        def __init__(self, b: str = 'x', **kwargs):
            super().__init__(**kwargs)

    class Keeper:
        def __init__(self, **kwargs):
            self.rest = kwargs

    params, _ = accepted_arguments(Child)
    assert set(params) == {'a', 'b'}  # **kwargs passed to the parent: the parent's names count
    assert accepted_arguments(Keeper) is None  # **kwargs kept for itself: unknown, left to the build
    check_config(dict(x=dict(type=Child, a=2.0, b='y')))  # numbers are numbers
    check_config(dict(x=dict(type=Child, a=None)))  # None placeholders are filled in by parents
    check_config(dict(x=dict(type=Keeper, anything=1)))
    check_config(dict(x=dict(type='NoSuchRegisteredName', anything=1)))  # the registry build reports it
    with pytest.raises(ConfigError, match=r"^x\.0\.c: unknown key 'c' for .*Child \(it accepts: a, b\)$"):
        check_config(dict(x=[dict(type=Child, c=1)]))
    with pytest.raises(ConfigError, match=r"^x\.b: .*Child expects str for 'b', got int 3$"):
        check_config(dict(x=dict(type=Child, b=3)))
    # MMEngine's builders take these out of the config before the call.
    check_config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1),
                                         paramwise_cfg=dict(norm_decay_mult=0.0)),
                      param_scheduler=[dict(type='LinearLR', start_factor=0.1, convert_to_iter_based=True)]))


# ================================================================================================ inference
@pytest.fixture(scope='module')
def tiny_inferencer():
    """The tiny SAMA (with the context-aggregator neck) at random weights."""
    import torch
    from mmengine.config import Config

    from sama_mm.apis import SAMAInferencer
    from sama_mm.registry import MODELS
    from sama_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(SAMA_TINY_CONFIG)
    torch.manual_seed(0)
    return SAMAInferencer.from_model(MODELS.build(cfg.model).eval(), cfg, max_new_tokens=2)


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    return write_frame_folder(str(tmp_path_factory.mktemp('clip') / 'frames'), num_frames=6)  # 6 frames, 56x40


def bad_videos(root):
    """``{case: (path, fragments of the error)}``: a corrupt mp4, an empty mp4, an empty frame folder, none."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    corrupt = osp.join(root, 'corrupt.mp4')
    with open(corrupt, 'wb') as f:
        f.write(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    empty = osp.join(root, 'empty.mp4')
    open(empty, 'wb').close()
    folder = osp.join(root, 'no_frames')
    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, 'readme.txt'), 'w') as f:
        f.write('not a frame')
    return {'corrupt video': (corrupt, ['[unreadable_video]', corrupt, 'cannot read it']),
            'zero-byte video': (empty, ['[unreadable_video]', empty, 'empty (0 bytes)']),
            'empty frame folder': (folder, ['[missing_frames]', folder, 'frame folder holds no images']),
            'missing video': (osp.join(root, 'nope.mp4'), ['nope.mp4', 'not found'])}


def test_session_rejects_unreadable_videos(tiny_inferencer, tmp_path):
    from sama_mm.datasets import DataError
    for case, (path, fragments) in bad_videos(tmp_path).items():
        with pytest.raises(DataError) as info:
            tiny_inferencer.open(path)
        for fragment in fragments:
            assert fragment in str(info.value), (case, str(info.value))
        assert info.value.file == path


# (question, regions, exception, fragment): every rejected question leaves the session as it was.
ASK_CASES = {
    'empty question': ('', None, ValueError, 'the question is empty'),
    'whitespace question': ('  \n\t', None, ValueError, 'the question is empty'),
    'not a string': (None, None, TypeError, 'must be a string, got NoneType'),
    'more <mask> than regions': ('Is <mask> left of <mask>?', [(0, (1, 1, 10, 10))], ValueError,
                                 'the question has 2 <mask> but 1 regions'),
    'fewer <mask> than regions': ('What is it?', [(0, (1, 1, 10, 10))], ValueError,
                                  'the question has 0 <mask> but 1 regions'),
    'box outside the frame': ('What is <mask>?', [(0, (100, 60, 200, 90))], ValueError,
                              'region 0 (frame 0): region box (100, 60, 200, 90) is outside the 56x40 (WxH) frame'),
    'degenerate box': ('What is <mask>?', [(0, (10, 10, 10, 30))], ValueError,
                       'region box (10, 10, 10, 30) is empty: x2 > x1 and y2 > y1 are required'),
    'NaN in box': ('What is <mask>?', [(0, (float('nan'), 1, 10, 10))], ValueError, 'non-finite coordinate'),
    'frame out of range': ('What is <mask>?', [(6, (1, 1, 10, 10))], ValueError,
                           'region 0: frame 6 is outside the video of 6 frames'),
    'negative frame': ('What is <mask>?', [(-1, (1, 1, 10, 10))], ValueError, 'frame -1 is outside'),
    'region not a pair': ('What is <mask>?', [(0, 1, 1, 10, 10)], ValueError,
                          'region 0: expected a (frame, prompt) pair'),
    'fractional frame': ('What is <mask>?', [(0.5, (1, 1, 10, 10))], ValueError,
                         'the frame index must be an integer, got 0.5'),
    'mask of another size': ('What is <mask>?', [(0, np.ones((3, 3), bool))], ValueError,
                             'region mask has shape (3, 3), the video is 40x56'),
    'prompt of unknown kind': ('What is <mask>?', [(0, 'the dog')], ValueError,
                               'a region prompt must be a box (x1, y1, x2, y2), a binary [H, W] mask'),
}


def test_session_rejects_bad_questions_and_regions(tiny_inferencer, clip):
    session = tiny_inferencer.open(clip)
    session.ask('Hello?', segment=False)  # one good turn first: rejected ones must not disturb it
    state = (len(session.turns), list(session.context_ids()))
    for case, (question, regions, exc_type, fragment) in ASK_CASES.items():
        with pytest.raises(exc_type) as info:
            session.ask(question, regions=regions, segment=False)
        assert fragment in str(info.value), (case, str(info.value))
        assert (len(session.turns), list(session.context_ids())) == state, case
    # Still usable afterwards.
    assert session.ask('What is <mask>?', regions=[(2, (5, 5, 30, 30))], segment=False).index == 1


def test_inferencer_config_and_checkpoint_errors(tmp_path):
    from mmengine.config import Config

    from sama_mm.apis import SAMAInferencer
    from sama_mm.utils.config_check import ConfigError
    with pytest.raises(ConfigError, match=r"^chat_cfg\.max_new_token: unknown inference setting 'max_new_token'; "
                                          r"did you mean 'max_new_tokens'"):
        SAMAInferencer(TINY_CONFIG, chat_cfg=dict(max_new_token=4))
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.seg_head.mask_treshold = 0.5
    with pytest.raises(ConfigError, match=r"^model\.seg_head\.mask_treshold: unknown key 'mask_treshold' for "
                                          r"SAM2SegHead; did you mean 'mask_threshold'"):
        SAMAInferencer(cfg)
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.chat_cfg = dict(intervall=2)
    with pytest.raises(ConfigError, match=r"^chat_cfg\.intervall: unknown inference setting"):
        SAMAInferencer(cfg)
    with pytest.raises(FileNotFoundError, match='nope.safetensors: checkpoint not found'):
        SAMAInferencer(TINY_CONFIG, str(tmp_path / 'nope.safetensors'))
    for name in ('junk.pth', 'junk.safetensors'):
        junk = tmp_path / name
        junk.write_bytes(b'\x00not a checkpoint\xff' * 10)
        with pytest.raises(ValueError, match=rf'{name}: cannot read the checkpoint: '):
            SAMAInferencer(TINY_CONFIG, str(junk))


# ================================================================================================ chat CLI
@pytest.fixture(scope='module')
def chat_tool():
    return _load_tool('chat')


def _questions(tmp_path, *lines):
    path = tmp_path / f'questions{len(list(tmp_path.glob("questions*.txt")))}.txt'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def test_chat_cli_bad_inputs_leave_out_untouched(chat_tool, clip, tmp_path, sentinel_dir):
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'garbage' * 20)
    q1 = _questions(tmp_path, 'What is <mask>?')
    videos = bad_videos(tmp_path / 'videos')
    cases = {
        'missing config': ([clip, '--config', str(tmp_path / 'no.py'), '--questions', q1],
                           [f'{tmp_path / "no.py"}: config file not found']),
        'config syntax error': ([clip, '--config', str(broken), '--questions', q1],
                                [f'{broken}, line', 'syntax error']),
        'missing checkpoint': ([clip, '--config', DEMO, '--checkpoint', str(tmp_path / 'no.pth')],
                               [f'{tmp_path / "no.pth"}: checkpoint not found']),
        'broken checkpoint': ([clip, '--config', DEMO, '--checkpoint', str(junk)],
                              [f'{junk}: cannot read the checkpoint']),
        'missing questions file': ([clip, '--config', DEMO, '--questions', str(tmp_path / 'q.txt')],
                                   ['q.txt: questions file not found']),
        'only blank questions': ([clip, '--config', DEMO, '--questions', _questions(tmp_path, '  ', '\t')],
                                 ['no question in the file']),
        'more <mask> than --region': ([clip, '--config', DEMO, '--questions',
                                       _questions(tmp_path, 'Is <mask> near <mask>?'), '--region', '0:1,1,9,9'],
                                      ['have 2 <mask> but 1 --region prompt(s)']),
        'region outside the frame': ([clip, '--config', DEMO, '--questions', q1, '--region', '0:100,60,200,90'],
                                     ['--region 0:100,60,200,90: region box', 'outside the 56x40 (WxH) frame']),
        'region frame out of range': ([clip, '--config', DEMO, '--questions', q1, '--region', '9:1,1,9,9'],
                                      ['--region 9:1,1,9,9: frame 9 is outside the video of 6 frames (0..5)']),
    }
    for case, (path, fragments) in videos.items():
        cases[case] = ([path, '--config', DEMO, '--questions', q1, '--region', '0:1,1,9,9'], fragments)
    before = snapshot(sentinel_dir)
    for case, (argv, fragments) in cases.items():
        with pytest.raises(SystemExit) as info:
            chat_tool.main(argv + ['--out', str(sentinel_dir), '--force', '--quiet', '--max-new-tokens', '2'])
        message = exit_message(info)
        assert message.startswith('error: ') and '\n' not in message, (case, message)
        for fragment in fragments:
            assert fragment in message, (case, message)
        assert snapshot(sentinel_dir) == before, case
    # A degenerate box is refused by the argument parser (exit status 2, usage on stderr).
    with pytest.raises(SystemExit) as info:
        chat_tool.parse_args([clip, '--config', DEMO, '--region', '0:5,5,5,9'])
    assert info.value.code == 2


def test_chat_cli_output_is_replaced_only_when_complete(chat_tool, clip, tmp_path, sentinel_dir, monkeypatch):
    """A failure while writing the overlay: the finished turn is saved (answers.json, masks.json), the error is one
    line, no half-written or temporary file is left and the user's other files stay."""
    import sama_mm.visualization as vis
    questions = _questions(tmp_path, 'Hello?')

    def failing_writer(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(vis, 'write_overlay_video', failing_writer)
    with pytest.raises(SystemExit) as info:
        chat_tool.main([clip, '--config', DEMO, '--questions', questions, '--out', str(sentinel_dir), '--force',
                        '--quiet', '--max-new-tokens', '2'])
    assert exit_message(info) == (f'error: writing the overlay to {sentinel_dir} failed (disk full); the 1 turn(s) '
                                  'are saved there (answers.json, masks.json)')
    assert sorted(os.listdir(sentinel_dir)) == ['answers.json', 'masks.json', 'notes.txt']
    assert sorted(os.listdir(sentinel_dir.parent)) == sorted(['existing_out', 'questions0.txt'])  # no temp left
    assert json.loads((sentinel_dir / 'answers.json').read_text())['turns'][0]['question'] == 'Hello?'
    monkeypatch.undo()
    chat_tool.main([clip, '--config', DEMO, '--questions', questions, '--out', str(sentinel_dir), '--force',
                    '--quiet', '--max-new-tokens', '2'])
    assert json.loads((sentinel_dir / 'answers.json').read_text())['turns'][0]['question'] == 'Hello?'
    assert (sentinel_dir / 'notes.txt').read_text() == 'keep me' and (sentinel_dir / 'overlay.mp4').is_file()


@pytest.mark.slow
def test_train_data_error_prints_one_line_without_traceback(tmp_path):
    """As a user runs it: a data error met inside the Runner ends tools/train.py with one line and status 1.

    (Errors found before the Runner exit through ``SystemExit('error: ...')``, checked in-process above.)
    """
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'notes.txt').write_text('keep me')
    proc = run_tool(osp.join(REPO_ROOT, 'tools', 'train.py'), DEMO, '--work-dir', work, '--cfg-options',
                    'train_cfg.max_iters=1', cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        'error: [missing_file] data/demo/sama239k_train_final.json: file not found'
    assert (work / 'notes.txt').read_text() == 'keep me'


def test_user_error_hook_prints_user_errors_only(capsys):
    from sama_mm.datasets import DataError
    from sama_mm.utils import cli
    seen = []
    err = DataError('missing_file', 'a.json', 'file not found', 3)
    cli._user_error_hook(DataError, err, None, _default=lambda *a: seen.append(a))
    assert capsys.readouterr().err == 'error: [missing_file] a.json record 3: file not found\n' and not seen
    bug = KeyError('x')
    cli._user_error_hook(KeyError, bug, None, _default=lambda *a: seen.append(a))
    assert seen == [(KeyError, bug, None)] and capsys.readouterr().err == ''


# ================================================================================================ evaluation
def _png(path, array):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def make_masks(root, layout):
    """Ground truth and a matching prediction: davis ``<seq>/<frame>.png`` or rvos ``<video>/<exp>/<frame>``."""
    mask = np.zeros((20, 30), np.uint8)
    mask[5:12, 8:20] = 1
    seqs = ['s1', 's2'] if layout == 'davis' else ['v1/0', 'v1/1', 'v2/0']
    for side in ('gt', 'pred'):
        for seq in seqs:
            for t in range(3):
                _png(osp.join(root, side, seq, f'{t:05d}.png'), mask * (255 if layout == 'rvos' else 1))
    return str(root / 'gt'), str(root / 'pred')


def test_eval_masks_mismatched_sets_and_bad_files(tmp_path, capsys):
    eval_masks = _load_tool('eval_masks')
    import shutil

    def run(layout, *extra, name=None):
        out = tmp_path / f'report_{name or layout}.json'
        code = eval_masks.main(['--gt', gt, '--pred', pred, '--layout', layout, '--out', str(out), *extra])
        captured = capsys.readouterr()
        return code, captured.err.strip(), out

    for layout in ('davis', 'rvos'):
        root = tmp_path / layout
        gt, pred = make_masks(root, layout)
        first = 's1' if layout == 'davis' else 'v1/0'
        second = 's2' if layout == 'davis' else 'v2/0'
        shutil.rmtree(osp.join(pred, second))  # missing sequence / expression
        os.remove(osp.join(pred, first, '00001.png'))  # missing frame
        extra = 's9' if layout == 'davis' else 'v1/7'
        _png(osp.join(pred, extra, '00000.png'), np.zeros((20, 30)))  # prediction without ground truth
        code, err, out = run(layout)
        assert code == 1 and err.count('\n') == 0 and not out.exists()
        assert err == (f'error: [prediction_set_mismatch] {pred}: 1 ground-truth folder(s) have no prediction '
                       f'folder: {second} (--allow-missing scores them as empty masks); 1 prediction folder(s) have '
                       f'no ground truth: {extra} (--ignore-extra leaves them out)'), err
        code, err, out = run(layout, '--allow-missing')
        assert code == 1 and 'have no ground truth' in err and 'no prediction folder' not in err
        code, err, out = run(layout, '--allow-missing', '--ignore-extra')
        report = json.loads(out.read_text())
        assert code == 0 and report['extra_sequences'] == [extra] and report['missing_sequences'] == [second]
        # A missing frame inside a predicted folder scores as empty: listed in the report and warned about.
        assert report['missing_frames'] == [f'{first}/00001.png']
        assert err == ('warning: 1 ground-truth frame(s) have no prediction PNG and score as empty masks: '
                       f'{first}/00001.png')
        # An existing report is never overwritten.
        before = snapshot(out)
        code, err, _ = run(layout, '--allow-missing', '--ignore-extra')
        assert code == 2 and f'{out} already exists' in err and snapshot(out) == before

    gt, pred = make_masks(tmp_path / 'files', 'davis')
    bad = osp.join(pred, 's1', '00002.png')
    with open(bad, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n truncated')
    code, err, out = run('davis', name='files')
    assert code == 1 and err.startswith(f'error: [unreadable_mask] {bad}: cannot read PNG mask') and not out.exists()
    _png(bad, np.zeros((21, 30)))
    code, err, out = run('davis', name='files')
    assert code == 1 and err == (f'error: [size_mismatch] {bad}: prediction is 30x21 (WxH) but its ground truth '
                                 f'{osp.join(gt, "s1", "00002.png")} is 30x20') and not out.exists()
    # --skip-first-last on a sequence of 2 frames leaves nothing to score: an error naming the sequence.
    os.remove(bad)
    os.remove(osp.join(gt, 's1', '00002.png'))
    code, err, out = run('davis', '--skip-first-last', name='files')
    assert code == 1 and err == (f'error: [missing_frames] {osp.join(gt, "s1")}: 2 ground-truth frame(s): none left '
                                 'to score after --skip-first-last') and not out.exists()


def test_eval_captions_mismatched_ids_and_bad_files(tmp_path, capsys):
    eval_captions = _load_tool('eval_captions')
    refs, preds, out = tmp_path / 'refs.json', tmp_path / 'preds.json', tmp_path / 'scores.json'
    refs.write_text(json.dumps({'a': ['a red car'], 'b': ['a dog'], 'c': 'a cat'}))
    preds.write_text(json.dumps({'a': 'a car', 'c': 'a cat', 'z': 'a bird'}))
    cases = [
        ({}, f"error: references ({refs}) and predictions ({preds}) have different ids; 1 id(s) only in "
             f"references ({refs}): 'b'; 1 id(s) only in predictions ({preds}): 'z'"),
        ({'preds': '{"a": '}, f'error: {preds}: not valid JSON'),
        ({'preds': '["a car"]'}, f'error: {preds}: expected a JSON object {{id: ...}}, got list'),
        ({'preds': '{"a": 3, "b": "x", "c": "y"}'}, f"error: {preds} record 'a': expected a string, got int"),
        ({'refs': '{"a": [], "b": ["x"], "c": ["y"]}', 'preds': '{"a": "x", "b": "x", "c": "y"}'},
         f"error: {refs} record 'a': expected a non-empty list of strings"),
    ]
    for change, expected in cases:
        if 'preds' in change:
            preds.write_text(change['preds'])
        if 'refs' in change:
            refs.write_text(change['refs'])
        assert eval_captions.main(['--refs', str(refs), '--preds', str(preds), '--out', str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(expected) and '\n' not in err, (expected, err)
        assert not out.exists()
    assert eval_captions.main(['--refs', str(tmp_path / 'no.json'), '--preds', str(preds)]) == 1
    assert f'{tmp_path / "no.json"}: references file not found' in capsys.readouterr().err


def test_metrics_mismatched_sets(tmp_path):
    from sama_mm.datasets import DataError
    from sama_mm.evaluation.metrics import RVOSMetric
    from sama_mm.evaluation.metrics._utils import encode_track
    from sama_mm.registry import METRICS
    ann = tmp_path / 'meta_expressions.json'
    ann.write_text(json.dumps({'videos': {
        'v1': {'frames': ['00000', '00001'], 'expressions': {'0': {'exp': 'a', 'anno_id': ['1']},
                                                             '1': {'exp': 'b', 'anno_id': ['1']}}},
        'v2': {'frames': ['00000', '00001'], 'expressions': {'0': {'exp': 'c', 'anno_id': ['1']}}}}}))
    masks = tmp_path / 'mask_dict.json'
    masks.write_text('{}')
    track = np.zeros((2, 8, 8), bool)

    def result(video, exp):
        return dict(video_id=video, exp_id=exp, shape=(8, 8), num_frames=2, rles=encode_track(track))

    metric = RVOSMetric(ann_file=str(ann), mask_file=str(masks))
    with pytest.raises(ValueError) as info:
        metric.compute_metrics([result('v1', '0'), result('v1', '1'), result('v3', '0'), result('v1', '0')])
    assert str(info.value) == (f'[prediction_set_mismatch] {ann}: predictions and ground truth differ: '
                               '1 expression(s) have no prediction: v2/0; 1 predicted expression(s) are not in the '
                               'ground truth: v3/0; 1 expression(s) predicted more than once: v1/0')
    # format_only never writes over an earlier submission.
    prefix = tmp_path / 'submission'
    prefix.mkdir()
    (prefix / 'keep.png').write_bytes(b'old')
    before = snapshot(prefix)
    metric = RVOSMetric(ann_file=str(ann), format_only=True, outfile_prefix=str(prefix))
    with pytest.raises(FileExistsError, match='refusing to overwrite predictions'):
        metric.compute_metrics([result('v1', '0'), result('v1', '1'), result('v2', '0')])
    assert snapshot(prefix) == before and not osp.exists(f'{prefix}.zip')

    bench = tmp_path / 'bench_c.json'
    bench.write_text(json.dumps([{'video': 'x.mp4', 'description': {'obj0': 'a red car', 'obj1': 'a dog'},
                                  'description_id': {'obj0': 11, 'obj1': 12}}]))
    metric = METRICS.build(dict(type='SAMABenchCMetric', ann_file=str(bench), meteor=False))
    with pytest.raises(DataError, match=rf'^\[prediction_set_mismatch\] {bench}: .*1 description\(s\) have no '
                                        r'prediction: 12; 1 predicted description\(s\) are not in the ground '
                                        r'truth: 99$'):
        metric.compute_metrics([dict(id='11', text='a car'), dict(id='99', text='a cat')])
    # A metric config with a typo is named by its key before anything runs.
    from sama_mm.utils.config_check import ConfigError, check_config
    with pytest.raises(ConfigError, match=r"^test_evaluator\.1\.meteorr: unknown key 'meteorr' for SAMABenchCMetric"):
        check_config(dict(test_evaluator=[dict(type=RVOSMetric, ann_file='a'),
                                          dict(type='SAMABenchCMetric', ann_file='b', meteorr=False)]))


# ---- strict loading, converted folders and --cfg-options values (tools/train.py, tools/test.py, tools/chat.py)
def test_cfg_options_with_bad_values_name_the_key(tmp_path):
    """Values that only fail deep inside torch (or silently train nothing) are refused by key, before any work."""
    toy = 'tests/data/configs/toy_regression.py'
    cases = {'optim_wrapper.optimizer.lr=fast': "error: optim_wrapper.optimizer.lr: expected a number >= 0, got "
                                                "str 'fast'",
             'optim_wrapper.optimizer.type=AdamW optim_wrapper.optimizer.betas=[0.9]':
                 'error: optim_wrapper.optimizer.betas: expected a pair of numbers in [0, 1) (e.g. [0.9, 0.999]), '
                 'got list [0.9]',
             'train_dataloader.batch_size=0': 'error: train_dataloader.batch_size: expected an integer >= 1, got int 0',
             'train_cfg.max_iters=0': 'error: train_cfg.max_iters: expected an integer >= 1, got int 0'}
    for option, message in cases.items():
        work = tmp_path / option.split('=')[0]
        proc = run_tool('tools/train.py', toy, '--work-dir', work, '--cfg-options', *option.split())
        errors = [line for line in proc.stderr.splitlines() if line.startswith('error')]
        assert proc.returncode == 1 and errors == [message] and 'Traceback' not in proc.stderr, (option, proc.stderr)
        assert not work.exists()


def test_resume_from_a_refused_file_is_one_line(tmp_path):
    toy = 'tests/data/configs/toy_regression.py'
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint at all')
    proc = run_tool('tools/train.py', toy, '--work-dir', tmp_path / 'w', '--resume', bad)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-1500:]
    assert lines[-1].startswith(f'error: {bad}: cannot read the checkpoint: ')


def test_test_out_in_a_missing_folder_and_converted_folder_errors(tmp_path):
    """tools/test.py: --out in a missing folder is created before the run; --out that exists stops at once; a
    folder without sama_mm_config.json as CONFIG, and CONFIG without CHECKPOINT, are one-line errors."""
    toy = 'tests/data/configs/toy_regression.py'
    work = tmp_path / 'w'
    run_tool('tools/train.py', toy, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=4', check=True)
    out = tmp_path / 'deep' / 'er' / 'metrics.json'
    run_tool('tools/test.py', toy, work / 'iter_4.pth', '--work-dir', work, '--out', out, check=True)
    assert json.loads(out.read_text())
    proc = run_tool('tools/test.py', toy, work / 'iter_4.pth', '--work-dir', work, '--out', out)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f'error: --out {out} already exists; refusing to overwrite it')
    proc = run_tool('tools/test.py', toy)
    assert proc.returncode == 2 and 'CHECKPOINT is required unless CONFIG is a converted folder' in proc.stderr
    proc = run_tool('tools/test.py', tmp_path, work / 'iter_4.pth')
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f'error: {tmp_path}: no sama_mm_config.json in this folder (a folder written by tools/convert/from_hf.py '
        'or to_hf.py has one)')


def test_data_only_config_never_imports_or_inherits(tmp_path):
    """A converted folder's JSON is data: dotted import paths, unknown names and _base_ are refused by key."""
    from sama_mm.utils.config_check import ConfigError
    from sama_mm.utils.data_config import read_data_config
    sentinel = tmp_path / 'ran'
    base = tmp_path / 'base.py'
    base.write_text(f'open({str(sentinel)!r}, "w").write("x")\n')
    cases = [({'model': {'type': 'os.system', 'command': f'touch {sentinel}'}},
              "model.type: type 'os.system' is an import path; a data-only config names registered classes only"),
             ({'model': {'type': 'SAMA', 'backbone': {'type': 'NoSuchThing'}}},
              "model.backbone.type: type 'NoSuchThing' is not a registered name"),
             ({'_base_': str(base), 'model': {'type': 'SAMA'}}, '_base_: unknown key of a data-only config'),
             ({'model': {'type': 'SAMA', 'x': {'_base_': str(base)}}},
              'model.x._base_: a data-only config cannot inherit from other files (_base_)')]
    for i, (data, message) in enumerate(cases):
        folder = tmp_path / f'f{i}'
        folder.mkdir()
        (folder / 'sama_mm_config.json').write_text(json.dumps(data))
        with pytest.raises(ConfigError) as err:
            read_data_config(str(folder))
        assert str(err.value).startswith(f'{folder / "sama_mm_config.json"}: ') and message in str(err.value)
    assert not sentinel.exists()
    proc = run_tool('tools/chat.py', tmp_path / 'no_video.mp4', '--checkpoint', tmp_path)
    assert proc.returncode == 1
    proc = run_tool('tools/chat.py', __file__, '--checkpoint', tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f'error: give --config, or a converted folder (holding sama_mm_config.json) as --checkpoint ({tmp_path} has '
        'no sama_mm_config.json)')


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-p', 'no:xdist']))
