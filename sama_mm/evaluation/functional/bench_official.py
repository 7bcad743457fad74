"""The official SAMA-Bench-G/C scoring protocol, reproduced number for number.

The corrected definitions of :mod:`~sama_mm.evaluation.functional.grounding` and
:mod:`~sama_mm.evaluation.functional.captions` are this project's defaults. The functions here instead follow
what the released scoring code computes (``eval_gcg_metrics_demo.py``, the per-video loops of
``video_gcg_eval_video_wise.py`` / ``video_region_cap_eval_video_wise.py`` and the final averaging scripts
``compute_sama_bench_g_final.py`` / ``compute_sama_bench_c_final.py``), quirks included, so that our numbers can
be put next to published ones. ``tests/evaluation/test_bench_official_parity.py`` checks them against outputs of
the official scripts recorded on a fake prediction set.

What the official protocol does (and the corrected one does not):

* text cleaning removes the markup tokens *without* leaving a space, collapses whitespace, then keeps the first
  300 words and the first 2000 characters (:func:`official_caption_text`); phrases are the stripped, lower-cased
  ``<p>`` contents (:func:`official_phrases`);
* mIoU of a question is the mean IoU over the greedily matched pairs only, 0 when either side is empty; a video's
  mIoU is the mean over its questions (:func:`official_video_grounding`);
* recall skips questions without a predicted mask or phrase; the positives of the others are their number of
  ground-truth *phrases*; the text-similarity matrix is built ground truth x prediction but read at the
  ``(prediction, ground truth)`` index of the IoU matrix (both cut to their common shape), and the greedy match
  stops at the first best-IoU pair that fails either threshold; a video without positives scores 0;
* caption scores (BLEU-1..4, METEOR, ROUGE-L, CIDEr) and CLAIR are computed per video over that video's
  questions and averaged over videos; a failed CLAIR judgement scores 0, and a video whose caption scoring
  fails scores 0 on every caption metric.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .captions import MAX_CHARS, MAX_WORDS, SPECIAL_TOKENS, java_on_path, tokenize
from .grounding import iou_matrix, question_miou

#: Names of the official per-video caption scores, in the official files' spelling.
OFFICIAL_CAPTION_KEYS = ('Bleu_1', 'Bleu_2', 'Bleu_3', 'Bleu_4', 'METEOR', 'ROUGE_L', 'CIDEr')
_TOKENS = re.compile('(' + '|'.join(map(re.escape, SPECIAL_TOKENS)) + ')')
_PHRASE = re.compile(r'<p>(.*?)</p>', re.S)

#: ``similarity(a, b) -> [len(a), len(b)]`` phrase similarity (the official one is bert-base-uncased cosine).
SimilarityFn = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def official_clean(text: str) -> str:
    """Markup tokens removed (no space left in their place), whitespace runs collapsed, ends stripped."""
    return re.sub(r'\s+', ' ', _TOKENS.sub('', text)).strip()


def official_caption_text(text: str, max_words: int = MAX_WORDS, max_chars: int = MAX_CHARS) -> str:
    """The text the official scripts score: cleaned, cut to ``max_words`` words, then to ``max_chars`` chars."""
    text = official_clean(text)
    words = text.split()
    if len(words) > max_words:
        text = ' '.join(words[:max_words])
    return text[:max_chars]


def official_phrases(text: str) -> List[str]:
    """The ``<p> .. </p>`` contents, stripped and lower-cased (inner whitespace kept as is)."""
    return [m.strip().lower() for m in _PHRASE.findall(text)]


def official_question_recall(pred_masks, gt_masks, pred_phrases: Sequence[str], gt_phrases: Sequence[str],
                             similarity: SimilarityFn, iou_thr: float = 0.5,
                             sim_thr: float = 0.5) -> Optional[Tuple[int, int]]:
    """``(hits, positives)`` of one question as the official recall counts them; None for a skipped question.

    Args:
        pred_masks: ``[P, T, H, W]`` predicted tracks.
        gt_masks: ``[G, T, H, W]`` ground-truth tracks.
        pred_phrases: The prediction's phrases.
        gt_phrases: The ground-truth answer's phrases.
        similarity: Phrase similarity ``(a, b) -> [len(a), len(b)]``.
        iou_thr: IoU threshold.
        sim_thr: Similarity threshold.
    """
    n_pred = 0 if pred_masks is None else len(pred_masks)
    if n_pred == 0 or len(pred_phrases) == 0:
        return None
    n_gt = 0 if gt_masks is None else len(gt_masks)
    ious = iou_matrix(pred_masks, gt_masks) if n_gt else np.zeros((n_pred, 0))
    sims = (np.asarray(similarity(list(gt_phrases), list(pred_phrases)), dtype=np.float64) if gt_phrases
            else np.zeros((0, len(pred_phrases))))
    rows, cols = min(ious.shape[0], sims.shape[0]), min(ious.shape[1], sims.shape[1])
    ious, sims = ious[:rows, :cols].copy(), sims[:rows, :cols].copy()
    hits = 0
    while ious.size > 0:
        i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
        if ious[i, j] < iou_thr or sims[i, j] < sim_thr:
            break
        hits += 1
        for m in (ious, sims):
            m[i, :] = 0
            m[:, j] = 0
    return hits, len(gt_phrases)


def official_video_grounding(questions: Sequence[dict], similarity: Optional[SimilarityFn],
                             iou_thr: float = 0.5, sim_thr: float = 0.5) -> Dict[str, float]:
    """One video's official mIoU and recall.

    Args:
        questions: The video's questions, each with ``pred``/``gt`` tracks and ``pred_text``/``gt_text`` (raw
            answers; phrases are taken from them with :func:`official_phrases`).
        similarity: Phrase similarity; None leaves recall out.
        iou_thr: Recall IoU threshold.
        sim_thr: Recall similarity threshold.
    """
    out = {'miou': float(np.mean([question_miou(q['pred'], q['gt'], 'official') for q in questions]))}
    if similarity is not None:
        hits = positives = 0
        for q in questions:
            counted = official_question_recall(q['pred'], q['gt'], official_phrases(q['pred_text']),
                                               official_phrases(q['gt_text']), similarity, iou_thr, sim_thr)
            if counted is not None:
                hits += counted[0]
                positives += counted[1]
        out['recall'] = hits / positives if positives > 0 else 0.0
    return out


def _new_meteor():
    from pycocoevalcap.meteor.meteor import Meteor
    with java_on_path():
        return Meteor()


def per_video_caption_scores(videos: Mapping[str, Sequence[Tuple[str, str]]],
                             meteor: bool = True) -> Dict[str, Dict[str, float]]:
    """Official per-video caption scores, as ``COCOEvalCap`` run once per video.

    Every text is tokenised once (PTB tokenisation is per sentence, so this equals tokenising per video) and
    one METEOR process serves all videos (each call scores only its own segments).

    Args:
        videos: Video -> its ``(reference, prediction)`` pairs, texts already prepared with
            :func:`official_caption_text`.
        meteor: Include METEOR (needs Java).

    Returns:
        Video -> ``{Bleu_1..4, METEOR, ROUGE_L, CIDEr}`` (official key names); a video whose scoring raised a
        ValueError (the official loop catches every error) gets 0 everywhere.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    keys = OrderedDict()
    for video, pairs in videos.items():
        for k, (ref, pred) in enumerate(pairs):
            keys[(video, k)] = (ref, pred)
    flat = {str(n): v for n, v in enumerate(keys.values())}
    tok_refs = tokenize({n: [ref] for n, (ref, _) in flat.items()}) if flat else {}
    tok_preds = tokenize({n: [pred] for n, (_, pred) in flat.items()}) if flat else {}
    ids = dict(zip(keys, flat))
    scorer = _new_meteor() if meteor and flat else None
    out = {}
    try:
        for video, pairs in videos.items():
            mine = [ids[(video, k)] for k in range(len(pairs))]
            refs = {str(k): tok_refs[n] for k, n in enumerate(mine)}
            preds = {str(k): tok_preds[n] for k, n in enumerate(mine)}
            try:
                bleu, _ = Bleu(4).compute_score(refs, preds, verbose=0)
                scores = {f'Bleu_{n + 1}': float(bleu[n]) for n in range(4)}
                if scorer is not None:
                    scores['METEOR'] = float(scorer.compute_score(refs, preds)[0])
                scores['ROUGE_L'] = float(Rouge().compute_score(refs, preds)[0])
                scores['CIDEr'] = float(Cider().compute_score(refs, preds)[0])
            except (ValueError, AssertionError, ZeroDivisionError):
                scores = {k: 0.0 for k in OFFICIAL_CAPTION_KEYS if k != 'METEOR' or scorer is not None}
            out[video] = scores
    finally:
        if scorer is not None:
            try:
                scorer.meteor_p.stdin.close()
                scorer.meteor_p.kill()
                scorer.meteor_p.wait()
            except Exception:  # noqa: BLE001 (already gone)
                pass
    return out


def per_video_clair(videos: Mapping[str, Sequence[Tuple[str, str]]], judge) -> Dict[str, float]:
    """Official per-video CLAIR: the mean over the video's questions, a failed judgement scoring 0.

    Args:
        videos: Video -> ``(reference, prediction)`` pairs (prepared texts).
        judge: A :class:`~sama_mm.evaluation.functional.clair.ClairJudge` (or any callable
            ``(candidates, references) -> result`` with ``score`` None on failure).
    """
    out = {}
    for video, pairs in videos.items():
        scores = []
        for ref, pred in pairs:
            res = judge([pred], [ref])
            scores.append(res.score if res.score is not None else 0.0)
        out[video] = float(sum(scores) / len(scores)) if scores else 0.0
    return out


def official_final(per_video: Mapping[str, Mapping[str, float]],
                   video_filter: Optional[str] = None) -> Dict[str, float]:
    """The final averaging scripts: the unweighted mean of every metric over the per-video results.

    Args:
        per_video: Video -> its metrics (flat).
        video_filter: Only videos whose name contains this substring count (the shipped
            ``compute_sama_bench_g_final.py`` keeps only ``'VidSTG'`` files); None keeps all.

    Raises:
        ValueError: No video passes the filter.
    """
    chosen = [m for v, m in per_video.items() if video_filter is None or video_filter in v]
    if not chosen:
        raise ValueError(f'no video to average (filter {video_filter!r}, {len(per_video)} videos)')
    names = list(chosen[0])
    return {k: float(sum(m.get(k, 0.0) for m in chosen) / len(chosen)) for k in names}
