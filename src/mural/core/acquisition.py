"""Region label acquisition (paper §4.5; contract §5, §6).

The oracle reveals the image's ground truth mapped to the scaled image. For each
ground-truth box, ``visible = area(box ∩ window) / area(box)``:

- ``visible > threshold`` (0.7 by default): labelled, its box clipped to the window;
- ``0 < visible <= threshold``: an ignore area (hidden in the training sample);
- ``visible == 0``: untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .geometry import as_boxes, box_area, box_iou

__all__ = ["acquire_region", "known_detections", "visible_fraction"]


def _check_window(window: Any) -> tuple[float, float, float, float]:
    try:
        w = tuple(float(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (x0, y0, x1, y1) numbers, got {window!r}") from None
    if len(w) != 4 or not np.isfinite(w).all():
        raise ValueError(f"window must be four finite numbers (x0, y0, x1, y1), got {window!r}")
    if w[2] <= w[0] or w[3] <= w[1]:
        raise ValueError(f"window is inverted or empty (a non-positive size): {window!r}")
    return w[0], w[1], w[2], w[3]


def visible_fraction(boxes: NDArray[np.float64], window: Sequence[float]) -> NDArray[np.float64]:
    """``area(box ∩ window) / area(box)`` for ``(N, 4)`` boxes, shape ``(N,)``."""
    x0, y0, x1, y1 = window
    iw = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0.0, None)
    ih = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0.0, None)
    out: NDArray[np.float64] = (iw * ih) / box_area(boxes)
    return out


def acquire_region(
    gt_boxes: Any, window: Sequence[float], visible_threshold: float = 0.7
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Which ground-truth boxes a region labels and which it hides (contract §5).

    Args:
        gt_boxes: ``(N, 4)`` ground-truth boxes ``(x0, y0, x1, y1)`` in scaled pixels.
        window: the region ``(x0, y0, x1, y1)`` in scaled pixels.
        visible_threshold: a box is labelled when strictly more than this fraction of
            its area lies in the window; in ``[0, 1]``.

    Returns:
        ``(labelled, clipped, ignored)``: ``(L,)`` int64 ascending indices of labelled
        boxes; ``(L, 4)`` float64 their boxes clipped to the window, in window pixels
        (origin at the window's top-left); ``(I,)`` int64 ascending indices of ignore
        areas (``0 < visible <= visible_threshold``).

    Raises:
        ValueError: bad boxes (NaN, negative, inverted, empty), an inverted or empty
            window, or a threshold outside ``[0, 1]``.
    """
    boxes = as_boxes(gt_boxes, "gt_boxes")
    x0, y0, x1, y1 = _check_window(window)
    thr = float(visible_threshold)
    if not (0.0 <= thr <= 1.0):
        raise ValueError(f"visible_threshold must lie in [0, 1], got {visible_threshold!r}")
    vis = visible_fraction(boxes, (x0, y0, x1, y1))
    labelled = np.flatnonzero(vis > thr).astype(np.int64)
    ignored = np.flatnonzero((vis > 0) & (vis <= thr)).astype(np.int64)
    sel = boxes[labelled]
    clipped = np.empty((labelled.shape[0], 4), dtype=np.float64)
    clipped[:, 0] = np.clip(sel[:, 0], x0, x1) - x0
    clipped[:, 1] = np.clip(sel[:, 1], y0, y1) - y0
    clipped[:, 2] = np.clip(sel[:, 2], x0, x1) - x0
    clipped[:, 3] = np.clip(sel[:, 3], y0, y1) - y0
    return labelled, clipped, ignored


def known_detections(
    det_boxes: Any, labelled_boxes: Any, iou_threshold: float = 0.5
) -> NDArray[np.bool_]:
    """Detections already known: IoU ``>= iou_threshold`` with a labelled object (contract §6).

    Args:
        det_boxes: ``(N, 4)`` detections of one image.
        labelled_boxes: ``(M, 4)`` its labelled ground-truth objects, same coordinates.

    Returns:
        ``(N,)`` bool; known detections take no part in candidates or scores.
    """
    det = as_boxes(det_boxes, "det_boxes")
    lab = as_boxes(labelled_boxes, "labelled_boxes")
    if det.shape[0] == 0 or lab.shape[0] == 0:
        return np.zeros(det.shape[0], dtype=bool)
    return np.asarray((box_iou(det, lab) >= iou_threshold).any(axis=1), dtype=bool)
