"""Video decoding behind one small interface, with PyAV as the default backend and decord as an option.

Every video file sama_mm reads goes through :func:`open_video`, which returns a :class:`VideoReader`: the
frame count, frame rate and frame size of the file, and frame-accurate random access by frame index
(``get_batch(indices)`` decodes exactly those frames and returns ``uint8 [T, H, W, 3]`` RGB).

Backends:

* ``'pyav'`` (default): PyAV, whose PyPI wheels bundle FFmpeg, so nothing is needed from the system; wheels
  exist for x86-64 and ARM and for numpy 1 and 2.
* ``'decord'``: decord 0.6.0, the decoder of the official SAMA code (no release since 2021, x86-64 only,
  numpy<2). Install it with the ``decord`` extra (``pip install "sama_mm[decord]"``).

torchcodec (PyTorch's decoder) was considered; its PyPI wheel links against the system's FFmpeg libraries
(``libavcodec``), which these machines do not have, so it is not a backend here.

Which backend is used, first match wins: the ``backend`` argument (``VideoInit(backend=...)`` in a data
pipeline config), the environment variable ``SAMA_VIDEO_BACKEND`` (``pyav`` or ``decord``), then
:data:`DEFAULT_BACKEND`. Both decode the same frames for the same index; the pixels agree within the rounding
of the two FFmpeg builds' YUV-to-RGB conversion (tests/datasets/test_video_backends.py measures it on the
demo videos).
"""
import os
from abc import ABCMeta, abstractmethod
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

DEFAULT_BACKEND = 'pyav'
ENV_VAR = 'SAMA_VIDEO_BACKEND'

__all__ = ['VideoReader', 'VideoBackendError', 'open_video', 'video_backends', 'resolve_backend',
           'register_video_backend', 'DEFAULT_BACKEND', 'ENV_VAR']


class VideoBackendError(RuntimeError):
    """A backend cannot open or decode a video; callers wrap it into a ``VideoReadError`` naming the file."""


class VideoReader(metaclass=ABCMeta):
    """An open video file with frame-accurate random access.

    Attributes:
        path (str): The file.
        backend (str): The backend's name.
        num_frames (int): The number of frames (also ``len(reader)``).
        fps (float): Average frame rate (0.0 when the container does not say).
        height (int): Frame height in pixels.
        width (int): Frame width in pixels.
    """

    backend = ''

    def __init__(self, path: str):
        self.path = path
        self.num_frames = 0
        self.fps = 0.0
        self.height = 0
        self.width = 0

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> np.ndarray:
        """One frame as ``uint8 [H, W, 3]`` RGB."""
        return self.get_batch([index])[0]

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Decode the frames at ``indices`` (any order, repeats allowed).

        Returns:
            ``uint8 [len(indices), H, W, 3]`` RGB frames in the order of ``indices``.

        Raises:
            VideoBackendError: An index is outside ``[0, num_frames)`` or the decoder fails.
        """
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise VideoBackendError(f'frame indices {bad} are outside the {self.num_frames} frames of {self.path}')
        if not indices:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        wanted = sorted(set(indices))
        frames = dict(zip(wanted, self._decode(wanted)))
        return np.stack([frames[i] for i in indices])

    @abstractmethod
    def _decode(self, indices: List[int]) -> List[np.ndarray]:
        """Decode sorted, unique, in-range ``indices`` and return their RGB frames in that order."""

    def close(self) -> None:
        """Release the file and decoder state (also done when the reader is garbage-collected)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({self.path!r}, frames={self.num_frames}, fps={self.fps:.3f}, '
                f'size={self.height}x{self.width})')


class PyAVReader(VideoReader):
    """PyAV backend.

    Opening the file demuxes it once without decoding (cheap: packet headers only) to list every frame's
    presentation timestamp and which frames are keyframes. Frame ``i`` is the frame with the ``i``-th smallest
    timestamp, as in decord. Reading a set of frames seeks to the last keyframe at or before the next wanted
    frame whenever that skips decoding, then decodes forward and keeps the wanted timestamps.

    Args:
        path: The video file.
        num_threads: Decoder threads (FFmpeg frame threading); 0 lets FFmpeg choose. Defaults to 1.
    """

    backend = 'pyav'

    def __init__(self, path: str, num_threads: int = 1):
        super().__init__(path)
        import av
        self._av = av
        try:
            self._container = av.open(path)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoBackendError(f'PyAV cannot open {path}: {exc}') from None
        try:
            self._stream = self._container.streams.video[0]
        except IndexError:
            self.close()
            raise VideoBackendError(f'{path} has no video stream') from None
        try:
            self._index_packets()
        except av.FFmpegError as exc:
            self.close()
            raise VideoBackendError(f'PyAV cannot read the packets of {path}: {exc}') from None
        ctx = self._stream.codec_context
        ctx.thread_count = max(0, int(num_threads))
        if num_threads != 1:
            ctx.thread_type = 'FRAME'
        self.height, self.width = int(ctx.height), int(ctx.width)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self._next = None  # index of the frame the decoder would return next, if known

    def _index_packets(self) -> None:
        pts, keys = [], []
        for packet in self._container.demux(self._stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None:
                raise VideoBackendError(f'{self.path}: a packet has no timestamp; cannot index frames')
            pts.append(stamp)
            keys.append(packet.is_keyframe)
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind='stable')
        self._pts = [pts[k] for k in order]
        self._pos = {p: i for i, p in enumerate(self._pts)}
        # A keyframe's own timestamp is where a seek lands; decoding from there reaches every later frame.
        self._keyframes = sorted(self._pos[p] for p, k in zip(pts, keys) if k) or [0]
        self.num_frames = len(self._pts)
        self._container.seek(0, stream=self._stream)  # back to the start after the index pass

    def _keyframe_before(self, index: int) -> int:
        pos = np.searchsorted(self._keyframes, index, side='right') - 1
        return self._keyframes[max(int(pos), 0)]

    def _decode(self, indices: List[int]) -> List[np.ndarray]:
        out: Dict[int, np.ndarray] = {}
        todo = list(indices)
        sought = None  # the target of the last seek: passing it again after a seek is an error, not a loop
        try:
            while todo:
                target = todo[0]
                key = self._keyframe_before(target)
                if self._next is None or self._next > target or key > self._next:
                    if sought == target:
                        raise VideoBackendError(f'PyAV did not return frame {target} of {self.path} after a seek')
                    self._container.seek(int(self._pts[key]), stream=self._stream, backward=True,
                                         any_frame=False)
                    self._next, sought = None, target
                for frame in self._container.decode(self._stream):
                    index = self._pos.get(frame.pts)
                    if index is None or index < todo[0]:
                        self._next = None if index is None else index + 1
                        continue
                    self._next = index + 1
                    if index > todo[0]:  # the wanted frame went by unseen: seek back to it
                        self._next = None
                        break
                    out[index] = frame.to_ndarray(format='rgb24')
                    todo.pop(0)
                    if not todo or self._keyframe_before(todo[0]) > self._next:  # done, or a seek skips more
                        break
                else:  # end of stream: the decoder needs a seek before it returns frames again
                    self._next = None
        except self._av.FFmpegError as exc:
            self._next = None
            raise VideoBackendError(f'PyAV cannot decode frames {indices} of {self.path}: {exc}') from None
        return [out[i] for i in indices]

    def close(self) -> None:
        container = getattr(self, '_container', None)
        if container is not None:
            container.close()
            self._container = None


class DecordReader(VideoReader):
    """decord backend (optional: ``pip install "sama_mm[decord]"``).

    Args:
        path: The video file.
        num_threads: Decoder threads. Defaults to 1.
    """

    backend = 'decord'

    def __init__(self, path: str, num_threads: int = 1):
        super().__init__(path)
        from .decord_backend import decord
        self._decord = decord
        try:
            self._reader = decord.VideoReader(path, num_threads=num_threads)
            self.num_frames = len(self._reader)
            if self.num_frames:
                self.height, self.width = (int(v) for v in self._reader[0].shape[:2])
                self._reader.seek(0)
            self.fps = float(self._reader.get_avg_fps() or 0.0)
        except (decord.DECORDError, RuntimeError) as exc:
            raise VideoBackendError(f'decord cannot read {path}: {exc}') from None

    def _decode(self, indices: List[int]) -> List[np.ndarray]:
        try:
            return list(self._reader.get_batch(indices).asnumpy())
        except (self._decord.DECORDError, RuntimeError) as exc:
            raise VideoBackendError(f'decord cannot decode frames {indices} of {self.path}: {exc}') from None

    def close(self) -> None:
        self._reader = None


_BACKENDS: Dict[str, Callable[..., VideoReader]] = {'pyav': PyAVReader, 'decord': DecordReader}
_MODULES = {'pyav': 'av', 'decord': 'decord'}


def register_video_backend(name: str, factory: Callable[..., VideoReader], module: Optional[str] = None) -> None:
    """Add a backend: ``factory(path, num_threads=...)`` returns a :class:`VideoReader`.

    Args:
        name: The name configs and ``SAMA_VIDEO_BACKEND`` use.
        factory: The reader class (or a function returning a reader).
        module: The module it needs, for :func:`video_backends` to report whether it is installed.
    """
    _BACKENDS[name] = factory
    if module:
        _MODULES[name] = module


def video_backends() -> Dict[str, bool]:
    """Every known backend and whether its package is installed."""
    from importlib.util import find_spec
    return {name: find_spec(_MODULES[name]) is not None if name in _MODULES else True for name in _BACKENDS}


def resolve_backend(backend: Optional[str] = None) -> str:
    """The backend name that :func:`open_video` would use (argument, then ``SAMA_VIDEO_BACKEND``, then default).

    Raises:
        ValueError: The name is unknown, or its package is not installed (the message says how to install it).
    """
    name = backend or os.environ.get(ENV_VAR) or DEFAULT_BACKEND
    name = name.strip().lower()
    if name not in _BACKENDS:
        source = 'the argument' if backend else f'{ENV_VAR} or the default'
        raise ValueError(f'unknown video backend {name!r} (from {source}); known: {sorted(_BACKENDS)}')
    if not video_backends()[name]:
        raise ValueError(f'video backend {name!r} needs the package {_MODULES[name]!r}, which is not installed '
                         f'(pip install {_MODULES[name]}, or pick another backend with {ENV_VAR})')
    return name


def open_video(path: str, backend: Optional[str] = None, num_threads: int = 1) -> VideoReader:
    """Open a video file for frame-accurate random access.

    Args:
        path: The video file.
        backend: ``'pyav'`` or ``'decord'``; None: ``SAMA_VIDEO_BACKEND``, else :data:`DEFAULT_BACKEND`.
        num_threads: Decoder threads. Defaults to 1 (data loader workers already run in parallel).

    Raises:
        VideoBackendError: The file cannot be opened or indexed, or has no video stream.
        ValueError: The backend is unknown or not installed.
    """
    return _BACKENDS[resolve_backend(backend)](str(path), num_threads=num_threads)
