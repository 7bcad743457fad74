"""Files of a chat about a video: ``answers.json``, ``masks.json`` (RLE) and the overlay video(s).

Shared by ``tools/chat.py`` and the web demo (``sama_mm/webui``), so both write the same formats. Every file is
written under a temporary name (``.partial-<name>``) and renamed when complete, so a reader (or a crash) never
sees half a file.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple


def object_labels(results: Sequence) -> List[Tuple[int, int, str]]:
    """``(turn, index, label)`` of every mask track; the label is ``T<turn>.<index> <phrase>``.

    Args:
        results: :class:`~sama_mm.apis.TurnResult` of the turns, in order.
    """
    from sama_mm.visualization import seg_phrases
    out = []
    for r in results:
        phrases = seg_phrases(r.history_answer)
        for k in range(r.num_objects):
            phrase = phrases[k] if k < len(phrases) else ''
            out.append((r.index, k, f'T{r.index + 1}.{k + 1} {phrase}'.strip()))
    return out


#: The files :func:`write_chat_outputs` may write (``overlay.webm`` for the web demo).
CHAT_OUTPUT_FILES = ('answers.json', 'masks.json', 'overlay.mp4', 'overlay.gif', 'overlay.webm')

#: Prefix of a file being written (renamed to its final name when complete).
PARTIAL_PREFIX = '.partial-'


def _replace_json(path: str, obj, **kwargs) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file, so ``path`` is always complete."""
    tmp = osp.join(osp.dirname(path), PARTIAL_PREFIX + osp.basename(path))
    with open(tmp, 'w') as f:
        json.dump(obj, f, **kwargs)
    os.replace(tmp, path)


def write_turn_files(out_dir: str, session, results: Sequence, rle_cache: Optional[dict] = None) -> Dict[str, str]:
    """Write ``answers.json`` and ``masks.json`` of the turns so far into ``out_dir`` (created if missing).

    Each file is replaced in one step (written under a temporary name first), so after every turn the folder holds
    complete files of every finished turn.

    * ``answers.json``: the video's frame choice and, per turn, the question, the answer, its objects and timing;
    * ``masks.json``: per object (turn, index, label) the pycocotools RLE of its mask on every frame.

    Args:
        out_dir: Output folder.
        session: The :class:`~sama_mm.apis.ChatSession` (video path, frame count, size, frame choice).
        results: Its :class:`~sama_mm.apis.TurnResult` list.
        rle_cache: A dict kept between calls: the RLE of a turn already written is not encoded again.

    Returns:
        ``{file name: path}`` of the two files.
    """
    from sama_mm.structures import encode_mask

    os.makedirs(out_dir, exist_ok=True)
    rle_cache = {} if rle_cache is None else rle_cache
    video = osp.abspath(str(session.video_path))
    labels = object_labels(results)
    answers = dict(video=video, num_frames=session.num_frames, ori_shape=list(session.ori_shape),
                   frame_indices=session.frame_indices, dense_frame_indices=session.dense_frame_indices,
                   turns=[dict(turn=r.index, question=r.question, answer=r.answer, num_objects=r.num_objects,
                               objects=[lab for t, _, lab in labels if t == r.index], seconds=round(r.seconds, 3))
                          for r in results])
    written = {'answers.json': osp.join(out_dir, 'answers.json'), 'masks.json': osp.join(out_dir, 'masks.json')}
    _replace_json(written['answers.json'], answers, indent=2)
    by_turn = {r.index: r for r in results}
    objects = []
    for (turn, k, label) in labels:
        if (turn, k) not in rle_cache:
            track = by_turn[turn].masks[k].numpy()
            rle_cache[(turn, k)] = [encode_mask(track[t]) for t in range(session.num_frames)]
        objects.append(dict(turn=turn, index=k, label=label, size=list(session.ori_shape), rle=rle_cache[(turn, k)]))
    _replace_json(written['masks.json'], dict(video=video, num_frames=session.num_frames, objects=objects))
    return written


def write_overlays(out_dir: str, session, results: Sequence, fps: float = 10.0,
                   videos: Sequence[str] = ('overlay.mp4', ), gif: bool = False,
                   progress: Optional[Callable[[int], None]] = None) -> Dict[str, str]:
    """Write the overlay videos of every object of every turn (coloured per object and labelled) into ``out_dir``.

    Each file is written under a temporary name and renamed when complete.

    Args:
        out_dir: Output folder (created if missing).
        session: The :class:`~sama_mm.apis.ChatSession`.
        results: Its :class:`~sama_mm.apis.TurnResult` list.
        fps: Frame rate of the overlay videos.
        videos: Overlay file names; the extension picks the codec (see
            :data:`sama_mm.visualization.overlay.FOURCC`).
        gif: Also write ``overlay.gif``.
        progress: Called with the number of frames written after each chunk of the overlay.

    Returns:
        ``{file name: path}`` of every file written.
    """
    from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
    from sama_mm.visualization import write_overlay_video

    os.makedirs(out_dir, exist_ok=True)
    video = str(session.video_path)
    labels = object_labels(results)
    by_turn = {r.index: r for r in results}
    tracks = [by_turn[turn].masks[k].numpy() for turn, k, _ in labels]
    info = VideoInit()(dict(video_path=video))

    def read_frames(indices):
        return VideoDecode()(dict(info, frame_indices=indices))['imgs']

    names = list(videos) + (['overlay.gif'] if gif else [])
    partial = {name: osp.join(out_dir, PARTIAL_PREFIX + name) for name in names}
    try:
        write_overlay_video(read_frames, session.num_frames, tracks, [lab for _, _, lab in labels],
                            [partial[name] for name in videos], fps=fps,
                            gif_path=partial['overlay.gif'] if gif else None, progress=progress)
        written = {}
        for name in names:
            written[name] = osp.join(out_dir, name)
            os.replace(partial[name], written[name])
    finally:
        for path in partial.values():
            if osp.exists(path):
                os.remove(path)
    return written


def remove_chat_outputs(out_dir: str, names: Sequence[str] = CHAT_OUTPUT_FILES) -> List[str]:
    """Remove the files of an earlier chat from ``out_dir``: those of ``names`` and their half-written temporary
    versions; any other file stays.

    Returns:
        The names removed.
    """
    removed = []
    for name in names:
        for candidate in (name, PARTIAL_PREFIX + name):
            path = osp.join(out_dir, candidate)
            if osp.isfile(path) or osp.islink(path):
                os.remove(path)
                removed.append(candidate)
    return removed


def write_chat_outputs(out_dir: str, session, results: Sequence, fps: float = 10.0,
                       videos: Sequence[str] = ('overlay.mp4', ), gif: bool = False,
                       progress: Optional[Callable[[int], None]] = None) -> Dict[str, str]:
    """Write every output of a chat into ``out_dir`` (created if missing; files of these names are replaced):
    ``answers.json`` and ``masks.json`` (:func:`write_turn_files`) and the overlay videos (:func:`write_overlays`).

    Args:
        out_dir: Output folder.
        session: The :class:`~sama_mm.apis.ChatSession` (video path, frame count, size, frame choice).
        results: Its :class:`~sama_mm.apis.TurnResult` list.
        fps, videos, gif, progress: The overlay settings, as for :func:`write_overlays`.

    Returns:
        ``{file name: path}`` of every file written (both functions' files).
    """
    written = write_turn_files(out_dir, session, results)
    written.update(write_overlays(out_dir, session, results, fps=fps, videos=videos, gif=gif, progress=progress))
    return written
