"""Record golden training samples of the official SAMA video datasets (fixtures of
tests/datasets/test_official_recipe_video.py).

Usage::

    git --git-dir=<mirror of github.com/sunye23/SAMA> archive 7c75e44 | tar -x -C /tmp/official_sama
    python tools/dev/record_official_video_recipe.py --official /tmp/official_sama \\
        --out tests/data/official_recipe

The script writes scaled-down fakes of the real layouts into ``--out/data`` (MeViS, ReVOS and Ref-YouTube-VOS
training splits; SAMA-239K records on every video source: ``mevis``, ``lvvis``, ``ref_youtube_vos``,
``VidSTG`` and an SA-V mp4), runs the official dataset classes on them (``VideoMeVISDataset``,
``VideoReVOSDataset``, ``VideoRefYoutubeVOSDataset``, ``VideoRegionConvDataset``,
``VideoRegionDescriptionDataset``) with ``random``/``numpy``/``torch`` seeded before every sample, and writes
what each sample is: ``records.json.gz`` (the random draws, the sparse and dense frame indices, the templated
conversation, ``input_ids`` and ``labels``, the Q-Former prompts) and ``arrays.npz`` (ground-truth masks and
16x16 region prompt masks, bit-packed; a digest of the 448x448 ViT input: per-frame sums, every 32nd
pixel). Nothing of the official checkout is copied; it is imported from
``--official`` with these run-time adaptations (no official file is edited):

* the packages' ``__init__`` files are not run (they import the models): ``projects``, ``projects.llava_sam2``
  and ``projects.llava_sam2.datasets`` are empty package modules pointing at the official folders;
* ``datasets/utils.py`` lacks ``get_sparse_indices_uniform``, which the dataset files import: the module is
  executed with the function's definition taken (by ``ast``) from the official
  ``evaluation/video_gcg_eval.py`` appended, as the notes on running the release prescribe;
* ``VideoRegionConvDataset.__getitem__`` reads the undefined name ``extra`` when a SAM2 image processor is
  given, so every dataset runs without one (``extra_image_processor`` set to None after construction; the SAM2
  images are not recorded);
* the calls of ``random.choice``, ``np.random.choice`` and ``get_sparse_indices_uniform`` are wrapped to log
  their results (the draws are recorded as indices into the official lists, in call order).

The tokenizer is the tests' tiny byte-level BPE (``tests/datasets/tiny_tokenizer.py``), saved to
``--out/tokenizer``; the chat template is xtuner's ``qwen_chat``. Pickled mask dicts, which the official
Ref-YouTube-VOS loaders read, are written to a temporary folder only; ``--out/data`` holds their JSON form.
"""
import argparse
import ast
import gzip
import importlib.util
import json
import os
import os.path as osp
import pickle
import random
import sys
import tempfile
import types

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

H, W = 24, 32
SEED = 20  # seeds of sample i: SEED * 1000 + i


# ------------------------------------------------------------------------------------------------ fakes
def _rle(mask):
    from pycocotools import mask as mask_utils
    enc = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(v) for v in enc['size']], counts=enc['counts'].decode('ascii'))


def _object_track(key: int, num_frames: int, empty_every: int = 0):
    """A moving rectangle per frame (None on every ``empty_every``-th frame), distinct per key."""
    track = []
    for t in range(num_frames):
        if empty_every and t % empty_every == empty_every - 1:
            track.append(None)
            continue
        m = np.zeros((H, W), np.uint8)
        y0, x0 = (key * 3 + t) % (H - 6), (key * 5 + 2 * t) % (W - 8)
        m[y0:y0 + 3 + key % 4, x0:x0 + 4 + (key + t) % 5] = 1
        track.append(_rle(m))
    return track


def _write_frames(folder: str, names, ext: str = '.jpg'):
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for t, name in enumerate(names):
        img = np.full((H, W, 3), (t * 7) % 255, np.uint8)
        img[:, :, 1] = (t * 13) % 255
        Image.fromarray(img).save(osp.join(folder, name + ext), quality=40)


def _write_mp4(path: str, num_frames: int):
    import cv2
    os.makedirs(osp.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 6, (W, H))
    for t in range(num_frames):
        img = np.full((H, W, 3), (t * 5) % 255, np.uint8)
        writer.write(img)
    writer.release()


def _dump(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)


RVOS_VIDEOS = {
    # name: (frames, [(exp, anno_ids or obj_ids)])
    'mevis': {'m0': (12, [('The Red car.', [0]), ('which object moves first?', [1])]),
              'm1': (40, [('dog running', [2]), ('Two cats, sleeping.', [3, 4]), ('a bird', [5]),
                          ('What turns left?', [2]), ('the tall man', [6]), ('Boat.', [7]), ('ball', [8])]),
              'm2': (100, [(f'object {k}', [9 + k]) for k in range(5)])},
    'revos': {'rv0': (30, [('the person holding a cup', [0]), ('why is the dog barking?', [1]),
                           ('Left Car.', [0, 1])]),
              'rv1': (9, [('tree', [2]), ('sky', [3]), ('road', [4]), ('sign', [5]), ('lamp', [6]),
                          ('bench', [7])])},
    'refytvos': {'y0': (30, [('a zebra walking', [1]), ('The second zebra.', [2]), ('grass?', [1])]),
                 'y1': (9, [('cat', [1]), ('mouse', [2])])},
}


#: (frame folder, expression file) below each split's root, as released: MeViS ``mevis/train``, ReVOS ``revos``
#: (frames directly below the root), Ref-YouTube-VOS ``rvos``.
RVOS_LAYOUTS = dict(mevis=('JPEGImages', 'meta_expressions.json'), revos=('', 'meta_expressions_train_.json'),
                    refytvos=('train/JPEGImages', 'meta_expressions/train/meta_expressions.json'))


def make_rvos(data: str, tmp: str) -> dict:
    """MeViS, ReVOS and Ref-YouTube-VOS training layouts; returns the official constructor paths."""
    paths = {}
    for name, videos in RVOS_VIDEOS.items():
        root = osp.join(data, name)
        frames_sub, meta_file = RVOS_LAYOUTS[name]
        meta, masks, counter = {'videos': {}}, {}, 0
        for vid, (n, exps) in videos.items():
            names = [f'{t:05d}' for t in range(n)]
            _write_frames(osp.join(root, frames_sub, vid), names)
            entry = {'frames': names, 'expressions': {}}
            for e, (text, ids) in enumerate(exps):
                exp = {'exp': text}
                if name == 'refytvos':  # masks keyed by a running counter over (videos, sorted exp ids)
                    exp['obj_id'] = str(ids[0])
                    masks[str(counter)] = _object_track(ids[0] * 7 + counter, n, empty_every=5)
                    counter += 1
                else:
                    exp['obj_id'] = list(ids)
                    exp['anno_id'] = [f'{vid}_{i}' for i in ids]
                    if name == 'revos':
                        exp['type_id'] = e % 2
                    for i in ids:
                        masks.setdefault(f'{vid}_{i}', _object_track(i + len(vid), n, empty_every=4))
                entry['expressions'][str(e)] = exp
            meta['videos'][vid] = entry
        _dump(osp.join(root, meta_file), meta)
        _dump(osp.join(root, 'mask_dict.json'), masks)
        mask_file = osp.join(root, 'mask_dict.json')
        if name == 'refytvos':
            mask_file = osp.join(tmp, 'refytvos_mask_dict.pkl')
            with open(mask_file, 'wb') as f:
                pickle.dump(masks, f)
        paths[name] = dict(image_folder=osp.join(root, frames_sub), expression_file=osp.join(root, meta_file),
                           mask_file=mask_file)
    return paths


def _round(question, answer, regions, gts, who=('human', 'gpt')):
    return dict(q=dict({'from': who[0], 'value': question}), a=dict({'from': who[1], 'value': answer}),
                regions=regions, gts=gts)


def make_sama239k(data: str, tmp: str) -> dict:
    """SAMA-239K records on every video source, their mask dicts; returns the official constructor paths."""
    root = osp.join(data, 'sama239k')
    mask_dicts = {s: {} for s in ('mevis', 'lvvis', 'ref_youtube', 'sav', 'vidstg')}
    records = []

    def add(source, video, frames, n, anno_map, rounds, descriptions, height=H, width=W, extra_turn=None,
            empty_every=3):
        for k in anno_map:
            if k != -1:
                mask_dicts[source][str(k)] = _object_track(int(k), n, empty_every)
        conv = [t for r in rounds for t in (r['q'], r['a'])] + ([extra_turn] if extra_turn else [])
        rec = dict(video=video, video_id=osp.basename(video), height=height, width=width, frames=frames,
                   anno_map=anno_map, conversation=conv if rounds else None,
                   obj_masks=[r['regions'] for r in rounds], groundtruth=[r['gts'] for r in rounds])
        if descriptions is not None:
            rec['description'] = descriptions
        records.append(rec)

    seg = ' Response with interleaved segmentation masks.'
    # MeViS frames: 9 rounds -> chunks [0-3] [4-7] [8]; round 2 malformed (<mask> count), chunk 2 has no [SEG].
    names = [f'{t:05d}' for t in range(30)]
    _write_frames(osp.join(root, 'mevis/train/JPEGImages/sm0'), names)
    rounds = [_round('What is <mask> doing?', '<p> The cat </p> [SEG] is sleeping.', [11], [[11]]),
              _round('What colour is <mask>?', 'It is red.', [12], []),
              _round('Where are <mask> and <mask>?', 'On the left.', [11], []),
              _round('Which animals are there?', '<p> A cat </p> [SEG] and <p> two dogs </p> [SEG].', [],
                     [[11], [12, 13]])]
    rounds += [_round(f'Question {k} about <mask>?', f'Answer {k}.', [13], []) for k in range(4)]
    rounds += [_round('Show <mask> with interleaved segmentation masks.', '<p> It </p> [SEG].', [12], [[12]])]
    add('mevis', 'mevis/train/JPEGImages/sm0', names, 30, [11, 12, -1, 13], rounds,
        {'obj0': 'A grey cat. ', 'obj1': 'A brown dog.', 'obj3': 'A small dog.'})
    # LV-VIS: 20 frames (official sparse top-up); a wrong speaker and a [SEG] count off, each dropped alone; a
    # '<video>' placeholder in a question and an answer with surrounding whitespace.
    names = [f'{t:05d}' for t in range(20)]
    _write_frames(osp.join(root, 'lvvis/train/JPEGImages/00012'), names)
    rounds = [_round('<video>\nIs <mask> moving?', ' <p> Yes </p> [SEG]. \n', [21], [[21]]),
              _round('Hello?', 'Hi.', [], [], who=('gpt', 'human')),
              _round('Find the toy.', '<p> toy </p> [SEG] and [SEG].', [], [[22]]),
              _round('What is near <mask>?' + seg, '<p> A box </p> [SEG].', [22], [[21, 22]]),
              _round('Describe the scene.', 'A room.', [], [])]
    add('lvvis', 'lvvis/train/JPEGImages/00012', names, 20, [21, 22], rounds, {'obj1': 'A red toy.'},
        height=None, width=None)
    # Ref-YouTube-VOS: an odd conversation (a trailing human turn), no size in the record, 2 descriptions.
    names = [f'{t:05d}' for t in range(16)]
    _write_frames(osp.join(root, 'ref_youtube_vos/train/JPEGImages/ry0'), names)
    rounds = [_round('Where is <mask>?', '<p> The horse </p> [SEG] is here.', [31], [[31]]),
              _round('And the rider?', '<p> rider </p> [SEG].', [], [[32]])]
    add('ref_youtube', 'ref_youtube_vos/train/JPEGImages/ry0', names, 16, [31, 32], rounds,
        {'obj1': 'A rider on a horse.', 'obj0': ' A brown horse. '}, height=None,
        width=None, extra_turn={'from': 'human', 'value': 'Anything else?'})
    # VidSTG: frames named frame_<4k>.jpg given as raw_filename dicts; 7 descriptions -> 3 samples.
    names = [f'frame_{4 * t}' for t in range(24)]
    _write_frames(osp.join(root, 'VidSTG/train/2399224635'), names)
    rounds = [_round('What does <mask> hold?', '<p> A bat </p> [SEG].', [41], [[41]])]
    add('vidstg', 'VidSTG/train/2399224635', [{'raw_filename': n + '.jpg', 'frame_idx': 4 * t}
                                               for t, n in enumerate(names)], 24,
        [41, 42, 43, 44, 45, 46, 47], rounds, {f'obj{k}': f'Person {k} in a blue coat.' for k in range(7)})
    # SA-V: a 70-frame mp4 (18 kept frames), masks indexed in the kept frames; a description-only record.
    _write_mp4(osp.join(root, 'sav_train/sav_000/sav_000001.mp4'), 70)
    rounds = [_round('Follow <mask>.', '<p> The skier </p> [SEG] goes down.', [51], [[51]]),
              _round('What is <mask>?', 'A tree.', [52], [])]
    add('sav', 'sav_train/sav_000/sav_000001.mp4', None, 18, [51, 52], rounds,
        {'obj1': 'A snowy tree.', 'obj0': 'A skier in red.'}, height=None, width=None)
    add('mevis', 'mevis/train/JPEGImages/sm0', [f'{t:05d}' for t in range(30)], 30, [14, 15], [],
        {'obj1': 'Only a description.', 'obj0': 'Another one.'})
    ann = osp.join(root, 'sama239k_train_final.json')
    _dump(ann, records)
    files = dict(mevis='mevis_train_mask_dict.json', lvvis='lvvis_train_mask_dict.json',
                 ref_youtube='ref_youtube_train_mask_dict.json', sav='SAV_mask_dict_train.json',
                 vidstg='VidSTG_mask_dict_train_updated.json')
    for source, name in files.items():
        _dump(osp.join(root, name), mask_dicts[source])
    pkl = osp.join(tmp, 'ref_youtube_train_mask_dict.pkl')
    with open(pkl, 'wb') as f:
        pickle.dump(mask_dicts['ref_youtube'], f)
    return dict(image_folder=root, data_path=ann, mevis_json=osp.join(root, files['mevis']),
                lvvis_json=osp.join(root, files['lvvis']), ref_youtube_pkl=pkl, sav_json=osp.join(root, files['sav']),
                vidstg_json=osp.join(root, files['vidstg']))


# ------------------------------------------------------------------------------------------------ official import
def _package(name: str, path: str) -> None:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module


def _load(name: str, path: str, extra_source: str = ''):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if extra_source:
        code = open(path).read() + '\n\n' + extra_source
        exec(compile(code, path, 'exec'), module.__dict__)
    else:
        spec.loader.exec_module(module)
    return module


def import_official(official: str) -> dict:
    """The official dataset modules, imported with the adaptations of the module docstring."""
    projects = osp.join(official, 'projects')
    _package('projects', projects)
    _package('projects.llava_sam2', osp.join(projects, 'llava_sam2'))
    ds = osp.join(projects, 'llava_sam2', 'datasets')
    _package('projects.llava_sam2.datasets', ds)
    eval_file = osp.join(projects, 'llava_sam2', 'evaluation', 'video_gcg_eval.py')
    tree = ast.parse(open(eval_file).read())
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'get_sparse_indices_uniform')
    _load('projects.llava_sam2.datasets.utils', osp.join(ds, 'utils.py'), ast.get_source_segment(
        open(eval_file).read(), func))
    _load('projects.llava_sam2.datasets.encode_fn', osp.join(ds, 'encode_fn.py'))
    mods = {}
    for name in ('ReVOS_Dataset', 'MeVIS_Dataset', 'RefYoutubeVOS_Dataset', 'VideoRegionConv_Dataset',
                 'VideoRegionCaptioning_Dataset'):
        mods[name] = _load(f'projects.llava_sam2.datasets.{name}', osp.join(ds, name + '.py'))
    return mods


# ------------------------------------------------------------------------------------------------ recording
class DrawLog:
    """Wraps ``random.choice``, ``np.random.choice`` and ``get_sparse_indices_uniform`` of the official modules."""

    def __init__(self, mods: dict, lists: dict):
        self.lists = lists  # name -> the official list object
        self.draws, self.sparse = {}, []
        for mod in mods.values():
            if hasattr(mod, 'get_sparse_indices_uniform'):
                original = mod.get_sparse_indices_uniform

                def sparse(*args, _f=original, **kwargs):
                    out = _f(*args, **kwargs)
                    self.sparse.append([int(v) for v in out])
                    return out

                mod.get_sparse_indices_uniform = sparse
        self._choice, self._np_choice = random.choice, np.random.choice
        random.choice = self.choice
        np.random.choice = self.np_choice

    def reset(self):
        self.draws, self.sparse = {}, []

    def choice(self, seq):
        out = self._choice(seq)
        for name, values in self.lists.items():
            if seq is values:
                self.draws.setdefault(name, []).append(values.index(out))
                break
        else:
            raise RuntimeError('random.choice on an unknown list')
        return out

    def np_choice(self, *args, **kwargs):
        out = self._np_choice(*args, **kwargs)
        self.draws.setdefault('expressions', []).extend(int(v) for v in np.asarray(out).ravel())
        return out


def _seed(i: int) -> int:
    s = SEED * 1000 + i
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    return s


def _texts(sample) -> list:
    return [dict(input=t['input'], output=t['output']) for t in sample['conversation']]


def _pixels(arrays: dict, key: str, sample: dict) -> None:
    """A digest of the ViT input ``[T, 3, 448, 448]``: per-frame float64 sums and every 32nd pixel."""
    pixels = sample['pixel_values']
    arrays[key + '/pixel_sums'] = pixels.double().sum(dim=(1, 2, 3)).numpy()
    arrays[key + '/pixel_grid'] = pixels[:, :, ::32, ::32].numpy()


def record(official: str, out: str) -> None:
    from transformers import AutoTokenizer
    from xtuner.dataset.map_fns import template_map_fn_factory
    from xtuner.utils import PROMPT_TEMPLATE

    from tests.datasets.tiny_tokenizer import save_as_qwen2_tokenizer
    data = osp.join(out, 'data')
    tmp = tempfile.mkdtemp(prefix='h5_official_')
    tok_dir = save_as_qwen2_tokenizer(osp.join(out, 'tokenizer'))
    rvos = make_rvos(data, tmp)
    sama = make_sama239k(data, tmp)
    mods = import_official(official)
    rv, conv_mod = mods['ReVOS_Dataset'], mods['VideoRegionConv_Dataset']
    cap_mod = mods['VideoRegionCaptioning_Dataset']
    log = DrawLog(mods, dict(questions=rv.SEG_QUESTIONS, answers=rv.ANSWER_LIST,
                             conv_questions=conv_mod.SEG_QUESTIONS,
                             description_questions=cap_mod.DETAILED_QUESTIONS))
    tokenizer = dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=tok_dir)
    common = dict(tokenizer=tokenizer, max_length=8192, lazy=True,
                  special_tokens=['[SEG]', '<p>', '</p>', '<vp>', '</vp>'], sampled_frames=5, dense_len=5,
                  sparse_len=32, num_temporal_token=32, num_spatial_token=32, window_size=512, window_stride=512,
                  max_frames=32)
    records, arrays = dict(official_commit='7c75e44', seed=SEED, samples={}), {}
    classes = dict(mevis=mods['MeVIS_Dataset'].VideoMeVISDataset, revos=rv.VideoReVOSDataset,
                   refytvos=mods['RefYoutubeVOS_Dataset'].VideoRefYoutubeVOSDataset)
    for name, cls in classes.items():
        ds = cls(template_map_fn=dict(type=template_map_fn_factory, template=PROMPT_TEMPLATE.qwen_chat),
                 repeats=2, **rvos[name], **common)
        ds.extra_image_processor = None
        samples = []
        for i in range(len(ds)):  # both repeats: the draws differ
            log.reset()
            _seed(i)
            s = ds[i]
            assert len(log.sparse) == 1, f'{name} sample {i} was replaced by another one (official refetch)'
            samples.append(dict(index=i, video=ds.videos[i % ds.real_len()], draws=log.draws,
                                sparse=log.sparse[-1], dense=[int(v) for v in s['dense_indices']],
                                conversation=_texts(s), input_ids=[int(v) for v in s['input_ids']],
                                labels=[int(v) for v in s['labels']], prompts=list(s['prompts'])))
            arrays[f'{name}/{i}/masks'] = np.packbits(s['masks'].numpy().astype(np.uint8))
            arrays[f'{name}/{i}/masks_shape'] = np.asarray(s['masks'].shape)
            _pixels(arrays, f'{name}/{i}', s)
        records['samples'][name] = samples
    sama_common = {k: v for k, v in sama.items() if k != 'image_folder'}
    conv = conv_mod.VideoRegionConvDataset(
        image_folder=sama['image_folder'], template_map_fn=dict(type=template_map_fn_factory,
                                                                template=PROMPT_TEMPLATE.qwen_chat),
        repeats=1, dense_len=5, sparse_len=32, num_temporal_token=32, max_conv_len=6, qa_per_item=4,
        num_spatial_token=32, window_size=512, window_stride=512, max_frames=32, tokenizer=tokenizer,
        max_length=8192, lazy=True, special_tokens=common['special_tokens'], **sama_common)
    conv.extra_image_processor = None
    desc = cap_mod.VideoRegionDescriptionDataset(
        image_folder=sama['image_folder'], template_map_fn=dict(type=template_map_fn_factory,
                                                                template=PROMPT_TEMPLATE.qwen_chat),
        repeats=1, sampled_frames=3, dense_len=5, sparse_len=32, num_temporal_token=32, description_per_item=3,
        num_spatial_token=32, window_size=512, window_stride=512, max_frames=32, tokenizer=tokenizer,
        max_length=8192, lazy=True, special_tokens=common['special_tokens'], **sama_common)
    for name, ds in (('sama239k_conversation', conv), ('sama239k_description', desc)):
        samples = []
        for i in range(ds.real_len()):
            log.reset()
            _seed(i)
            raw = ds.text_data[i]
            s = ds[i]
            assert len(log.sparse) == 1, f'{name} sample {i} was replaced by another one (official refetch)'
            entry = dict(index=i, sample_id=raw['id'], video=raw['file_name'], draws=log.draws, sparse=log.sparse[-1],
                         dense=[int(v) for v in s['dense_indices']], conversation=_texts(s),
                         input_ids=[int(v) for v in s['input_ids']], labels=[int(v) for v in s['labels']],
                         prompts=list(s['prompts']), mask_count=[int(v) for v in s.get('mask_count', [])])
            samples.append(entry)
            prompt = torch.stack([torch.as_tensor(m) for m in s['prompt_masks']]) if s['prompt_masks'] else \
                torch.zeros(0, 5, 16, 16)
            arrays[f'{name}/{i}/prompt_masks'] = np.packbits(prompt.numpy().astype(np.uint8))
            arrays[f'{name}/{i}/prompt_masks_shape'] = np.asarray(prompt.shape)
            _pixels(arrays, f'{name}/{i}', s)
            if 'masks' in s:
                arrays[f'{name}/{i}/masks'] = np.packbits(s['masks'].numpy().astype(np.uint8))
                arrays[f'{name}/{i}/masks_shape'] = np.asarray(s['masks'].shape)
        records['samples'][name] = samples
    with open(osp.join(out, 'records.json.gz'), 'wb') as raw_file:  # mtime 0: the same bytes on every run
        with gzip.GzipFile(fileobj=raw_file, mode='wb', mtime=0) as f:
            f.write(json.dumps(records).encode())
    np.savez_compressed(osp.join(out, 'arrays.npz'), **arrays)
    print({k: len(v) for k, v in records['samples'].items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official', required=True, help='a checkout of sunye23/SAMA at 7c75e44')
    parser.add_argument('--out', default=osp.join(REPO, 'tests', 'data', 'official_recipe'))
    args = parser.parse_args()
    record(args.official, args.out)


if __name__ == '__main__':
    main()
