"""Scales, boxes and the region <-> original-pixel mapping (SPEC §1).

Conventions: sizes are ``(H, W)`` (rows, columns); boxes are ``xyxy`` floats
``(x0, y0, x1, y1)`` with ``x`` along columns; a scale is ``(min_size, max_size)`` as in
torchvision's ``GeneralizedRCNNTransform``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "as_boxes",
    "box_area",
    "box_iou",
    "check_size",
    "contained",
    "region_to_original",
    "scale_factor",
    "scaled_size",
]

Size = tuple[int, int]
Window = tuple[int, int, int, int]


def check_size(size: Any, name: str) -> Size:
    """Validate a ``(H, W)`` pair of positive integers and return it as ints.

    Raises ``ValueError`` naming ``name`` when it is not two positive, finite integers.
    """
    try:
        values = tuple(size)
    except TypeError:
        raise ValueError(
            f"{name} must be a pair (H, W) of positive integers, got {size!r}"
        ) from None
    if len(values) != 2:
        raise ValueError(f"{name} must be a pair (H, W) of positive integers, got {size!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer, float, np.floating)):
            raise ValueError(f"{name} must hold numbers, got {size!r}")
        if not math.isfinite(float(v)) or float(v) != int(v):
            raise ValueError(f"{name} must hold finite integers, got {size!r}")
        if int(v) <= 0:
            raise ValueError(f"{name} must be positive (a non-positive size), got {size!r}")
        out.append(int(v))
    return out[0], out[1]


def _check_scale(scale: Any) -> tuple[float, float]:
    try:
        values = tuple(scale)
    except TypeError:
        raise ValueError(f"scale must be a pair (min_size, max_size), got {scale!r}") from None
    if len(values) != 2:
        raise ValueError(f"scale must be a pair (min_size, max_size), got {scale!r}")
    lo, hi = (float(v) for v in values)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0:
        raise ValueError(
            f"scale sizes must be positive and finite (a non-positive size), got {scale!r}"
        )
    return lo, hi


def scale_factor(image_size: Sequence[int], scale: Sequence[float]) -> float:
    """Resize factor ``f = min(min_size / min(H, W), max_size / max(H, W))``."""
    h, w = check_size(image_size, "image_size")
    lo, hi = _check_scale(scale)
    return min(lo / min(h, w), hi / max(h, w))


def scaled_size(image_size: Sequence[int], scale: Sequence[float]) -> Size:
    """Size ``(H_s, W_s)`` of an ``(H, W)`` image resized at ``scale`` (SPEC §1).

    ``(int(H * f + 0.5), int(W * f + 0.5))`` with ``f`` from :func:`scale_factor`.

    >>> scaled_size((480, 640), (800, 1280))
    (800, 1067)
    """
    h, w = check_size(image_size, "image_size")
    f = scale_factor((h, w), scale)
    return int(h * f + 0.5), int(w * f + 0.5)


def region_to_original(window: Sequence[float], f: float) -> tuple[float, float, float, float]:
    """A window ``(x0, y0, x1, y1)`` in scaled pixels, seen in original-image pixels."""
    if not (math.isfinite(f) and f > 0):
        raise ValueError(f"scale factor must be positive and finite, got {f!r}")
    x0, y0, x1, y1 = (float(v) for v in window)
    return x0 / f, y0 / f, x1 / f, y1 / f


def as_boxes(boxes: Any, name: str = "boxes") -> NDArray[np.float64]:
    """Validate an ``(N, 4)`` array-like of ``xyxy`` boxes; return it as ``float64``.

    Raises ``ValueError`` for a wrong shape, non-finite values (NaN, inf), negative
    coordinates, and inverted or empty boxes (``x1 <= x0`` or ``y1 <= y0``), naming the
    first offending box.
    """
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an (N, 4) array of numbers") from None
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) (x0, y0, x1, y1), got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is not finite (NaN or inf): {arr[i].tolist()}")
    bad = (arr < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] has a negative coordinate: {arr[i].tolist()}")
    bad = (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}[{i}] is inverted or empty (need x0 < x1 and y0 < y1): {arr[i].tolist()}"
        )
    return arr


def box_area(boxes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Areas of ``(N, 4)`` boxes, shape ``(N,)``."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` boxes, shape ``(N, M)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def contained(boxes: NDArray[np.float64], window: Sequence[float]) -> NDArray[np.bool_]:
    """Which ``(N, 4)`` boxes lie fully inside ``window`` ``(x0, y0, x1, y1)``; shape ``(N,)``."""
    x0, y0, x1, y1 = window
    return (boxes[:, 0] >= x0) & (boxes[:, 2] <= x1) & (boxes[:, 1] >= y0) & (boxes[:, 3] <= y1)
