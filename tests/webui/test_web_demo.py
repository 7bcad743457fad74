"""The web demo's logic without a browser: uploads refused with readable messages, regions checked by the inference
API, answers rendered with coloured [SEG] phrases, outputs written per chat, "new chat" resets the session."""
import json
import os.path as osp

import numpy as np
import pytest

from sama_mm.webui import DemoState, WebDemo, answer_html, parse_box, parse_points
from sama_mm.webui.demo import DemoError
from tests.apis.helpers import write_frame_folder
from tests.webui.helpers import build_sama_tiny


@pytest.fixture(scope='module')
def inferencer():
    return build_sama_tiny(seed=0, max_new_tokens=4)


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    # 8 frames of 56x40 (W x H).
    return write_frame_folder(str(tmp_path_factory.mktemp('frames') / 'clip'), num_frames=8)


@pytest.fixture
def demo(inferencer, tmp_path):
    return WebDemo(inferencer, str(tmp_path / 'work'), max_upload_mb=1)


def test_parse_box_and_points():
    assert parse_box('1, 2,30 40') == (1.0, 2.0, 30.0, 40.0)
    assert parse_points('3,4; 5 6;') == [[3.0, 4.0], [5.0, 6.0]]
    with pytest.raises(DemoError, match='not four numbers'):
        parse_box('1,2,3')
    with pytest.raises(DemoError, match='not two numbers'):
        parse_points('1,2; x,3')
    with pytest.raises(DemoError, match='No points'):
        parse_points(' ; ')


def test_answer_html_colours_each_seg_phrase_and_escapes():
    from sama_mm.visualization import colour
    text = answer_html('The <p>red car</p> [SEG] passes <p>a <b>bus</b></p>[SEG] and [SEG]. <p>x</p>', turn=1,
                       first_object=2)
    # Objects 2, 3 and 4 of the overlay: their colours, in order, on the phrases and the T2.k labels.
    for k, label in ((2, 'T2.1'), (3, 'T2.2'), (4, 'T2.3')):
        c = colour(k)
        assert f'rgb({c[0]}, {c[1]}, {c[2]})' in text and label in text
    assert text.index('red car') < text.index('T2.1') < text.index('bus') < text.index('T2.2')
    assert '<b>' not in text and '&lt;b&gt;bus&lt;/b&gt;' in text  # model output is never raw HTML
    assert '<p>' not in text and text.count('class="seg-phrase"') == 2  # the third [SEG] has no phrase
    assert text.endswith('. x')


def test_uploads_refused_with_readable_messages(demo, tmp_path):
    not_video = tmp_path / 'notes.mp4'
    not_video.write_text('not a video\n' * 20)
    with pytest.raises(DemoError) as err:
        demo.open_video(str(not_video), DemoState(), name='notes.mp4')
    assert str(err.value).startswith('"notes.mp4" is not a video this demo can read')
    assert 'Traceback' not in str(err.value)
    big = tmp_path / 'big.mp4'
    big.write_bytes(b'\0' * (2 * 2**20))
    with pytest.raises(DemoError, match=r'"big.mp4" is 2.0 MB; this demo accepts videos up to 1 MB'):
        demo.open_video(str(big), DemoState())
    with pytest.raises(DemoError, match='Open a video first'):
        demo.ask(DemoState(), 'Hello?')


def test_regions_checked_and_listed(demo, video):
    state = demo.open_video(video, DemoState())
    assert state.session.num_frames == 8 and state.session.ori_shape == (40, 56)
    with pytest.raises(DemoError, match=r'outside the 56x40 \(WxH\) frame'):
        demo.add_region(state, 0, 'box', box_text='60,45,90,80')
    with pytest.raises(DemoError, match='Frame 8 is outside the video'):
        demo.add_region(state, 8, 'box', box_text='1,1,10,10')
    with pytest.raises(DemoError, match='brush mask is empty'):
        demo.add_region(state, 0, 'brush', brush=np.zeros((40, 56), bool))
    # Two clicks give a box (corners in any order); clicks in "points" mode add points.
    assert demo.click(state, 'box', (30, 20), '', '') == ('', '') and state.corner == (30, 20)
    box, _ = demo.click(state, 'box', (5, 4), '', '')
    assert box == '5,4,30,20' and state.corner is None
    demo.add_region(state, 2, 'box', box_text=box)
    _, points = demo.click(state, 'points', (7, 8), box, '')
    _, points = demo.click(state, 'points', (9, 10), box, points)
    demo.add_region(state, 3, 'points', points_text=points)
    brush = np.zeros((80, 112), np.uint8)  # the editor's canvas at twice the size: scaled to the video
    brush[10:30, 20:40] = 255
    demo.add_region(state, 1, 'brush', brush=brush)
    assert [f for f, _ in state.regions] == [2, 3, 1]
    assert state.regions[0][1] == (5.0, 4.0, 30.0, 20.0)
    assert state.regions[1][1] == dict(points=[[7.0, 8.0], [9.0, 10.0]])
    mask = state.regions[2][1]
    assert mask.shape == (40, 56) and mask[5:15, 10:20].all() and not mask[20:].any()
    listing = WebDemo.regions_markdown(state)
    assert 'R1: frame 2, box (5, 4, 30, 20)' in listing and 'R2: frame 3, points (7, 8), (9, 10)' in listing
    marked = demo.marked_frame(state, 2)
    assert marked.shape == (40, 56, 3) and not np.array_equal(marked, demo.read_frame(state, 2))
    WebDemo.clear_regions(state)
    assert state.regions == [] and 'No regions marked' in WebDemo.regions_markdown(state)


def test_ask_writes_outputs_and_new_chat_resets(demo, video):
    state = demo.open_video(video, DemoState())
    demo.add_region(state, 0, 'box', box_text='5,5,30,25')
    with pytest.raises(DemoError, match=r'has 0 <mask> but 1 regions'):  # the inference API's own check
        demo.ask(state, 'What is it?')
    assert len(state.regions) == 1 and not state.results
    steps = []
    result, seconds = demo.ask(state, 'What is <mask> doing?', progress=lambda f, d: steps.append((f, d)))
    assert seconds >= result.seconds > 0 and state.regions == []  # the regions went with the question
    assert steps[0] == (0.0, 'Generating the answer') and steps[-1][0] == 1.0
    demo.ask(state, 'And then?')
    assert len(state.session.turns) == 2 and len(state.session.cached_ids) > 0
    files = state.files
    assert set(files) == {'answers.json', 'masks.json', 'overlay.webm', 'overlay.mp4'}
    assert all(osp.dirname(p) == state.chat_dir and osp.getsize(p) > 0 for p in files.values())
    answers = json.load(open(files['answers.json']))
    assert [t['question'] for t in answers['turns']] == ['What is <mask> doing?', 'And then?']
    from sama_mm.datasets.decord_backend import decord
    assert len(decord.VideoReader(files['overlay.webm'])) == 8  # the version the page plays
    messages = WebDemo.messages(state)
    assert [m['role'] for m in messages] == ['user', 'assistant'] * 2
    assert messages[0]['content'] == 'What is &lt;mask&gt; doing?'

    old_dir = state.chat_dir
    new = demo.new_chat(state)
    assert new.session is state.session and new.results == [] and new.chat_dir != old_dir
    assert new.session.turns == [] and new.session.cached_ids == []  # the conversation is gone ...
    assert new.session.visual is not None and osp.exists(files['masks.json'])  # ... frames and old files stay
    # A model without the context aggregator refuses regions with a message.
    demo.inferencer.model.neck, neck = None, demo.inferencer.model.neck
    try:
        with pytest.raises(DemoError, match='no context aggregator'):
            demo.add_region(new, 0, 'box', box_text='5,5,30,25')
    finally:
        demo.inferencer.model.neck = neck
