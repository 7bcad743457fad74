"""Grounding metrics: SAMA-Bench-G mIoU and recall over video mask tracks, RefCOCO cIoU and gIoU.

SAMA-Bench-G (and GCG on images, where a "track" is one frame) scores every question independently:

* the IoU of a predicted and a ground-truth *track* counts pixels over the whole video volume
  (:func:`track_iou`);
* predictions and ground truths are paired one-to-one greedily: the remaining pair with the highest IoU is taken
  first (:func:`greedy_match`);
* **mIoU** (:func:`question_miou`) and **recall** (:func:`question_recall`) are computed per question and
  averaged per video by the metric classes.

Deliberate differences from the official scripts (``eval_gcg_metrics_demo.py``), each documented where it
applies:

* mIoU: by default every unmatched prediction and every unmatched ground truth counts as an IoU of 0, i.e. the
  question's mIoU is ``sum(matched IoU) / (P + G - M)`` for P predictions, G ground truths and M matched pairs.
  The official code averages the matched pairs only, so predicting one good mask out of five objects scores as
  well as predicting all five; ``convention='official'`` reproduces it for parity checks.
* recall: the official ``find_best_matches`` builds the IoU matrix as prediction x ground truth but the text
  similarity matrix as ground truth x prediction and reads both at the same ``(i, j)``, pairing the wrong
  phrases. Here both matrices are prediction x ground truth. The official code also skips questions without
  any predicted mask (they count neither as hits nor as positives), which inflates recall; here their ground
  truths count as misses (``skip_empty_predictions=True`` restores the official behaviour).
"""
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

#: ``similarity(phrases_a, phrases_b) -> [len(a), len(b)]`` similarity matrix (cosine in [-1, 1]).
SimilarityFn = Callable[[Sequence[str], Sequence[str]], np.ndarray]

_PHRASE = re.compile(r'<p>(.*?)</p>', re.S)


def extract_phrases(text: str) -> List[str]:
    """The grounded phrases of a text: the lower-cased, whitespace-collapsed contents of ``<p> ... </p>``."""
    return [' '.join(m.split()).lower() for m in _PHRASE.findall(text or '')]


def _flat(masks) -> np.ndarray:
    """``[N, ...]`` masks as a boolean ``[N, pixels]`` array."""
    arr = np.asarray(masks).astype(bool, copy=False)
    return arr.reshape(arr.shape[0], -1)


def track_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two mask tracks over the whole volume (pixels of all frames together).

    Args:
        pred: Predicted track, ``[T, H, W]`` (or ``[H, W]``), boolean or 0/1.
        gt: Ground-truth track of the same shape.

    Returns:
        ``|P & G| / |P | G|``; 0 when both are empty (there is nothing to match).
    """
    return float(iou_matrix(np.asarray(pred)[None], np.asarray(gt)[None])[0, 0])


def iou_matrix(preds, gts) -> np.ndarray:
    """Pairwise volume IoU of P predicted and G ground-truth tracks.

    Args:
        preds: ``[P, T, H, W]`` (or ``[P, H, W]``) masks.
        gts: ``[G, T, H, W]`` masks with the same per-track shape.

    Returns:
        A float ``[P, G]`` matrix; a pair whose union is empty scores 0.
    """
    p, g = _flat(preds), _flat(gts)
    if p.shape[0] and g.shape[0] and p.shape[1] != g.shape[1]:
        raise ValueError(f'prediction tracks {np.asarray(preds).shape[1:]} and ground-truth tracks '
                         f'{np.asarray(gts).shape[1:]} differ in shape')
    if p.shape[0] == 0 or g.shape[0] == 0:
        return np.zeros((p.shape[0], g.shape[0]))
    pf, gf = p.astype(np.float64), g.astype(np.float64)
    inter = pf @ gf.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def greedy_match(iou: np.ndarray, allowed: Optional[np.ndarray] = None) -> List[Tuple[int, int]]:
    """One-to-one greedy matching: repeatedly take the allowed pair with the highest IoU.

    Only pairs with ``iou > 0`` (and ``allowed`` True, when given) can be matched; the matched row and column
    are then removed. Ties are broken by the lowest (row, column) index, so the result is deterministic.

    Args:
        iou: ``[P, G]`` IoU matrix.
        allowed: Optional boolean ``[P, G]`` mask of pairs that may be matched.

    Returns:
        The matched ``(pred_index, gt_index)`` pairs in the order they were taken.
    """
    iou = np.asarray(iou, dtype=np.float64)
    ok = iou > 0
    if allowed is not None:
        ok &= np.asarray(allowed, dtype=bool)
    work = np.where(ok, iou, -np.inf)
    pairs = []
    while work.size and np.isfinite(work).any():
        i, j = np.unravel_index(int(np.argmax(work)), work.shape)
        pairs.append((int(i), int(j)))
        work[i, :] = -np.inf
        work[:, j] = -np.inf
    return pairs


def question_miou(pred_masks, gt_masks, convention: str = 'strict') -> float:
    """mIoU of one question's predicted tracks against its ground-truth tracks.

    Args:
        pred_masks: ``[P, T, H, W]`` predicted tracks (one per generated ``[SEG]``); P may be 0.
        gt_masks: ``[G, T, H, W]`` ground-truth tracks.
        convention: ``'strict'`` (default): matched pairs score their IoU and every unmatched prediction and
            ground truth scores 0, averaged over ``P + G - M`` items; a question with neither predictions nor
            ground truth scores 1 (nothing to find, nothing predicted). ``'official'``: the mean IoU of the
            matched pairs only, 0 when nothing is matched or either side is empty (the official scripts).

    Returns:
        The question's mIoU in ``[0, 1]``.
    """
    if convention not in ('strict', 'official'):
        raise ValueError(f"convention must be 'strict' or 'official', got {convention!r}")
    p = 0 if pred_masks is None else len(pred_masks)
    g = 0 if gt_masks is None else len(gt_masks)
    if p == 0 or g == 0:
        if convention == 'strict' and p == 0 and g == 0:
            return 1.0
        return 0.0
    iou = iou_matrix(pred_masks, gt_masks)
    pairs = greedy_match(iou)
    total = float(sum(iou[i, j] for i, j in pairs))
    if convention == 'official':
        return total / len(pairs) if pairs else 0.0
    return total / (p + g - len(pairs))


def question_recall(pred_masks, gt_masks, pred_phrases: Sequence[str], gt_phrases: Sequence[str],
                    similarity: SimilarityFn, iou_thr: float = 0.5, sim_thr: float = 0.5,
                    skip_empty_predictions: bool = False) -> Tuple[int, int]:
    """Hits and positives of one question for SAMA-Bench-G recall.

    A ground-truth phrase is recalled when it is matched (greedily by IoU, one-to-one) to a predicted
    ``(phrase, track)`` with track IoU ``>= iou_thr`` **and** phrase similarity ``>= sim_thr``. Both matrices
    are indexed ``[prediction, ground truth]``. The k-th phrase goes with the k-th mask on each side; when the
    counts differ, the extra masks or phrases cannot be matched (extra ground truths still count as positives).

    Args:
        pred_masks: ``[P, T, H, W]`` predicted tracks.
        gt_masks: ``[G, T, H, W]`` ground-truth tracks.
        pred_phrases: Phrases of the prediction (``<p>`` contents, in order).
        gt_phrases: Phrases of the ground-truth answer.
        similarity: Text similarity function ``(a, b) -> [len(a), len(b)]``.
        iou_thr: Minimum track IoU of a hit.
        sim_thr: Minimum phrase similarity of a hit.
        skip_empty_predictions: Official behaviour: a question without predicted masks returns ``(0, 0)``
            (ignored). By default its ground truths are misses.

    Returns:
        ``(hits, positives)``; positives is ``G``, the number of ground-truth tracks.
    """
    p = 0 if pred_masks is None else len(pred_masks)
    g = 0 if gt_masks is None else len(gt_masks)
    if p == 0:
        return (0, 0) if skip_empty_predictions else (0, g)
    if g == 0:
        return 0, 0
    n_p, n_g = min(p, len(pred_phrases)), min(g, len(gt_phrases))
    if n_p == 0 or n_g == 0:
        return 0, g
    iou = iou_matrix(np.asarray(pred_masks)[:n_p], np.asarray(gt_masks)[:n_g])
    sim = np.asarray(similarity(list(pred_phrases[:n_p]), list(gt_phrases[:n_g])), dtype=np.float64)
    if sim.shape != (n_p, n_g):
        raise ValueError(f'similarity function returned shape {sim.shape}, expected {(n_p, n_g)}')
    allowed = (iou >= iou_thr) & (sim >= sim_thr)
    return len(greedy_match(iou, allowed)), g


class SentenceEmbeddingSimilarity:
    """Cosine similarity of mean-pooled sentence embeddings from a *local* transformers model.

    The official benchmark uses ``bert-base-uncased`` (last hidden layer, mean over the attention mask, cosine).
    The model is loaded lazily from ``model_path`` with ``local_files_only=True``; nothing is ever downloaded.

    Args:
        model_path: A local folder holding a transformers model and tokenizer (e.g. ``bert-base-uncased``).
        device: Torch device string.
        batch_size: Phrases encoded per forward pass.
        max_length: Token limit per phrase.
    """

    def __init__(self, model_path: str, device: str = 'cpu', batch_size: int = 64, max_length: int = 64):
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            import os.path as osp

            from transformers import AutoModel, AutoTokenizer
            if not osp.isdir(self.model_path):
                raise FileNotFoundError(f'text-similarity model folder {self.model_path!r} not found; set the '
                                        'metric config value to a local copy (it is never downloaded)')
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            self._model = AutoModel.from_pretrained(self.model_path, local_files_only=True).to(self.device).eval()

    def encode(self, phrases: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled embeddings ``[N, D]`` of ``phrases``."""
        import torch
        self._load()
        out = []
        for start in range(0, len(phrases), self.batch_size):
            batch = self._tokenizer(list(phrases[start:start + self.batch_size]), padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors='pt').to(self.device)
            with torch.no_grad():
                hidden = self._model(**batch).last_hidden_state
            mask = batch['attention_mask'].unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))

    def __call__(self, phrases_a: Sequence[str], phrases_b: Sequence[str]) -> np.ndarray:
        if not phrases_a or not phrases_b:
            return np.zeros((len(phrases_a), len(phrases_b)))
        return self.encode(phrases_a) @ self.encode(phrases_b).T


def mask_intersection_union(pred, gt) -> Tuple[int, int]:
    """Foreground intersection and union pixel counts of one predicted and one ground-truth mask."""
    p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    if p.shape != g.shape:
        raise ValueError(f'prediction shape {p.shape} differs from ground-truth shape {g.shape}')
    return int(np.count_nonzero(p & g)), int(np.count_nonzero(p | g))


def ciou_giou(intersections: Sequence[int], unions: Sequence[int]) -> Dict[str, float]:
    """RefCOCO cIoU and gIoU from per-mask intersections and unions.

    Args:
        intersections: Foreground intersection pixel count of every (prediction, ground truth) pair.
        unions: The matching union pixel counts.

    Returns:
        ``{'cIoU': sum(I) / sum(U), 'gIoU': mean(I / U)}``, where a pair with an empty union has IoU 1 (an
        empty prediction of an empty target is right) and cIoU is 1 when all unions are empty.
    """
    inter = np.asarray(intersections, dtype=np.float64)
    union = np.asarray(unions, dtype=np.float64)
    if inter.shape != union.shape or inter.ndim != 1 or inter.size == 0:
        raise ValueError('need two equally long, non-empty sequences of intersections and unions')
    per = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    total_union = union.sum()
    return {'cIoU': float(inter.sum() / total_union) if total_union > 0 else 1.0, 'gIoU': float(per.mean())}
