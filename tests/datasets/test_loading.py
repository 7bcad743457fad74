"""VideoInit + VideoDecode: only the sampled frames are decoded, and they equal a direct decode."""
import os.path as osp

from sama_mm.datasets.decord_backend import decord
import numpy as np
import pytest
from PIL import Image

from sama_mm.datasets import VideoReadError
from sama_mm.datasets.transforms import SampleFrames, VideoDecode, VideoInit


class SpyReader:
    """Wraps a decord VideoReader and records every read."""

    def __init__(self, reader):
        self.reader = reader
        self.batches = []
        self.single_reads = 0

    def __len__(self):
        return len(self.reader)

    def get_batch(self, indices):
        self.batches.append(list(indices))
        return self.reader.get_batch(indices)

    def __getitem__(self, index):
        self.single_reads += 1
        return self.reader[index]


def test_mp4_decodes_only_sampled_frames(demo_root):
    path = str(demo_root / 'videos' / 'bunny_a.mp4')
    results = VideoInit()(dict(video_path=path, video_id='bunny_a'))
    assert results['num_frames'] == 24 and results['ori_shape'] == (180, 320)
    spy = SpyReader(results['video_reader'])
    results['video_reader'] = spy
    results = SampleFrames(interval=5, min_frames=2)(results)
    assert results['frame_indices'] == [0, 5, 10, 15, 20]
    results = VideoDecode()(results)
    assert spy.batches == [[0, 5, 10, 15, 20]] and spy.single_reads == 0
    assert 'video_reader' not in results
    assert results['imgs'].dtype == np.uint8 and results['imgs'].shape == (5, 180, 320, 3)
    direct = decord.VideoReader(path, num_threads=1).get_batch(list(range(24))).asnumpy()
    np.testing.assert_array_equal(results['imgs'], direct[[0, 5, 10, 15, 20]])


def test_mp4_size_from_record_skips_first_frame(demo_root):
    path = str(demo_root / 'videos' / 'carphone_a.mp4')
    results = VideoInit()(dict(video_path=path, height=144, width=176))
    assert results['ori_shape'] == (144, 176)
    results['frame_indices'] = [23]
    assert VideoDecode()(results)['imgs'].shape == (1, 144, 176, 3)


def test_frame_folder_reads_only_sampled_files(demo_root, monkeypatch):
    folder = str(demo_root / 'mevis' / 'train' / 'JPEGImages' / 'bikes_a')
    frames = [f'{k:05d}' for k in range(24)]
    results = VideoInit()(dict(video_path=folder, frames=frames, video_id='bikes_a'))
    assert results['num_frames'] == 24 and results['ori_shape'] == (180, 320)
    assert results['frame_files'] == [osp.join(folder, f + '.jpg') for f in frames]
    results['frame_indices'] = [2, 7, 19]
    opened = []
    real_open = Image.open

    def spy_open(fp, *args, **kwargs):
        opened.append(fp)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, 'open', spy_open)
    results = VideoDecode()(results)
    monkeypatch.undo()
    assert opened == [osp.join(folder, f'{k:05d}.jpg') for k in (2, 7, 19)]
    assert 'frame_files' not in results
    for img, k in zip(results['imgs'], (2, 7, 19)):
        with Image.open(osp.join(folder, f'{k:05d}.jpg')) as im:
            np.testing.assert_array_equal(img, np.asarray(im.convert('RGB')))


def test_frame_dir_of_refvos_infos(demo_root):
    folder = str(demo_root / 'rvos' / 'train' / 'JPEGImages' / 'bunny_b')
    results = VideoInit()(dict(frame_dir=folder, frames=['00000', '00001'], video_id='bunny_b', exp_id='0'))
    assert results['video_path'] == folder and results['num_frames'] == 2


def test_out_of_range_index_names_file_and_record(demo_root):
    path = str(demo_root / 'videos' / 'bunny_a.mp4')
    results = VideoInit()(dict(video_path=path, video_id='bunny_a', record_index=3))
    results['frame_indices'] = [0, 24]
    with pytest.raises(VideoReadError, match=r'bunny_a\.mp4 record 3 \(bunny_a\).*\[24\].*24 frames') as err:
        VideoDecode()(results)
    assert err.value.kind == 'frame_index_out_of_range'


def test_missing_video_and_frame_name_file_and_record(demo_root):
    with pytest.raises(VideoReadError, match=r'nope\.mp4 record vid/7'):
        VideoInit()(dict(video_path=str(demo_root / 'nope.mp4'), video_id='vid', exp_id='7'))
    folder = str(demo_root / 'mevis' / 'train' / 'JPEGImages' / 'bikes_a')
    with pytest.raises(VideoReadError, match=r'bikes_a record 0 \(bikes_a\).*99999'):
        VideoInit()(dict(video_path=folder, frames=['00000', '99999'], video_id='bikes_a', record_index=0))


def test_frame_stride_keeps_every_nth_frame(demo_root):
    # SA-V style: the kept frames are the video (num_frames, indices) for a file and for a frame folder.
    path = str(demo_root / 'videos' / 'bunny_a.mp4')
    out = VideoDecode()(dict(VideoInit()(dict(video_path=path, video_id='v', frame_stride=4)), frame_indices=[0, 2, 5]))
    assert out['num_frames'] == 6  # 24 frames, every 4th kept
    direct = decord.VideoReader(path, num_threads=1).get_batch([0, 8, 20]).asnumpy()
    assert np.array_equal(out['imgs'], direct)
    with pytest.raises(VideoReadError, match='outside the video of 6 frames'):
        VideoDecode()(dict(VideoInit()(dict(video_path=path, video_id='v', frame_stride=4)), frame_indices=[6]))
    folder = str(demo_root / 'mevis' / 'train' / 'JPEGImages' / 'bunny_a')
    plain = VideoInit()(dict(video_path=folder, video_id='f'))
    strided = VideoInit()(dict(video_path=folder, video_id='f', frame_stride=3))
    assert strided['frame_files'] == plain['frame_files'][::3]
    assert strided['num_frames'] == (plain['num_frames'] + 2) // 3
