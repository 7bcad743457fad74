"""Resumable and length-grouped samplers: skipping, rank slices and the length grouping."""
import json
import os.path as osp
from unittest import mock

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset as TorchConcatDataset

from sama_mm.datasets import LengthGroupedSampler, MultitaskMixture, ResumableDefaultSampler, ResumableInfiniteSampler
from sama_mm.datasets.lengths import info_length
from sama_mm.datasets.samplers import length_grouped_order, sample_lengths


class Lengths:
    """A dataset that only has per-sample lengths (``modality_lengths()``, as the sama_mm datasets)."""

    def __init__(self, lengths):
        self.lengths = np.asarray(lengths)

    def __len__(self):
        return len(self.lengths)

    def modality_lengths(self):
        return self.lengths


def ranks(world_size):
    """Patch the samplers' view of the distributed world: one sampler per rank."""
    return [mock.patch('mmengine.dataset.sampler.get_dist_info', return_value=(r, world_size)) for r in
            range(world_size)]


def build(cls, dataset, world_size, **kwargs):
    out = []
    for patch in ranks(world_size):
        with patch:
            out.append(cls(dataset, seed=3, **kwargs))
    return out


@pytest.mark.parametrize('cls', [ResumableDefaultSampler, ResumableInfiniteSampler])
def test_skip_starts_the_next_iteration_later_once(cls):
    data = list(range(10))
    sampler = cls(data, seed=0)
    full = [i for i, _ in zip(sampler, range(10))]
    sampler.skip(4)
    assert [i for i, _ in zip(sampler, range(6))] == full[4:]
    # Only once: the iteration after starts at the beginning again.
    assert [i for i, _ in zip(sampler, range(10))] == full
    with pytest.raises(ValueError, match='negative'):
        sampler.skip(-1)


def test_infinite_sampler_position_does_not_depend_on_earlier_iterators():
    sampler = ResumableInfiniteSampler(list(range(7)), seed=1)
    first = iter(sampler)
    prefetched = [next(first) for _ in range(5)]  # what a data loader's workers might have taken
    assert [i for i, _ in zip(sampler, range(5))] == prefetched


def test_length_grouped_global_order_is_shared_and_grouped():
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(100, 3000, 60), -rng.integers(10, 500, 20)])
    dataset = Lengths(lengths)
    one = build(LengthGroupedSampler, dataset, 1, per_device_batch_size=4, mega_batch_mult=2)[0]
    two = build(LengthGroupedSampler, dataset, 2, per_device_batch_size=2, mega_batch_mult=2)
    order = list(one)
    assert sorted(order) == list(range(80))
    # Two ranks with batch 2 take the same global order as one process with batch 4, interleaved.
    r0, r1 = list(two[0]), list(two[1])
    assert [i for pair in zip(r0, r1) for i in pair] == order
    # Megabatches of 2 global batches (8 samples) are sorted by length and never mix visual and text-only.
    for start in range(0, 72, 8):
        block = lengths[order[start:start + 8]]
        assert (block > 0).all() or (block < 0).all(), block
    # (XTuner then swaps the longest sample to the very front: the first element of a block may have moved.)
    visual = [block[1:] for block in (lengths[order[s:s + 8]] for s in range(0, 72, 8)) if (block > 0).all()]
    assert len(visual) == 7 and all((np.diff(block) <= 0).all() for block in visual)
    assert abs(lengths[order[0]]) == np.abs(lengths).max()
    # Grouping reduces the spread of lengths inside a batch compared with plain shuffling.
    batches = np.abs(lengths[order[:76]]).reshape(-1, 4)
    shuffled = np.abs(lengths[np.random.default_rng(1).permutation(80)[:76]]).reshape(-1, 4)
    assert np.ptp(batches, axis=1).mean() < 0.5 * np.ptp(shuffled, axis=1).mean()
    # Another epoch, another order; skip works as for the other samplers.
    one.set_epoch(1)
    assert list(one) != order
    one.skip(5)
    one.set_epoch(0)
    assert list(one) == order[5:]


def test_length_grouped_reads_lengths_of_concat_and_mixture_datasets():
    a, b = Lengths([5, 6, 7]), Lengths([-3, 8])
    assert sample_lengths(TorchConcatDataset([a, b])).tolist() == [5, 6, 7, -3, 8]
    assert sample_lengths(MultitaskMixture([a, b], repeats=[2, 1])).tolist() == [5, 6, 7, 5, 6, 7, -3, 8]
    # A dataset without lengths: estimated from its data infos (the sama_mm datasets' info_length).
    infos = [dict(expression='the red ball'), dict(rounds=[dict(question='What is <mask> doing?',
                                                                answer='It rolls to the left.')])]
    plain = mock.Mock(spec=['__len__', 'get_data_info'])
    plain.__len__ = mock.Mock(return_value=2)
    plain.get_data_info = infos.__getitem__
    assert sample_lengths(plain).tolist() == [info_length(i) for i in infos]
    assert all(n > 0 for n in sample_lengths(plain))


def test_length_grouped_rejects_zero_lengths():
    with pytest.raises(ValueError, match=r'sample\(s\) \[1\] have length 0'):
        LengthGroupedSampler(Lengths([3, 0, 4]), per_device_batch_size=1, seed=0)


class OfficialLike:
    """An official-style dataset: ``__len__`` = items x repeats, ``modality_length`` a constant per item (with or
    without the repeats, as the official RVOS/Ref-SAV datasets)."""

    def __init__(self, items, repeats, length, with_repeats):
        self.items, self.repeats = items, repeats
        self.modality_length = [length] * (items * repeats if with_repeats else items)

    def __len__(self):
        return self.items * self.repeats


# (items, repeats, official length, official list covers the repeats): image x4, RVOS-like x10 (no repeats in its
# list), video chat x1, Ref-SAV-like x4 (no repeats), SAMA-239K-like x5 at the end.
SMALL_OFFICIAL_MIXTURE = ((7, 4, 100, True), (5, 10, 10000, False), (6, 1, 10000, True), (4, 4, 20000, False),
                          (9, 5, 100, True))


def small_mixture():
    return MultitaskMixture([Lengths([50 + i for i in range(n)]) for n, _, _, _ in SMALL_OFFICIAL_MIXTURE],
                            repeats=[r for _, r, _, _ in SMALL_OFFICIAL_MIXTURE],
                            official_lengths=[(v, w) for _, _, v, w in SMALL_OFFICIAL_MIXTURE])


def test_length_grouped_draws_every_index_once_per_epoch():
    mix = small_mixture()
    (one,) = build(LengthGroupedSampler, mix, 1, per_device_batch_size=4, round_up=False)
    assert sorted(one) == list(range(len(mix)))
    two = build(LengthGroupedSampler, mix, 2, per_device_batch_size=4, round_up=False)
    assert sorted(list(two[0]) + list(two[1])) == list(range(len(mix)))


XTUNER_ORDERS = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'xtuner_length_grouped', 'orders.json')


def _xtuner_orders():
    """Orders recorded from xtuner 0.1.23 by tools/dev/record_xtuner_length_grouped.py (xtuner is not needed)."""
    with open(XTUNER_ORDERS) as f:
        return json.load(f)


def test_length_grouped_order_equals_xtuner_function():
    recorded = _xtuner_orders()
    assert [c['name'] for c in recorded['functions']] == ['visual_only', 'text_only', 'mixed', 'mixed_ties']
    for case in recorded['functions']:
        generator = torch.Generator()
        generator.manual_seed(case['seed'])
        assert length_grouped_order(case['lengths'], case['group_size'], generator=generator) == case['order'], \
            case['name']
    with pytest.raises(ValueError, match='non-zero'):
        length_grouped_order([1, 0], 2)


@pytest.mark.parametrize('world_size', [1, 2])
def test_emulate_official_reproduces_the_xtuner_sampler(world_size):
    recorded = _xtuner_orders()
    assert [tuple(spec) for spec in recorded['mixture']] == list(SMALL_OFFICIAL_MIXTURE)
    official = TorchConcatDataset([OfficialLike(*spec) for spec in SMALL_OFFICIAL_MIXTURE])
    mix = small_mixture()
    assert len(mix) == len(official) == 28 + 50 + 6 + 16 + 45
    assert len(mix.official_modality_lengths()) == len(official) - (9 * 5 + 3 * 4)  # RVOS/Ref-SAV repeats missing
    theirs = {(r['rank'], r['epoch']): r for r in recorded['samplers'] if r['world_size'] == world_size}
    assert len(theirs) == 2 * world_size
    for rank in range(world_size):
        with mock.patch('mmengine.dataset.sampler.get_dist_info', return_value=(rank, world_size)):
            ours = LengthGroupedSampler(mix, per_device_batch_size=4, seed=11, emulate_official=True)
        for epoch in (0, 1):
            ours.set_epoch(epoch)
            assert list(ours) == theirs[rank, epoch]['order']
            assert len(ours) == theirs[rank, epoch]['length']


def test_emulate_official_leaves_the_tail_out_and_repeats_the_shuffled_head():
    mix = small_mixture()
    (ours,) = build(LengthGroupedSampler, mix, 1, per_device_batch_size=4, emulate_official=True)
    drawn = list(ours)
    permuted = len(mix.official_modality_lengths())
    assert max(drawn) == permuted - 1  # the last len(mix) - permuted indices (SAMA-239K-like tail) never come
    assert len(drawn) - len(set(drawn)) == len(drawn) - permuted  # the round-up re-draws the head of the order
    assert drawn[permuted:] == drawn[:len(drawn) - permuted]


def test_emulate_official_needs_official_lengths():
    with pytest.raises(ValueError, match='official_modality_lengths'):
        LengthGroupedSampler(Lengths([3, 4]), per_device_batch_size=1, seed=0, emulate_official=True)
    with pytest.raises(ValueError, match='no official_lengths'):
        MultitaskMixture([Lengths([3, 4])]).official_modality_lengths()
