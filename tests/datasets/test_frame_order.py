"""Frame folders and mask folders are read in natural order: ``frame_2`` before ``frame_10``."""
import numpy as np
from PIL import Image

from sama_mm.datasets.io import natural_key, natural_sorted, probe_video
from sama_mm.datasets.transforms import VideoDecode, VideoFrameSource, VideoInit


def _unpadded_frames(folder, n=12, ext='png'):
    """Frames ``frame_0 .. frame_{n-1}`` (not zero-padded), frame t filled with the value 10 * t."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        Image.fromarray(np.full((8, 10, 3), 10 * t, np.uint8)).save(folder / f'frame_{t}.{ext}')
    return folder


def test_natural_key_orders_numbers_as_numbers():
    names = ['frame_10.jpg', 'frame_2.jpg', 'frame_1.jpg', 'frame_02.jpg', 'b', 'a10b', 'a10', 'a9z', '']
    assert natural_sorted(names) == ['', 'a9z', 'a10', 'a10b', 'b', 'frame_1.jpg', 'frame_02.jpg', 'frame_2.jpg',
                                     'frame_10.jpg']
    # Equal numbers with different padding still have one fixed order.
    assert natural_key('7') != natural_key('007') and natural_sorted(['7', '007']) == natural_sorted(['007', '7'])


def test_frame_folder_is_read_in_time_order(tmp_path):
    folder = _unpadded_frames(tmp_path / 'clip')
    info = probe_video(str(folder))
    assert [f.rsplit('/', 1)[-1] for f in info.frame_files] == [f'frame_{t}.png' for t in range(12)]
    results = VideoInit()(dict(video_path=str(folder), video_id='clip'))
    imgs = VideoDecode()(dict(results, frame_indices=list(range(12))))['imgs']
    assert [int(img[0, 0, 0]) for img in imgs] == [10 * t for t in range(12)]
    # The SAM2 frame source (used by chat and inference) follows the same order.
    source = VideoFrameSource(str(folder), None, 12, 16)
    first, last = source([2]), source([10])
    assert float(first.mean()) < float(last.mean())
