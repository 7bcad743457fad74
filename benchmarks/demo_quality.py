#!/usr/bin/env python
"""What the quickstart's tiny model reaches: build the demo, train, evaluate on the held-out clips.

    python benchmarks/demo_quality.py [--seed 0] [--data-seed 0] [--iters N] [--work-dir DIR] [--demo DIR]

Runs the quickstart's steps with the quickstart's config (``configs/demo/sama_tiny_demo.py``) in ``--work-dir``
(default: a temporary folder; the demo data is linked there as ``data/demo``): ``build_demo_data.py`` (unless
``--demo`` names an existing build), ``tools/train.py`` (``--seed``: the training seed, ``--iters``: the
iterations, default the config's), ``tools/test.py`` (J&F on the held-out clips, MeViS valid_u layout) and
``tools/analysis/demo_report.py --no-chat`` (the held-out referring and region questions). Prints one JSON line:

* ``demo_heldout_jf``: J&F (0-100) of the held-out referring expressions;
* ``demo_referring_acc``: fraction of held-out referring questions whose first mask has a video IoU >= 0.5
  with the named object;
* ``demo_region_caption_acc``: fraction of held-out region questions whose answer names the right colour and
  shape (and no other);
* ``wall_s`` and per step ``build_s``, ``train_s``, ``test_s``, ``questions_s`` (wall-clock seconds), with the
  seeds, the iterations and the machine's load average at the start and at the end.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'demo', 'sama_tiny_demo.py')


def _run(args, cwd: str) -> float:
    """Run ``python ARGS`` in ``cwd``; stop with its output tail on failure. Returns the wall time."""
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f'{args[0]} failed with status {proc.returncode}')
    return time.perf_counter() - start


def heldout_jf(metrics: dict) -> float:
    """The J&F entry of ``tools/test.py``'s metrics (a key ending in ``J&F``)."""
    for key, value in metrics.items():
        if key.split('/')[-1] in ('J&F', 'JF', 'J_and_F'):
            return float(value)
    raise SystemExit(f'no J&F in the metrics: {sorted(metrics)}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seed', type=int, default=42, help='training seed (default: the config\'s, 42)')
    parser.add_argument('--data-seed', type=int, default=0, help='demo builder seed (default: 0)')
    parser.add_argument('--iters', type=int, help='training iterations (default: the config\'s)')
    parser.add_argument('--work-dir', help='folder for the run (default: a temporary folder)')
    parser.add_argument('--demo', help='an existing demo build to use instead of building one')
    args = parser.parse_args(argv)

    start = time.perf_counter()
    load_start = os.getloadavg()
    work = osp.abspath(args.work_dir) if args.work_dir else tempfile.mkdtemp(prefix='demo-quality-')
    os.makedirs(osp.join(work, 'data'), exist_ok=True)
    demo = osp.join(work, 'data', 'demo')
    result = dict(seed=args.seed, data_seed=args.data_seed)
    if args.demo:
        if not osp.isfile(osp.join(args.demo, 'manifest.json')):
            raise SystemExit(f'{args.demo}: not a demo build (no manifest.json)')
        if not osp.exists(demo):
            os.symlink(osp.abspath(args.demo), demo)
        result['build_s'] = 0.0
    else:
        result['build_s'] = _run([osp.join(REPO, 'data_converters', 'build_demo_data.py'), '--out', demo,
                                  '--seed', str(args.data_seed)], work)
    options = [f'randomness.seed={args.seed}']
    if args.iters:
        options += [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}',
                    f'default_hooks.checkpoint.interval={args.iters}', f'param_scheduler.1.end={args.iters}',
                    f'param_scheduler.1.T_max={args.iters - 10}']
    result['train_s'] = _run([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', 'train',
                              '--cfg-options', *options], work)
    with open(osp.join(work, 'train', 'last_checkpoint')) as f:
        checkpoint = osp.join(work, 'train', osp.basename(f.read().strip()))
    result['iters'] = int(osp.basename(checkpoint).split('_')[-1].split('.')[0])
    result['test_s'] = _run([osp.join(REPO, 'tools', 'test.py'), CONFIG, checkpoint, '--work-dir', 'test',
                             '--out', 'metrics.json'], work)
    result['questions_s'] = _run([osp.join(REPO, 'tools', 'analysis', 'demo_report.py'), '--config', CONFIG,
                                  '--checkpoint', checkpoint, '--demo-root', demo, '--out', 'report',
                                  '--no-chat'], work)
    with open(osp.join(work, 'metrics.json')) as f:
        metrics = json.load(f)
    with open(osp.join(work, 'report', 'quality.json')) as f:
        quality = json.load(f)
    result.update(demo_heldout_jf=round(heldout_jf(metrics), 2),
                  demo_referring_acc=quality['demo_referring_acc'],
                  demo_region_caption_acc=quality['demo_region_caption_acc'],
                  wall_s=round(time.perf_counter() - start, 1),
                  load_start=[round(v, 2) for v in load_start], load_end=[round(v, 2) for v in os.getloadavg()],
                  work_dir=work)
    for key in ('build_s', 'train_s', 'test_s', 'questions_s'):
        result[key] = round(result[key], 1)
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
