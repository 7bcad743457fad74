#!/usr/bin/env python
"""Check annotation files against their format and the videos and masks on disk.

Two ways to name what to check:

    python tools/check_dataset.py CONFIG [--split train val test] [--cfg-options k=v ...]
    python tools/check_dataset.py --ann FILE --video-root DIR [--mask-dict [SUBSTR=]FILE ...] [--mask-dir DIR]

With ``--ann``, a JSON list is read as SAMA-239K records (``--video-root`` is the folder their ``video`` paths
are relative to; mask dicts default to the ``*mask_dict*`` files next to FILE, matched to records by the
source name in their file name), and ``{"videos": ...}`` as a referring-VOS ``meta_expressions.json``
(``--video-root`` is the ``JPEGImages`` folder; masks from ``--mask-dict`` or ``--mask-dir``).

Prints one report per dataset (counts, then every problem with its file and record: all the problems of every
record, not only the first of each video) and exits 1 when any problem was found, 0 otherwise. Frame folders are
checked frame by frame: every listed frame must exist and decode (a corrupt or truncated JPEG is named) and have
the size of the first frame.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, Iterator, List

# Source names of the released SAMA-239K / SAMA-Bench mask dicts: the substring of a record's video path,
# and how that source is spelled in the mask-dict file names (lower-cased, without separators).
KNOWN_SOURCES = {'mevis': 'mevis', 'lvvis': 'lvvis', 'ref_youtube_vos': 'refyoutube', 'VidSTG': 'vidstg',
                 'sav': 'sav'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Check a dataset against its format and the files on disk.')
    parser.add_argument('config', nargs='?', help='a config whose dataloaders name the datasets to check')
    parser.add_argument('--split', nargs='+', default=['train', 'val', 'test'], choices=['train', 'val', 'test'],
                        help='which dataloaders of CONFIG to check (default: all three)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config settings, as in tools/train.py')
    parser.add_argument('--ann', help='an annotation file to check without a config')
    parser.add_argument('--video-root', help='with --ann: where the videos / frame folders are')
    parser.add_argument('--mask-dict', action='append', default=[], metavar='[SUBSTR=]FILE',
                        help='with --ann: a mask dict; SUBSTR selects the SAMA-239K records it serves')
    parser.add_argument('--mask-dir', help='with --ann: a folder of indexed PNG masks (Ref-YouTube-VOS)')
    parser.add_argument('--max-problems', type=int, default=50, help='problems printed per dataset')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.ann is None):
        parser.error('give either CONFIG or --ann FILE')
    if args.ann is not None and args.video_root is None:
        parser.error('--ann needs --video-root')
    return args


def iter_dataset_cfgs(cfg, where: str) -> Iterator:
    """Yield every leaf dataset config below a dataset config (through Concat/Repeat wrappers)."""
    if 'datasets' in cfg:
        for i, child in enumerate(cfg['datasets']):
            yield from iter_dataset_cfgs(child, f'{where}.datasets.{i}')
    elif 'dataset' in cfg:
        yield from iter_dataset_cfgs(cfg['dataset'], f'{where}.dataset')
    else:
        yield where, cfg


def datasets_from_config(args) -> Iterator:
    from sama_mm.registry import DATASETS
    from sama_mm.utils import register_all_modules
    from sama_mm.utils.config_check import ConfigError, check_config, read_config

    cfg = read_config(args.config)  # a missing or broken config is a ConfigError naming the file
    if args.cfg_options:
        try:
            cfg.merge_from_dict(_parse_cfg_options(args.cfg_options))
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ConfigError('--cfg-options', f'cannot apply {args.cfg_options}: {exc}') from None
    check_config(cfg, keys=[f'{split}_dataloader' for split in args.split])
    register_all_modules()
    for split in args.split:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for where, ds_cfg in iter_dataset_cfgs(loader['dataset'], f'{split}_dataloader.dataset'):
            ds_cfg = dict(ds_cfg, lazy_init=True)
            # Built by the caller, so that a dataset that cannot be built does not stop the check of the others.
            yield where, lambda ds_cfg=ds_cfg: DATASETS.build(ds_cfg)


def _parse_cfg_options(options: List[str]) -> Dict:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o


def discover_mask_dicts(ann_file: str, explicit: List[str]) -> Dict[str, str]:
    """Map record-path substrings to mask-dict files, from ``--mask-dict`` or the files next to ``ann_file``."""
    mapping: Dict[str, str] = {}
    files = []
    for item in explicit:
        if '=' in item:
            sub, path = item.split('=', 1)
            mapping[sub] = osp.abspath(path)
        else:
            files.append(osp.abspath(item))
    if not explicit:
        folder = osp.dirname(osp.abspath(ann_file))
        files = sorted(glob.glob(osp.join(folder, '*mask_dict*')))
    for path in files:
        name = osp.basename(path).lower().replace('_', '').replace('-', '')
        for sub, spelled in KNOWN_SOURCES.items():
            if spelled in name and sub not in mapping:
                mapping[sub] = path
    return mapping


def dataset_from_ann(args):
    from sama_mm.datasets import RefVOSDataset, SAMA239KDataset
    from sama_mm.datasets.io import load_json

    ann = osp.abspath(args.ann)
    data = load_json(ann)  # a pickle or broken JSON raises a DataError naming the file
    if isinstance(data, list):
        mask_dicts = discover_mask_dicts(ann, args.mask_dict)
        if not mask_dicts:
            raise SystemExit(f'{args.ann}: no mask dict found next to it; name one with --mask-dict SUBSTR=FILE')
        return SAMA239KDataset(ann, mask_dicts=mask_dicts, data_root=osp.abspath(args.video_root), lazy_init=True)
    if isinstance(data, dict) and 'videos' in data:
        if len(args.mask_dict) > 1:
            raise SystemExit('a meta_expressions.json takes at most one --mask-dict')
        mask_file = osp.abspath(args.mask_dict[0].split('=', 1)[-1]) if args.mask_dict else None
        return RefVOSDataset(ann, data_root='', data_prefix=dict(video=osp.abspath(args.video_root)),
                             mask_file=mask_file, mask_dir=osp.abspath(args.mask_dir) if args.mask_dir else None,
                             lazy_init=True)
    raise SystemExit(f'{args.ann}: neither a SAMA-239K record list nor a meta_expressions.json '
                     '({"videos": ...})')


def main(argv=None) -> int:
    args = parse_args(argv)
    from sama_mm.datasets import CheckReport, DataError
    from sama_mm.utils.config_check import ConfigError

    reports: List[CheckReport] = []
    try:
        if args.config:
            for where, build in datasets_from_config(args):
                print(f'checking {where} ...', flush=True)
                try:  # a dataset that cannot even be built is reported, and the others are still checked
                    reports.append(build().check())
                except DataError as exc:
                    reports.append(CheckReport(f'{where} (unreadable)', exc.file, problems=[exc]))
        else:
            reports.append(dataset_from_ann(args).check())
    except DataError as exc:
        reports.append(CheckReport('(unreadable)', exc.file, problems=[exc]))
    except ConfigError as exc:  # the config itself is wrong: nothing was checked
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for report in reports:
        print(report.format(args.max_problems))
    total = sum(len(r.problems) for r in reports)
    print(json.dumps(dict(datasets=len(reports), problems=total)))
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
