"""Mask-track overlays: colour every ``[SEG]`` track on the video frames, label it, write mp4 / gif."""
import os.path as osp
import re
from typing import Callable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from sama_mm.structures.tokens import PHRASE_END, PHRASE_START, SEG_TOKEN

#: Distinct RGB colours, cycled per track.
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
    (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40), (128, 0, 0))

#: OpenCV codec per video container. ``.mp4`` gets MPEG-4 Part 2 (the opencv-python wheels have no H.264
#: encoder); browsers do not play that, so pages show the ``.webm`` (VP8) version.
FOURCC = {'.mp4': 'mp4v', '.webm': 'VP80', '.avi': 'MJPG'}


def even_frame_size(height: int, width: int) -> Tuple[int, int]:
    """``(H, W)`` of the overlay videos of a ``height x width`` video: the same, or one more where it is odd.

    OpenCV writes these codecs with 4:2:0 colour (one colour sample per 2x2 pixels), which needs an even width and
    height; given an odd size it silently drops the last column or row (a 333x187 video became 332x186). The
    overlay keeps every pixel instead and pads one black column on the right and/or one black row at the bottom,
    so pixel (x, y) of the video is pixel (x, y) of the overlay. The gif keeps the exact size.
    """
    return height + height % 2, width + width % 2


def seg_phrases(answer: str) -> List[str]:
    """The phrase of every ``[SEG]`` of an answer: the last ``<p>…</p>`` before it (since the previous ``[SEG]``),
    or ``''`` when there is none."""
    phrases = []
    for chunk in answer.split(SEG_TOKEN)[:-1]:
        found = re.findall(re.escape(PHRASE_START) + r'(.*?)' + re.escape(PHRASE_END), chunk, flags=re.S)
        phrases.append(found[-1].strip() if found else '')
    return phrases


def colour(index: int) -> Tuple[int, int, int]:
    """The RGB colour of track ``index``."""
    return PALETTE[index % len(PALETTE)]


def overlay_frame(frame: np.ndarray, masks: Sequence[np.ndarray], labels: Sequence[str], alpha: float = 0.5,
                  colours: Optional[Sequence[Tuple[int, int, int]]] = None) -> np.ndarray:
    """Blend masks onto one RGB frame and write each label near its mask (top-left of the mask's box).

    Args:
        frame: ``uint8 [H, W, 3]`` RGB.
        masks: ``[H, W]`` binary masks, one per track.
        labels: One label per track.
        alpha: Mask opacity.
        colours: RGB colour per track (default :func:`colour`).

    Returns:
        ``uint8 [H, W, 3]`` RGB.
    """
    out = frame.astype(np.float32)
    for k, mask in enumerate(masks):
        m = np.asarray(mask, dtype=bool)
        if m.any():
            c = np.array(colours[k] if colours else colour(k), dtype=np.float32)
            out[m] = out[m] * (1 - alpha) + c * alpha
    out = out.clip(0, 255).astype(np.uint8)
    for k, (mask, label) in enumerate(zip(masks, labels)):
        m = np.asarray(mask, dtype=bool)
        if not m.any() or not label:
            continue
        ys, xs = np.nonzero(m)
        x, y = int(xs.min()), max(int(ys.min()) - 3, 10)
        c = tuple(int(v) for v in (colours[k] if colours else colour(k)))
        cv2.putText(out, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(out, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1, cv2.LINE_AA)
    return out


def write_overlay_video(read_frames: Callable[[List[int]], np.ndarray], num_frames: int, tracks: Sequence[np.ndarray],
                        labels: Sequence[str], path: Union[str, Sequence[str]], fps: float = 10.0,
                        chunk_size: int = 16,
                        gif_path: Optional[str] = None, progress: Optional[Callable[[int], None]] = None) -> None:
    """Write the overlay of every track on every frame as an mp4 (and optionally a gif), chunk by chunk.

    The videos have the frames' size, padded by one black column / row where the width / height is odd (the
    codecs need even sizes, see :func:`even_frame_size`); the gif has the exact size.

    Args:
        read_frames: ``indices -> uint8 [n, H, W, 3]`` RGB frames.
        num_frames: Frames of the video.
        tracks: One ``[N, H, W]`` binary track per object (any array indexable by frame).
        labels: One label per track.
        path: Output video (``.mp4``, ``.webm`` or ``.avi``, see :data:`FOURCC`), or several of them, all
            written in one pass over the frames.
        fps: Frame rate.
        chunk_size: Frames read at a time (memory stays bounded for long videos).
        gif_path: Also write an animated gif there.
        progress: Called with the number of frames written after each chunk.
    """
    paths = [path] if isinstance(path, str) else list(path)
    for p in paths:
        if osp.splitext(p)[1].lower() not in FOURCC:
            raise ValueError(f'{p}: the overlay video must end in one of {sorted(FOURCC)}')
    writers = []
    gif_frames = []
    try:
        for start in range(0, num_frames, chunk_size):
            indices = list(range(start, min(start + chunk_size, num_frames)))
            frames = read_frames(indices)
            for j, t in enumerate(indices):
                img = overlay_frame(frames[j], [track[t] for track in tracks], labels)
                h, w = even_frame_size(*img.shape[:2])
                if not writers:
                    for p in paths:
                        fourcc = cv2.VideoWriter_fourcc(*FOURCC[osp.splitext(p)[1].lower()])
                        writers.append(cv2.VideoWriter(p, fourcc, fps, (w, h)))
                        if not writers[-1].isOpened():
                            raise RuntimeError(f'cv2 cannot write {p}')
                bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
                if bgr.shape[:2] != (h, w):  # odd size: pad, see even_frame_size
                    bgr = cv2.copyMakeBorder(bgr, 0, h - bgr.shape[0], 0, w - bgr.shape[1], cv2.BORDER_CONSTANT,
                                             value=(0, 0, 0))
                for writer in writers:
                    writer.write(bgr)
                if gif_path is not None:
                    gif_frames.append(img)
            if progress is not None:
                progress(len(indices))
    finally:
        for writer in writers:
            writer.release()
    if gif_path is not None and gif_frames:
        from PIL import Image
        images = [Image.fromarray(f) for f in gif_frames]
        images[0].save(gif_path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
