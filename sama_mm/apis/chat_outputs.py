"""Files of a chat about a video: ``answers.json``, ``masks.json`` (RLE) and the overlay video(s).

Shared by ``tools/chat.py`` and the web demo (``sama_mm/webui``), so both write the same formats.
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


def write_chat_outputs(out_dir: str, session, results: Sequence, fps: float = 10.0,
                       videos: Sequence[str] = ('overlay.mp4', ), gif: bool = False,
                       progress: Optional[Callable[[int], None]] = None) -> Dict[str, str]:
    """Write the outputs of a chat into ``out_dir`` (created if missing; files of these names are replaced).

    * ``answers.json``: the video's frame choice and, per turn, the question, the answer, its objects and timing;
    * ``masks.json``: per object (turn, index, label) the pycocotools RLE of its mask on every frame;
    * the overlay videos named in ``videos`` (all objects of all turns, coloured per object and labelled), and
      ``overlay.gif`` with ``gif=True``.

    Args:
        out_dir: Output folder.
        session: The :class:`~sama_mm.apis.ChatSession` (video path, frame count, size, frame choice).
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
    from sama_mm.structures import encode_mask
    from sama_mm.visualization import write_overlay_video

    os.makedirs(out_dir, exist_ok=True)
    video = str(session.video_path)
    labels = object_labels(results)
    answers = dict(video=osp.abspath(video), num_frames=session.num_frames, ori_shape=list(session.ori_shape),
                   frame_indices=session.frame_indices, dense_frame_indices=session.dense_frame_indices,
                   turns=[dict(turn=r.index, question=r.question, answer=r.answer, num_objects=r.num_objects,
                               objects=[lab for t, _, lab in labels if t == r.index], seconds=round(r.seconds, 3))
                          for r in results])
    written = {'answers.json': osp.join(out_dir, 'answers.json'), 'masks.json': osp.join(out_dir, 'masks.json')}
    with open(written['answers.json'], 'w') as f:
        json.dump(answers, f, indent=2)
    by_turn = {r.index: r for r in results}
    objects, tracks = [], []
    for (turn, k, label) in labels:
        track = by_turn[turn].masks[k].numpy()
        tracks.append(track)
        objects.append(dict(turn=turn, index=k, label=label, size=list(session.ori_shape),
                            rle=[encode_mask(track[t]) for t in range(session.num_frames)]))
    with open(written['masks.json'], 'w') as f:
        json.dump(dict(video=osp.abspath(video), num_frames=session.num_frames, objects=objects), f)

    info = VideoInit()(dict(video_path=video))

    def read_frames(indices):
        return VideoDecode()(dict(info, frame_indices=indices))['imgs']

    video_paths = [osp.join(out_dir, name) for name in videos]
    gif_path = osp.join(out_dir, 'overlay.gif') if gif else None
    write_overlay_video(read_frames, session.num_frames, tracks, [lab for _, _, lab in labels], video_paths,
                        fps=fps, gif_path=gif_path, progress=progress)
    written.update({osp.basename(p): p for p in video_paths})
    if gif_path is not None:
        written['overlay.gif'] = gif_path
    return written
