"""Record the official SAMA-Bench-G/C scores of a small fake prediction set (fixtures of
tests/evaluation/test_bench_official_parity.py).

Usage::

    git --git-dir=<mirror of github.com/sunye23/SAMA> archive 7c75e44 projects scripts | tar -x -C /tmp/official_sama
    python tools/dev/record_official_bench.py --official /tmp/official_sama --out tests/data/official_bench

The script builds a fake prediction set (a few videos; per question a generated answer with ``<p>``/``[SEG]``
markup, the ground-truth answer, predicted and ground-truth mask tracks of 3 frames of 8x8 pixels), scores it
with the official functions and writes ``bench_g.json`` and ``bench_c.json``: the inputs (tracks as 0/1
strings), every phrase-similarity value the official recall asked for, the per-video metric files exactly as
the official evaluation loops write them and the final numbers of the official averaging scripts.

Official code is imported or executed from ``--official`` (nothing is copied); run-time adaptations, all on
what needs the network or a model download:

* ``eval_gcg_metrics_demo.py`` loads ``bert-base-uncased`` at import: ``transformers.AutoTokenizer`` /
  ``AutoModel.from_pretrained`` return placeholders while it is imported, and its ``text_similarity_bert`` is
  replaced by a fixed stub (word-set Jaccard similarity, :func:`stub_similarity`); ``sklearn`` (absent here,
  used only by that function) is an empty module;
* the CLAIR judge: ``openai`` is a fake module whose client answers every prompt with :data:`CLAIR_ANSWER`; the
  official ``clair`` function parses it;
* SPICE (a Stanford model download) is replaced by a scorer returning 0, so the official caption dictionary
  keeps its ``SPICE`` key with 0;
* the per-video loops of ``video_gcg_eval_video_wise.py`` / ``video_region_cap_eval_video_wise.py`` run after
  distributed inference; their few lines (try/except around each metric, the 300-word truncation) are
  re-enacted here around the official functions, whose definitions (``truncate_caption``,
  ``remove_special_tokens``, ``extract_groundings``) are taken from those files by ``ast``;
* ``compute_sama_bench_{g,c}_final.py`` are executed from their source with ``folder_path`` pointed at the
  written per-video files; the Bench-C script asserts exactly 522 files, so the expected count is set to the
  number of fake videos.

With ``--samples`` it records the official SAMA-Bench *test samples* instead: it writes a scaled-down fake of the
bench layout into ``--out/data`` (MeViS, LV-VIS with a numeric folder, VidSTG with ``raw_filename`` frames; the
four validation mask dicts, LV-VIS entries wrapped in ``segmentations``) and runs the two official inference
dataset classes named ``GCGVideoInferenceDataset`` (Bench-G from ``video_gcg_eval_video_wise.py`` with
``qa_per_item=1``, Bench-C from ``video_region_cap_eval_video_wise.py`` with ``description_per_item=1``, as their
``main`` functions). Their class bodies are executed from the official files (by ``ast``, with their module's
imports); their constructors open the mask dicts at fixed absolute paths, which a module-level ``open`` redirects
to the fakes. Written: ``samples.json`` (ids, video, question, answer, ``mask_count``, ``sparse_len``) and
``samples.npz`` (ground-truth tracks and the 16x16 / 112x112 region prompt masks of every frame, bit-packed).
"""
import argparse
import ast
import contextlib
import importlib
import json
import os
import os.path as osp
import sys
import tempfile
import types

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
T, H, W = 3, 8, 8
SEED = 21
#: The stub judge's answer to every CLAIR prompt.
CLAIR_ANSWER = '{"score": 72, "reason": "stub judge"}'


def stub_similarity(a: str, b: str) -> float:
    """Word-set Jaccard similarity (the stand-in for bert-base-uncased cosine on both sides)."""
    wa, wb = set(a.split()), set(b.split())
    return len(wa & wb) / len(wa | wb) if wa | wb else 0.0


def pack(track: np.ndarray) -> str:
    return ''.join('1' if v else '0' for v in np.asarray(track, bool).ravel())


# ------------------------------------------------------------------------------------------------ fakes
def _blob(rng, scale=1.0):
    m = np.zeros((T, H, W), bool)
    y, x = rng.integers(0, H - 3), rng.integers(0, W - 3)
    h, w = rng.integers(2, 5), rng.integers(2, 5)
    for t in range(T):
        dy = int(rng.integers(-1, 2) * scale)
        m[t, max(0, y + dy):y + dy + h, x:x + w] = True
    return m


def _jitter(rng, m, p):
    flip = rng.random(m.shape) < p
    return m ^ flip


PHRASES = ['the red car', 'a small dog', 'the man in black', 'two birds', 'the left door', 'a red car',
           'the dog on grass', 'a man', 'the tall tree']


def fake_bench_g(rng):
    """Videos with questions covering the official special cases."""
    videos = []
    names = ['VidSTG/val/0001', 'VidSTG/val/0002', 'mevis/val_u/JPEGImages/abc', 'VidSTG/val/0003']
    for v, name in enumerate(names):
        questions = []
        for q in range(3 + v % 2):
            n_gt = int(rng.integers(0, 4)) % 3 if q else 2
            gt = [_blob(rng) for _ in range(n_gt)]
            gt_ph = [PHRASES[int(rng.integers(len(PHRASES)))] for _ in range(n_gt)]
            case = (v * 5 + q) % 6
            if case == 0:  # no prediction
                pred, pred_ph = [], []
            elif case == 1:  # near-perfect, same phrases
                pred, pred_ph = [_jitter(rng, g, 0.005) for g in gt], list(gt_ph)
            elif case == 2:  # one extra prediction, shuffled order
                pred = [_jitter(rng, g, 0.01) for g in gt[::-1]] + [_blob(rng)]
                pred_ph = gt_ph[::-1] + ['something else']
            elif case == 3:  # fewer phrases than masks
                pred = [_jitter(rng, g, 0.02) for g in gt] + [_blob(rng)]
                pred_ph = gt_ph[:1]
            elif case == 4:  # noisy masks, related phrases
                pred = [_jitter(rng, g, 0.06) for g in gt]
                pred_ph = [PHRASES[(PHRASES.index(p) + 5) % len(PHRASES)] for p in gt_ph]
            else:  # random
                pred = [_blob(rng) for _ in range(int(rng.integers(1, 3)))]
                pred_ph = [PHRASES[int(rng.integers(len(PHRASES)))] for _ in pred]
            gt_text = 'In the video ' + ' and '.join(f'<p> {p} </p> [SEG]' for p in gt_ph) + ' can be seen.' \
                if gt_ph else 'Nothing of that kind is in the video.'
            pred_text = 'I see ' + ', '.join(f'<p>{p}</p> [SEG]' for p in pred_ph)
            pred_text += ' and' + ' [SEG]' * (len(pred) - len(pred_ph)) if len(pred) > len(pred_ph) else ''
            pred_text += ' in the video.<|im_end|>'
            questions.append(dict(pred_text=pred_text, gt_text=gt_text, pred=[pack(m) for m in pred],
                                  gt=[pack(m) for m in gt]))
        videos.append(dict(video=name, questions=questions))
    return videos


def fake_bench_c():
    caps = [('A brown dog runs across the yard and jumps over a small fence.',
             'The brown dog runs through the yard, then jumps the low fence.'),
            ('A woman in a blue coat walks to the car and opens the door.',
             'A woman wearing blue walks toward a car.<|im_end|>'),
            ('The bird sits on the branch and then flies away to the left.',
             'A bird on a tree branch flies off.'),
            ('A man holds a red umbrella while crossing the street.',
             'The person with a red umbrella crosses the road in the rain.')]
    names = ['mevis/val_u/JPEGImages/v1', 'lvvis/val/JPEGImages/00012', 'VidSTG/val/77']
    videos = []
    for v, name in enumerate(names):
        descs = [dict(description_id=f'{v}_{k}', gt_text=caps[(v + k) % 4][0], pred_text=caps[(v + k * 3) % 4][1])
                 for k in range(1 + v % 3)]
        videos.append(dict(video=name, descriptions=descs))
    return videos


# ------------------------------------------------------------------------------------------------ official
def _functions_from(path, names):
    """Execute only the named top-level function definitions of an official file."""
    tree = ast.parse(open(path, encoding='utf-8').read())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    ns = {'re': importlib.import_module('re')}
    exec(compile(ast.Module(body=body, type_ignores=[]), path, 'exec'), ns)
    return ns


def load_official(root, sims):
    sys.path.insert(0, root)
    for name in ('projects', 'projects.llava_sam2', 'projects.llava_sam2.evaluation',
                 'projects.llava_sam2.evaluation.utils'):
        mod = types.ModuleType(name)
        mod.__path__ = [osp.join(root, *name.split('.'))]
        sys.modules[name] = mod

    class _Client:
        def __init__(self, **kwargs):
            msg = types.SimpleNamespace(content=CLAIR_ANSWER)
            done = types.SimpleNamespace(choices=[types.SimpleNamespace(message=msg)])
            self.chat = types.SimpleNamespace(completions=types.SimpleNamespace(create=lambda **kw: done))

    import transformers
    import importlib.machinery as machinery
    for name in ('openai', 'sklearn', 'sklearn.metrics', 'sklearn.metrics.pairwise'):
        mod = types.ModuleType(name)
        mod.__spec__ = machinery.ModuleSpec(name, None)
        mod.OpenAI, mod.cosine_similarity = _Client, None
        sys.modules[name] = mod
    saved = transformers.AutoTokenizer.from_pretrained, transformers.AutoModel.from_pretrained
    transformers.AutoTokenizer.from_pretrained = transformers.AutoModel.from_pretrained = \
        staticmethod(lambda *a, **k: None)
    try:
        demo = importlib.import_module('projects.llava_sam2.evaluation.eval_gcg_metrics_demo')
    finally:
        transformers.AutoTokenizer.from_pretrained, transformers.AutoModel.from_pretrained = saved

    def similarity(a, b):
        value = stub_similarity(a, b)
        sims[f'{a}\t{b}'] = value
        return value

    demo.text_similarity_bert = similarity
    import pycocoevalcap.eval as coco_eval

    class _NoSpice:
        def compute_score(self, gts, res):
            return 0.0, [0.0] * len(gts)

        def method(self):
            return 'SPICE'

    coco_eval.Spice = _NoSpice
    ev = osp.join(root, 'projects/llava_sam2/evaluation')
    g_fns = _functions_from(osp.join(ev, 'video_gcg_eval_video_wise.py'),
                            {'truncate_caption', 'remove_special_tokens', 'extract_groundings'})
    c_fns = _functions_from(osp.join(ev, 'video_region_cap_eval_video_wise.py'),
                            {'truncate_caption', 'remove_special_tokens'})
    return demo, g_fns, c_fns


_ZERO_CAPTIONS = {k: 0.0 for k in ('Bleu_1', 'Bleu_2', 'Bleu_3', 'Bleu_4', 'METEOR', 'ROUGE_L', 'CIDEr', 'SPICE')}


def _run_final(root, script, folder, expect=None):
    src = open(osp.join(root, 'scripts/inference', script), encoding='utf-8').read()
    src = src.replace('"/Path to/SAMA_1B/video_region_cap_pred/video_gcg_metrics"', repr(folder))
    src = src.replace('"/Path to/SAMA_1B/video_region_cap_pred/video_caption_metrics"', repr(folder))
    if expect is not None:
        src = src.replace('== 522', f'== {expect}')
    ns = {}
    with contextlib.redirect_stdout(sys.stderr):
        exec(compile(src, script, 'exec'), ns)
    return ns['average_metrics']


def record_g(root, demo, fns, videos, work):
    folder = osp.join(work, 'video_metrics')
    os.makedirs(folder)
    per_video = {}
    for item in videos:
        gt_masks, pred_masks, gt_ph, pred_ph, gt_txt, pred_txt = [], [], [], [], [], []
        for q in item['questions']:
            unpack = (lambda s: np.array([c == '1' for c in s]).reshape(T, H, W))
            gt_masks.append({k: unpack(s) for k, s in enumerate(q['gt'])})
            pred_masks.append({k: unpack(s) for k, s in enumerate(q['pred'])})
            gt_ph.append(fns['extract_groundings'](q['gt_text']))
            pred_ph.append(fns['extract_groundings'](q['pred_text']))
            gt_txt.append(fns['truncate_caption'](fns['remove_special_tokens'](q['gt_text']), 300))
            pred_txt.append(fns['truncate_caption'](fns['remove_special_tokens'](q['pred_text']), 300))
        with contextlib.redirect_stdout(sys.stderr):
            try:
                miou = demo.evaluate_mask_miou(pred_masks, gt_masks)
            except Exception:  # noqa: BLE001 (the official loop's except)
                miou = 0.0
            try:
                recall = demo.evaluate_recall_with_mapping(gt_masks, gt_ph, pred_masks, pred_ph, 0.5, 0.5)
            except Exception:  # noqa: BLE001
                recall = 0.0
            try:
                captions = demo.eval_caption_quality(gt_txt, pred_txt)
            except Exception:  # noqa: BLE001
                captions = dict(_ZERO_CAPTIONS)
            try:
                clair = demo.eval_caption_quality_with_clair(gt_txt, pred_txt)
            except Exception:  # noqa: BLE001
                clair = 0.0
        result = {'miou': float(miou), 'recall': float(recall), 'caption_scores': captions, 'clair': clair}
        per_video[item['video']] = result
        with open(osp.join(folder, item['video'].replace('/', '_') + '.json'), 'w') as f:
            json.dump(result, f, indent=2)
    return per_video, _run_final(root, 'compute_sama_bench_g_final.py', folder)


def record_c(root, demo, fns, videos, work):
    folder = osp.join(work, 'video_caption_metrics')
    os.makedirs(folder)
    per_video = {}
    for item in videos:
        gt_txt = [fns['truncate_caption'](fns['remove_special_tokens'](d['gt_text']), 300)
                  for d in item['descriptions']]
        pred_txt = [fns['truncate_caption'](fns['remove_special_tokens'](d['pred_text']), 300)
                    for d in item['descriptions']]
        with contextlib.redirect_stdout(sys.stderr):
            try:
                captions = demo.eval_caption_quality(gt_txt, pred_txt)
            except Exception:  # noqa: BLE001
                captions = dict(_ZERO_CAPTIONS)
            try:
                clair = demo.eval_caption_quality_with_clair(gt_txt, pred_txt)
            except Exception:  # noqa: BLE001
                clair = 0.0
        result = {'caption_scores': captions, 'clair': clair}
        per_video[item['video']] = result
        with open(osp.join(folder, item['video'].replace('/', '_') + '.json'), 'w') as f:
            json.dump(result, f, indent=2)
    return per_video, _run_final(root, 'compute_sama_bench_c_final.py', folder, expect=len(videos))


# ------------------------------------------------------------------------------------------------ test samples
def make_bench_fakes(data):
    """A scaled-down SAMA-Bench: three videos, questions with ids, descriptions with ids, four mask dicts."""
    from tools.dev.record_official_video_recipe import _dump, _object_track, _rle, _write_frames
    dicts = {k: {} for k in ('mevis', 'lvvis', 'ref_youtube', 'vidstg')}
    records = []

    def l_shaped(key, n):
        """A moving L shape (not its own bounding box, so raw and boxed prompts differ); None every 3rd frame."""
        track = []
        for t in range(n):
            if t % 3 == 2:
                track.append(None)
                continue
            m = np.zeros((24, 32), np.uint8)
            y0, x0 = (key + t) % 10, (2 * key + t) % 14
            m[y0:y0 + 9, x0:x0 + 3] = 1
            m[y0 + 6:y0 + 9, x0:x0 + 12] = 1
            track.append(_rle(m))
        return track

    def add(source, video, folder, frames, n, anno_map, rounds, descriptions):
        for k in anno_map:
            track = l_shaped(int(k), n) if int(k) % 2 else _object_track(int(k), n, empty_every=3)
            dicts[source][str(k)] = {'segmentations': track} if source == 'lvvis' else track
        _write_frames(osp.join(data, folder), [osp.splitext(f['raw_filename'] if isinstance(f, dict) else f)[0]
                                               for f in frames])
        conv = [t for q, a, *_ in rounds for t in (q, a)]
        records.append(dict(video=video, video_id=osp.basename(video), height=24, width=32, frames=frames,
                            anno_map=anno_map, conversation=conv, obj_masks=[r[2] for r in rounds],
                            groundtruth=[r[3] for r in rounds], description=descriptions,
                            description_id={k: f'{osp.basename(video)}_{k}' for k in descriptions}))

    def rnd(qid, question, answer, regions, gts):
        return ({'from': 'human', 'value': question, 'question_id': qid}, {'from': 'gpt', 'value': answer},
                regions, gts)

    add('mevis', 'mevis/val_u/JPEGImages/bm0', 'mevis/val_u/JPEGImages/bm0', [f'{t:05d}' for t in range(10)], 10,
        [11, 12, 13],
        [rnd('g1', 'What is <mask> doing?', '<p> The cat </p> [SEG] is sleeping.', [11], [[11]]),
         rnd('g2', 'Which animals are there?', '<p> A cat </p> [SEG] and <p> two dogs </p> [SEG].', [],
             [[11], [12, 13]]),
         rnd('g3', 'What colour is <mask>?', 'It is red.', [12], [])],
        {'obj0': 'A grey cat sleeping.', 'obj2': ' A small brown dog. '})
    add('lvvis', 'lvvis/val/JPEGImages/7', 'lvvis/val/JPEGImages/00007', [f'{t:05d}' for t in range(12)], 12,
        [21, 22],
        [rnd('g4', '<video>\nIs <mask> near <mask>?', '<p> Yes </p> [SEG], it is.', [21, 22], [[21, 22]])],
        {'obj1': 'A red toy on the floor.'})
    add('vidstg', 'VidSTG/val/2400000001', 'VidSTG/val/2400000001',
        [{'raw_filename': f'frame_{4 * t}.jpg', 'frame_idx': 4 * t} for t in range(9)], 9, [41, 42],
        [rnd('g5', 'What does <mask> hold?', '<p> A bat </p> [SEG].', [41], [[41]]),
         rnd('g6', 'Show <mask> with interleaved segmentation masks.', '<p> It </p> [SEG].', [42], [[42]])],
        {'obj0': 'A boy with a bat.', 'obj1': 'A girl in a red coat.'})
    _dump(osp.join(data, 'bench.json'), records)
    names = dict(mevis='Mevis_mask_dict_val.json', lvvis='LVVIS_mask_dict_val.json',
                 ref_youtube='RefYoutube_mask_dict_val.json', vidstg='VidSTG_mask_dict_val_updated.json')
    for source, name in names.items():
        _dump(osp.join(data, name), dicts[source])
    return {name: osp.join(data, name) for name in names.values()}


def _official_dataset(path, mask_files):
    """The official inference dataset class of one evaluation file, its module imports, redirected ``open``."""
    import builtins
    tree = ast.parse(open(path, encoding='utf-8').read())
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) and not _is_dist_import(n)]
    keep += [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == 'get_sparse_indices_uniform']
    keep += [n for n in tree.body if isinstance(n, ast.Assign)
             and any(getattr(t, 'id', '') == 'DETAILED_QUESTIONS' for t in n.targets)]
    keep += [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == 'GCGVideoInferenceDataset']

    def redirected(name, *args, **kwargs):
        base = osp.basename(str(name))
        if str(name).startswith('/SAMA/') and base in mask_files:
            name = mask_files[base]
        return builtins.open(name, *args, **kwargs)

    ns = {'__name__': 'official_bench_dataset', 'open': redirected}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, 'exec'), ns)
    return ns['GCGVideoInferenceDataset']


def _is_dist_import(node):
    """Imports of the distributed runner and the model code, which the dataset classes do not use."""
    mod = getattr(node, 'module', None) or ''
    return mod.startswith(('xtuner', 'mmengine', 'projects')) or mod == 'utils'


def record_samples(root, out):
    import random

    import torch
    data = osp.join(out, 'data')
    mask_files = make_bench_fakes(data)
    ev = osp.join(root, 'projects/llava_sam2/evaluation')
    arrays, samples = {}, []

    def put(key, arr):
        arr = np.asarray(arr).astype(bool)
        arrays[key] = np.packbits(arr.ravel())
        arrays[key + '_shape'] = np.array(arr.shape)

    g_cls = _official_dataset(osp.join(ev, 'video_gcg_eval_video_wise.py'), mask_files)
    with contextlib.redirect_stdout(sys.stderr):
        g = g_cls(data, osp.join(data, 'bench.json'), qa_per_item=1, max_frames=32)
    for i in range(len(g)):
        random.seed(i)
        d = g[i]
        key = f'g/{d["video_id"]}'
        samples.append(dict(task='grounding', key=key, question_id=d['video_id'], video=d['file_name'],
                            num_frames=len(d['images']), question=d['text_prompts'][0],
                            answer=d['qa_list'][0]['output'], mask_count=d['mask_count'],
                            sparse_len=d['qa_list'][0]['input'].split('</img>')[-1].count('<IMG_CONTEXT>') - 2 *
                            d['qa_list'][0]['input'].count('<vp>')))
        put(key + '/gt', torch.stack([m.bool() for m in d['gt_masks']]) if d['gt_masks'] else
            np.zeros((0, len(d['images']), 24, 32)))
        if d['prompt_masks']:
            put(key + '/prompt16', torch.stack(d['prompt_masks']))
            put(key + '/prompt112', torch.stack(d['prompt_masks_112']))
    c_cls = _official_dataset(osp.join(ev, 'video_region_cap_eval_video_wise.py'), mask_files)
    with contextlib.redirect_stdout(sys.stderr):
        c = c_cls(data, osp.join(data, 'bench.json'), description_per_item=1, max_frames=32)
    for i in range(len(c)):
        random.seed(i)
        d = c[i]
        key = f'c/{d["description_id"]}'
        samples.append(dict(task='caption', key=key, description_id=d['description_id'], video=d['file_name'],
                            num_frames=len(d['images']), question=d['text_prompts'][0],
                            answer=d['qa_list'][0]['output'], mask_count=d['mask_count'],
                            prompt=d['qa_list'][0]['input'].split('</img>')[-1]))
        put(key + '/prompt16', torch.stack(d['prompt_masks']))
        put(key + '/prompt112', torch.stack(d['prompt_masks_112']))
    with open(osp.join(out, 'samples.json'), 'w') as f:
        json.dump(dict(official_commit='7c75e44', samples=samples), f, indent=1)
    np.savez_compressed(osp.join(out, 'samples.npz'), **arrays)
    print(f'{len(samples)} bench samples recorded')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official', required=True, help='folder holding the official projects/ and scripts/')
    parser.add_argument('--out', required=True, help='fixture folder')
    parser.add_argument('--samples', action='store_true', help='record only the bench test samples')
    args = parser.parse_args()
    root, out = osp.abspath(args.official), osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if args.samples:
        if REPO not in sys.path:
            sys.path.insert(0, REPO)
        return record_samples(root, out)
    sims = {}
    demo, g_fns, c_fns = load_official(root, sims)
    rng = np.random.default_rng(SEED)
    g_videos, c_videos = fake_bench_g(rng), fake_bench_c()
    with tempfile.TemporaryDirectory() as work:
        cwd = os.getcwd()
        os.chdir(work)  # the official caption scorer writes tmp_*.json into the working folder
        try:
            g_per_video, g_final = record_g(root, demo, g_fns, g_videos, work)
            c_per_video, c_final = record_c(root, demo, c_fns, c_videos, work)
        finally:
            os.chdir(cwd)
    common = dict(official_commit='7c75e44', clair_answer=CLAIR_ANSWER, frames=T, height=H, width=W)
    with open(osp.join(out, 'bench_g.json'), 'w') as f:
        json.dump(dict(common, videos=g_videos, similarity=sims, per_video=g_per_video,
                       final_script='compute_sama_bench_g_final.py (keeps VidSTG files only)', final=g_final),
                  f, indent=1)
    with open(osp.join(out, 'bench_c.json'), 'w') as f:
        json.dump(dict(common, videos=c_videos, per_video=c_per_video,
                       final_script=f'compute_sama_bench_c_final.py (expects {len(c_videos)} files, not 522)',
                       final=c_final), f, indent=1)
    print(json.dumps(dict(g=g_final, c=c_final), indent=1))


if __name__ == '__main__':
    main()
