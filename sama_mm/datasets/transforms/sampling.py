"""Deterministic sparse/dense frame sampling of SAMA.

The LLM sees the *sparse* frames through one context token each (T ≤ ``max_frames``) and the *dense* frames
(a subset of ``num_dense`` sparse frames) with all their 256 vision tokens; SAM2 is supervised on the dense
frames.

Differences from the released code (on purpose):

* It is fully deterministic: no ``np.random`` anywhere, so a sample is the same in every epoch, worker and
  run. (The reference training picks dense frames with a fixed rule for SAMA-239K and referring VOS but at
  random inside five segments for ChatUniVi video QA; its ``random``-driven choices elsewhere, e.g. which
  expressions form a sample, belong to datasets, not to this sampler.)
* ``topup='distinct'`` (an option): the top-up to ``min_frames`` picks frames not chosen yet, so a video gives
  ``min(num_frames, min_frames)`` frames or more. The default ``'official'`` adds the official frames
  ``int((j + 1) * num_frames / (needed + 1))`` and drops duplicates, which can leave fewer than ``min_frames``
  (e.g. 7 of an 8-frame video).
* Uniform dense positions never contain -1 or duplicates: with T ≤ ``num_dense`` every sparse frame is
  dense (the reference's ``get_dense_indices`` breaks there).
* Arguments are keywords, so ``max_frames`` can never be taken for ``interval`` as in the reference's RVOS
  training datasets.
"""
from typing import Dict, List

from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ..errors import DataError
from ._utils import record_of, source_of


#: How :func:`sparse_indices` keeps ``max_frames`` of more strided frames.
SPARSE_POLICIES = ('spread', 'first')
#: How :func:`sparse_indices` tops a short video up to ``min_frames``.
TOPUP_POLICIES = ('official', 'distinct')


def sparse_indices(num_frames: int, interval: int = 3, max_frames: int = 32, min_frames: int = 8,
                   policy: str = 'spread', topup: str = 'official') -> List[int]:
    """Raw indices of the sparse frames: sorted, unique, ``T ≤ max_frames``.

    1. every ``interval``-th frame from 0;
    2. more than ``max_frames``: ``policy='spread'`` keeps positions ``i * L // max_frames`` (i < max_frames) of
       those L frames (SAMA's rule); ``policy='first'`` keeps the first ``max_frames`` of them (the released
       Sa2VA inference, whose LLM sees the first five frames of the video);
    3. fewer than ``min_frames``: ``topup='official'`` adds frames ``int((j + 1) * num_frames / (needed + 1))``
       for j < needed and drops duplicates (the official rule; T may stay below ``min_frames``);
       ``topup='distinct'``: if the video has at most ``min_frames`` frames take all of them, otherwise add the
       ``needed`` missing ones from the frames not chosen yet (C of them) at positions
       ``(j + 1) * C // (needed + 1)`` — evenly spread and distinct because C ≥ needed, so
       ``T ≥ min(num_frames, min_frames)``.
    """
    if num_frames <= 0:
        raise ValueError(f'a video needs at least one frame, got {num_frames}')
    if policy not in SPARSE_POLICIES:
        raise ValueError(f'sparse_policy must be one of {SPARSE_POLICIES}, got {policy!r}')
    if topup not in TOPUP_POLICIES:
        raise ValueError(f'topup must be one of {TOPUP_POLICIES}, got {topup!r}')
    chosen = list(range(0, num_frames, interval))
    if len(chosen) > max_frames:
        chosen = chosen[:max_frames] if policy == 'first' else \
            [chosen[i * len(chosen) // max_frames] for i in range(max_frames)]
    if len(chosen) < min_frames and topup == 'official':
        needed = min_frames - len(chosen)
        return sorted(set(chosen + [int((j + 1) * num_frames / (needed + 1)) for j in range(needed)]))
    if len(chosen) < min_frames:
        if num_frames <= min_frames:
            return list(range(num_frames))
        taken = set(chosen)
        free = [i for i in range(num_frames) if i not in taken]
        needed = min_frames - len(chosen)
        chosen = sorted(chosen + [free[(j + 1) * len(free) // (needed + 1)] for j in range(needed)])
    return chosen


def dense_positions(num_sparse: int, num_dense: int = 5, policy: str = 'uniform') -> List[int]:
    """Positions (into the sparse list) of the dense frames: sorted, unique, ``min(T, num_dense)`` of them.

    ``'uniform'``: with T > num_dense, boundaries ``b_i = i * (T - 1) // num_dense`` (the integer part of the
    reference's ``linspace(0, T - 1, num_dense + 1)``) and the centre ``(b_i + b_{i+1} - 1) // 2`` of each
    segment — the reference's training rule (T = 32 → [2, 8, 14, 20, 27]); segments are disjoint so the
    positions are distinct. ``'first'``: the first ``num_dense`` (the released inference rule). With
    T ≤ num_dense both give every position.
    """
    if policy not in ('uniform', 'first'):
        raise ValueError(f"dense_policy must be 'uniform' or 'first', got {policy!r}")
    if num_sparse <= num_dense or policy == 'first':
        return list(range(min(num_sparse, num_dense)))
    bounds = [i * (num_sparse - 1) // num_dense for i in range(num_dense + 1)]
    return [(bounds[i] + bounds[i + 1] - 1) // 2 for i in range(num_dense)]


@TRANSFORMS.register_module()
class SampleFrames(BaseTransform):
    """Choose the sparse frames of a video and the dense frames among them (deterministic).

    Required Keys:

        - num_frames (int): Number of frames of the video (from :class:`VideoInit`).

    Added Keys:

        - frame_indices (list[int]): Raw indices of the T sparse frames, sorted and unique.
        - dense_positions (list[int]): Positions into ``frame_indices`` of the D dense frames, sorted and unique
          (D = ``min(T, num_dense)``).

    Args:
        interval (int): Stride of the sparse frames. Defaults to 3.
        max_frames (int): Most sparse frames. Defaults to 32.
        min_frames (int): Fewest sparse frames when the video has that many. Defaults to 8.
        num_dense (int): Number of dense frames. Defaults to 5.
        dense_policy (str): ``'uniform'`` (centres of equal segments, the reference's training rule) or
            ``'first'`` (the first ``num_dense``, the released inference rule, whose SAM2 prompting starts at
            frame 0). Defaults to ``'uniform'``.
        sparse_policy (str): Which ``max_frames`` of more strided frames are kept: ``'spread'`` (evenly spread,
            SAMA's rule) or ``'first'`` (the first ones: with ``interval=1, max_frames=5`` the LLM sees frames
            0-4 as in the released Sa2VA inference). Defaults to ``'spread'``.
        topup (str): How a video with fewer than ``min_frames`` strided frames is topped up: ``'official'``
            (the official rule, duplicates dropped) or ``'distinct'`` (always ``min(num_frames, min_frames)``
            frames or more). Defaults to ``'official'``.
    """

    def __init__(self, interval: int = 3, max_frames: int = 32, min_frames: int = 8, num_dense: int = 5,
                 dense_policy: str = 'uniform', sparse_policy: str = 'spread', topup: str = 'official'):
        for name, value in (('interval', interval), ('max_frames', max_frames), ('num_dense', num_dense)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive integer, got {value!r}')
        if not isinstance(min_frames, int) or not 1 <= min_frames <= max_frames:
            raise ValueError(f'min_frames must be an integer in [1, max_frames={max_frames}], got {min_frames!r}')
        if dense_policy not in ('uniform', 'first'):
            raise ValueError(f"dense_policy must be 'uniform' or 'first', got {dense_policy!r}")
        if sparse_policy not in SPARSE_POLICIES:
            raise ValueError(f'sparse_policy must be one of {SPARSE_POLICIES}, got {sparse_policy!r}')
        if topup not in TOPUP_POLICIES:
            raise ValueError(f'topup must be one of {TOPUP_POLICIES}, got {topup!r}')
        self.sparse_policy = sparse_policy
        self.topup = topup
        self.interval = interval
        self.max_frames = max_frames
        self.min_frames = min_frames
        self.num_dense = num_dense
        self.dense_policy = dense_policy

    def transform(self, results: Dict) -> Dict:
        num_frames = results.get('num_frames')
        if not isinstance(num_frames, int) or num_frames < 1:
            raise DataError('schema', source_of(results), f'"num_frames" must be a positive int, got {num_frames!r}',
                            record_of(results))
        indices = sparse_indices(num_frames, self.interval, self.max_frames, self.min_frames, self.sparse_policy,
                                 self.topup)
        results['frame_indices'] = indices
        results['dense_positions'] = dense_positions(len(indices), self.num_dense, self.dense_policy)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(interval={self.interval}, max_frames={self.max_frames}, '
                f'min_frames={self.min_frames}, num_dense={self.num_dense}, dense_policy={self.dense_policy!r}, '
                f'sparse_policy={self.sparse_policy!r}, topup={self.topup!r})')
