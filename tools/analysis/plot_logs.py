#!/usr/bin/env python
"""Plot training curves (loss terms, lr, ...) from MMEngine's ``scalars.json`` logs into a PNG.

    python tools/analysis/plot_logs.py LOG [LOG ...] [--keys loss loss_mask] [--out curves.png]
        [--legend run_a run_b] [--smooth 5] [--title TEXT]

Each ``LOG`` is a ``scalars.json`` file (written by MMEngine's ``LocalVisBackend`` into
``<work_dir>/<timestamp>/vis_data/``) or a work directory, whose newest ``*/vis_data/scalars.json`` is used.
The file holds one JSON object per line: training lines carry ``iter`` (and ``epoch`` in epoch-based runs),
validation lines carry the metrics of one evaluation. Training scalars are plotted against ``iter``, metrics
(keys found only in lines without ``iter``) against the order of the evaluations. Every key gets its own
subplot and every log its own curve, so runs can be compared. ``--keys`` defaults to every training key whose
name starts with ``loss``.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple


def find_scalars(path: str) -> str:
    """``path`` itself when it is a file, else the newest ``<path>/*/vis_data/scalars.json``.

    Raises:
        FileNotFoundError: Nothing to read (the message names the path).
    """
    if osp.isfile(path):
        return path
    if osp.isdir(path):
        found = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
        if found:
            return found[-1]
        raise FileNotFoundError(f'{path}: no */vis_data/scalars.json below this work directory')
    raise FileNotFoundError(f'{path}: no such file or directory')


def load_scalars(path: str) -> Tuple[List[Dict], List[Dict]]:
    """Split a ``scalars.json`` into its training lines (with ``iter``) and its evaluation lines.

    Raises:
        ValueError: A line is not a JSON object (the message names the file and line number).
    """
    train, evals = [], []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f'{path}:{number}: not a JSON line ({exc.msg})') from None
            if not isinstance(row, dict):
                raise ValueError(f'{path}:{number}: expected a JSON object, got {type(row).__name__}')
            (train if 'iter' in row else evals).append(row)
    return train, evals


def series(rows: Sequence[Dict], key: str, x_key: Optional[str]) -> Tuple[List[float], List[float]]:
    """``(x, y)`` of ``key`` over ``rows`` (x: ``rows[i][x_key]``, or the evaluation count when None)."""
    xs, ys = [], []
    for i, row in enumerate(rows):
        if key in row and isinstance(row[key], (int, float)):
            xs.append(row[x_key] if x_key else i + 1)
            ys.append(float(row[key]))
    return xs, ys


def moving_average(values: List[float], window: int) -> List[float]:
    """Trailing mean over up to ``window`` values (``window`` <= 1 returns the values)."""
    if window <= 1:
        return list(values)
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_logs(logs: Sequence[str], out: str, keys: Optional[Sequence[str]] = None,
              legend: Optional[Sequence[str]] = None, smooth: int = 1, title: Optional[str] = None) -> List[str]:
    """Draw the curves of ``keys`` from every log into ``out`` (PNG) and return the keys drawn.

    Raises:
        FileNotFoundError: A log is missing.
        ValueError: Bad JSON, a requested key is in none of the logs, or ``legend`` has the wrong length.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    files = [find_scalars(p) for p in logs]
    if legend is not None and len(legend) != len(files):
        raise ValueError(f'--legend has {len(legend)} names for {len(files)} logs')
    labels = list(legend) if legend else [osp.relpath(f) for f in files]
    data = [load_scalars(f) for f in files]
    train_keys = sorted({k for train, _ in data for row in train for k in row})
    eval_keys = sorted({k for _, evals in data for row in evals for k in row} - set(train_keys))
    if keys is None:
        keys = [k for k in train_keys if k.startswith('loss')]
        if not keys:
            raise ValueError(f'{", ".join(files)}: no training key starting with "loss"; available: '
                             f'{train_keys + eval_keys}')
    missing = [k for k in keys if k not in train_keys and k not in eval_keys]
    if missing:
        raise ValueError(f'keys {missing} are in none of {", ".join(files)}; available: {train_keys + eval_keys}')

    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        is_train = key in train_keys
        for (train, evals), label in zip(data, labels):
            xs, ys = series(train, key, 'iter') if is_train else series(evals, key, None)
            if xs:
                ax.plot(xs, moving_average(ys, smooth) if is_train else ys, label=label,
                        marker=None if is_train else 'o')
        ax.set_xlabel('iteration' if is_train else 'evaluation')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return list(keys)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Plot curves from MMEngine scalars.json logs into a PNG.')
    parser.add_argument('logs', nargs='+', help='scalars.json files or work directories')
    parser.add_argument('--keys', nargs='+', help='scalars to plot (default: every training key "loss*")')
    parser.add_argument('--out', default='curves.png', help='output PNG (default: curves.png)')
    parser.add_argument('--legend', nargs='+', help='one name per log (default: the file paths)')
    parser.add_argument('--smooth', type=int, default=1, help='moving-average window of training curves')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        drawn = plot_logs(args.logs, args.out, args.keys, args.legend, args.smooth, args.title)
    except (FileNotFoundError, ValueError) as exc:
        print(f'plot_logs: error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {args.out} ({", ".join(drawn)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
