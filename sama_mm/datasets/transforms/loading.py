"""Video loading in two steps: open the video cheaply (:class:`VideoInit`), then decode only the frames the
sampler chose (:class:`VideoDecode`).

Two kinds of video are supported:

* video files (``.mp4`` ...), read through :mod:`sama_mm.datasets.video_backends` (PyAV by default, decord as
  an option); the handle is a :class:`~sama_mm.datasets.video_backends.VideoReader` under ``video_reader``;
* folders of JPEG/PNG frames (MeViS, Ref-YouTube-VOS, SAMA-239K layouts); the handle is the resolved list of
  frame files under ``frame_files`` (one per frame, in annotation order).
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from ..errors import DataError, VideoReadError
from ..io import probe_video
from ._utils import record_of, source_of


@TRANSFORMS.register_module()
class VideoInit(BaseTransform):
    """Open a video file or a frame folder and record its length and size, decoding at most one frame.

    Required Keys:

        - video_path (str): A video file or a frame folder. Referring-VOS data infos give ``frame_dir``
          instead, which is used when ``video_path`` is absent.
        - frames (list[str], optional): For frame folders, the frame names the annotation lists (without
          extension). When absent or None every image in the folder is a frame, in natural order. Ignored for
          video files.
        - height, width (int, optional): The frame size stated by the annotation; when both are given a video
          file's size is taken from them instead of decoding its first frame (``VideoDecode`` checks it).
        - frame_stride (int, optional): Keep every n-th frame only (SA-V videos: 4, as the official training
          decodes them); the kept frames are the video from then on: ``num_frames``, the sampler's indices and
          the mask tracks all count kept frames. Defaults to 1.

    Added Keys:

        - num_frames (int): Number of (kept) frames of the video.
        - ori_shape (tuple[int, int]): ``(H, W)`` of the frames.
        - video_reader (VideoReader): The open reader (``sama_mm.datasets.video_backends``), for video files.
        - frame_files (list[str]): The file of every frame, for frame folders.
        - video_path (str): Set from ``frame_dir`` when only that was given.

    Args:
        num_threads (int): Decoding threads of the video reader. Defaults to 1 (data loader workers already
            run in parallel).
        backend (str, optional): The video backend, ``'pyav'`` or ``'decord'`` (see
            :mod:`sama_mm.datasets.video_backends`). Defaults to None: the ``SAMA_VIDEO_BACKEND`` environment
            variable, else PyAV. Both decode the same frames with the same pixels.

    Raises:
        VideoReadError: The video is missing or unreadable, or a listed frame is missing; the message names
            the file and the record.
    """

    def __init__(self, num_threads: int = 1, backend: Optional[str] = None):
        self.num_threads = num_threads
        self.backend = backend

    def transform(self, results: Dict) -> Dict:
        path = results.get('video_path') or results.get('frame_dir')
        if not path:
            raise DataError('schema', '?', 'the sample has neither "video_path" nor "frame_dir"', record_of(results))
        results['video_path'] = path
        record = record_of(results)
        stride = results.get('frame_stride') or 1
        if not isinstance(stride, int) or stride < 1:
            raise DataError('schema', path, f'"frame_stride" must be a positive int, got {stride!r}', record)
        if osp.isdir(path):
            info = probe_video(path, results.get('frames'), record)  # reads one header, decodes nothing
            results['frame_files'] = info.frame_files[::stride]
            results['num_frames'] = len(results['frame_files'])
            results['ori_shape'] = (info.height, info.width)
            return results
        if not osp.exists(path):
            raise VideoReadError('missing_video', path, 'video file or frame folder not found', record)
        if osp.getsize(path) == 0:
            raise VideoReadError('unreadable_video', path, 'the video file is empty (0 bytes)', record)
        from ..video_backends import VideoBackendError, open_video
        try:
            reader = open_video(path, self.backend, num_threads=self.num_threads)
        except VideoBackendError as exc:
            raise VideoReadError('unreadable_video', path, f'cannot read it: {exc}', record) from None
        num_frames = len(reader)
        if num_frames == 0:
            raise VideoReadError('unreadable_video', path, 'video has no frames', record)
        if results.get('height') and results.get('width'):
            shape = (int(results['height']), int(results['width']))
        else:
            shape = (reader.height, reader.width)  # from the stream header: nothing decoded
        results['video_reader'] = reader
        results['num_frames'] = (num_frames + stride - 1) // stride
        results['ori_shape'] = shape
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_threads={self.num_threads}, backend={self.backend!r})'


@TRANSFORMS.register_module()
class VideoDecode(BaseTransform):
    """Decode exactly the sampled frames (one reader batch, or one image read per frame) and drop the handle.

    Required Keys:

        - video_reader (VideoReader) or frame_files (list[str]): The handle from :class:`VideoInit`.
        - frame_indices (list[int]): Indices of the frames to decode (from :class:`SampleFrames`), counted in
          the kept frames when ``frame_stride`` > 1.
        - ori_shape (tuple[int, int]): ``(H, W)``; every decoded frame must have it.

    Modified Keys:

        - video_reader / frame_files: Removed (the reader is closed by dropping it; keeping it would hold a
          file and decoder state per sample in the data loader).

    Added Keys:

        - imgs (np.ndarray): ``uint8 [T, H, W, 3]`` RGB frames, ``T = len(frame_indices)``, in the order of
          ``frame_indices``.

    Raises:
        VideoReadError: An index is outside ``[0, num_frames)``, a frame cannot be read, or its size differs
            from ``ori_shape``; the message names the file and the record.
    """

    def transform(self, results: Dict) -> Dict:
        record = record_of(results)
        path = source_of(results)
        indices = [int(i) for i in results['frame_indices']]
        reader = results.pop('video_reader', None)
        files: Optional[List[str]] = results.pop('frame_files', None)
        if reader is None and files is None:
            raise DataError('schema', path, 'VideoDecode needs the handle of VideoInit ("video_reader" or '
                            '"frame_files"); put VideoInit before it', record)
        stride = (results.get('frame_stride') or 1) if reader is not None else 1  # folders: kept in VideoInit
        num_frames = (len(reader) + stride - 1) // stride if reader is not None else len(files)
        bad = [i for i in indices if not 0 <= i < num_frames]
        if bad or not indices:
            raise VideoReadError('frame_index_out_of_range', path,
                                 f'frame indices {bad or indices} are outside the video of {num_frames} frames',
                                 record)
        if reader is not None:
            from ..video_backends import VideoBackendError
            try:
                imgs = np.asarray(reader.get_batch([i * stride for i in indices]))
            except VideoBackendError as exc:
                raise VideoReadError('unreadable_video', path, f'cannot decode frames {indices}: {exc}',
                                     record) from None
            del reader
        else:
            frames = [self._read_image(files[i], record) for i in indices]
            for i, frame in zip(indices, frames):
                self._check_shape(frame.shape[:2], results.get('ori_shape'), files[i], record)
            imgs = np.stack(frames)
        self._check_shape(imgs.shape[1:3], results.get('ori_shape'), path, record)
        results['imgs'] = np.ascontiguousarray(imgs, dtype=np.uint8)
        return results

    @staticmethod
    def _check_shape(shape, ori_shape, path: str, record: str) -> None:
        if ori_shape is not None and tuple(shape) != tuple(ori_shape):
            raise VideoReadError('size_mismatch', path, f'decoded frames are {shape[0]}x{shape[1]} but the sample '
                                 f'says {ori_shape[0]}x{ori_shape[1]} (HxW)', record)

    @staticmethod
    def _read_image(path: str, record: str) -> np.ndarray:
        from PIL import Image
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert('RGB'))
        except OSError as exc:
            raise VideoReadError('unreadable_video', path, f'cannot read frame: {exc}', record) from None
