"""tools/web_demo.py driven by headless Chromium (Debian's package) through Playwright: refused uploads show their
message, a demo video opens, a box drawn with the mouse becomes a region prompt, two questions get answers with
coloured [SEG] labels, the overlay video plays and the RLE masks download.

Artifacts (``work_dirs/test_artifacts/``): ``web_demo_after_second_answer.png`` (the page after the second answer)
and ``web_demo_timing.json`` (seconds from pressing "Ask" to the answer on the page, per question).
"""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO_ROOT
from tests.apis.helpers import SAMA_TINY_CONFIG
from tests.webui.helpers import build_sama_tiny, overfit_region_chat

pytestmark = pytest.mark.slow

ARTIFACTS = osp.join(REPO_ROOT, 'work_dirs', 'test_artifacts')
Q1, A1 = 'What is <mask> doing?', 'The <p>shape</p> [SEG] moves.'
Q2, A2 = 'Please segment the other shape.', 'It is <p>the square</p> [SEG].'
MAX_UPLOAD_MB = 1
TIMEOUT_MS = 600_000  # one answer takes ~10 s on an idle 2-core machine; this only guards against a hang


def _chromium() -> str:
    path = os.environ.get('SAMA_CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
    if not osp.exists(path):
        pytest.fail('headless Chromium is missing: `bash tools/install_browser.sh` installs Debian\'s chromium '
                    '(tools/run_tests.sh runs it)')
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(tmp_path_factory, demo_root):
    """The demo served on a free loopback port by tools/web_demo.py, with a tiny SAMA taught Q1/A1 and Q2/A2."""
    video = str(demo_root / 'videos' / 'bikes_a.mp4')
    inferencer = build_sama_tiny(seed=0)
    overfit_region_chat(inferencer, video, [(Q1, [(0, (64, 36, 192, 126))], A1), (Q2, None, A2)], max_steps=300,
                        lr=4e-3)
    from sama_mm.utils.weights import save_safetensors
    tmp = tmp_path_factory.mktemp('web')
    ckpt = str(tmp / 'tiny.safetensors')
    save_safetensors(inferencer.model.state_dict(), ckpt)
    port = _free_port()
    log = open(tmp / 'server.log', 'w')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools', 'web_demo.py'), '--config', SAMA_TINY_CONFIG,
                             '--checkpoint', ckpt, '--port', str(port), '--max-upload-mb', str(MAX_UPLOAD_MB),
                             '--work-dir', str(tmp / 'out'), '--examples', str(demo_root / 'videos')],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise AssertionError(f'the demo server exited ({proc.returncode}):\n{open(tmp / "server.log").read()}')
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f'the demo server did not answer in 600 s:\n{open(tmp / "server.log").read()}')
            time.sleep(1)
        yield dict(url=url, video=video, tmp=tmp, log=tmp / 'server.log')
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


def _status(page) -> str:
    return page.inner_text('#status')


def _wait_status(page, *texts, timeout=TIMEOUT_MS) -> str:
    page.wait_for_function('(texts) => texts.some(t => document.querySelector("#status").innerText.includes(t))',
                           arg=list(texts), timeout=timeout)
    return _status(page)


def _click_frame(page, fx: float, fy: float) -> None:
    """Click the frame image at ``(fx, fy)`` of its size once it has settled: every event redraws it, and a click
    on an image being replaced is lost."""
    img = page.locator('#frame-image img')
    last, deadline = None, time.monotonic() + 60
    while True:
        src = img.get_attribute('src')
        if src == last and img.evaluate('i => i.complete && i.naturalWidth > 0'):
            break
        if time.monotonic() > deadline:
            raise AssertionError('the frame image did not settle in 60 s')
        last = src
        time.sleep(0.5)
    box = img.bounding_box()
    page.mouse.click(box['x'] + fx * box['width'], box['y'] + fy * box['height'])


def _ask(page, question: str, turn: int) -> float:
    page.locator('#question textarea').fill(question)
    start = time.perf_counter()
    page.click('#ask')
    status = _wait_status(page, f'Turn {turn} answered', 'Error')
    seconds = time.perf_counter() - start
    assert f'Turn {turn} answered' in status, status
    return seconds


def test_browser_chat_with_box_two_answers_overlay_and_errors(server, tmp_path):
    from playwright.sync_api import sync_playwright
    os.makedirs(ARTIFACTS, exist_ok=True)
    not_video = tmp_path / 'notes.mp4'
    not_video.write_text('these are notes, not a video\n' * 50)
    text_file = tmp_path / 'notes.txt'
    text_file.write_text('notes\n')
    too_big = tmp_path / 'large.mp4'
    too_big.write_bytes(os.urandom((MAX_UPLOAD_MB + 1) * 2**20))
    with sync_playwright() as pw:
        # --no-sandbox: Chromium's sandbox refuses to run as root (CI runs as root).
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=['--no-sandbox'])
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1500})
            page.set_default_timeout(120_000)
            seconds = []
            try:
                _drive(page, server, not_video, text_file, too_big, seconds)
            except Exception:
                # What the page showed when it failed, for the CI log's reader.
                page.screenshot(path=osp.join(ARTIFACTS, 'web_demo_failure.png'), full_page=True)
                print(f'[web demo] failed; page: {osp.join(ARTIFACTS, "web_demo_failure.png")}; server log:\n'
                      f'{open(server["log"]).read()[-5000:]}')
                raise
        finally:
            browser.close()
    assert 'Traceback' not in open(server['log']).read()
    timing = dict(model='configs/demo/sama_tiny_demo.py (random init, LLM taught two answers)',
                  video='demo bikes_a.mp4 (24 frames, 320x180)',
                  seconds_question_to_answer=[round(s, 2) for s in seconds])
    with open(osp.join(ARTIFACTS, 'web_demo_timing.json'), 'w') as f:
        json.dump(timing, f, indent=2)
    print(f'[web demo] question to answer: {seconds[0]:.1f} s, {seconds[1]:.1f} s')


def _drive(page, server, not_video, text_file, too_big, seconds):
    """The user's session; appends the question-to-answer times to ``seconds``."""
    page.goto(server['url'])
    upload = page.locator('#video-input input[type=file]')

    # A file that is not a video: a readable message in the status line, no trace.
    upload.set_input_files(str(not_video))
    status = _wait_status(page, 'Error')
    assert 'Error: "notes.mp4" is not a video this demo can read' in status, status
    assert 'Traceback' not in page.inner_text('body')
    # One whose name says it is no video is refused by the file box itself.
    page.locator('#video-input input[type=file]').set_input_files(str(text_file))
    page.get_by_text('Invalid file type').first.wait_for()
    # Larger than --max-upload-mb: the server refuses the upload and the page says why.
    page.locator('#video-input input[type=file]').set_input_files(str(too_big))
    page.get_by_text('exceed the maximum allowed size').first.wait_for()
    assert 'large.mp4' in page.inner_text('body')

    # A demo video opens; its first frame is shown for marking.
    page.reload()
    page.locator('#video-input input[type=file]').set_input_files(server['video'])
    assert 'Opened "bikes_a.mp4": 24 frames of 320x180' in _wait_status(page, 'Opened', 'Error')
    # A box outside the frame is refused with the inference API's message.
    page.locator('#box-text textarea').fill('400,200,480,260')
    page.click('#add-region')
    status = _wait_status(page, 'Error')
    assert 'Region not added' in status and 'outside the 320x180 (WxH) frame' in status, status
    # Draw a box: two clicks on the frame (top-left area, then the middle).
    page.locator('#box-text textarea').fill('')
    _click_frame(page, 0.25, 0.3)
    _wait_status(page, 'opposite corner')
    _click_frame(page, 0.6, 0.7)
    _wait_status(page, 'Add region')
    x1, y1, x2, y2 = (int(v) for v in page.locator('#box-text textarea').input_value().split(','))
    assert 0 <= x1 < x2 < 320 and 0 <= y1 < y2 < 180 and x2 - x1 > 50 and y2 - y1 > 20
    page.click('#add-region')
    _wait_status(page, 'Region R1 added')
    assert f'R1: frame 0, box ({x1}, {y1}, {x2}, {y2})' in page.inner_text('#regions')

    # Two questions: the region prompt, then a follow-up in the same (cached) conversation.
    seconds.append(_ask(page, Q1, 1))
    chat = page.locator('#chat')
    assert 'shape' in chat.inner_text() and chat.locator('.seg-label', has_text='T1.1').count() == 1
    overlay = page.locator('#overlay video')
    overlay.wait_for()
    assert overlay.get_attribute('src').endswith('overlay.webm')
    seconds.append(_ask(page, Q2, 2))
    assert chat.locator('.seg-label', has_text='T2.1').count() == 1 and 'the square' in chat.inner_text()
    assert 'No regions marked' in page.inner_text('#regions')  # the region went with the first question
    # The browser decodes the overlay video (VP8 WebM), at the video's size.
    page.wait_for_function('() => { const v = document.querySelector("#overlay video");'
                           ' return v && v.readyState >= 2 && v.videoWidth === 320; }')
    # The masks download as RLE json: one track of 24 frames per [SEG] of the two answers.
    hrefs = page.eval_on_selector_all('#downloads a[href]', 'links => links.map(a => a.href)')
    names = sorted(h.rsplit('/', 1)[-1] for h in hrefs)
    assert names == ['answers.json', 'masks.json', 'overlay.mp4'], (names, page.inner_html('#downloads'))
    masks = json.loads(page.request.get(next(h for h in hrefs if h.endswith('/masks.json'))).body())
    assert [o['label'] for o in masks['objects']] == ['T1.1 shape', 'T2.1 the square']
    assert all(len(o['rle']) == 24 and o['size'] == [180, 320] for o in masks['objects'])
    page.screenshot(path=osp.join(ARTIFACTS, 'web_demo_after_second_answer.png'), full_page=True)

    # Points (clicks in "points" mode) and a brush stroke also become regions; "Clear regions" drops them.
    page.get_by_role('radio', name='points').check()
    _click_frame(page, 0.5, 0.5)
    page.wait_for_function('() => document.querySelector("#points-text textarea").value.includes(",")')
    page.click('#add-region')
    _wait_status(page, 'Region R1 added')
    page.get_by_role('radio', name='brush').check()
    page.get_by_text('Brush (mode').click()
    page.locator('#brush button[aria-label="Brush"]').first.click()
    canvas = page.locator('#brush canvas').first.bounding_box()
    page.mouse.move(canvas['x'] + 0.4 * canvas['width'], canvas['y'] + 0.5 * canvas['height'])
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(canvas['x'] + (0.4 + 0.02 * k) * canvas['width'], canvas['y'] + 0.5 * canvas['height'])
    page.mouse.up()
    page.click('#add-region')
    _wait_status(page, 'Region R2 added')
    regions = page.inner_text('#regions')
    assert 'R1: frame 0, points (' in regions and 'R2: frame 0, brush mask (' in regions, regions
    page.click('#clear-regions')
    _wait_status(page, 'Regions cleared')

    # "New chat" empties the conversation; the video stays open.
    page.click('#new-chat')
    _wait_status(page, 'New chat')
    assert chat.locator('.seg-label').count() == 0
