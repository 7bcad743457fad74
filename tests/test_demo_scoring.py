"""The demo's quality scoring: region answers checked by colour and shape, masks matched to objects by video IoU,
and the training progress bar.

(A learning test of the demo recipe, "the expression picks the object", belongs with a recipe that learns; the
demo recipe does not read the expression yet, see the README's quickstart section.)
"""
from data_converters import demo_texts as texts


def test_region_answers_are_checked_by_colour_and_shape():
    from data_converters.build_demo_data import COLOURS, SHAPES
    ok = texts.region_answer('magenta diamond', 'to the left')
    assert texts.names_object(ok, 'magenta', 'diamond', list(COLOURS), SHAPES)
    assert not texts.names_object(texts.region_answer('blue triangle', 'upwards'), 'magenta', 'diamond',
                                  list(COLOURS), SHAPES)
    # Naming a second object, or only the colour, is not an answer about the region.
    assert not texts.names_object('The magenta diamond and the red circle.', 'magenta', 'diamond', list(COLOURS),
                                  SHAPES)
    assert not texts.names_object('It is magenta.', 'magenta', 'diamond', list(COLOURS), SHAPES)


def test_report_matches_masks_by_video_iou():
    import numpy as np

    from tools.analysis.demo_report import format_report, video_iou
    a = np.zeros((3, 8, 8), bool)
    a[:, :4] = True
    b = np.zeros((3, 8, 8), bool)
    b[:2, :4] = True
    assert video_iou(a, b) == 2 / 3 and video_iou(a, a) == 1.0 and video_iou(~a & a, ~a & a) == 0.0
    transcript = [dict(question='Please segment the red circle.', answer='<p> The red circle </p> [SEG].',
                       region=None, masks=[dict(index=0, object='red circle', iou=0.81)])]
    quality = dict(demo_referring_acc=1.0, demo_region_caption_acc=0.5, questions=[
        dict(kind='referring', correct=True), dict(kind='region', correct=True), dict(kind='region', correct=False)])
    report = format_report({'rvos/J&F': 71.25}, quality, 'bikes_b', transcript, ['summary.png'])
    assert 'J&F 71.2' in report and '1/1 masks' in report and '1/2 answers' in report
    assert 'mask 1 -> red circle (IoU 0.81)' in report


def test_progress_bar_shows_the_time_left():
    from sama_mm.engine.hooks import ProgressBarHook
    line = ProgressBarHook(width=10).line(done=100, total=400, elapsed=50.0, ran=100)
    assert line == '[##........] 100/400 it, 0.50 s/it, 2:30 left'
