"""Requirement files: every pin exact and explained; setup.py and the env checker read them."""
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HANG_TIMEOUT, REPO_ROOT, run_tool

REQ_DIR = Path(REPO_ROOT) / 'requirements'
PIN = r'[A-Za-z0-9_.\-]+==[\w.]+'
FILES = ['runtime.txt', 'tests.txt', 'optional.txt', 'mminstall.txt', 'nodeps.txt', 'web.txt']


@pytest.mark.parametrize('name', FILES)
def test_every_pin_is_exact_and_has_a_reason(name):
    lines = (REQ_DIR / name).read_text().splitlines()
    pins = 0
    for i, line in enumerate(lines):
        if not line.strip() or line.startswith('#'):
            continue
        assert re.fullmatch(PIN, line), f'{name}:{i + 1}: not an exact pin: {line}'
        # The reason is the comment above the pin (or above the group of pins it belongs to).
        j = i - 1
        while j >= 0 and re.fullmatch(PIN, lines[j]):
            j -= 1
        assert j >= 0 and lines[j].startswith('#'), f'{name}:{i + 1}: no reason above {line}'
        pins += 1
    # optional.txt may be empty (its former pins moved to runtime.txt); the others must pin something.
    assert pins > 0 or name == 'optional.txt'


def test_pins_satisfied_in_this_environment():
    # What tools/run_tests.sh installs (optional.txt is for optional extras).
    installed = ['runtime.txt', 'mminstall.txt', 'nodeps.txt', 'tests.txt', 'web.txt']
    proc = run_tool('tools/check_requirements.py', *[f'requirements/{f}' for f in installed])
    assert proc.returncode == 0, proc.stdout


def test_checker_reports_unsatisfied_pins(tmp_path):
    req = tmp_path / 'r.txt'
    req.write_text('# why\nnumpy==0.0.1\n# why\nno-such-package-sama==1.0\n')
    proc = run_tool('tools/check_requirements.py', req)
    assert proc.returncode == 1
    assert 'numpy==0.0.1 (found' in proc.stdout and 'no-such-package-sama==1.0 (not installed)' in proc.stdout
    req.write_text('numpy>=1\n')
    assert 'expected an exact pin' in run_tool('tools/check_requirements.py', req).stderr


def test_setup_py_extras_read_the_files():
    code = ('import sys, setuptools\n'
            'captured = {}\n'
            'setuptools.setup = lambda **kw: captured.update(kw)\n'
            'exec(compile(open("setup.py").read(), "setup.py", "exec"), {"__file__": "setup.py"})\n'
            'import json; print(json.dumps({k: captured[k] for k in ("install_requires", "extras_require")}))\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 0, out.stderr
    meta = json.loads(out.stdout)
    assert 'mmengine==0.10.7' in meta['install_requires'] and 'mmdet==3.3.0' in meta['install_requires']
    assert set(meta['extras_require']) >= {'tests', 'optional', 'web', 'all'}
    assert 'pytest-xdist==3.8.0' in meta['extras_require']['tests']
    # The browser test serves the web demo: the test extra brings the web extra and the browser driver.
    assert 'gradio==6.17.3' in meta['extras_require']['web']
    assert set(meta['extras_require']['tests']) >= set(meta['extras_require']['web']) | {'playwright==1.65.2'}
    assert set(meta['extras_require']['all']) >= set(meta['extras_require']['optional'])


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
