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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official', required=True, help='folder holding the official projects/ and scripts/')
    parser.add_argument('--out', required=True, help='fixture folder')
    args = parser.parse_args()
    root, out = osp.abspath(args.official), osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
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
