"""The ``official/...`` numbers of the SAMA-Bench metrics (see :mod:`~sama_mm.evaluation.functional.bench_official`)."""
from collections import OrderedDict
from typing import Dict, List, Optional

from ..functional.bench_official import (OFFICIAL_CAPTION_KEYS, official_caption_text, official_final,
                                         official_video_grounding, per_video_caption_scores, per_video_clair)

#: Official caption-score names -> the names this project reports.
_RENAME = {'Bleu_1': 'BLEU-1', 'Bleu_2': 'BLEU-2', 'Bleu_3': 'BLEU-3', 'Bleu_4': 'BLEU-4', 'METEOR': 'METEOR',
           'ROUGE_L': 'ROUGE-L', 'CIDEr': 'CIDEr'}
PREFIX = 'official/'


def official_scores(items: List[dict], similarity=None, judge=None, grounding: bool = True,
                    captions: bool = True, meteor: bool = True, iou_thr: float = 0.5, sim_thr: float = 0.5,
                    video_filter: Optional[str] = None) -> Dict[str, float]:
    """Official per-video scores averaged over videos, under ``official/`` names.

    Args:
        items: One dict per question (Bench-G) or description (Bench-C) with ``video`` (the per-video group,
            the video path), ``pred_text`` and ``gt_text`` (raw texts) and, for grounding, ``pred``/``gt``
            tracks ``[N, T, H, W]``.
        similarity: Phrase similarity for recall (None: no recall).
        judge: CLAIR judge (None: no CLAIR).
        grounding: Compute mIoU (and recall with ``similarity``).
        captions: Compute the caption scores.
        meteor: Include METEOR.
        iou_thr: Recall IoU threshold.
        sim_thr: Recall similarity threshold.
        video_filter: Average only videos whose path contains this substring (the shipped Bench-G final script
            keeps ``'VidSTG'`` only); None averages all videos.

    Returns:
        ``official/mIoU``, ``official/recall``, ``official/BLEU-1..4``, ``official/METEOR``,
        ``official/ROUGE-L``, ``official/CIDEr``, ``official/CLAIR`` (those computed) and
        ``official/videos`` (the number of videos averaged).
    """
    groups: Dict[str, List[dict]] = OrderedDict()
    for item in items:
        groups.setdefault(item['video'], []).append(item)
    per_video = {v: {} for v in groups}
    texts = {v: [(official_caption_text(q['gt_text']), official_caption_text(q['pred_text'])) for q in qs]
             for v, qs in groups.items()}
    if grounding:
        for v, qs in groups.items():
            res = official_video_grounding(qs, similarity, iou_thr, sim_thr)
            per_video[v]['mIoU'] = res['miou']
            if 'recall' in res:
                per_video[v]['recall'] = res['recall']
    if captions:
        for v, scores in per_video_caption_scores(texts, meteor=meteor).items():
            per_video[v].update({_RENAME[k]: scores[k] for k in OFFICIAL_CAPTION_KEYS if k in scores})
    if judge is not None:
        for v, score in per_video_clair(texts, judge).items():
            per_video[v]['CLAIR'] = score
    final = official_final(per_video, video_filter)
    out = {PREFIX + k: v for k, v in final.items()}
    out[PREFIX + 'videos'] = sum(1 for v in per_video if video_filter is None or video_filter in v)
    return out
