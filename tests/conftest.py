"""Shared fixtures: offline mode, the demo data set built once per test process."""
import os
import os.path as osp
import subprocess
import sys

import cv2  # noqa: F401  (before anything imports decord: see sama_mm/datasets/decord_backend.py)
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A demo data set (seed 0) in a temporary folder, built with the real builder."""
    from data_converters.build_demo_data import build
    out = tmp_path_factory.mktemp('demo') / 'demo'
    build(str(out), seed=0, progress=False)
    return out


def run_tool(*args, cwd=REPO_ROOT, check=False):
    """Run ``python <args>`` from the repository root and return the CompletedProcess (text output)."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc
