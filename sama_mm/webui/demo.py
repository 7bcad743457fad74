"""The web demo's logic, free of any web framework: open a video, mark regions, ask, render answers, write outputs.

:class:`WebDemo` wraps one :class:`~sama_mm.apis.SAMAInferencer` (shared by every browser session) and acts on a
:class:`DemoState` (one per browser session: the :class:`~sama_mm.apis.ChatSession` with its cached frame
features and KV cache, the turns so far, the regions marked for the next question). Every user mistake raises
:class:`DemoError` with a message meant for the page; :mod:`sama_mm.webui.app` shows it there.
"""
import html
import os
import os.path as osp
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from sama_mm.structures.tokens import PHRASE_END, PHRASE_START, REGION_PLACEHOLDER, SEG_TOKEN
from sama_mm.visualization import colour

#: ``progress(fraction, description)``, e.g. a ``gradio.Progress``.
Progress = Callable[[float, str], None]

#: Colour of the region marks drawn on the frame (RGB); the pending box is drawn thinner.
REGION_COLOUR = (255, 215, 0)


class DemoError(ValueError):
    """A problem the user can fix (bad upload, bad region, question before a video); the message is for the page."""


@dataclass
class DemoState:
    """What one browser session keeps between events.

    Attributes:
        session: The open :class:`~sama_mm.apis.ChatSession` (None before a video is opened).
        name: The video's file name as uploaded.
        results: The :class:`~sama_mm.apis.TurnResult` of every turn of the current chat.
        regions: ``(frame, prompt)`` region prompts for the next question, in the order of its ``<mask>``.
        notes: One line per region for the page.
        corner: The first corner of a box being clicked, ``(x, y)``.
        chat_dir: Output folder of the current chat (a new one per "new chat", so downloads are never replaced).
        files: ``{file name: path}`` of the current chat's outputs.
    """
    session: Any = None
    name: str = ''
    results: List[Any] = field(default_factory=list)
    regions: List[Tuple[int, Any]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    corner: Optional[Tuple[int, int]] = None
    chat_dir: Optional[str] = None
    files: Dict[str, str] = field(default_factory=dict)


def parse_box(text: str) -> Tuple[float, float, float, float]:
    """``'x1,y1,x2,y2'`` (pixels; commas and/or spaces) → a tuple of four floats."""
    values = [v for v in re.split(r'[\s,]+', (text or '').strip()) if v]
    try:
        box = tuple(float(v) for v in values)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise DemoError(f'The box "{text}" is not four numbers x1,y1,x2,y2 (pixels of the frame).')
    return box


def parse_points(text: str) -> List[List[float]]:
    """``'x,y; x,y'`` → ``[[x, y], ...]``."""
    points = []
    for item in (text or '').split(';'):
        if not item.strip():
            continue
        values = [v for v in re.split(r'[\s,]+', item.strip()) if v]
        try:
            point = [float(v) for v in values]
        except ValueError:
            point = []
        if len(point) != 2:
            raise DemoError(f'The point "{item.strip()}" is not two numbers x,y (pixels of the frame).')
        points.append(point)
    if not points:
        raise DemoError('No points given: click on the frame (mode "points") or type them as x,y; x,y.')
    return points


def _rgb(c: Sequence[int]) -> str:
    return f'rgb({c[0]}, {c[1]}, {c[2]})'


def _plain(text: str) -> str:
    """Escaped text with the phrase markers dropped (a phrase without ``[SEG]`` stays plain text)."""
    return html.escape(text.replace(PHRASE_START, '').replace(PHRASE_END, ''))


def answer_html(answer: str, turn: int, first_object: int) -> str:
    """An answer as HTML for the chat: every ``[SEG]`` and its phrase in the colour of its mask in the overlay.

    The phrase of a ``[SEG]`` is the last ``<p>…</p>`` before it (as :func:`~sama_mm.visualization.seg_phrases`
    reads it); the ``[SEG]`` itself becomes a badge with the object's overlay label (``T<turn>.<k>``).

    Args:
        answer: The answer text.
        turn: Its turn (0-based).
        first_object: The overlay index of its first object (objects of earlier turns come first).
    """
    pattern = re.escape(PHRASE_START) + r'(.*?)' + re.escape(PHRASE_END)
    chunks = answer.split(SEG_TOKEN)
    out = []
    for k, chunk in enumerate(chunks):
        if k == len(chunks) - 1:
            out.append(_plain(chunk))
            break
        c = colour(first_object + k)
        found = list(re.finditer(pattern, chunk, flags=re.S))
        if found:
            m = found[-1]
            out.append(_plain(chunk[:m.start()]))
            out.append(f'<span class="seg-phrase" style="border-bottom: 3px solid {_rgb(c)}; '
                       f'background-color: rgba({c[0]}, {c[1]}, {c[2]}, 0.25)">{html.escape(m.group(1).strip())}'
                       '</span>')
            out.append(_plain(chunk[m.end():]))
        else:
            out.append(_plain(chunk))
        out.append(f'<span class="seg-label" style="color: white; background-color: {_rgb(c)}; border-radius: 4px; '
                   f'padding: 0 4px; font-size: 0.85em">T{turn + 1}.{k + 1}</span>')
    return ''.join(out)


class WebDemo:
    """The demo's actions on a :class:`DemoState`.

    Args:
        inferencer: The model (shared by every browser session; the app runs one event at a time).
        work_dir: Where chats write their outputs (one sub-folder per chat).
        max_upload_mb: Largest video accepted, in MiB (the app also passes it to the web server).
        fps: Frame rate of the overlay videos.
    """

    def __init__(self, inferencer, work_dir: str, max_upload_mb: float = 200.0, fps: float = 10.0):
        self.inferencer = inferencer
        self.work_dir = work_dir
        self.max_upload_mb = float(max_upload_mb)
        self.fps = fps
        os.makedirs(work_dir, exist_ok=True)

    @property
    def has_neck(self) -> bool:
        """Whether the model reads region prompts (the context aggregator)."""
        return getattr(self.inferencer.model, 'neck', None) is not None

    # ------------------------------------------------------------------------------------------------ video
    def open_video(self, path: str, state: DemoState, name: Optional[str] = None,
                   progress: Optional[Progress] = None) -> DemoState:
        """Open an uploaded video: check its size and that it decodes, encode its sampled frames once.

        Returns a new state (the old chat, if any, is dropped).

        Raises:
            DemoError: Larger than ``max_upload_mb``, or not a video that can be decoded.
        """
        from sama_mm.apis import ChatSession
        name = name or osp.basename(path)
        size_mb = osp.getsize(path) / 2**20
        if size_mb > self.max_upload_mb:
            raise DemoError(f'"{name}" is {size_mb:.1f} MB; this demo accepts videos up to {self.max_upload_mb:g} MB '
                            '(tools/web_demo.py --max-upload-mb).')
        if progress is not None:
            progress(0.0, 'Reading the video and encoding its frames')
        try:
            session = ChatSession(self.inferencer, path)
        except Exception as exc:  # decord / OpenCV errors of many kinds: the message is what matters
            raise DemoError(f'"{name}" is not a video this demo can read (tried as a video file: '
                            f'{_short(exc, path, name)})') from None
        return DemoState(session=session, name=name, chat_dir=self._new_chat_dir())

    def _new_chat_dir(self) -> str:
        path = osp.join(self.work_dir, f'chat-{uuid.uuid4().hex[:12]}')
        os.makedirs(path)
        return path

    @staticmethod
    def _need_video(state: DemoState):
        if state is None or state.session is None:
            raise DemoError('Open a video first (upload one or pick an example).')
        return state.session

    def read_frame(self, state: DemoState, index: int) -> np.ndarray:
        """``uint8 [H, W, 3]`` RGB frame ``index`` of the open video."""
        from sama_mm.datasets.transforms.loading import VideoDecode, VideoInit
        session = self._need_video(state)
        index = self._frame_index(session, index)
        info = VideoInit()(dict(video_path=session.video_path))
        return VideoDecode()(dict(info, frame_indices=[index]))['imgs'][0]

    @staticmethod
    def _frame_index(session, index) -> int:
        index = int(index)
        if not 0 <= index < session.num_frames:
            raise DemoError(f'Frame {index} is outside the video (frames 0 to {session.num_frames - 1}).')
        return index

    def marked_frame(self, state: DemoState, index: int, box_text: str = '', points_text: str = '') -> np.ndarray:
        """Frame ``index`` with the regions marked on it so far, the box or points being entered, the first
        clicked corner."""
        img = self.read_frame(state, index).copy()
        index = int(index)
        for r, (frame, prompt) in enumerate(state.regions):
            if frame == index:
                _draw_prompt(img, prompt, f'R{r + 1}', thickness=2)
        try:
            if box_text:
                _draw_prompt(img, parse_box(box_text), '', thickness=1)
            if points_text:
                _draw_prompt(img, dict(points=parse_points(points_text)), '', thickness=1)
        except DemoError:
            pass  # a half-typed entry: nothing to draw yet
        if state.corner is not None:
            cv2.drawMarker(img, tuple(int(v) for v in state.corner), REGION_COLOUR, cv2.MARKER_CROSS, 8, 1)
        return img

    # ------------------------------------------------------------------------------------------------ regions
    def click(self, state: DemoState, mode: str, xy: Sequence[int], box_text: str, points_text: str
              ) -> Tuple[str, str]:
        """A click on the frame at pixel ``xy``: the box's first / second corner, or one more point.

        Returns the new ``(box_text, points_text)``.
        """
        self._need_video(state)
        x, y = int(xy[0]), int(xy[1])
        if mode == 'points':
            return box_text, f'{points_text}; {x},{y}' if points_text.strip() else f'{x},{y}'
        if state.corner is None:
            state.corner = (x, y)
            return '', points_text
        (x0, y0), state.corner = state.corner, None
        return f'{min(x0, x)},{min(y0, y)},{max(x0, x)},{max(y0, y)}', points_text

    def add_region(self, state: DemoState, frame: int, mode: str, box_text: str = '', points_text: str = '',
                   brush: Optional[np.ndarray] = None) -> None:
        """Add a region prompt for the next question.

        Args:
            frame: The frame it is on.
            mode: ``'box'`` (``box_text``), ``'points'`` (``points_text``; the model's SAM2 head segments the object
                when the question is asked) or ``'brush'`` (``brush``: ``[H, W]`` painted mask, any non-zero is in).

        Raises:
            DemoError: No video, a model without the context aggregator, a frame or box outside the video, an
                empty brush mask.
        """
        from sama_mm.apis.chat_inputs import region_prompt_mask
        session = self._need_video(state)
        if not self.has_neck:
            raise DemoError('This model has no context aggregator (neck=None), so it cannot read region prompts; '
                            'ask without regions or load a SAMA model.')
        frame = self._frame_index(session, frame)
        height, width = session.ori_shape
        if mode == 'box':
            prompt = parse_box(box_text)
            note = 'box ({:g}, {:g}, {:g}, {:g})'.format(*prompt)
        elif mode == 'points':
            prompt = dict(points=parse_points(points_text))
            note = 'points ' + ', '.join(f'({x:g}, {y:g})' for x, y in prompt['points'])
        elif mode == 'brush':
            if brush is None or not np.asarray(brush).any():
                raise DemoError('The brush mask is empty: paint over the object on the frame first.')
            mask = np.asarray(brush)
            if mask.shape != (height, width):  # the editor may scale the canvas; masks are per video pixel
                mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
            prompt = (mask != 0).astype(np.uint8)
            note = f'brush mask ({int(prompt.sum())} pixels)'
        else:
            raise DemoError(f'Unknown marking mode {mode!r}; use box, points or brush.')
        if mode != 'points':  # the inference API's own check: a box inside the frame, a mask of the video's size
            try:
                region_prompt_mask(prompt, session.ori_shape)
            except ValueError as exc:
                raise DemoError(f'Region not added: {exc}.') from None
        state.regions.append((frame, prompt))
        state.notes.append(f'frame {frame}, {note}')
        state.corner = None

    @staticmethod
    def clear_regions(state: DemoState) -> None:
        """Forget the regions marked for the next question."""
        state.regions, state.notes, state.corner = [], [], None

    @staticmethod
    def regions_markdown(state: DemoState) -> str:
        """The marked regions as a Markdown list for the page."""
        if state is None or not state.regions:
            return (f'No regions marked. Mark one on a frame, press "Add region" and write `{REGION_PLACEHOLDER}` in '
                    'the question where it goes.')
        lines = [f'Regions for the next question (one `{REGION_PLACEHOLDER}` each, in this order):']
        lines += [f'{r + 1}. R{r + 1}: {note}' for r, note in enumerate(state.notes)]
        return '\n'.join(lines)

    # ------------------------------------------------------------------------------------------------ chat
    def ask(self, state: DemoState, question: str, progress: Optional[Progress] = None):
        """Ask a question about the open video (earlier turns of the chat stay in context); write the outputs.

        The marked regions fill the question's ``<mask>`` placeholders in order and are then cleared.

        Returns:
            ``(TurnResult, seconds)``: the turn and the wall time from question to written overlay.

        Raises:
            DemoError: No video, an empty question, or anything the model refuses (region count, a region outside
                the frame, a question too long for ``max_length``), with its message. A refused or failed question
                changes nothing: the chat, the session's context and the marked regions stay as they were.
        """
        session = self._need_video(state)
        question = (question or '').strip()
        if not question:
            raise DemoError('Type a question first.')
        start = time.perf_counter()
        done = [0]

        def tracked(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(min(done[0] / session.num_frames, 1.0), 'Tracking the masks through the video')

        if progress is not None:
            progress(0.0, 'Generating the answer')
        session.progress = tracked
        try:
            result = session.ask(question, regions=list(state.regions) or None)
        except (ValueError, NotImplementedError) as exc:
            raise DemoError(f'The question was not asked: {exc}') from None
        finally:
            session.progress = None
        state.results.append(result)
        self.clear_regions(state)
        self.write_outputs(state, progress)
        return result, time.perf_counter() - start

    def write_outputs(self, state: DemoState, progress: Optional[Progress] = None) -> Dict[str, str]:
        """answers.json, masks.json (RLE), overlay.mp4 and overlay.webm (the one browsers play) of the chat."""
        from sama_mm.apis.chat_outputs import write_chat_outputs
        session = state.session
        done = [0]

        def written(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(min(done[0] / session.num_frames, 1.0), 'Writing the overlay video')

        state.files = write_chat_outputs(state.chat_dir, session, state.results, fps=self.fps,
                                         videos=('overlay.webm', 'overlay.mp4'), progress=written)
        return state.files

    def new_chat(self, state: DemoState) -> DemoState:
        """Forget the conversation and the marks; the video and its encoded frames stay. Outputs of the old chat
        stay on disk (a new folder is used)."""
        if state is None or state.session is None:
            return DemoState()
        state.session.reset()
        return DemoState(session=state.session, name=state.name, chat_dir=self._new_chat_dir())

    @staticmethod
    def messages(state: DemoState) -> List[Dict[str, str]]:
        """The chat so far as ``[{role, content}]`` messages, answers in HTML (see :func:`answer_html`)."""
        out, first = [], 0
        for r in (state.results if state is not None else []):
            out.append(dict(role='user', content=html.escape(r.question)))
            out.append(dict(role='assistant', content=answer_html(r.answer, r.index, first)))
            first += r.num_objects
        return out


def _short(exc: Exception, path: str, name: str) -> str:
    """The exception's message (a :class:`~sama_mm.datasets.errors.DataError`'s without its file/record prefix),
    with the server-side upload path replaced by the file's name."""
    text = getattr(exc, 'message', None) or str(exc)
    return str(text).replace(path, name).strip() or type(exc).__name__


def _draw_prompt(img: np.ndarray, prompt: Any, label: str, thickness: int) -> None:
    """Draw a region prompt (box, points dict, or mask) on an RGB frame in place."""
    c = REGION_COLOUR
    if isinstance(prompt, dict):
        for x, y in prompt.get('points') or ():
            cv2.circle(img, (int(x), int(y)), 3 + thickness, c, -1 if thickness > 1 else 1, cv2.LINE_AA)
        anchor = prompt['points'][0] if prompt.get('points') else (0, 0)
    elif isinstance(prompt, tuple) and len(prompt) == 4:
        x1, y1, x2, y2 = (int(round(v)) for v in prompt)
        cv2.rectangle(img, (x1, y1), (x2, y2), c, thickness, cv2.LINE_AA)
        anchor = (x1, y1)
    else:
        mask = np.asarray(prompt, dtype=bool)
        img[mask] = (img[mask] * 0.5 + np.array(c) * 0.5).astype(np.uint8)
        ys, xs = np.nonzero(mask)
        anchor = (xs.min(), ys.min()) if len(xs) else (0, 0)
    if label:
        org = (int(anchor[0]), max(int(anchor[1]) - 3, 10))
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1, cv2.LINE_AA)
