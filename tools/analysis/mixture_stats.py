#!/usr/bin/env python
"""What one epoch of a training config is made of, source by source.

    python tools/analysis/mixture_stats.py CONFIG [--cfg-options KEY=VALUE ...] [--max-samples N] [--gpus G]
                                          [--sizes NAME=COUNT ...]

For every source of the training dataset (a ``MultitaskMixture``, an MMEngine ``ConcatDataset`` or a single
dataset) it prints the samples per epoch (items x repeat factor) and the share of the epoch, the mean number of
``[SEG]`` tokens, conversation rounds and tokens per sample (measured by running the source's pipeline on up to
``--max-samples`` items spread over the source; 0 = all), and the iterations per epoch that the source takes at
``batch_size x --gpus`` samples per iteration. The ``repeats``, ``names`` and ``official_lengths`` of a
``MultitaskMixture`` are read from the config (a ``ConcatDataset`` counts each child once, unless ``--cfg-options``
gives those keys). When the mixture carries ``official_lengths``, it also gives, per
source, how many samples of an epoch the official sampler never draws (see
:class:`sama_mm.datasets.LengthGroupedSampler`, ``emulate_official``). A table comes first, then one JSON line
with the same numbers.

``--sizes NAME=COUNT`` replaces a source's item count (videos, records, images) by COUNT and skips building it
(no per-sample figures), to estimate the composition of a mixture whose data is not on this machine.
"""
import argparse
import json
import math
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Per-source statistics of one epoch of a training config.')
    parser.add_argument('config', help='a training config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config settings, as in tools/train.py')
    parser.add_argument('--max-samples', type=int, default=20,
                        help='items per source run through its pipeline for the per-sample means (0 = all)')
    parser.add_argument('--gpus', type=int, default=8, help='GPUs of the run (iterations = samples / (batch x gpus))')
    parser.add_argument('--sizes', nargs='+', default=[], metavar='NAME=COUNT',
                        help='use COUNT items for source NAME instead of building it (estimates)')
    args = parser.parse_args(argv)
    if args.max_samples < 0 or args.gpus < 1:
        parser.error('--max-samples must be >= 0 and --gpus >= 1')
    sizes = {}
    for item in args.sizes:
        name, _, count = item.partition('=')
        if not count.isdigit():
            parser.error(f'--sizes takes NAME=COUNT, got {item!r}')
        sizes[name] = int(count)
    args.sizes = sizes
    return args


def sources_of(dataset_cfg: Dict) -> Tuple[List[Tuple[str, Dict, int]], Optional[List[tuple]]]:
    """``[(name, config, repeat)]`` of the training dataset's sources, and its ``official_lengths`` if any."""
    if 'datasets' in dataset_cfg:
        children = list(dataset_cfg['datasets'])
        repeats = list(dataset_cfg.get('repeats') or [1] * len(children))
        default = [f'{_type_name(c)}#{i}' for i, c in enumerate(children)]
        names = list(dataset_cfg.get('names') or default)
        official = dataset_cfg.get('official_lengths')
        for key, values in (('repeats', repeats), ('names', names), ('official_lengths', official or children)):
            if len(values) != len(children):
                raise SystemExit(f'train_dataloader.dataset.{key} has {len(values)} entries for {len(children)} '
                                 'datasets')
        return list(zip(names, children, repeats)), ([tuple(v) for v in official] if official else None)
    return [(_type_name(dataset_cfg), dataset_cfg, 1)], None


def _type_name(cfg: Dict) -> str:
    kind = cfg.get('type')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))


def sample_figures(sample: Any) -> Tuple[int, int, int]:
    """``([SEG] count, rounds, tokens)`` of one pipeline output (packed, or a dict still holding ``rounds``)."""
    if isinstance(sample, dict) and 'data_samples' in sample:
        meta = sample['data_samples'].metainfo
        answers = list(meta.get('answers') or [])
        tokens = int(len(sample['inputs']['input_ids']))
    else:
        answers = [r['answer'] for r in sample.get('rounds', [])]
        tokens = len(sample.get('input_ids', []))
    return sum(a.count('[SEG]') for a in answers), len(answers), tokens


def measure(dataset: Any, max_samples: int) -> Dict[str, Any]:
    """Mean ``[SEG]``, rounds and tokens per sample over up to ``max_samples`` evenly spread items."""
    n = len(dataset)
    if n == 0:
        return dict(measured=0)
    picks = range(n) if not max_samples or n <= max_samples else \
        sorted(set(np.linspace(0, n - 1, max_samples).round().astype(int).tolist()))
    figures = np.asarray([sample_figures(dataset[int(i)]) for i in picks], dtype=np.float64)
    seg, rounds, tokens = figures.mean(0)
    return dict(measured=len(figures), seg_per_sample=round(float(seg), 3), rounds_per_sample=round(float(rounds), 3),
                tokens_per_sample=round(float(tokens), 1))


def never_drawn(rows: List[Dict], official: List[tuple]) -> None:
    """Add, per source, the samples the official sampler never draws (indices past its shorter length list)."""
    permuted = sum(abs(n) * (r if with_repeats else 1)
                   for n, r, (_, with_repeats) in ((row['items'], row['repeat'], o) for row, o in zip(rows, official)))
    start = 0
    for row in rows:
        end = start + row['samples']
        row['official_never_drawn'] = int(end - max(start, min(end, permuted)))
        start = end


def collect(args: argparse.Namespace) -> Dict[str, Any]:
    from sama_mm.registry import DATASETS
    from sama_mm.utils import register_all_modules
    from sama_mm.utils.config_check import read_config
    cfg = read_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules()
    loader = cfg.get('train_dataloader')
    if not loader or 'dataset' not in loader:
        raise SystemExit(f'{args.config} has no train_dataloader.dataset')
    sources, official = sources_of(loader['dataset'])
    unknown = set(args.sizes) - {name for name, _, _ in sources}
    if unknown:
        raise SystemExit(f'--sizes names unknown sources {sorted(unknown)}; the sources are '
                         f'{[name for name, _, _ in sources]}')
    rows = []
    for name, ds_cfg, repeat in sources:
        row: Dict[str, Any] = dict(name=name, repeat=int(repeat))
        if name in args.sizes:
            row.update(items=args.sizes[name], estimated=True)
        else:
            dataset = DATASETS.build(ds_cfg)
            row.update(items=len(dataset), estimated=False, **measure(dataset, args.max_samples))
        row['samples'] = row['items'] * row['repeat']
        rows.append(row)
    total = sum(r['samples'] for r in rows)
    per_iter = int(loader.get('batch_size', 1)) * args.gpus
    accumulate = int((cfg.get('optim_wrapper') or {}).get('accumulative_counts', 1) or 1)
    for row in rows:
        row['share'] = round(row['samples'] / total, 4) if total else 0.0
        row['iters_per_epoch'] = round(row['samples'] / per_iter, 1)
    if official:
        never_drawn(rows, official)
    iters = math.ceil(total / per_iter) if total else 0
    return dict(config=args.config, gpus=args.gpus, batch_size=per_iter // args.gpus, samples_per_iter=per_iter,
                accumulative_counts=accumulate, sources=rows,
                total=dict(samples=total, iters_per_epoch=iters, optimizer_steps=math.ceil(iters / accumulate)))


def table(stats: Dict[str, Any]) -> str:
    cols = [('source', 'name', '{}'), ('items', 'items', '{}'), ('rep', 'repeat', '{}'),
            ('samples', 'samples', '{}'), ('share', 'share', '{:.1%}'), ('[SEG]/s', 'seg_per_sample', '{:.2f}'),
            ('rounds/s', 'rounds_per_sample', '{:.2f}'), ('tokens/s', 'tokens_per_sample', '{:.0f}'),
            ('iters', 'iters_per_epoch', '{:.1f}')]
    if any('official_never_drawn' in r for r in stats['sources']):
        cols.append(('official never drawn', 'official_never_drawn', '{}'))
    cells = [[h for h, _, _ in cols]]
    for row in stats['sources']:
        line = [fmt.format(row[key]) if row.get(key) is not None else '-' for _, key, fmt in cols]
        if row.get('estimated'):
            line[1] += '*'
        cells.append(line)
    t = stats['total']
    cells.append(['total', '', '', str(t['samples']), '100.0%', '', '', '', str(t['iters_per_epoch'])]
                 + [''] * (len(cols) - 9))
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = ['  '.join(c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(cols)))
             for c in cells]
    lines.insert(1, '-' * len(lines[0]))
    lines.append(f'{t["iters_per_epoch"]} iterations of {stats["samples_per_iter"]} samples '
                 f'({stats["batch_size"]} x {stats["gpus"]} GPUs), {t["optimizer_steps"]} optimizer steps '
                 f'(accumulating {stats["accumulative_counts"]})' +
                 ('; * = item count given with --sizes' if any(r.get('estimated') for r in stats['sources'])
                  else ''))
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    stats = collect(args)
    print(table(stats))
    print(json.dumps(stats))
    return 0


if __name__ == '__main__':
    sys.exit(main())
