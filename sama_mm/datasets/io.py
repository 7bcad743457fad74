"""Safe readers for annotation files and cheap probes of videos (file or frame folder)."""
import json
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .errors import DataError, PickleInputError, VideoReadError

FRAME_EXTENSIONS = ('.jpg', '.jpeg', '.png')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm')
PICKLE_SUFFIXES = ('.pkl', '.pickle', '.p')
# Protocol 2+ pickles start with PROTO (0x80); protocol 0/1 pickles of dicts/lists start with these opcodes.
_PICKLE_MAGIC = (b'\x80', b'(dp', b'(lp', b'}q', b']q')


_DIGIT_RUNS = re.compile(r'([0-9]+)')


def natural_key(name: str) -> Tuple[tuple, str]:
    """Sort key that compares the digit runs of a name as numbers: ``frame_2.jpg`` before ``frame_10.jpg``.

    Plain string order puts ``frame_10`` before ``frame_2`` and so scrambles the time order of frame folders
    whose numbers are not zero-padded. Every place that orders frame or mask file names uses this key (through
    :func:`natural_sorted`). Names equal up to leading zeros (``7`` and ``007``) fall back to string order, so
    the order is total and reproducible.

    Args:
        name: A file or folder name.

    Returns:
        A key for ``sorted``.
    """
    parts = _DIGIT_RUNS.split(name)  # text, digits, text, ...: the same type at the same position
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def natural_sorted(names: Iterable[str]) -> List[str]:
    """``names`` in natural order (see :func:`natural_key`)."""
    return sorted(names, key=natural_key)


def is_pickle_file(path: str) -> bool:
    """Whether ``path`` looks like a Python pickle (by suffix or by its first bytes)."""
    if path.endswith(PICKLE_SUFFIXES):
        return True
    try:
        with open(path, 'rb') as f:
            head = f.read(3)
    except OSError:
        return False
    return head.startswith(_PICKLE_MAGIC)


def pickle_refusal(path: str) -> PickleInputError:
    """The error for a pickle given as data, pointing at the explicit converter."""
    return PickleInputError(
        'pickle_file', path,
        'this is a Python pickle; unpickling can execute arbitrary code, so sama_mm never loads pickles '
        'implicitly. Convert it once, if you trust its source, with '
        f'`python data_converters/pickle_to_json.py {path} OUT.json --trust-pickle-code-execution`.')


def load_json(path: str) -> Any:
    """Load a JSON annotation file; a pickle or broken JSON is a ``DataError`` naming the file."""
    if not osp.isfile(path):
        raise DataError('missing_file', path, 'file not found')
    if is_pickle_file(path):
        raise pickle_refusal(path)
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError('invalid_json', path, f'not valid JSON: {exc}') from None
    except UnicodeDecodeError as exc:
        raise DataError('invalid_json', path, f'not UTF-8 text: {exc}') from None


@dataclass
class VideoInfo:
    """What a cheap probe learns about a video.

    Attributes:
        path: The video file or frame folder.
        num_frames: Number of frames.
        height: Frame height in pixels.
        width: Frame width in pixels.
        frame_files: For frame folders, the frame file of each frame; None for video files.
    """
    path: str
    num_frames: int
    height: int
    width: int
    frame_files: Optional[List[str]] = None


def frame_file(folder: str, name: str) -> Optional[str]:
    """The file of frame ``name`` (given without extension, as in annotation files) in ``folder``."""
    if name.lower().endswith(FRAME_EXTENSIONS):
        path = osp.join(folder, name)
        return path if osp.isfile(path) else None
    for ext in FRAME_EXTENSIONS:
        path = osp.join(folder, name + ext)
        if osp.isfile(path):
            return path
    return None


def probe_video(path: str, frames: Optional[Sequence[str]] = None, record: Any = None) -> VideoInfo:
    """Count the frames of a video and read its size without decoding more than one frame.

    Args:
        path: A video file (read with :func:`sama_mm.datasets.video_backends.open_video`) or a folder of frame
            images.
        frames: For frame folders, the frame names the annotation lists (without extension); when None,
            every image in the folder is a frame, in natural order of the file names
            (``2.jpg`` before ``10.jpg``, see :func:`natural_key`).
        record: The annotation record that names this video, for error messages.

    Raises:
        VideoReadError: If the video is missing or unreadable, or a listed frame is missing.
    """
    if osp.isdir(path):
        if frames is None:
            names = natural_sorted(f for f in os.listdir(path) if f.lower().endswith(FRAME_EXTENSIONS))
            if not names:
                raise VideoReadError('missing_frames', path, 'frame folder holds no images', record)
            files = [osp.join(path, n) for n in names]
        else:
            files = []
            missing = []
            for name in frames:
                found = frame_file(path, name)
                (files if found else missing).append(found or name)
            if missing:
                shown = ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else '')
                raise VideoReadError('missing_frames', path,
                                     f'{len(missing)} of {len(frames)} listed frames are missing: {shown}',
                                     record)
        from PIL import Image
        try:
            with Image.open(files[0]) as img:
                width, height = img.size
        except OSError as exc:
            raise VideoReadError('unreadable_video', files[0], f'cannot read frame: {exc}', record) from None
        return VideoInfo(path, len(files), height, width, files)
    if not osp.exists(path):
        raise VideoReadError('missing_video', path, 'video file or frame folder not found', record)
    from .video_backends import VideoBackendError, open_video
    try:
        reader = open_video(path)
    except VideoBackendError as exc:
        raise VideoReadError('unreadable_video', path, f'cannot read it: {exc}', record) from None
    if len(reader) == 0:
        raise VideoReadError('unreadable_video', path, 'video has no frames', record)
    return VideoInfo(path, len(reader), reader.height, reader.width, None)


def decode_frame(path: str) -> Tuple[int, int]:
    """Decode one frame image completely (JPEGs at reduced scale, which still reads every byte).

    Returns:
        ``(height, width)`` of the image.

    Raises:
        OSError: If the file is not an image PIL can decode or is truncated (PIL's message).
    """
    from PIL import Image
    with Image.open(path) as img:
        width, height = img.size
        if img.format == 'JPEG':
            img.draft('RGB', (max(1, width // 8), max(1, height // 8)))
        img.load()
    return height, width


def check_video(path: str, frames: Optional[Sequence[str]] = None, record: Any = None,
                decoded: Optional[dict] = None) -> Tuple[Optional[VideoInfo], List[DataError]]:
    """Every problem of a video for ``tools/check_dataset.py``, and what can still be learnt about it.

    Unlike :func:`probe_video`, which stops at the first problem, this reports every missing frame (in one
    problem), every frame file that does not decode (a corrupt or truncated JPEG, a text file named ``.jpg``)
    and every frame whose size differs from the first frame's, each naming its file; and it still returns a
    :class:`VideoInfo` when some frames are readable, so that the masks of the video can be checked too
    (``num_frames`` is the number of listed frames, the size is that of the first decodable frame). A video
    file is probed as by :func:`probe_video` (its first frame is decoded).

    Args:
        path: A video file or a frame folder.
        frames: For frame folders, the frame names the annotation lists; None: every image of the folder.
        record: The annotation record that names this video, for the problems.
        decoded: A cache ``{frame file: (height, width) or None}`` shared between calls, so that a frame file
            used by several records is decoded, and reported, once.

    Returns:
        ``(info or None, problems)``: ``info`` is None when nothing of the video could be read.
    """
    if not osp.isdir(path):
        try:
            return probe_video(path, frames, record), []
        except DataError as exc:
            return None, [exc]
    problems: List[DataError] = []
    if frames is None:
        names = natural_sorted(f for f in os.listdir(path) if f.lower().endswith(FRAME_EXTENSIONS))
        if not names:
            return None, [VideoReadError('missing_frames', path, 'frame folder holds no images', record)]
        files: List[Optional[str]] = [osp.join(path, n) for n in names]
    else:
        files = [frame_file(path, name) for name in frames]
        missing = [name for name, found in zip(frames, files) if found is None]
        if missing:
            shown = ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else '')
            problems.append(VideoReadError('missing_frames', path,
                                           f'{len(missing)} of {len(frames)} listed frames are missing: {shown}',
                                           record))
    decoded = {} if decoded is None else decoded
    size, first = None, None
    for file in dict.fromkeys(f for f in files if f is not None):
        report = file not in decoded
        if report:
            try:
                decoded[file] = decode_frame(file)
            except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for broken files
                decoded[file] = None
                from PIL import UnidentifiedImageError
                reason = 'not an image file' if isinstance(exc, UnidentifiedImageError) else str(exc)
                problems.append(VideoReadError('unreadable_frame', file, f'cannot decode frame: {reason}', record))
        shape = decoded[file]
        if shape is None:
            continue
        if size is None:
            size, first = shape, file
        elif shape != size and report:
            problems.append(VideoReadError('size_mismatch', file, f'frame is {shape[0]}x{shape[1]} but the first '
                                           f'frame {first} is {size[0]}x{size[1]} (HxW)', record))
    if size is None:
        return None, problems
    frame_files = list(files) if frames is None else [f or osp.join(path, n) for f, n in zip(files, frames)]
    return VideoInfo(path, len(files), size[0], size[1], frame_files), problems

