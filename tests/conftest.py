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
#: Seconds a tool run by a test may take before it counts as hung. A guard against hangs only, never a speed check:
#: a machine shared with other jobs can be many times slower than an idle one.
HANG_TIMEOUT = 1500
#: Intra-op threads of the tests that assert learning (``deterministic``): a fixed number, so that the order of
#: floating-point reductions does not depend on the machine's core count.
LEARNING_THREADS = 2


@pytest.fixture
def deterministic():
    """Fixed torch thread count and seeds (torch, numpy, random) for a test whose outcome depends on them.

    The learning tests (``tests/learning.py``) use it; the thread count is restored afterwards. The seed is 0,
    or ``SAMA_TEST_SEED`` when set (to check that a learning test converges for other seeds too).
    """
    import random

    import numpy as np
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(LEARNING_THREADS)
    seed = int(os.environ.get('SAMA_TEST_SEED', 0))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    yield
    torch.set_num_threads(threads)


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
                          timeout=HANG_TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc
