"""J&F: region similarity (J) and boundary F-measure (F) of binary mask tracks, as defined by DAVIS 2017.

All functions take boolean (or 0/1) masks shaped ``[T, H, W]`` (a track of T frames) or ``[H, W]`` (one frame)
and work on whole tracks at once. Scores lie in ``[0, 1]``; benchmarks usually report them multiplied by 100.
"""
import math
from typing import Dict, Tuple, Union

import cv2
import numpy as np

ArrayOrFloat = Union[np.ndarray, float]


def _as_tracks(pred: np.ndarray, gt: np.ndarray) -> Tuple[np.ndarray, np.ndarray, bool]:
    """Boolean ``[T, H, W]`` views of a prediction and a ground truth of the same shape.

    Returns:
        The two tracks and whether the inputs were single ``[H, W]`` frames.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction shape {pred.shape} differs from ground-truth shape {gt.shape}')
    if pred.ndim not in (2, 3):
        raise ValueError(f'masks must be [H, W] or [T, H, W], got shape {pred.shape}')
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    return pred.astype(bool, copy=False), gt.astype(bool, copy=False), single


def _per_frame(values: np.ndarray, single: bool) -> ArrayOrFloat:
    return float(values[0]) if single else values


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> ArrayOrFloat:
    """Region similarity J (intersection over union) of every frame.

    Args:
        pred: Predicted masks, ``[T, H, W]`` or ``[H, W]``, boolean or 0/1.
        gt: Ground-truth masks of the same shape.

    Returns:
        J per frame as a float array ``[T]`` (a float for ``[H, W]`` input). A frame where both masks are empty
        scores 1.
    """
    pred, gt, single = _as_tracks(pred, gt)
    inter = np.count_nonzero(pred & gt, axis=(1, 2))
    union = np.count_nonzero(pred | gt, axis=(1, 2))
    j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return _per_frame(j, single)


def boundary_map(masks: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundaries of masks, at the masks' own resolution.

    A pixel is on the boundary when it differs from at least one of its right, lower and lower-right neighbours
    that lie inside the image (neighbours outside the image are not compared, so the image border itself is no
    boundary and the bottom-right corner pixel never is). This is the ``seg2bmap`` map used by DAVIS, without
    resizing.

    Args:
        masks: Boolean masks ``[T, H, W]``.

    Returns:
        Boolean boundary maps of the same shape.
    """
    m = np.asarray(masks, dtype=bool)
    b = np.zeros_like(m)
    b[..., :, :-1] |= m[..., :, :-1] != m[..., :, 1:]       # right neighbour
    b[..., :-1, :] |= m[..., :-1, :] != m[..., 1:, :]       # lower neighbour
    b[..., :-1, :-1] |= m[..., :-1, :-1] != m[..., 1:, 1:]  # lower-right neighbour
    return b


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> float:
    """The boundary matching tolerance in pixels.

    Args:
        height: Image height.
        width: Image width.
        bound_th: Below 1, a fraction of the image diagonal (rounded up to whole pixels); from 1 on, pixels.

    Returns:
        The radius of the disk boundaries are dilated with.
    """
    if bound_th >= 1:
        return float(bound_th)
    return float(math.ceil(bound_th * math.hypot(height, width)))


def disk(radius: float) -> np.ndarray:
    """A disk structuring element: the pixels ``(y, x)`` with ``y^2 + x^2 <= radius^2``, as ``uint8``."""
    n = int(math.floor(radius))
    y, x = np.ogrid[-n:n + 1, -n:n + 1]
    return (y * y + x * x <= radius * radius).astype(np.uint8)


def _dilate(tracks: np.ndarray, radius: float) -> np.ndarray:
    """Dilate every frame of a boolean ``[T, H, W]`` stack with a disk of ``radius`` pixels."""
    t, h, w = tracks.shape
    n = int(math.floor(radius))
    if n == 0 or t == 0:
        return tracks.copy()
    # cv2.dilate takes one 2-D image and is much faster than scipy.ndimage for large disks. The frames are
    # stacked vertically with n empty rows below each, so a dilation (reach: n pixels) never crosses from one
    # frame into the next and the whole track is dilated in a single call. Pixels outside the image count as
    # background (cv2's default border for dilation), as in the DAVIS code.
    stacked = np.zeros((t, h + n, w), np.uint8)
    stacked[:, :h] = tracks
    out = cv2.dilate(stacked.reshape(t * (h + n), w), disk(radius))
    return out.reshape(t, h + n, w)[:, :h].astype(bool)


def boundary_precision_recall(pred: np.ndarray, gt: np.ndarray,
                              bound_th: float = 0.008) -> Tuple[ArrayOrFloat, ArrayOrFloat]:
    """Boundary precision and recall of every frame.

    Precision is the share of predicted boundary pixels within the tolerance of a ground-truth boundary pixel;
    recall the share of ground-truth boundary pixels within the tolerance of a predicted one. With no predicted
    boundary, precision is 1; with no ground-truth boundary, recall is 1 (so an empty prediction of a non-empty
    ground truth gives (1, 0), the reverse (0, 1), and two empty boundaries (1, 1)).

    Args:
        pred: Predicted masks, ``[T, H, W]`` or ``[H, W]``.
        gt: Ground-truth masks of the same shape.
        bound_th: The tolerance, see :func:`boundary_tolerance`.

    Returns:
        Precision and recall per frame (floats for ``[H, W]`` input).
    """
    pred, gt, single = _as_tracks(pred, gt)
    radius = boundary_tolerance(pred.shape[1], pred.shape[2], bound_th)
    b_pred = boundary_map(pred)
    b_gt = boundary_map(gt)
    n_pred = np.count_nonzero(b_pred, axis=(1, 2))
    n_gt = np.count_nonzero(b_gt, axis=(1, 2))
    pred_hits = np.count_nonzero(b_pred & _dilate(b_gt, radius), axis=(1, 2))
    gt_hits = np.count_nonzero(b_gt & _dilate(b_pred, radius), axis=(1, 2))
    # An empty boundary on one side makes the hits of the other side 0, which gives the conventions above.
    precision = np.where(n_pred == 0, 1.0, pred_hits / np.maximum(n_pred, 1))
    recall = np.where(n_gt == 0, 1.0, gt_hits / np.maximum(n_gt, 1))
    return _per_frame(precision, single), _per_frame(recall, single)


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> ArrayOrFloat:
    """Boundary F-measure F of every frame: ``2PR / (P + R)``, 0 when ``P + R == 0``.

    Args:
        pred: Predicted masks, ``[T, H, W]`` or ``[H, W]``, boolean or 0/1.
        gt: Ground-truth masks of the same shape.
        bound_th: The boundary tolerance, see :func:`boundary_tolerance` (DAVIS: 0.008 of the diagonal).

    Returns:
        F per frame as a float array ``[T]`` (a float for ``[H, W]`` input).
    """
    precision, recall = boundary_precision_recall(pred, gt, bound_th)
    p = np.asarray(precision, dtype=float)
    r = np.asarray(recall, dtype=float)
    total = p + r
    f = np.where(total == 0, 0.0, 2 * p * r / np.where(total == 0, 1.0, total))
    return float(f) if f.ndim == 0 else f


def jf_per_object(pred_track: np.ndarray, gt_track: np.ndarray, bound_th: float = 0.008) -> Dict[str, float]:
    """Mean J, F and J&F of one object over the frames of its track.

    Args:
        pred_track: Predicted masks of the object, ``[T, H, W]`` (or one ``[H, W]`` frame).
        gt_track: Its ground-truth masks, same shape.
        bound_th: The boundary tolerance of F.

    Returns:
        ``{'J': mean J, 'F': mean F, 'J&F': (J + F) / 2}``, each in ``[0, 1]``.
    """
    j = float(np.mean(region_similarity(pred_track, gt_track)))
    f = float(np.mean(boundary_f_measure(pred_track, gt_track, bound_th)))
    return {'J': j, 'F': f, 'J&F': (j + f) / 2}


def pixel_accuracy(pred: np.ndarray, gt: np.ndarray) -> ArrayOrFloat:
    """ReVOS accuracy A of every frame: the fraction of pixels where prediction and ground truth agree.

    Args:
        pred: Predicted masks, ``[T, H, W]`` or ``[H, W]``, boolean or 0/1.
        gt: Ground-truth masks of the same shape.

    Returns:
        A per frame in ``[0, 1]`` (a float for ``[H, W]`` input).
    """
    pred, gt, single = _as_tracks(pred, gt)
    return _per_frame(np.mean(pred == gt, axis=(1, 2)), single)


def robustness(pred: np.ndarray, gt: np.ndarray, foreground: np.ndarray) -> ArrayOrFloat:
    """ReVOS robustness R of every frame: ``max(1 - |P \\ G| / |foreground|, 0)``.

    ``foreground`` is the union of every annotated object of the video on that frame, so R measures how much of
    the prediction falls on things that are not the referred object, relative to all objects there. A frame with
    an empty foreground scores 1 without false-positive pixels and 0 with any (the limit of the official
    ``1 - neg / (pos + 1e-6)``).

    Args:
        pred: Predicted masks, ``[T, H, W]`` or ``[H, W]``.
        gt: Ground-truth masks of the same shape.
        foreground: The video's foreground masks, same shape.

    Returns:
        R per frame in ``[0, 1]`` (a float for ``[H, W]`` input).
    """
    pred, gt, single = _as_tracks(pred, gt)
    _, fg, _ = _as_tracks(pred, foreground)
    false_pos = np.count_nonzero(pred & ~gt, axis=(1, 2)).astype(np.float64)
    pos = np.count_nonzero(fg, axis=(1, 2)).astype(np.float64)
    r = np.where(pos > 0, np.maximum(1.0 - false_pos / np.maximum(pos, 1.0), 0.0), (false_pos == 0).astype(float))
    return _per_frame(r, single)
