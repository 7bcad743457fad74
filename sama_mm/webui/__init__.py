"""A browser demo of grounded video chat (``tools/web_demo.py``): :class:`WebDemo` holds the logic, :func:`build_app`
lays it out as a Gradio page. Gradio is an optional dependency (``pip install -e .[web]``)."""
from .demo import DemoState, WebDemo, answer_html, parse_box, parse_points

__all__ = ['DemoState', 'WebDemo', 'answer_html', 'build_app', 'parse_box', 'parse_points']


def build_app(*args, **kwargs):
    """See :func:`sama_mm.webui.app.build_app` (imported lazily: it needs gradio)."""
    from .app import build_app as _build_app
    return _build_app(*args, **kwargs)
