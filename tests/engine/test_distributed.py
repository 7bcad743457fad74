"""The tiny SAMA through the real launchers: DDP on CPU (gloo) and a run killed with SIGKILL, then resumed."""
import os
import signal
import sys

import pytest
import torch

from sama_mm.engine.checkpoint import trusted_checkpoint_loading
from tests.conftest import HANG_TIMEOUT, REPO_ROOT, run_tool

CONFIG = f'{REPO_ROOT}/configs/demo/sama_tiny_demo.py'
# Batch 1 per process, no validation, a log line per iteration.
# A constant learning rate of 1e-3 (the one this equivalence was calibrated at): the demo's per-iteration warm-up
# would step twice as often in the accumulating run, and at the demo's 1.5e-3 the two runs end 2e-3 apart (Adam
# normalises the near-zero gradients whose summation order differs between the two runs).
COMMON = ['train_dataloader.batch_size=1', 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
          'default_hooks.logger.interval=1', 'param_scheduler=None', 'optim_wrapper.optimizer.lr=0.001']


def weights(path):
    with trusted_checkpoint_loading():
        return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture
def demo_cwd(demo_root, tmp_path):
    """A working folder whose data/demo is the demo data set (the config's relative data root)."""
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'demo').symlink_to(demo_root)
    return tmp_path


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process_with_the_same_global_batch(demo_cwd):
    """2 ranks x batch 1 x 2 steps (tools/dist_train.sh, gloo) vs 1 process x batch 1 x 2 accumulation steps.

    SAMA's losses are means over the tokens / masks of a batch and DDP averages the ranks' gradients, so the
    single-process equivalent of W ranks x batch b is batch b with W accumulation steps (one process with batch 2
    weights long answers more and ends about 6e-3 away). Both see the same samples per step (the shared sampler
    order) and the same random numbers per micro-batch (StepSeedHook).
    """
    env = dict(os.environ, PORT=str(29500 + os.getpid() % 1000),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
               OMP_NUM_THREADS='1')
    ddp = demo_cwd / 'ddp'
    import subprocess
    proc = subprocess.run(['bash', f'{REPO_ROOT}/tools/dist_train.sh', CONFIG, '2', '--work-dir', str(ddp),
                           '--cfg-options', *COMMON, 'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
                           'find_unused_parameters=True'],
                          cwd=demo_cwd, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'distributed training on CPU (gloo backend)' in proc.stdout
    single = demo_cwd / 'single'
    run_tool(f'{REPO_ROOT}/tools/train.py', CONFIG, '--work-dir', single, '--cfg-options', *COMMON,
             'train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=4', 'optim_wrapper.accumulative_counts=2',
             cwd=demo_cwd, check=True)
    assert max_difference(weights(ddp / 'iter_2.pth'), weights(single / 'iter_4.pth')) < 1e-4


@pytest.mark.slow
def test_run_killed_mid_epoch_and_resumed_ends_with_the_same_weights(demo_cwd):
    """Epoch-based training (2 batches per epoch, 2 epochs) checkpointed at iteration 3 and SIGKILLed right after
    it, resumed with --resume inside epoch 2, against an uninterrupted run."""
    driver = f'{REPO_ROOT}/tests/engine/train_driver.py'
    args = ['--epochs', '2', CONFIG, '--cfg-options', *COMMON, 'default_hooks.checkpoint.interval=3']
    full, broken = demo_cwd / 'full', demo_cwd / 'broken'
    run_tool(driver, *args, '--work-dir', full, cwd=demo_cwd, check=True)
    killed = run_tool(driver, '--kill-at-iter', 3, *args, '--work-dir', broken, cwd=demo_cwd)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (broken / 'last_checkpoint').read_text().endswith('iter_3.pth')
    assert not (broken / 'iter_4.pth').exists()
    resumed = run_tool(driver, *args, '--work-dir', broken, '--resume', cwd=demo_cwd, check=True)
    log = resumed.stdout + resumed.stderr
    assert 'resuming epoch 2 at batch 1/2 without loading the batches before it' in log
    assert 'Iter(train) [4/4]' in log and 'Iter(train) [3/4]' not in log
    assert max_difference(weights(full / 'iter_4.pth'), weights(broken / 'iter_4.pth')) < 1e-6


@pytest.mark.slow
def test_dist_test_two_processes_score_like_one(tmp_path):
    """tools/dist_test.sh with 2 gloo ranks: every sample scored once, the same metrics as one process, one --out."""
    import json
    import subprocess
    toy = f'{REPO_ROOT}/tests/data/configs/toy_regression.py'
    work = tmp_path / 'work'
    run_tool(f'{REPO_ROOT}/tools/train.py', toy, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=4',
             check=True)
    single, ddp = tmp_path / 'single.json', tmp_path / 'ddp.json'
    run_tool(f'{REPO_ROOT}/tools/test.py', toy, work / 'iter_4.pth', '--work-dir', work, '--out', single,
             check=True)
    env = dict(os.environ, PORT=str(28500 + os.getpid() % 1000), OMP_NUM_THREADS='1',
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', f'{REPO_ROOT}/tools/dist_test.sh', toy, str(work / 'iter_4.pth'), '2',
                           '--work-dir', str(work), '--out', str(ddp)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'distributed testing on CPU (gloo backend)' in proc.stdout
    assert proc.stdout.count(f'metrics written to {ddp}') == 1  # rank 0 only
    assert json.loads(ddp.read_text()) == pytest.approx(json.loads(single.read_text()), abs=1e-6)
