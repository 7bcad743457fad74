"""Frames for SAM2 propagation at inference, decoded on demand instead of all at once.

Tracking a ``[SEG]`` through a video needs SAM2 input for every frame. Decoding a whole video into
``[T, 3, 1024, 1024]`` floats in the data pipeline would hold ~12 MB per frame per sample; instead the pipeline
hands the model a small, picklable :class:`VideoFrameSource` that the SAM2 head calls chunk by chunk.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmcv.transforms import BaseTransform

from ...registry import TRANSFORMS
from .image import check_resize_backend, resize_normalize
from .loading import VideoDecode, VideoInit


class VideoFrameSource:
    """``source(indices) -> float32 [len(indices), 3, S, S]``: frames of one video, decoded and normalised.

    Holds only the path, the frame names and the size, so it pickles cheaply into data-loader workers; the
    video reader is opened on first use and never pickled.

    Args:
        video_path (str): Video file or frame folder.
        frames (list[str], optional): Frame names of a frame folder (None: every image, in natural order).
        num_frames (int): Number of frames of the video.
        image_size (int): Side of the square SAM2 input.
        record (str): How errors name the sample.
        resize_backend (str): ``'torch'`` or ``'pil'`` (bit-identical to the released inference), see
            :func:`~sama_mm.datasets.transforms.image.resize_normalize`.
        round_norm_to_bf16 (bool): Round the ImageNet mean/std through bf16 (the released SAM2 input).
    """

    def __init__(self, video_path: str, frames: Optional[Sequence[str]], num_frames: int, image_size: int,
                 record: str = '', resize_backend: str = 'torch', round_norm_to_bf16: bool = False):
        self.video_path = video_path
        self.frames = list(frames) if frames is not None else None
        self.num_frames = int(num_frames)
        self.image_size = int(image_size)
        self.record = record
        self.resize_backend = check_resize_backend(resize_backend)
        self.round_norm_to_bf16 = bool(round_norm_to_bf16)
        self._handle: Optional[Dict] = None

    def __getstate__(self) -> Dict:
        state = dict(self.__dict__)
        state['_handle'] = None
        return state

    def __len__(self) -> int:
        return self.num_frames

    def __call__(self, indices: List[int]) -> torch.Tensor:
        if self._handle is None:
            self._handle = VideoInit()(dict(video_path=self.video_path, frames=self.frames,
                                            video_id=self.record))
        results = dict(self._handle, frame_indices=list(indices))  # VideoDecode drops the handle of the copy
        imgs = VideoDecode()(results)['imgs']
        return resize_normalize(imgs, self.image_size, resize_backend=self.resize_backend,
                                round_norm_to_bf16=self.round_norm_to_bf16)


@TRANSFORMS.register_module()
class SAM2FrameSource(BaseTransform):
    """Give the model every frame of the video for SAM2 tracking, as an on-demand frame source.

    Required Keys:

        - video_path (str): The video file or frame folder (from :class:`VideoInit`).
        - num_frames (int): Frames of the video.
        - frames (list[str], optional): Frame names of a frame folder.

    Added Keys:

        - sam2_frames (VideoFrameSource): Callable ``indices -> float32 [N, 3, S, S]``.
        - sam2_frame_indices (list[int]): The raw frame index of every frame it serves (all of them).

    Args:
        image_size (int): Side of the square SAM2 input. Defaults to 1024.
        resize_backend (str): ``'torch'`` (default) or ``'pil'`` (PIL bicubic, bit-identical to the released
            inference).
        round_norm_to_bf16 (bool): Round the ImageNet mean/std through bf16, as the released SAM2 input
            normalisation does. Defaults to False.
    """

    def __init__(self, image_size: int = 1024, resize_backend: str = 'torch', round_norm_to_bf16: bool = False):
        self.image_size = image_size
        self.resize_backend = check_resize_backend(resize_backend)
        self.round_norm_to_bf16 = bool(round_norm_to_bf16)

    def transform(self, results: Dict) -> Dict:
        record = str(results.get('video_id', results['video_path']))
        results['sam2_frames'] = VideoFrameSource(results['video_path'], results.get('frames'),
                                                  results['num_frames'], self.image_size, record,
                                                  self.resize_backend, self.round_norm_to_bf16)
        results['sam2_frame_indices'] = list(range(int(results['num_frames'])))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(image_size={self.image_size}, resize_backend={self.resize_backend!r}, '
                f'round_norm_to_bf16={self.round_norm_to_bf16})')
