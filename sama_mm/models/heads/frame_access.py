"""Random access to the frames a mask head segments, whatever form the caller gives them in."""
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

#: Frames as a tensor ``[T, ...]``, a list of chunk tensors (in temporal order) or a loader ``indices -> Tensor``.
FrameSource = Union[Tensor, Sequence[Tensor], Callable[[List[int]], Tensor]]


class FrameAccess:
    """Frames ``indices`` of a :data:`FrameSource`, read on demand.

    Args:
        images: A tensor ``[T, 3, S, S]``, a list of chunk tensors ``[t_i, 3, S, S]``, or a callable
            ``load(indices) -> Tensor[len(indices), 3, S, S]`` (a long video read chunk by chunk).
        num_frames: Number of frames T (required for a callable; checked against the others).
    """

    def __init__(self, images: FrameSource, num_frames: Optional[int]):
        if isinstance(images, Tensor):
            if images.dim() != 4:
                raise ValueError(f'images must be [T, 3, S, S], got {tuple(images.shape)}')
            self._tensor, self.num_frames = images, images.shape[0]
        elif callable(images):
            if num_frames is None:
                raise ValueError('num_frames is required when images is a callable')
            self._loader, self.num_frames = images, int(num_frames)
        else:
            # Chunks the caller already holds are kept as given; long videos should come as a callable.
            self._chunks = [c if c.dim() == 4 else c.unsqueeze(0) for c in images]
            sizes = [c.shape[0] for c in self._chunks]
            self._starts = np.cumsum([0] + sizes)
            self.num_frames = int(self._starts[-1])
        if num_frames is not None and int(num_frames) != self.num_frames:
            raise ValueError(f'num_frames={num_frames} but the source has {self.num_frames} frames')

    def get(self, indices: List[int]) -> Tensor:
        """Frames ``indices`` as ``[len(indices), 3, S, S]``."""
        if hasattr(self, '_tensor'):
            return self._tensor[indices]
        if hasattr(self, '_loader'):
            frames = self._loader(list(indices))
            if frames.shape[0] != len(indices):
                raise ValueError(f'the loader returned {frames.shape[0]} frames for {len(indices)} indices')
            return frames
        out = []
        for i in indices:
            c = int(np.searchsorted(self._starts, i, side='right')) - 1
            out.append(self._chunks[c][i - self._starts[c]])
        return torch.stack(out)
