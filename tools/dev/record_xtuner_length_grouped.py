#!/usr/bin/env python
"""Record XTuner's length-grouped sampler orders once, as the fixture that tests/engine/test_samplers.py compares with.

    python tools/dev/record_xtuner_length_grouped.py [--out tests/data/xtuner_length_grouped/orders.json]

Needs xtuner 0.1.23 (``pip install --no-deps xtuner==0.1.23``; sama_mm itself no longer depends on it). Records:

* ``functions``: ``get_length_grouped_indices(lengths, group_size, generator seeded with seed)`` for a few
  length lists (one kind only, text-only only, visual and text-only mixed).
* ``samplers``: the index lists of XTuner's ``LengthGroupedSampler`` on the official-style mixture of the test
  (``SMALL_OFFICIAL_MIXTURE``: a ``ConcatDataset`` of datasets with a ``modality_length`` list each), per world
  size, rank and epoch, with ``per_device_batch_size=4`` and ``seed=11``.
"""
import argparse
import json
import os.path as osp
import sys
from unittest import mock

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

FUNCTION_CASES = [
    dict(name='visual_only', lengths=[(i * 37) % 23 + 1 for i in range(41)], group_size=8, seed=3),
    dict(name='text_only', lengths=[-((i * 13) % 17 + 1) for i in range(29)], group_size=6, seed=5),
    dict(name='mixed', lengths=[((i * 29) % 31 + 1) * (1 if i % 3 else -1) for i in range(57)], group_size=8,
         seed=7),
    dict(name='mixed_ties', lengths=[5 if i % 2 else -5 for i in range(20)], group_size=4, seed=9),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'tests/data/xtuner_length_grouped/orders.json'))
    args = parser.parse_args()
    import torch
    from torch.utils.data import ConcatDataset
    from xtuner.dataset.samplers import LengthGroupedSampler
    from xtuner.dataset.samplers.length_grouped import get_length_grouped_indices

    from tests.engine.test_samplers import SMALL_OFFICIAL_MIXTURE, OfficialLike
    functions = []
    for case in FUNCTION_CASES:
        generator = torch.Generator()
        generator.manual_seed(case['seed'])
        order = get_length_grouped_indices(case['lengths'], case['group_size'], generator=generator)
        functions.append(dict(case, order=[int(i) for i in order]))
    samplers = []
    official = ConcatDataset([OfficialLike(*spec) for spec in SMALL_OFFICIAL_MIXTURE])
    for world_size in (1, 2):
        for rank in range(world_size):
            with mock.patch('xtuner.dataset.samplers.length_grouped.get_dist_info', return_value=(rank, world_size)):
                sampler = LengthGroupedSampler(official, per_device_batch_size=4, length_property='modality_length',
                                               seed=11)
            for epoch in (0, 1):
                sampler.set_epoch(epoch)
                samplers.append(dict(world_size=world_size, rank=rank, epoch=epoch, per_device_batch_size=4, seed=11,
                                     length=len(sampler), order=[int(i) for i in sampler]))
    import xtuner
    with open(args.out, 'w') as f:
        json.dump(dict(source=f'xtuner {xtuner.__version__}', mixture=SMALL_OFFICIAL_MIXTURE, functions=functions,
                       samplers=samplers), f)
        f.write('\n')
    print(f'wrote {len(functions)} function orders and {len(samplers)} sampler orders to {args.out}')


if __name__ == '__main__':
    main()
