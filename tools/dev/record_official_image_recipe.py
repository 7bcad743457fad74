"""Record golden image samples (dynamic tiles, RefCOCO, GCG, LLaVA, Osprey) from the official SAMA image
code (fixtures of tests/datasets/test_official_recipe_image.py).

Usage::

    git --git-dir=<mirror of github.com/sunye23/SAMA> archive 7c75e44 | tar -x -C /tmp/official_sama
    python tools/dev/record_official_image_recipe.py --official /tmp/official_sama \\
        --out tests/data/official_recipe_image

The script writes small fake images of several shapes (landscape, portrait, square, extreme strips, a size on
the area rule of the grid choice) into ``--out/images`` as PNG, runs the official ``dynamic_preprocess``
(``projects/llava_sam2/datasets/utils.py``, imported by file path: the package ``__init__`` files import the
models and are not run) with the released settings (1-12 tiles of 448, thumbnail) and the official per-tile
transform (torchvision ``Resize((448, 448), BICUBIC)``, ``ToTensor``, ``Normalize`` with the ImageNet
mean/std), and writes ``tiles.json``: per image, the tile count, the grid size of the resized image and, per
tile, the SHA-256 of the ``float32`` ViT input and its sum.

It then writes a scaled-down RefCOCO layout into ``--out/refcoco`` (``instances.json``, ``refs_unc.json``, the
JSON form of ``refs(unc).p``, which is written to a temporary folder only, and ``train2014`` images) and runs the
official ``ReferSegmDataset`` (``projects/llava_sam2/datasets/RefCOCO_Dataset.py`` on
``third_parts/mmdet/datasets/refcoco.py``, released settings: 5 phrases per sample, ``text_mode='random'``)
with ``random``/``numpy`` seeded before construction and before every sample, recording into
``refcoco.json.gz``: per sample the image, the sentence chosen per object at start-up, the drawn objects,
questions and answers (indices into the official lists), ``input_ids``, ``labels``, the decoded text, the
ground-truth masks (bit-packed) and the SHA-256 of every tile of the ViT input. The tokenizer is the tests'
tiny byte-level BPE (as Qwen2, saved to ``--out/tokenizer``), the template xtuner's ``qwen_chat``.
Likewise for the four GCG sources (``GranDfGCGDataset``, ``OpenPsgGCGDataset``, ``RefCOCOgGCGDataset``,
``FlickrGCGDataset``; ``grandf.json.gz``: question draws, ids, labels, text, masks, tiles),
LLaVA (``LLaVADataset``, ``llava.json.gz``: ids, labels, text, tiles) and the five Osprey-724K files in the
released schema (``OspreyDataset``, ``OspreyDescriptionDataset``, ``OspreyShortDescriptionDataset``,
``osprey.json.gz``: question draws, prompts, answers, region count, tiles); their fakes are written under
``--out/grandf``, ``--out/llava`` and ``--out/osprey``. ``random.choice`` is wrapped to log the draws as indices
into the official lists.
The package ``__init__`` files are not run (they import the models): the packages are empty modules pointing
at the official folders. Nothing of the official checkout is copied.
"""
import argparse
import gzip
import hashlib
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

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

#: name -> (width, height) of the fake images ('big_square': three grids fit exactly, the area rule picks 2x2).
SHAPES = {'tiny': (32, 24), 'square': (448, 448), 'landscape': (1000, 300), 'portrait': (300, 1000),
          'coco': (640, 480), 'strip': (1300, 50), 'tall': (60, 900), 'big_square': (900, 900),
          'wide': (1000, 800)}


def fake_image(width: int, height: int, seed: int) -> np.ndarray:
    """A gradient, a fine periodic pattern and a few rectangles: sharp edges exercise every filter tap, and the
    PNG stays small (no per-pixel noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)),
                    ((xx + yy) * 3) % 256], -1).astype(np.int32)
    img += ((xx * 7 + yy * 3) % 11 - 5)[..., None] * 4
    for _ in range(4):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        img[y0:y0 + height // 5 + 1, x0:x0 + width // 5 + 1] = rng.integers(0, 256, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def digest(t) -> dict:
    arr = np.ascontiguousarray(t.numpy().astype(np.float32))
    return dict(sha256=hashlib.sha256(arr.tobytes()).hexdigest(), sum=float(arr.astype(np.float64).sum()))


# ------------------------------------------------------------------------------------------------ RefCOCO
#: Fake RefCOCO images: id -> (width, height); objects: (ann id, image id, polygon box x0, y0, x1, y1).
REF_IMAGES = {1: (64, 48), 2: (40, 72)}
REF_OBJECTS = [(10, 1, 2, 2, 20, 30), (11, 1, 30, 10, 60, 40), (12, 2, 5, 5, 35, 30), (13, 2, 10, 40, 30, 70)]
#: refs: (ref id, ann id, sentences); ann 12 has two refs (the later one's sentences count, as the released loader).
REF_REFS = [(0, 10, ['The left box.', 'a small square']), (1, 11, ['Right Square', 'the big one.', 'box on right']),
            (2, 12, ['top shape']), (3, 13, ['Bottom Bar.', 'the lower one']), (4, 12, ['Upper Shape.', 'first'])]


def make_refcoco(root: str, tmp: str) -> None:
    from PIL import Image
    os.makedirs(osp.join(root, 'train2014'), exist_ok=True)
    images = []
    for img_id, (width, height) in REF_IMAGES.items():
        name = f'COCO_train2014_{img_id:012d}.jpg'
        Image.fromarray(fake_image(width, height, img_id)).save(osp.join(root, 'train2014', name), quality=90)
        images.append(dict(id=img_id, file_name=name, width=width, height=height))
    anns = [dict(id=a, image_id=i, category_id=1, iscrowd=0, area=float((x1 - x0) * (y1 - y0)),
                 bbox=[x0, y0, x1 - x0, y1 - y0], segmentation=[[x0, y0, x1, y0, x1, y1, x0, y1]])
            for a, i, x0, y0, x1, y1 in REF_OBJECTS]
    with open(osp.join(root, 'instances.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=[dict(id=1, name='thing')]), f)
    image_of = {a: i for a, i, *_ in REF_OBJECTS}
    refs = [dict(ref_id=r, ann_id=a, image_id=image_of[a], split='train', category_id=1,
                 file_name=f'COCO_train2014_{image_of[a]:012d}_{a}.jpg', sent_ids=list(range(r * 10, r * 10 + len(s))),
                 sentences=[dict(raw=t, sent=t.lower().strip('.'), sent_id=r * 10 + k, tokens=t.split())
                            for k, t in enumerate(s)]) for r, a, s in REF_REFS]
    with open(osp.join(root, 'refs_unc.json'), 'w') as f:
        json.dump(refs, f)
    with open(osp.join(tmp, 'refs(unc).p'), 'wb') as f:
        pickle.dump(refs, f)


def _package(name: str, path: str) -> None:
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_refcoco(official: str):
    for name in ('projects', 'projects.glamm', 'projects.glamm.datasets', 'projects.glamm.datasets.utils',
                 'projects.llava_sam2', 'projects.llava_sam2.datasets', 'third_parts', 'third_parts.mmdet',
                 'third_parts.mmdet.datasets'):
        _package(name, osp.join(official, *name.split('.')))
    _load('projects.glamm.utils', osp.join(official, 'projects/glamm/utils.py'))
    _load('projects.glamm.datasets.utils.utils', osp.join(official, 'projects/glamm/datasets/utils/utils.py'))
    _load('projects.llava_sam2.datasets.utils', osp.join(official, 'projects/llava_sam2/datasets/utils.py'))
    _load('third_parts.mmdet.datasets.refcoco', osp.join(official, 'third_parts/mmdet/datasets/refcoco.py'))
    return _load('projects.llava_sam2.datasets.RefCOCO_Dataset',
                 osp.join(official, 'projects/llava_sam2/datasets/RefCOCO_Dataset.py'))


def tiny_tokenizer_dir(out: str) -> str:
    from tests.datasets.tiny_tokenizer import save_as_qwen2_tokenizer
    return save_as_qwen2_tokenizer(osp.join(out, 'tokenizer'))


def record_refcoco(official: str, out: str, seed: int = 21) -> None:
    from transformers import AutoTokenizer
    from xtuner.utils import PROMPT_TEMPLATE

    root, tmp = osp.join(out, 'refcoco'), tempfile.mkdtemp(prefix='h9_refcoco_')
    make_refcoco(root, tmp)
    tok_dir = tiny_tokenizer_dir(out)
    mod = import_refcoco(official)
    picks, base_choice, base_np_choice = {}, random.choice, np.random.choice

    def choice(seq):
        value = base_choice(seq)
        name = 'questions' if seq is mod.SEG_QUESTIONS else 'answers' if seq is mod.ANSWER_LIST else None
        if name is None:
            raise RuntimeError('random.choice on an unknown list')
        picks.setdefault(name, []).append(seq.index(value))
        return value

    def np_choice(*args, **kwargs):
        value = base_np_choice(*args, **kwargs)
        picks.setdefault('objects', []).extend(int(v) for v in np.asarray(value).ravel())
        return value

    mod.random.choice, mod.np.random.choice = choice, np_choice
    random.seed(seed)
    np.random.seed(seed)
    ds = mod.ReferSegmDataset(
        data_root=root, ann_file='instances.json', split_file=osp.join(tmp, 'refs(unc).p'),
        data_prefix=dict(img_path='train2014/'), special_tokens=['[SEG]'], prompt_template=PROMPT_TEMPLATE.qwen_chat,
        tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=tok_dir),
        num_classes_per_sample=5, max_length=8192)
    tok = ds.tokenizer
    samples = []
    for i in range(len(ds)):
        for repeat in range(2):
            info = ds.get_data_info(i)
            random.seed(seed * 1000 + 10 * i + repeat)
            np.random.seed(seed * 1000 + 10 * i + repeat)
            picks.clear()
            s = ds.prepare_data(i)
            masks = s['masks'].numpy().astype(np.uint8)
            samples.append(dict(
                image_id=int(info['img_id']), texts=list(info['text']), draws=dict(picks),
                input_ids=[int(v) for v in s['input_ids']], labels=[int(v) for v in s['labels']],
                text=tok.decode(s['input_ids']), prompts=list(s['prompts']), masks_shape=list(masks.shape),
                masks=np.packbits(masks).tolist(), tiles=[digest(t)['sha256'] for t in s['pixel_values']]))
    with open(osp.join(out, 'refcoco.json.gz'), 'wb') as raw:
        with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
            f.write(json.dumps(dict(official_commit='7c75e44', samples=samples)).encode())
    print('refcoco samples', len(samples))


# ------------------------------------------------------------------------------------------------ GranD-f
#: (file, (width, height), caption, {phrase: (start, end, [box (x0, y0, x1, y1), ...])}); the positions count in
#: the caption without its quotes, as the loaders read it.
GRANDF = [
    ('g1.jpg', (64, 48), 'A man rides a red bike near a tree.',
     {'A man': (0, 5, [(2, 2, 20, 40)]), 'a red bike': (12, 22, [(22, 10, 40, 40), (44, 30, 60, 44)]),
      'a tree': (28, 34, [(50, 0, 63, 20)])}),
    ('g2.jpg', (40, 72), '"Two dogs play on the grass."', {'the grass': (17, 26, [(0, 50, 39, 71)]),
                                                          'Two dogs': (0, 8, [(5, 5, 30, 30)])}),
]


def _rle_box(width, height, boxes):
    from pycocotools import mask as mask_utils
    out = []
    for x0, y0, x1, y1 in boxes:
        m = np.zeros((height, width), np.uint8)
        m[y0:y1, x0:x1] = 1
        enc = mask_utils.encode(np.asfortranarray(m))
        out.append(dict(size=[int(v) for v in enc['size']], counts=enc['counts'].decode('ascii')))
    return out


def make_other_gcg(root: str) -> None:
    """OpenPSG (GranD-f's layout), RefCOCOg-GCG (``{id: record}`` items, polygons) and Flickr (COCO-style)."""
    from PIL import Image
    for k, (name, size) in enumerate((('p1.jpg', (48, 36)), ('r1.jpg', (60, 40)), ('f1.jpg', (64, 48)),
                                      ('f2.jpg', (20, 48)))):
        Image.fromarray(fake_image(*size, 60 + k)).save(osp.join(root, 'images', name), quality=90)
    openpsg = [dict(file_name='p1.jpg', height=36, width=48, image_id='p1', caption='A cat sleeps on a sofa.',
                    groundings={'A cat': dict(token_positives=[0, 5], rle_masks=_rle_box(48, 36, [(2, 2, 20, 20)])),
                                'a sofa': dict(token_positives=[16, 22],
                                               rle_masks=_rle_box(48, 36, [(0, 20, 47, 35)]))})]

    def poly(x0, y0, x1, y1):
        return [[x0, y0, x1, y0, x1, y1, x0, y1]]

    refcocog = [{'r1-0': dict(img_file_name='r1.jpg', caption='"The man in red rides a bike."', refs=[
        dict(sentence='the man', bbox=[0, 0, 5, 5], segmentation=poly(2, 2, 20, 30)),
        dict(sentence='man in red', bbox=[0, 0, 5, 5], segmentation=poly(10, 5, 30, 38)),
        dict(sentence='a bike', bbox=[0, 0, 5, 5], segmentation=poly(30, 20, 58, 39)),
        dict(sentence='a car', bbox=[0, 0, 5, 5], segmentation=poly(0, 0, 5, 5))])}]
    flickr = dict(images=[dict(id=7, file_name='flickr_f1.jpg', height=48, width=64,
                               caption='Two kids play with a red ball.'),
                          dict(id=8, file_name='f2.jpg', height=48, width=20, caption='A narrow picture here.'),
                          dict(id=9, file_name='f1.jpg', height=48, width=64, caption='Short caption')],
                  annotations=[dict(id=1, image_id=7, bbox=[0, 0, 20, 20], area=400, tokens_positive=[[0, 8]],
                                    sam_mask=_rle_box(64, 48, [(0, 0, 20, 20)])[0], category_id=1, iscrowd=0),
                               dict(id=2, image_id=7, bbox=[30, 30, 10, 10], area=100, tokens_positive=[[21, 29]],
                                    sam_mask=_rle_box(64, 48, [(30, 30, 40, 40)])[0], category_id=1, iscrowd=0),
                               dict(id=3, image_id=7, bbox=[70, 0, 5, 5], area=25, tokens_positive=[[9, 13]],
                                    sam_mask=_rle_box(64, 48, [(0, 0, 1, 1)])[0], category_id=1, iscrowd=0),
                               dict(id=4, image_id=8, bbox=[0, 0, 5, 5], area=25, tokens_positive=[[0, 8]],
                                    sam_mask=_rle_box(20, 48, [(0, 0, 5, 5)])[0], category_id=1, iscrowd=0)],
                  categories=[dict(id=1, name='thing')])
    os.makedirs(osp.join(root, 'flickr'), exist_ok=True)
    os.replace(osp.join(root, 'images', 'f1.jpg'), osp.join(root, 'images', 'flickr_f1.jpg'))
    for name, data in (('OpenPsgGCG_train.json', openpsg), ('RefCOCOg_GCG_train.json', refcocog),
                       ('flickr_mergedGT_GCG_train.json', flickr)):
        with open(osp.join(root, name), 'w') as f:
            json.dump(data, f)


def make_grandf(root: str) -> None:
    from PIL import Image
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    records = []
    for k, (name, (width, height), caption, groundings) in enumerate(GRANDF):
        Image.fromarray(fake_image(width, height, 40 + k)).save(osp.join(root, 'images', name), quality=90)
        records.append(dict(file_name=name, height=height, width=width, image_id=name[:-4], caption=caption,
                            groundings={p: dict(token_positives=[a, b], rle_masks=_rle_box(width, height, boxes))
                                        for p, (a, b, boxes) in groundings.items()}))
    with open(osp.join(root, 'GranDf_HA_GCG_train.json'), 'w') as f:
        json.dump(records, f)


def record_grandf(official: str, out: str, seed: int = 22) -> None:
    from transformers import AutoTokenizer
    from xtuner.dataset.map_fns import template_map_fn_factory
    from xtuner.utils import PROMPT_TEMPLATE

    root = osp.join(out, 'grandf')
    make_grandf(root)
    make_other_gcg(root)
    tok_dir = tiny_tokenizer_dir(out)
    import_refcoco(official)  # the packages and utils
    _load('projects.llava_sam2.datasets.encode_fn', osp.join(official, 'projects/llava_sam2/datasets/encode_fn.py'))
    proc = _load('projects.llava_sam2.datasets.gcg_process',
                 osp.join(official, 'projects/llava_sam2/datasets/gcg_process.py'))
    mod = _load('projects.llava_sam2.datasets.GCG_Dataset', osp.join(official, 'projects/llava_sam2/datasets/GCG_Dataset.py'))
    picks, base_choice = [], random.choice

    def choice(seq):
        if seq is not proc.GCG_QUESTIONS:
            raise RuntimeError('random.choice on an unknown list')
        value = base_choice(seq)
        picks.append(seq.index(value))
        return value

    proc.random.choice = choice
    template = PROMPT_TEMPLATE.qwen_chat
    samples = []
    for ann, cls in (('GranDf_HA_GCG_train.json', mod.GranDfGCGDataset), ('OpenPsgGCG_train.json',
                     mod.OpenPsgGCGDataset), ('RefCOCOg_GCG_train.json', mod.RefCOCOgGCGDataset),
                     ('flickr_mergedGT_GCG_train.json', mod.FlickrGCGDataset)):
        ds = cls(image_folder=osp.join(root, 'images'), data_path=osp.join(root, ann),
                 tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=tok_dir),
                 max_length=8192, special_tokens=['[SEG]', '<p>', '</p>', '<vp>', '</vp>'],
                 template_map_fn=dict(type=template_map_fn_factory, template=template))
        tok = ds.tokenizer
        for i in range(len(ds)):
            random.seed(seed * 1000 + i)
            np.random.seed(seed * 1000 + i)
            picks.clear()
            s = ds[i]
            masks = s['masks'].numpy().astype(np.uint8)
            samples.append(dict(ann_file=ann, index=i, file_name=s['image'], draws=dict(questions=list(picks)),
                                input_ids=[int(v) for v in s['input_ids']], labels=[int(v) for v in s['labels']],
                                text=tok.decode(s['input_ids']), masks_shape=list(masks.shape),
                                masks=np.packbits(masks).tolist(),
                                tiles=[digest(t)['sha256'] for t in s['pixel_values']]))
    random.choice = base_choice  # the module-wide wrapper goes
    with open(osp.join(out, 'grandf.json.gz'), 'wb') as raw:
        with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
            f.write(json.dumps(dict(official_commit='7c75e44', samples=samples)).encode())
    print('grandf samples', len(samples))


# ------------------------------------------------------------------------------------------------ LLaVA
def make_llava(root: str) -> None:
    from PIL import Image
    os.makedirs(osp.join(root, 'coco'), exist_ok=True)
    Image.fromarray(fake_image(56, 40, 50)).save(osp.join(root, 'coco', 'l1.jpg'), quality=90)
    Image.fromarray(fake_image(30, 90, 51)).save(osp.join(root, 'coco', 'l2.jpg'), quality=90)

    def turn(who, text):
        return {'from': who, 'value': text}

    records = [dict(id='000001', image='coco/l1.jpg', conversations=[
        turn('human', '<image>\nWhat colour is the box?'), turn('gpt', 'It is grey. '),
        turn('human', 'And the\nbackground?'), turn('gpt', 'Also grey.')]),
        dict(id='000002', image='coco/l2.jpg', conversations=[
            turn('human', 'Describe the picture.\n<image>'), turn('gpt', 'A tall picture.')])]
    with open(osp.join(root, 'llava_v1_5_mix665k.json'), 'w') as f:
        json.dump(records, f)


def record_llava(official: str, out: str, seed: int = 23) -> None:
    from transformers import AutoTokenizer
    from xtuner.utils import PROMPT_TEMPLATE

    root = osp.join(out, 'llava')
    make_llava(root)
    tok_dir = tiny_tokenizer_dir(out)
    import_refcoco(official)
    mod = _load('projects.llava_sam2.datasets.vqa_dataset',
                osp.join(official, 'projects/llava_sam2/datasets/vqa_dataset.py'))
    ds = mod.LLaVADataset(
        tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=tok_dir),
        data_path=osp.join(root, 'llava_v1_5_mix665k.json'), prompt_template=PROMPT_TEMPLATE.qwen_chat,
        special_tokens=['[SEG]', '<p>', '</p>', '<vp>', '</vp>'], image_folder=root, max_length=8192)
    tok = ds.tokenizer
    samples = []
    for i in range(len(ds)):
        random.seed(seed * 1000 + i)
        np.random.seed(seed * 1000 + i)
        s = ds[i]
        samples.append(dict(index=i, input_ids=[int(v) for v in s['input_ids']], labels=[int(v) for v in s['labels']],
                            text=tok.decode(s['input_ids']), tiles=[digest(t)['sha256'] for t in s['pixel_values']]))
    with open(osp.join(out, 'llava.json.gz'), 'wb') as raw:
        with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
            f.write(json.dumps(dict(official_commit='7c75e44', samples=samples)).encode())
    print('llava samples', len(samples))


# ------------------------------------------------------------------------------------------------ Osprey
OSPREY_PARTS = ('conversation', 'detail_description', 'part_level', 'short_form', 'lvis_positive_negative')
OSPREY_FOLDERS = ('coco/train2014', 'coco/val2014', 'coco/train2017', 'coco/val2017')


def make_osprey(root: str) -> None:
    """The five Osprey-724K files in the released schema (``annotation``; ``description`` lists)."""
    from PIL import Image
    images = {'coco/val2014/COCO_val2014_000000000001.jpg': (48, 40), 'coco/train2017/000000000002.jpg': (36, 60)}
    for path, (width, height) in images.items():
        os.makedirs(osp.dirname(osp.join(root, path)), exist_ok=True)
        Image.fromarray(fake_image(width, height, len(path))).save(osp.join(root, path), quality=90)

    def anns(width, height):
        return [dict(bbox=[2, 2, 18, 20], category_id=1, segmentation=[[2, 2, 20, 2, 20, 22, 2, 22]]),
                dict(bbox=[20, 24, 10, 10], category_id=2, segmentation=_rle_box(width, height, [(20, 24, 30, 34)])[0])]

    def turn(who, text):
        return {'from': who, 'value': text}

    conv = [turn('human', 'What is <region1> doing?'), turn('gpt', 'It <b>stands</b> still.'),
            turn('human', 'And <region2>, next to\n<region1>?'), turn('gpt', 'Nothing.')]
    recs = [dict(id=1, file_name='COCO_val2014_000000000001.jpg', height=40, width=48, annotation=anns(48, 40),
                 conversations=conv),
            dict(id=2, file_name='000000000002.jpg', height=60, width=36, annotation=anns(36, 60),
                 conversations=conv[:2])]
    os.makedirs(osp.join(root, 'Osprey-724K'), exist_ok=True)
    for part in OSPREY_PARTS:
        data = recs if part != 'detail_description' else [
            {k: v for k, v in r.items() if k != 'conversations'} | dict(
                description=['<region1>: A square in the corner.', '<region2>: A small bar.']) for r in recs]
        with open(osp.join(root, 'Osprey-724K', f'osprey_{part}.json'), 'w') as f:
            json.dump(data, f)


def record_osprey(official: str, out: str, seed: int = 24) -> None:
    from transformers import AutoTokenizer
    from xtuner.dataset.map_fns import template_map_fn_factory
    from xtuner.utils import PROMPT_TEMPLATE

    root = osp.join(out, 'osprey')
    make_osprey(root)
    tok_dir = tiny_tokenizer_dir(out)
    import_refcoco(official)
    _load('projects.llava_sam2.datasets.encode_fn', osp.join(official, 'projects/llava_sam2/datasets/encode_fn.py'))
    mod = _load('projects.llava_sam2.datasets.Osprey_Dataset',
                osp.join(official, 'projects/llava_sam2/datasets/Osprey_Dataset.py'))
    picks, base_choice = [], random.choice

    def choice(seq):
        if seq is not mod.DETAILED_QUESTIONS:
            raise RuntimeError('random.choice on an unknown list')
        value = base_choice(seq)
        picks.append(seq.index(value))
        return value

    random.choice = choice
    classes = dict(detail_description=mod.OspreyDescriptionDataset, short_form=mod.OspreyShortDescriptionDataset)
    result = {}
    for part in OSPREY_PARTS:
        ds = classes.get(part, mod.OspreyDataset)(
            image_folder=[osp.join(root, d) for d in OSPREY_FOLDERS],
            data_path=osp.join(root, 'Osprey-724K', f'osprey_{part}.json'),
            tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=tok_dir),
            max_length=8192, special_tokens=['[SEG]', '<p>', '</p>', '<vp>', '</vp>'],
            template_map_fn=dict(type=template_map_fn_factory, template=PROMPT_TEMPLATE.qwen_chat))
        samples = []
        for i in range(len(ds)):
            random.seed(seed * 1000 + i)
            picks.clear()
            s = ds[i]
            samples.append(dict(index=i, draws=dict(questions=list(picks)), prompts=list(s['prompts']),
                                outputs=[t['output'] for t in s['conversation']],
                                num_regions=int(len(s['prompt_masks'])),
                                tiles=[digest(t)['sha256'] for t in s['pixel_values']]))
        result[part] = samples
    random.choice = base_choice
    with open(osp.join(out, 'osprey.json.gz'), 'wb') as raw:
        with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
            f.write(json.dumps(dict(official_commit='7c75e44', samples=result)).encode())
    print('osprey samples', {k: len(v) for k, v in result.items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official', required=True, help='export of sunye23/SAMA at 7c75e44')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()

    import torchvision.transforms as T
    from PIL import Image
    from torchvision.transforms.functional import InterpolationMode

    spec = importlib.util.spec_from_file_location(
        'official_llava_sam2_utils', osp.join(args.official, 'projects/llava_sam2/datasets/utils.py'))
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    transform = T.Compose([T.Resize((448, 448), interpolation=InterpolationMode.BICUBIC), T.ToTensor(),
                           T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])

    os.makedirs(osp.join(args.out, 'images'), exist_ok=True)
    records = {}
    for seed, (name, (width, height)) in enumerate(SHAPES.items()):
        path = osp.join(args.out, 'images', f'{name}.png')
        Image.fromarray(fake_image(width, height, seed)).save(path)
        image = Image.open(path).convert('RGB')
        tiles = utils.dynamic_preprocess(image, 1, 12, 448, True)
        ratio = utils.find_closest_aspect_ratio(width / height, sorted(
            {(i, j) for n in range(1, 13) for i in range(1, n + 1) for j in range(1, n + 1) if 1 <= i * j <= 12},
            key=lambda x: x[0] * x[1]), width, height, 448)
        records[name] = dict(width=width, height=height, grid=list(ratio), num_tiles=len(tiles),
                             tiles=[digest(transform(t)) for t in tiles])
        print(name, width, height, ratio, len(tiles))
    with open(osp.join(args.out, 'tiles.json'), 'w') as f:
        json.dump(dict(source='sunye23/SAMA@7c75e44 projects/llava_sam2/datasets/utils.py dynamic_preprocess',
                       settings=dict(min_num=1, max_num=12, image_size=448, use_thumbnail=True),
                       images=records), f, indent=1)
    record_llava(args.official, args.out)
    record_osprey(args.official, args.out)
    record_grandf(args.official, args.out)  # first: the RefCOCO loader edits xtuner's shared qwen_chat template
    record_refcoco(args.official, args.out)


if __name__ == '__main__':
    main()
