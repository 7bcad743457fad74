"""The guides in docs/ run: every runnable block is executed on the demo data and the tiny model, every block
that needs real data or a GPU is checked (scripts exist, their parsers accept the flags, configs load).

Markers and what they do: ``tests/docs/guide_blocks.py``. The run blocks of all guides share one working copy
(a copy of tools/, configs/, data_converters/, benchmarks/, requirements/ in a temporary folder; ``sama_mm``
comes from this checkout through PYTHONPATH), so a guide marked ``after get_started`` finds the demo data and
the tiny checkpoint that get_started made. Under pytest-xdist the workers share it through a file lock, so
each guide runs once per test session.
"""
import json
import os
import os.path as osp
import re
import shutil
import sys

import pytest
from filelock import FileLock

from tests.conftest import REPO_ROOT
from tests.docs.guide_blocks import (Guide, GuideError, check_block, lint_guide, parse_guide, run_guide,
                                     shell_commands)

DOCS = osp.join(REPO_ROOT, 'docs')
GUIDES = ('get_started', 'custom_data', 'evaluation', 'checkpoints', 'chat', 'distributed', 'architecture',
          'training')
COPIED = ('tools', 'configs', 'data_converters', 'benchmarks', 'requirements')
#: Files a guide's run blocks must leave behind (what a reader is told to expect).
EXPECTED_OUTPUTS = {
    'get_started': ['data/demo/manifest.json', 'work_dirs/demo/last_checkpoint', 'work_dirs/demo_test/metrics.json',
                    'work_dirs/demo_chat/answers.json', 'work_dirs/demo_chat/masks.json',
                    'work_dirs/demo_chat/overlay.mp4', 'work_dirs/demo_chat/overlay.gif'],
    'custom_data': ['data/my_videos/train/mask_dict.json', 'data/my_videos/valid_u/meta_expressions.json',
                    'work_dirs/my_videos/iter_20.pth', 'work_dirs/my_videos_test/metrics.json',
                    'work_dirs/my_videos_chat/answers.json'],
    'checkpoints': ['work_dirs/tiny_converted/model.safetensors', 'work_dirs/from_converted/iter_2.pth',
                    'work_dirs/tiny_converted.json'],
}


def load_guide(name: str) -> Guide:
    with open(osp.join(DOCS, name + '.md'), encoding='utf-8') as f:
        return parse_guide(f.read(), name)


def make_working_copy(dst: str) -> None:
    """Copy the parts of the repository the guides use (not ``sama_mm``, imported from this checkout)."""
    os.makedirs(dst, exist_ok=True)
    for name in COPIED:
        shutil.copytree(osp.join(REPO_ROOT, name), osp.join(dst, name),
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def guide_env() -> dict:
    """The reader's shell: the venv's python first on PATH, sama_mm importable, no network."""
    env = dict(os.environ)
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.update(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
    return env


class SharedWorkspace:
    """One working copy per test session in which each guide's run blocks run once (locked across workers)."""

    def __init__(self, root: str):
        self.root = root
        self.copy = osp.join(root, 'repo')
        with FileLock(osp.join(root, 'copy.lock')):
            if not osp.isdir(self.copy):
                make_working_copy(self.copy + '.tmp')
                os.replace(self.copy + '.tmp', self.copy)

    def run(self, name: str) -> dict:
        """The result of running guide ``name`` (after the guide it depends on), computed once."""
        result_file = osp.join(self.root, name + '.result.json')
        with FileLock(osp.join(self.root, name + '.lock')):
            if osp.isfile(result_file):
                with open(result_file) as f:
                    return json.load(f)
            guide = load_guide(name)
            result = dict(rc=0, out='')
            if guide.after:
                before = self.run(guide.after)
                if before['rc'] != 0:
                    result = dict(rc=before['rc'],
                                  out=f'{guide.after} (which {name} follows) failed:\n' + before['out'])
            if result['rc'] == 0:
                rc, out = run_guide(guide, self.copy, guide_env())
                result = dict(rc=rc, out=out)
            with open(result_file, 'w') as f:
                json.dump(result, f)
            return result


@pytest.fixture(scope='session')
def workspace(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base) / 'docs_workspace'
    root.mkdir(exist_ok=True)
    return SharedWorkspace(str(root))


# ------------------------------------------------------------------------------------------ the guides themselves
@pytest.mark.parametrize('name', GUIDES)
def test_guide_markers(name):
    guide = load_guide(name)
    assert not lint_guide(guide)
    assert any(b.kind in ('run', 'check') for b in guide.blocks), f'{name}.md has no tested block'
    if guide.after:
        assert guide.after in GUIDES and guide.after != name


def test_readme_links_every_guide_and_links_resolve():
    readme = open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8').read()
    for name in GUIDES:
        assert f'](docs/{name}.md)' in readme, f'README does not link docs/{name}.md'
    for name in GUIDES:
        text = open(osp.join(DOCS, name + '.md'), encoding='utf-8').read()
        for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', text):
            if '://' in target:
                continue
            assert osp.exists(osp.join(DOCS, target)), f'{name}.md links {target}, which does not exist'


@pytest.mark.parametrize('name', GUIDES)
def test_guide_check_blocks(name, tmp_path, monkeypatch):
    """Blocks that need real data or a GPU: scripts, flags and configs (file blocks written first)."""
    guide = load_guide(name)
    make_working_copy(str(tmp_path))
    for b in guide.blocks:
        if b.kind == 'file':
            path = tmp_path / b.arg
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(b.text)
    monkeypatch.chdir(tmp_path)
    problems = [p for b in guide.blocks if b.kind == 'check' for p in check_block(b)]
    assert not problems, '\n'.join(problems)


@pytest.mark.slow
@pytest.mark.timeout(2700)  # a guide may first run the one it follows (get_started)
@pytest.mark.parametrize('name', GUIDES)
def test_guide_runs(name, workspace):
    guide = load_guide(name)
    if not any(b.kind == 'run' for b in guide.blocks):
        pytest.skip(f'{name}.md has only check blocks')
    result = workspace.run(name)
    assert result['rc'] == 0, result['out']
    missing = [p for p in EXPECTED_OUTPUTS.get(name, []) if not osp.exists(osp.join(workspace.copy, p))]
    assert not missing, f'{name}.md ran but did not write {missing}'


@pytest.mark.slow
@pytest.mark.timeout(2700)
def test_custom_data_ends_in_metrics_and_an_answer(workspace):
    """Followed from scratch on new videos: a fine-tuned checkpoint, its J&F and a chat answer."""
    result = workspace.run('custom_data')
    assert result['rc'] == 0, result['out']
    metrics = json.load(open(osp.join(workspace.copy, 'work_dirs/my_videos_test/metrics.json')))
    assert {'rvos/J', 'rvos/F', 'rvos/J&F'} <= set(metrics)
    assert all(0 <= metrics[k] <= 100 for k in ('rvos/J', 'rvos/F', 'rvos/J&F'))
    answers = json.load(open(osp.join(workspace.copy, 'work_dirs/my_videos_chat/answers.json')))
    assert len(answers['turns']) == 1 and isinstance(answers['turns'][0]['answer'], str)
    assert answers['turns'][0]['question'] == 'Please segment the red circle.'
    # The checkpoint was fine-tuned from the demo checkpoint (load_from), on the converted train split.
    log = open(next(osp.join(r, f) for r, _, fs in os.walk(osp.join(workspace.copy, 'work_dirs/my_videos'))
                    for f in fs if f.endswith('.log'))).read()
    assert 'Load checkpoint from' in log and 'work_dirs/demo/' in log


# ------------------------------------------------------------------------------------------ the test can fail
BAD_FLAG_CHECK = """
Some text.

<!-- docs-test: check (needs a GPU) -->
```bash
python tools/train.py configs/demo/sama_tiny_demo.py --work-dir work_dirs/x \\
    --wrok-dir typo
```
"""


def test_check_block_with_a_wrong_flag_fails(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    guide = parse_guide(BAD_FLAG_CHECK, 'synthetic')
    (block,) = guide.blocks
    assert block.kind == 'check' and block.arg == 'needs a GPU' and block.line == 5
    problems = check_block(block)
    assert len(problems) == 1 and 'synthetic.md:5' in problems[0] and '--wrok-dir' in problems[0]
    block.text = block.text.replace('--wrok-dir typo', '--amp')
    assert check_block(block) == []


@pytest.mark.parametrize('command, expected', [
    ('python tools/test.py configs/demo/no_such_config.py ckpt.pth', 'does not load'),
    ('python tools/no_such_tool.py --x', 'does not exist'),
    ('bash tools/dist_train.sh configs/demo/sama_tiny_demo.py 8 --bad-flag', '--bad-flag'),
    ('GPUS=16 bash tools/slurm_train.sh part job configs/demo/sama_tiny_demo.py wd --resmue', '--resmue'),
    ('python tools/chat.py v.mp4 --config configs/demo/sama_tiny_demo.py --regoin 0:1,1,2,2', '--regoin'),
    ('python data_converters/masks_to_mevis.py --videos a --masks b --out c', '--expressions'),
    ('frobnicate --now', "unknown command 'frobnicate'"),
])
def test_check_block_problems(monkeypatch, command, expected):
    monkeypatch.chdir(REPO_ROOT)
    guide = parse_guide(f'<!-- docs-test: check (real data) -->\n```bash\n{command}\n```\n', 'synthetic')
    problems = check_block(guide.blocks[0])
    assert problems and expected in problems[0], problems


def test_good_check_commands_pass(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    text = ('<!-- docs-test: check (real data) -->\n```bash\n'
            'GPUS=16 bash tools/slurm_train.sh part job configs/demo/sama_tiny_demo.py wd --resume  # resumes\n'
            'python tools/test.py configs/sama/sama_1b_test_mevis_valid.py "$CKPT" --format-only --out sub\n'
            'python tools/check_dataset.py --ann a.json --video-root v && ls sub\n'
            'torchrun --nproc_per_node 8 tools/train.py configs/demo/sama_tiny_demo.py --launcher pytorch\n'
            '```\n'
            '<!-- docs-test: check (real data) -->\n```python\nfrom sama_mm.apis import SAMAInferencer\n```\n')
    for block in parse_guide(text, 'synthetic').blocks:
        assert check_block(block) == []


def test_python_check_block_with_a_renamed_api_fails():
    text = '<!-- docs-test: check (real data) -->\n```python\nfrom sama_mm.apis import SAMAInferencr\n```\n'
    problems = check_block(parse_guide(text, 'synthetic').blocks[0])
    assert problems and 'SAMAInferencr' in problems[0]


def test_run_block_with_a_wrong_flag_fails(tmp_path):
    make_working_copy(str(tmp_path))
    text = ('<!-- docs-test: file notes/hello.txt -->\n```text\nhello\n```\n\n'
            '<!-- docs-test: run -->\n```bash\ncat notes/hello.txt\n'
            'python tools/eval_masks.py --gt a --pred b --layuot davis\n```\n')
    guide = parse_guide(text, 'synthetic')
    rc, out = run_guide(guide, str(tmp_path), guide_env(), timeout=300)
    assert rc != 0
    assert 'block at synthetic.md:7 failed' in out and '--layuot' in out
    good = parse_guide(text.replace('python tools/eval_masks.py --gt a --pred b --layuot davis',
                                    'python tools/eval_masks.py --help > /dev/null'), 'synthetic')
    rc, out = run_guide(good, str(tmp_path), guide_env(), timeout=300)
    assert rc == 0, out
    assert (tmp_path / 'notes/hello.txt').read_text() == 'hello\n'


def test_markers_are_strict():
    with pytest.raises(GuideError, match='synthetic.md:1: unknown marker'):
        parse_guide('<!-- docs-test: runn -->\n```bash\nls\n```\n', 'synthetic')
    with pytest.raises(GuideError, match='not followed by a fenced block'):
        parse_guide('<!-- docs-test: run -->\nsome prose\n```bash\nls\n```\n', 'synthetic')
    with pytest.raises(GuideError, match='must be relative'):
        parse_guide('<!-- docs-test: file ../outside.py -->\n```python\nx = 1\n```\n', 'synthetic')
    with pytest.raises(GuideError, match='unknown marker'):  # a check needs its reason
        parse_guide('<!-- docs-test: check -->\n```bash\nls\n```\n', 'synthetic')
    unmarked = parse_guide('Text.\n\n```bash\npython tools/train.py x\n```\n', 'synthetic')
    assert lint_guide(unmarked) == ['synthetic.md:3: bash block without a docs-test marker (run, or check (REASON))']


def test_shell_commands_split():
    text = 'A=1 python x.py --a "b c" \\\n    --d $(cat f) # comment\ncd w && ls | head\n'
    assert shell_commands(text) == [['A=1', 'python', 'x.py', '--a', 'b c', '--d', 'SUBST'], ['cd', 'w'], ['ls'],
                                    ['head']]
