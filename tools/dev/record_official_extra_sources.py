"""Record golden samples of the official Ref-SAV and ChatUniVi training datasets (fixtures of
tests/datasets/test_official_recipe_extra.py).

Usage::

    python tools/dev/record_official_extra_sources.py --official /tmp/official_sama \
        --out tests/data/official_recipe_extra

``--official`` is a checkout of github.com/sunye23/SAMA at 7c75e44 (``git archive`` of at least ``projects/``);
nothing of it is copied into this repository. The script

1. writes scaled-down fakes of the two real layouts into ``--out``: ``ref_sav/Ref-SAV.json`` with SA-V style
   mp4 files and ``*_manual.json`` masklets under ``ref_sav/sam_v_full/`` (the first component of the
   annotation's paths is dropped, as the official loader does), and ``chat_univi/video_chat.json`` with mp4 videos
   under ``chat_univi/Activity_Videos/`` (one record names a ``.mkv`` of which only the ``.mp4`` exists);
2. saves the tiny byte-level tokenizer of the tests into ``--out/tokenizer`` (both sides load this folder);
3. imports ``VideoSAM2Dataset`` (``ReSAM2_Dataset.py``) and ``VideoChatUniViDataset`` (``ChatUniVi_Dataset.py``)
   without running the packages' ``__init__`` files (they import the whole model stack), with the arguments of
   ``projects/llava_sam2/configs/sama_1b_base.py`` (qwen_chat template, 5 dense frames, 32 sparse frames for
   ChatUniVi, ``select_number=5``, ``mode='long'`` for Ref-SAV);
4. seeds ``random``, ``numpy`` and ``torch`` before every ``__getitem__`` and records what it returns (the
   templated conversation, ``input_ids``, ``labels``, the Q-Former prompts, dense positions, mask digests,
   pixel statistics) with the random draws it made (objects, question and answer templates, frames), into
   ``records.json``.

Adaptations at run time (no official file is edited):

* ``ReSAM2_Dataset.py`` imports ``get_sparse_indices_uniform`` from ``datasets/utils.py``, which does not define
  it in this release; its definition is taken from ``projects/llava_sam2/evaluation/video_gcg_eval.py`` (parsed
  with ``ast``) and attached to the loaded ``utils`` module.
* ``DirectResize`` (the SAM2 image processor) is loaded from ``models/preprocess/image_resize.py`` directly.
* The draws are observed by wrapping ``numpy.random.choice``, ``numpy.random.randint``, ``random.choice`` and
  ``random.random`` (the wrappers call the originals, so the draws are unchanged), the official sparse/dense
  index functions, and decord's ``get_batch``.
"""
import argparse
import ast
import hashlib
import importlib
import json
import os
import os.path as osp
import random
import sys
import types
from typing import Any, Dict, List

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

H, W = 24, 32
#: (video id, raw frames in the mp4 (24 fps), annotated frames (every 4th), number of objects)
REF_SAV_VIDEOS = (('sav_000001', 160, 40, 3), ('sav_000002', 404, 101, 7), ('sav_000003', 24, 6, 2))
#: (video name in the json, file written, raw frames)
CHATUNIVI_VIDEOS = (('v_alpha.mp4', 'v_alpha.mp4', 70), ('v_beta.mp4', 'v_beta.mp4', 20),
                    ('v_gamma.mkv', 'v_gamma.mp4', 40))
SEEDS = (0, 1, 2)


def digest(array: np.ndarray) -> str:
    """sha256 of an array's shape, dtype and bytes (C order)."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f'{array.shape}|{array.dtype}'.encode())
    h.update(array.tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------- fakes
def write_video(path: str, num_frames: int, seed: int) -> None:
    """An mp4 (mp4v) of ``num_frames`` frames whose colour changes with the frame number."""
    import cv2
    os.makedirs(osp.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 24, (W, H))
    for t in range(num_frames):
        frame = np.zeros((H, W, 3), np.uint8)
        frame[..., 0] = (t * 7 + seed * 50) % 256
        frame[..., 1] = (t * 3) % 256
        frame[: H // 2, : W // 2, 2] = 200
        writer.write(frame)
    writer.release()


def rect_rle(t: int, obj: int) -> Dict[str, Any]:
    """A moving rectangle of object ``obj`` at annotated frame ``t`` as a compressed RLE (empty some frames)."""
    from pycocotools import mask as mask_utils
    m = np.zeros((H, W), np.uint8, order='F')
    if (t + obj) % 5 != 4:
        y, x = (t + 2 * obj) % (H - 6), (3 * t + 5 * obj) % (W - 8)
        m[y:y + 4 + obj % 3, x:x + 6] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def write_ref_sav(root: str) -> None:
    meta = {}
    for k, (vid, raw, annotated, n_obj) in enumerate(REF_SAV_VIDEOS):
        write_video(osp.join(root, 'sam_v_full', 'sav_000', vid + '.mp4'), raw, k)
        masklet = [[rect_rle(t, o) for o in range(n_obj)] for t in range(annotated)]
        with open(osp.join(root, 'sam_v_full', 'sav_000', vid + '_manual.json'), 'w') as f:
            json.dump(dict(video_id=vid, video_height=H, video_width=W, masklet=masklet,
                           masklet_num=n_obj), f)
        objects = {str(o): dict(formated=f'A {["red", "blue", "green"][o % 3]} shape number {o} of {vid}. '
                                f'It moves to the right and stops.',
                                short_caps=[f'A shape {o}', f'the object {o} on the left']) for o in range(n_obj)}
        meta[vid] = dict(video_path=f'sav_train/sav_000/{vid}.mp4',
                         anno_path=f'sav_train/sav_000/{vid}_manual.json', objects=objects)
    with open(osp.join(root, 'Ref-SAV.json'), 'w') as f:
        json.dump(meta, f, indent=1)


def write_chatunivi(root: str) -> None:
    records = []
    for k, (name, file, raw) in enumerate(CHATUNIVI_VIDEOS):
        write_video(osp.join(root, 'Activity_Videos', file), raw, k + 3)
        conv = [dict(**{'from': 'human', 'value': '<image>\nWhat is happening in the video?'}),
                dict(**{'from': 'gpt', 'value': f'A red square moves in video {k}.'})]
        if k != 1:
            conv += [dict(**{'from': 'human', 'value': 'Which colour is the shape?'}),
                     dict(**{'from': 'gpt', 'value': 'It is red.'})]
        records.append(dict(id=name.split('.')[0], video=name, conversations=conv))
    with open(osp.join(root, 'video_chat.json'), 'w') as f:
        json.dump(records, f, indent=1)


# ---------------------------------------------------------------------------------------------------- official
def load_official(official: str):
    """The official dataset modules, imported without running their packages' ``__init__``."""
    sys.path.insert(0, official)
    for name, folder in (('projects', 'projects'), ('projects.llava_sam2', 'projects/llava_sam2'),
                         ('projects.llava_sam2.datasets', 'projects/llava_sam2/datasets')):
        pkg = types.ModuleType(name)
        pkg.__path__ = [osp.join(official, folder)]
        sys.modules[name] = pkg
    utils = importlib.import_module('projects.llava_sam2.datasets.utils')
    source_file = osp.join(official, 'projects/llava_sam2/evaluation/video_gcg_eval.py')
    with open(source_file) as f:
        tree = ast.parse(f.read())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'get_sparse_indices_uniform')
    exec(compile(ast.Module(body=[fn], type_ignores=[]), source_file, 'exec'), utils.__dict__)
    resam2 = importlib.import_module('projects.llava_sam2.datasets.ReSAM2_Dataset')
    chatunivi = importlib.import_module('projects.llava_sam2.datasets.ChatUniVi_Dataset')
    spec = importlib.util.spec_from_file_location(
        'official_image_resize', osp.join(official, 'projects/llava_sam2/models/preprocess/image_resize.py'))
    resize = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(resize)
    return resam2, chatunivi, resize.DirectResize


class DrawLog:
    """Wraps the random functions the official classes call and logs what they returned."""

    def __init__(self):
        self.log: List[tuple] = []
        self._orig = dict(np_choice=np.random.choice, np_randint=np.random.randint, choice=random.choice,
                          random=random.random, randint=random.randint)

    def __enter__(self):
        orig = self._orig

        def np_choice(*a, **k):
            out = orig['np_choice'](*a, **k)
            self.log.append(('np.choice', np.asarray(out).tolist()))
            return out

        def np_randint(*a, **k):
            out = orig['np_randint'](*a, **k)
            self.log.append(('np.randint', int(out)))
            return out

        def choice(seq):
            out = orig['choice'](seq)
            self.log.append(('choice', list(seq).index(out)))
            return out

        def rnd():
            out = orig['random']()
            self.log.append(('random', out))
            return out

        def randint(a, b):
            out = orig['randint'](a, b)
            self.log.append(('randint', out))
            return out

        np.random.choice, np.random.randint, random.choice, random.random = np_choice, np_randint, choice, rnd
        random.randint = randint
        return self

    def __exit__(self, *exc):
        np.random.choice, np.random.randint = self._orig['np_choice'], self._orig['np_randint']
        random.choice, random.random = self._orig['choice'], self._orig['random']
        random.randint = self._orig['randint']


def seed_all(seed: int) -> None:
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def common_kwargs(tok_dir: str, DirectResize) -> dict:
    from transformers import AutoTokenizer
    from xtuner.dataset.map_fns import template_map_fn_factory
    from xtuner.utils import PROMPT_TEMPLATE
    return dict(tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=tok_dir),
                template_map_fn=dict(type=template_map_fn_factory, template=PROMPT_TEMPLATE.qwen_chat),
                max_length=8192, lazy=True, special_tokens=['[SEG]', '<p>', '</p>', '<vp>', '</vp>'],
                extra_image_processor=dict(type=DirectResize, target_length=1024), sampled_frames=5, dense_len=5,
                sparse_len=32, num_temporal_token=32, num_spatial_token=32, window_size=512, window_stride=512,
                max_frames=32)


def text_record(data: dict) -> dict:
    return dict(conversation=[dict(input=c['input'], output=c['output']) for c in data['conversation']],
                input_ids=[int(i) for i in data['input_ids']], labels=[int(i) for i in data['labels']],
                prompts=list(data['prompts']))


def record_ref_sav(resam2, DirectResize, out: str, tok_dir: str) -> List[dict]:
    calls: Dict[str, Any] = {}
    sparse_fn, dense_fn = resam2.get_sparse_indices_uniform, resam2.get_dense_indices

    def sparse(n, **k):
        calls['num_annotated'] = n
        calls['sparse'] = sparse_fn(n, **k)
        return calls['sparse']

    def dense(t, d):
        calls['dense'] = [int(i) for i in dense_fn(t, d)]
        return calls['dense']

    resam2.get_sparse_indices_uniform, resam2.get_dense_indices = sparse, dense
    records = []
    for mode in ('long', 'short'):
        ds = resam2.VideoSAM2Dataset(sam2_folder=osp.join(out, 'ref_sav', 'sam_v_full'),
                                     expression_file=osp.join(out, 'ref_sav', 'Ref-SAV.json'), repeats=4,
                                     select_number=5, mode=mode, **common_kwargs(tok_dir, DirectResize))
        for index in range(len(REF_SAV_VIDEOS)):
            for seed in (SEEDS if mode == 'long' else SEEDS[:1]):
                seed_all(seed)
                calls.clear()
                with DrawLog() as draws:
                    data = ds[index]
                objects = [v for kind, v in draws.log if kind == 'np.choice'][0]
                choices = [v for kind, v in draws.log if kind == 'choice']  # question, answer per round
                captions = [v for kind, v in draws.log if kind == 'randint']  # short mode: one per object
                masks = data['masks'].numpy().astype(np.uint8)
                px = data['pixel_values'].numpy()
                rec = dict(source='ref_sav', mode=mode, index=index, seed=seed, video_id=ds.video_ids[index],
                           draws=dict(objects=[int(o) for o in objects], questions=choices[0::2],
                                      answers=choices[1::2], captions=captions or None),
                           annotated_frames=calls['num_annotated'], sparse=[int(s) for s in calls['sparse']],
                           dense_positions=[int(d) for d in data['dense_indices']],
                           masks_shape=list(masks.shape), masks_digest=digest(masks),
                           mask_pixels=masks.reshape(masks.shape[0], -1).sum(1).tolist(),
                           pixel_shape=list(px.shape), pixel_mean=float(px.mean()),
                           frame_means=px.reshape(px.shape[0], -1).mean(1).tolist(),
                           g_pixel_shapes=[list(g.shape) for g in data['g_pixel_values']], **text_record(data))
                records.append(rec)
    resam2.get_sparse_indices_uniform, resam2.get_dense_indices = sparse_fn, dense_fn
    return records


def record_chatunivi(chatunivi, DirectResize, out: str, tok_dir: str) -> List[dict]:
    batches: List[List[int]] = []
    reader_cls = chatunivi.VideoReader

    class LoggingReader(reader_cls):
        def get_batch(self, indices):
            batches.append([int(i) for i in indices])
            return super().get_batch(indices)

    chatunivi.VideoReader = LoggingReader
    kwargs = common_kwargs(tok_dir, DirectResize)
    kwargs.pop('extra_image_processor')
    ds = chatunivi.VideoChatUniViDataset(image_folder=osp.join(out, 'chat_univi', 'Activity_Videos') + '/',
                                         json_file=osp.join(out, 'chat_univi', 'video_chat.json'), repeats=1,
                                         max_conv_len=6, extra_image_processor=None, **kwargs)
    records = []
    for index in range(len(CHATUNIVI_VIDEOS)):
        for seed in SEEDS:
            seed_all(seed)
            batches.clear()
            with DrawLog() as draws:
                data = ds[index]
            randints = [v for kind, v in draws.log if kind == 'np.randint']
            n_frame_draws = len(randints) - 5
            px = data['pixel_values'].numpy()
            records.append(dict(source='chatunivi', index=index, seed=seed, video=CHATUNIVI_VIDEOS[index][0],
                                draws=dict(frames=randints[:n_frame_draws], dense=randints[n_frame_draws:]),
                                frame_indices=batches[-1], dense_positions=[int(d) for d in data['dense_indices']],
                                pixel_shape=list(px.shape), pixel_mean=float(px.mean()),
                                frame_means=px.reshape(px.shape[0], -1).mean(1).tolist(), **text_record(data)))
    chatunivi.VideoReader = reader_cls
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official', required=True, help='checkout of sunye23/SAMA at 7c75e44')
    parser.add_argument('--out', default='tests/data/official_recipe_extra')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sys.path.insert(0, osp.join(REPO, 'tests', 'datasets'))
    from tiny_tokenizer import save_as_qwen2_tokenizer
    tok_dir = save_as_qwen2_tokenizer(osp.join(args.out, 'tokenizer'))
    write_ref_sav(osp.join(args.out, 'ref_sav'))
    write_chatunivi(osp.join(args.out, 'chat_univi'))
    resam2, chatunivi, DirectResize = load_official(osp.abspath(args.official))
    records = record_ref_sav(resam2, DirectResize, args.out, tok_dir)
    records += record_chatunivi(chatunivi, DirectResize, args.out, tok_dir)
    with open(osp.join(args.out, 'records.json'), 'w') as f:
        json.dump(dict(official_commit='7c75e44', records=records), f)
    print(f'{len(records)} records written to {args.out}')


if __name__ == '__main__':
    main()
