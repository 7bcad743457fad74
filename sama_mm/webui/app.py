"""The Gradio page of the web demo: :func:`build_app` lays out :class:`~sama_mm.webui.demo.WebDemo`.

Every event handler goes through :func:`_guarded`: a :class:`~sama_mm.webui.demo.DemoError` (a user mistake) or
any other exception becomes a message in the page's status line, never a stack trace (the trace of an unexpected
error goes to the server's log). Long work (opening a video, answering, writing the overlay) reports progress.
"""
import functools
import html
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence

# No usage statistics are sent (and none could be: the demo often runs without a network).
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from .demo import DemoError, DemoState, WebDemo  # noqa: E402

logger = logging.getLogger(__name__)

#: Shown in the status line while nothing happened yet.
WELCOME = 'Open a video to start: upload one, or pick an example below it.'

CSS = """
#status p { margin: 0.2em 0; }
#status .error-msg { color: #b00020; font-weight: 600; }
"""


def _status(text: str, error: bool = False) -> str:
    """The status line's Markdown: the text escaped (it may quote user input), errors in red."""
    text = html.escape(str(text))
    return f'<span class="error-msg">Error: {text}</span>' if error else text


def _guarded(n_outputs: int, status_index: int):
    """Run an event handler; on an exception leave every output unchanged except the status, which gets the
    message."""

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except DemoError as exc:
                message = str(exc)
            except Exception as exc:  # noqa: BLE001 - the page shows a message, the log keeps the trace
                logger.exception('web demo: %s failed', fn.__name__)
                message = f'{type(exc).__name__}: {exc}'
            out: List = [gr.update() for _ in range(n_outputs)]
            out[status_index] = _status(message, error=True)
            return tuple(out)

        return inner

    return wrap


def _editor_value(frame: Optional[np.ndarray]):
    return None if frame is None else dict(background=frame, layers=[], composite=None)


def _brush_mask(value) -> Optional[np.ndarray]:
    """The painted pixels of the brush editor's layers as an ``[H, W]`` mask (None: nothing painted)."""
    if not value or not value.get('layers'):
        return None
    mask = None
    for layer in value['layers']:
        layer = np.asarray(layer)
        painted = layer[..., 3] > 0 if layer.ndim == 3 and layer.shape[-1] == 4 else layer.reshape(
            layer.shape[:2] + (-1, )).any(-1)
        mask = painted if mask is None else mask | painted
    return mask


def build_app(demo: WebDemo, examples: Sequence[str] = (), title: str = 'SAMA grounded video chat') -> gr.Blocks:
    """The page: a video, a frame to mark regions on, the chat, the overlay video and the downloads.

    Args:
        demo: The demo logic with its model.
        examples: Video files offered as examples under the upload.
        title: Page title.
    """
    with gr.Blocks(title=title) as app:
        state = gr.State(DemoState())
        gr.Markdown(f'## {title}\nUpload a video, mark regions on a frame (box, points or brush), then ask questions. '
                    'Each `[SEG]` of an answer is a mask tracked through the whole video, coloured like its phrase.')
        with gr.Row():
            with gr.Column(scale=1):
                # A file box rather than a video player: many uploads (MPEG-4 Part 2, AVI) do not play in browsers;
                # the frame below shows the video's content, the overlay is written in a codec browsers play.
                video_in = gr.File(label='Video file (mp4, avi, webm, ...)', file_types=['video'], type='filepath',
                                   elem_id='video-input', height=120)
                if examples:
                    gr.Examples(examples=[[p] for p in examples], inputs=[video_in], label='Demo videos',
                                example_labels=[osp.basename(p) for p in examples])
                frame_slider = gr.Slider(0, 1, value=0, step=1, label='Frame to mark', elem_id='frame-slider')
                mode = gr.Radio(['box', 'points', 'brush'], value='box', label='Mark with', elem_id='mark-mode')
                frame_img = gr.Image(label='Frame: click two corners (box) or points', type='numpy',
                                     interactive=False, elem_id='frame-image', height=300)
                with gr.Row():
                    box_text = gr.Textbox(label='Box x1,y1,x2,y2 (pixels)', elem_id='box-text')
                    points_text = gr.Textbox(label='Points x,y; x,y', elem_id='points-text')
                with gr.Accordion('Brush (mode "brush"): paint over the object', open=False):
                    brush = gr.ImageEditor(type='numpy', label='Brush', transforms=(), elem_id='brush',
                                           brush=gr.Brush(colors=['#ffd700'], default_size=12, color_mode='fixed'))
                with gr.Row():
                    add_btn = gr.Button('Add region', elem_id='add-region')
                    clear_btn = gr.Button('Clear regions', elem_id='clear-regions')
                regions_md = gr.Markdown(WebDemo.regions_markdown(None), elem_id='regions')
            with gr.Column(scale=2):
                chatbot = gr.Chatbot(label='Chat', elem_id='chat', height=360, feedback_options=None)
                question = gr.Textbox(label='Question (write <mask> where each marked region goes)',
                                      placeholder='Please segment the moving shape.', elem_id='question')
                with gr.Row():
                    ask_btn = gr.Button('Ask', variant='primary', elem_id='ask')
                    new_btn = gr.Button('New chat', elem_id='new-chat')
                status = gr.Markdown(WELCOME, elem_id='status')
                overlay = gr.Video(label='Masks over the video', interactive=False, autoplay=True, loop=True,
                                   elem_id='overlay')
                files = gr.File(label='Downloads: masks.json (RLE), answers.json, overlay.mp4', file_count='multiple',
                                interactive=False, elem_id='downloads')

        # --------------------------------------------------------------------------------------------- video
        open_outputs = [state, frame_slider, frame_img, brush, chatbot, overlay, files, regions_md, box_text,
                        points_text, status, video_in]

        @_guarded(len(open_outputs), open_outputs.index(status))
        def on_video(path, old, progress=gr.Progress()):
            if not path:  # cleared (also after a refused upload): keep the page as it is
                return tuple(gr.update() for _ in open_outputs)
            try:
                new = demo.open_video(path, old, name=osp.basename(path), progress=progress)
            except DemoError as exc:  # refused: the input is cleared so that a new file can be chosen
                out = [gr.update() for _ in open_outputs]
                out[open_outputs.index(status)] = _status(str(exc), error=True)
                out[open_outputs.index(video_in)] = None
                return tuple(out)
            s = new.session
            frame = demo.read_frame(new, 0)
            message = (f'Opened "{new.name}": {s.num_frames} frames of {s.ori_shape[1]}x{s.ori_shape[0]}; the model '
                       f'sees frames {s.frame_indices}.')
            return (new, gr.update(minimum=0, maximum=max(s.num_frames - 1, 1), value=0), frame, _editor_value(frame),
                    [], None, None, WebDemo.regions_markdown(new), '', '', _status(message), gr.update())

        video_in.change(on_video, [video_in, state], open_outputs, show_progress_on=frame_img)

        frame_outputs = [frame_img, brush, status]

        @_guarded(len(frame_outputs), frame_outputs.index(status))
        def on_frame(s, index, box, points):
            if s is None or s.session is None:
                return gr.update(), gr.update(), gr.update()
            frame = demo.read_frame(s, index)
            return demo.marked_frame(s, index, box, points), _editor_value(frame), gr.update()

        frame_slider.release(on_frame, [state, frame_slider, box_text, points_text], frame_outputs,
                             show_progress_on=frame_img)

        click_outputs = [box_text, points_text, frame_img, status]

        @_guarded(len(click_outputs), click_outputs.index(status))
        def on_click(s, m, index, box, points, evt: gr.SelectData):
            box, points = demo.click(s, m, evt.index, box, points)
            hint = ('Click the opposite corner.' if s.corner is not None else
                    'Press "Add region" to use it.' if box or points else '')
            return box, points, demo.marked_frame(s, index, box, points), _status(hint)

        frame_img.select(on_click, [state, mode, frame_slider, box_text, points_text], click_outputs,
                         show_progress_on=frame_img)

        region_outputs = [state, regions_md, frame_img, box_text, points_text, brush, status]

        @_guarded(len(region_outputs), region_outputs.index(status))
        def on_add(s, index, m, box, points, brush_value):
            demo.add_region(s, index, m, box, points, _brush_mask(brush_value) if m == 'brush' else None)
            n = len(s.regions)
            # The used entry is emptied (the brush editor gets a clean frame), the region is drawn on the frame.
            editor = _editor_value(demo.read_frame(s, index)) if m == 'brush' else gr.update()
            return (s, WebDemo.regions_markdown(s), demo.marked_frame(s, index), '', '', editor,
                    _status(f'Region R{n} added: write {n} <mask> in the question.'))

        add_btn.click(on_add, [state, frame_slider, mode, box_text, points_text, brush], region_outputs,
                      show_progress_on=regions_md)

        @_guarded(len(region_outputs), region_outputs.index(status))
        def on_clear(s, index):
            WebDemo.clear_regions(s)
            if s.session is None:
                return s, WebDemo.regions_markdown(s), gr.update(), '', '', gr.update(), _status('Regions cleared.')
            return (s, WebDemo.regions_markdown(s), demo.marked_frame(s, index), '', '',
                    _editor_value(demo.read_frame(s, index)), _status('Regions cleared.'))

        clear_btn.click(on_clear, [state, frame_slider], region_outputs, show_progress_on=regions_md)

        # --------------------------------------------------------------------------------------------- chat
        ask_outputs = [state, chatbot, question, overlay, files, regions_md, frame_img, status]

        @_guarded(len(ask_outputs), ask_outputs.index(status))
        def on_ask(s, text, index, progress=gr.Progress()):
            result, seconds = demo.ask(s, text, progress=progress)
            files_out = [s.files[k] for k in ('masks.json', 'answers.json', 'overlay.mp4')]
            message = (f'Turn {result.index + 1} answered in {seconds:.1f} s ({result.num_objects} mask track(s); '
                       f'model {result.seconds:.1f} s, the rest writing the overlay).')
            return (s, WebDemo.messages(s), '', s.files['overlay.webm'], files_out, WebDemo.regions_markdown(s),
                    demo.marked_frame(s, index), _status(message))

        ask_btn.click(on_ask, [state, question, frame_slider], ask_outputs, show_progress_on=overlay)
        question.submit(on_ask, [state, question, frame_slider], ask_outputs, show_progress_on=overlay)

        new_outputs = [state, chatbot, overlay, files, regions_md, frame_img, status]

        @_guarded(len(new_outputs), new_outputs.index(status))
        def on_new(s, index):
            s = demo.new_chat(s)
            frame = demo.marked_frame(s, index) if s.session is not None else gr.update()
            return s, [], None, None, WebDemo.regions_markdown(s), frame, _status(
                'New chat: the conversation was reset (the video stays open).')

        new_btn.click(on_new, [state, frame_slider], new_outputs, show_progress_on=chatbot)
    return app


def launch(app: gr.Blocks, work_dir: str, host: str = '127.0.0.1', port: int = 7860, max_upload_mb: float = 200.0,
           allowed_paths: Sequence[str] = ()) -> None:
    """Serve the page (blocking) on ``host:port``; only ``work_dir`` and ``allowed_paths`` are served as files."""
    theme = gr.themes.Default(font=['ui-sans-serif', 'system-ui', 'sans-serif'],
                              font_mono=['ui-monospace', 'monospace'])  # no web fonts: works offline
    app.queue(default_concurrency_limit=1)  # one model: events run one at a time
    app.launch(server_name=host, server_port=port, max_file_size=f'{max_upload_mb:g}mb', share=False,
               allowed_paths=[work_dir, *allowed_paths], ssr_mode=False, theme=theme, css=CSS, show_error=False,
               quiet=True)
