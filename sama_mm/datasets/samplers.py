"""Training samplers that can resume in the middle of an epoch, and a length-grouped sampler.

MMEngine's samplers have no notion of a position: on ``--resume`` its ``IterBasedTrainLoop`` replays every
batch already trained on through the whole data pipeline (for SAMA, decoding thousands of videos) and its
``EpochBasedTrainLoop`` restarts the interrupted epoch from its first batch, training on those samples twice.
The samplers here take a :meth:`~ResumableSamplerMixin.skip` call from the resumable loops
(``sama_mm.engine.loops``): their next iteration starts after that many of this rank's samples, without loading
them, so a resumed run continues with exactly the batches the interrupted run would have seen.

All of them keep MMEngine's distributed contract: every rank draws the same global order (the seed is shared by
all ranks) and takes every ``world_size``-th index of it, so ``W`` ranks with batch ``b`` see, per iteration,
the same samples as one process with batch ``W * b`` (or batch ``b`` and ``W`` accumulation steps).
"""
import itertools
import math
from typing import Iterator, List, Optional, Sized

import numpy as np
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler

from ..registry import DATA_SAMPLERS


class ResumableSamplerMixin:
    """Adds :meth:`skip`: the next ``__iter__`` starts after the first ``num_samples`` indices of this rank."""

    _skip: int = 0

    def skip(self, num_samples: int) -> None:
        """Make the next iteration start after this rank's first ``num_samples`` indices (applies once).

        Args:
            num_samples (int): Samples of this rank to leave out (``batches * per-rank batch size``).
        """
        if num_samples < 0:
            raise ValueError(f'cannot skip a negative number of samples ({num_samples})')
        self._skip = int(num_samples)

    def _skipped(self, indices: Iterator[int]) -> Iterator[int]:
        start, self._skip = self._skip, 0
        return itertools.islice(indices, start, None) if start else indices


@DATA_SAMPLERS.register_module()
class ResumableDefaultSampler(ResumableSamplerMixin, DefaultSampler):
    """MMEngine's :class:`~mmengine.dataset.DefaultSampler` (epoch-based, same arguments) with :meth:`skip`."""

    def __iter__(self) -> Iterator[int]:
        return self._skipped(super().__iter__())


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(ResumableSamplerMixin, InfiniteSampler):
    """MMEngine's :class:`~mmengine.dataset.InfiniteSampler` (iteration-based) with :meth:`skip`.

    Unlike MMEngine's, every ``__iter__`` starts the stream of this rank afresh (then skips), instead of
    continuing one generator made at construction: the position is then only what the loop says it is, never
    how many indices a data loader happened to prefetch from an earlier iterator.
    """

    def __iter__(self) -> Iterator[int]:
        return self._skipped(self._indices_of_rank())


@DATA_SAMPLERS.register_module()
class LengthGroupedSampler(ResumableDefaultSampler):
    """Shuffle, then group samples of similar token length into the same batches (less padding).

    The global order is XTuner's (and LLaVA's) length-grouped order: a seeded permutation is cut into
    megabatches of ``mega_batch_mult * world_size * per_device_batch_size`` samples, each sorted by length, with
    visual (positive length) and text-only (negative length) samples never mixed in a megabatch; every rank
    then takes every ``world_size``-th index, so the ``W`` per-rank batches of one step come from the same
    megabatch. The grouping itself is :func:`length_grouped_order` (XTuner's algorithm, our code); this class
    adds what XTuner's sampler lacks: lengths of any dataset (``modality_lengths()``, a ``modality_length`` list, a
    ``ConcatDataset`` of those, or estimated from ``get_data_info`` by :func:`sama_mm.datasets.lengths.
    info_length`) and :meth:`skip` for exact resumption.

    The seed (``randomness.seed`` of the config, passed in by the runner) must be the same on every rank: it
    fixes the global order. Randomness that should differ between ranks (dropout, point sampling) is the
    model's, seeded per rank by :class:`sama_mm.engine.hooks.StepSeedHook`.

    By default every index of the dataset is drawn once per epoch (plus the round-up). The official recipe's
    sampler does not do that (``emulate_official``): XTuner's sampler permutes only as many indices as its length
    list has, and the official length list is shorter than the mixture (its referring-VOS and Ref-SAV datasets
    report one length per video without their repeats), so the last ``len(dataset) - len(lengths)`` mixture
    indices (the SAMA-239K sources at the end of the mixture) are never drawn and the round-up repeats the head of
    the shuffled order instead; its lengths are constants per dataset family (100 image/region, 10000 RVOS and
    video chat, 20000 Ref-SAV), so a megabatch is sorted by family, not by length. docs/training.md gives the
    numbers for the released mixtures.

    Args:
        dataset (Sized): The dataset.
        per_device_batch_size (int): The data loader's ``batch_size``.
        mega_batch_mult (int, optional): Megabatch size in global batches. Defaults to XTuner's choice,
            ``min(len(dataset) // (4 * global batch), 50)`` (at least 1).
        seed (int, optional): Shared random seed. Defaults to a seed synchronised from rank 0.
        round_up (bool): Repeat indices so every rank gets the same number of samples. Defaults to True.
        emulate_official (bool): Reproduce the official sampler's index list exactly: lengths from the
            dataset's ``official_modality_lengths()`` (:class:`~sama_mm.datasets.MultitaskMixture` with
            ``official_lengths``), only that many indices permuted, XTuner's round-up and samples per rank
            (``ceil(len(dataset) / world_size / per_device_batch_size) * per_device_batch_size``). Defaults to
            False (every index drawn).
    """

    def __init__(self, dataset: Sized, per_device_batch_size: int, mega_batch_mult: Optional[int] = None,
                 seed: Optional[int] = None, round_up: bool = True, emulate_official: bool = False) -> None:
        super().__init__(dataset, shuffle=True, seed=seed, round_up=round_up)
        if per_device_batch_size < 1:
            raise ValueError(f'per_device_batch_size must be >= 1, got {per_device_batch_size}')
        self.per_device_batch_size = int(per_device_batch_size)
        self.emulate_official = bool(emulate_official)
        global_batch = self.per_device_batch_size * self.world_size
        if mega_batch_mult is None:
            mega_batch_mult = max(1, min(len(dataset) // (global_batch * 4), 50))
        self.group_batch_size = int(mega_batch_mult) * global_batch
        if self.emulate_official:
            if not hasattr(dataset, 'official_modality_lengths'):
                raise ValueError(f'emulate_official=True needs a dataset with official_modality_lengths() (a '
                                 f'MultitaskMixture with official_lengths), got {type(dataset).__name__}')
            self.lengths = np.asarray(dataset.official_modality_lengths(), dtype=np.int64)
            if not 0 < len(self.lengths) <= len(dataset):
                raise ValueError(f'{type(dataset).__name__}: {len(self.lengths)} official lengths for '
                                 f'{len(dataset)} samples')
            if not self.round_up:
                raise ValueError('emulate_official=True needs round_up=True (the official sampler rounds up; '
                                 'without it, it fails on a length list shorter than the dataset)')
            # XTuner's sizes: whole per-device batches on every rank
            self.num_samples = math.ceil(len(dataset) / self.world_size / self.per_device_batch_size) * \
                self.per_device_batch_size
            self.total_size = self.num_samples * self.world_size
        else:
            self.lengths = sample_lengths(dataset)
            if len(self.lengths) != len(dataset):
                raise ValueError(f'{type(dataset).__name__}: {len(self.lengths)} lengths for {len(dataset)} '
                                 'samples')
        zero = np.flatnonzero(self.lengths == 0)
        if len(zero):
            raise ValueError(f'{type(dataset).__name__}: sample(s) {zero[:5].tolist()} have length 0; lengths '
                             'must be positive (visual) or negative (text-only)')

    def global_order(self) -> List[int]:
        """The epoch's length-grouped order of all indices (the same on every rank)."""
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        return length_grouped_order(self.lengths.tolist(), self.group_batch_size, generator=generator)

    def __iter__(self) -> Iterator[int]:
        indices = self.global_order()
        if self.round_up:
            indices = (indices * math.ceil(self.total_size / len(indices)))[:self.total_size]
        return self._skipped(iter(indices[self.rank:self.total_size:self.world_size]))


def length_grouped_order(lengths: List[int], group_size: int,
                         generator: Optional[torch.Generator] = None) -> List[int]:
    """A random order of ``range(len(lengths))`` in which neighbours have similar lengths.

    The indices are shuffled and cut into groups of ``group_size``; each group is sorted longest first. When
    the list mixes visual (positive) and text-only (negative) samples, each kind is shuffled and grouped on its
    own, the full groups of both kinds are shuffled together, and the two leftover groups are merged into one
    last group. Finally the longest sample of all is swapped to the very front, so the first batch is the
    largest and an out-of-memory error shows at once.

    This is the algorithm of XTuner's ``get_length_grouped_indices`` (xtuner/dataset/samplers/length_grouped.py,
    Copyright (c) OpenMMLab, Apache License 2.0, itself after LLaVA's length-grouped sampler), written anew
    here so that sama_mm does not depend on xtuner. It makes the same ``torch.randperm`` calls in the same order
    and sorts stably the same way, so the same generator state gives the same order as XTuner's function
    (tests/engine/test_samplers.py compares with lists recorded from it).

    Args:
        lengths: Non-zero sample lengths; negative marks a text-only sample.
        group_size: Samples per group (XTuner's "megabatch"): ``mega_batch_mult * global batch size``.
        generator: The random generator (seeded by the caller).

    Returns:
        The permuted indices.

    Raises:
        ValueError: A length is 0 or ``group_size`` < 1.
    """
    lengths = [int(v) for v in lengths]
    if any(v == 0 for v in lengths):
        raise ValueError('length_grouped_order: lengths must be non-zero')
    if group_size < 1:
        raise ValueError(f'length_grouped_order: group_size must be >= 1, got {group_size}')
    if not lengths:
        return []

    def grouped(members: List[int], key) -> List[List[int]]:
        perm = torch.randperm(len(members), generator=generator).tolist()
        return [sorted((members[k] for k in perm[start:start + group_size]), key=key, reverse=True)
                for start in range(0, len(perm), group_size)]

    visual = [i for i, v in enumerate(lengths) if v > 0]
    text = [i for i, v in enumerate(lengths) if v < 0]
    if not visual or not text:
        # One kind only: sorted by the signed length, as XTuner does (all-negative lists come shortest first).
        groups = grouped(list(range(len(lengths))), key=lambda i: lengths[i])
    else:
        visual_groups = grouped(visual, key=lambda i: lengths[i])
        text_groups = grouped(text, key=lambda i: -lengths[i])
        full = visual_groups[:-1] + text_groups[:-1]
        groups = [full[k] for k in torch.randperm(len(full), generator=generator).tolist()]
        groups.append(sorted(visual_groups[-1] + text_groups[-1], key=lambda i: abs(lengths[i]), reverse=True))
    heads = [abs(lengths[group[0]]) for group in groups]
    top = int(torch.argmax(torch.tensor(heads)).item())
    groups[0][0], groups[top][0] = groups[top][0], groups[0][0]
    return [i for group in groups for i in group]


def sample_lengths(dataset: Sized) -> np.ndarray:
    """``int64 [len(dataset)]`` token-length estimates, from what the dataset exposes (see the class above)."""
    from torch.utils.data import ConcatDataset as TorchConcatDataset

    from .mixture import dataset_lengths
    if isinstance(dataset, TorchConcatDataset):
        return np.concatenate([sample_lengths(d) for d in dataset.datasets]).astype(np.int64)
    if not hasattr(dataset, 'modality_lengths') and isinstance(getattr(dataset, 'modality_length', None),
                                                                   (list, tuple)):
        return np.asarray(dataset.modality_length, dtype=np.int64)
    return dataset_lengths(dataset).astype(np.int64)
