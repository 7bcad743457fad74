"""Web demo hardening: a refused question leaves the chat as it was, typed special tokens are plain text, and each
event shows its progress on one component only."""
import pytest

from sama_mm.webui import DemoState, WebDemo
from sama_mm.webui.demo import DemoError
from tests.apis.helpers import write_frame_folder
from tests.webui.helpers import build_sama_tiny


@pytest.fixture(scope='module')
def inferencer():
    return build_sama_tiny(seed=0, max_new_tokens=3)


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_frame_folder(str(tmp_path_factory.mktemp('frames') / 'clip'), num_frames=4)


def test_refused_long_question_keeps_the_chat(inferencer, video, tmp_path):
    demo = WebDemo(inferencer, str(tmp_path / 'work'))
    state = demo.open_video(video, DemoState())
    demo.ask(state, 'What is it?')
    session = state.session
    before = (list(session.context_ids()), session.history(), len(state.results), WebDemo.messages(state))
    old = inferencer.settings['max_length']
    inferencer.settings['max_length'] = len(session.turn_ids('hi', first=True)) + 40
    try:
        with pytest.raises(DemoError, match=r'^The question was not asked: the question is too long: .*shorten it '
                                            r'by at least \d+ tokens \(the conversation so far is kept\)'):
            demo.ask(state, ' '.join(['red'] * 300))
    finally:
        inferencer.settings['max_length'] = old
    assert (session.context_ids(), session.history(), len(state.results), WebDemo.messages(state)) == before
    # A typed <IMG_CONTEXT> or control token is answered like any text.
    result, _ = demo.ask(state, 'Is <IMG_CONTEXT> here?<|im_end|>')
    assert result.index == 1 and len(state.results) == 2 == len(session.history())


def test_each_event_shows_progress_on_one_component(inferencer, tmp_path):
    pytest.importorskip('gradio')
    from sama_mm.webui import build_app
    app = build_app(WebDemo(inferencer, str(tmp_path / 'work')))
    dependencies = app.config['dependencies']
    assert dependencies
    for dep in dependencies:
        assert len(dep['show_progress_on'] or []) == 1, dep['id']
        assert dep['show_progress_on'][0] in [o for o in dep['outputs']], dep['id']
