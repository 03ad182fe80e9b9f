"""Scales, boxes and the region <-> original-pixel mapping (contract §1).

Conventions: sizes are ``(H, W)`` (rows, columns); boxes are ``xyxy`` floats
``(x0, y0, x1, y1)`` with ``x`` along columns; a scale is ``(min_size, max_size)`` as in
torchvision's ``GeneralizedRCNNTransform``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "RegionFrame",
    "as_boxes",
    "box_area",
    "box_iou",
    "check_size",
    "contained",
    "original_to_scaled_many",
    "region_to_original",
    "scale_factor",
    "scale_factors",
    "scaled_size",
    "scaled_to_original_many",
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
    """Size ``(H_s, W_s)`` of an ``(H, W)`` image resized at ``scale`` (contract §1).

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


@dataclass(frozen=True)
class RegionFrame:
    """The three pixel frames of one image at one scale, and a window on the scaled image.

    * **original**: the image as stored, size ``image_size = (H, W)``;
    * **scaled**: the image resized at ``scale``, size ``scaled_size(image_size, scale)``,
      ``scaled = original * f`` with ``f = scale_factor(image_size, scale)``;
    * **window**: pixels of a region (contract §1) whose top-left corner is at
      ``(window[0], window[1])`` on the scaled image: ``window = scaled - (x0, y0)``.

    Every conversion takes and returns ``(N, 4)`` ``xyxy`` float64 arrays (a single box
    may be given as a length-4 sequence; the result is then ``(1, 4)``). Nothing is
    clipped: :meth:`clip_to_window` and :meth:`clip_to_image` do that explicitly.

    >>> fr = RegionFrame.at((480, 640), (800, 1280), window=(10, 20, 650, 500))
    >>> fr.scaled_size
    (800, 1067)
    """

    image_size: Size
    scale: tuple[float, float]
    factor: float
    window: Window = (0, 0, 0, 0)

    @classmethod
    def at(
        cls,
        image_size: Sequence[int],
        scale: Sequence[float],
        window: Sequence[int] | None = None,
    ) -> RegionFrame:
        """The frame of an ``(H, W)`` image at ``scale``; ``window`` defaults to the region
        of the original image's size at ``(0, 0)``."""
        h, w = check_size(image_size, "image_size")
        lo, hi = _check_scale(scale)
        f = scale_factor((h, w), (lo, hi))
        if window is None:
            win: Window = (0, 0, w, h)
        else:
            vals = tuple(window)
            if len(vals) != 4 or any(float(v) != int(v) for v in vals):
                raise ValueError(f"window must be four integers (x0, y0, x1, y1), got {window!r}")
            win = (int(vals[0]), int(vals[1]), int(vals[2]), int(vals[3]))
            if win[2] <= win[0] or win[3] <= win[1]:
                raise ValueError(f"window is inverted or empty: {window!r}")
        return cls((h, w), (lo, hi), f, win)

    @property
    def scaled_size(self) -> Size:
        """``(H_s, W_s)`` of the scaled image (contract §1 rounding)."""
        h, w = self.image_size
        return int(h * self.factor + 0.5), int(w * self.factor + 0.5)

    @property
    def offset(self) -> NDArray[np.float64]:
        """``(x0, y0, x0, y0)`` of the window, to subtract from scaled boxes; shape ``(4,)``."""
        x0, y0 = self.window[0], self.window[1]
        return np.array([x0, y0, x0, y0], dtype=np.float64)

    def original_to_scaled(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` boxes in original pixels, in scaled pixels."""
        return _boxes(boxes) * self.factor

    def scaled_to_original(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` boxes in scaled pixels, in original pixels."""
        return _boxes(boxes) / self.factor

    def scaled_to_window(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` boxes in scaled pixels, in window pixels."""
        return _boxes(boxes) - self.offset

    def window_to_scaled(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` boxes in window pixels, in scaled pixels."""
        return _boxes(boxes) + self.offset

    def original_to_window(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` boxes in original pixels, in window pixels."""
        return self.scaled_to_window(self.original_to_scaled(boxes))

    def window_to_original(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` boxes in window pixels, in original pixels."""
        return self.scaled_to_original(self.window_to_scaled(boxes))

    def window_in_original(self) -> tuple[float, float, float, float]:
        """The window as a rectangle in original pixels, ``(left/f, top/f, right/f, bottom/f)``."""
        return region_to_original(self.window, self.factor)

    def window_on_image(self) -> Window:
        """The part of the window that shows the scaled image, in scaled pixels:
        ``(x0, y0, min(x1, W_s), min(y1, H_s))`` (the rest of the window is padding; empty
        when ``x1 <= x0`` or ``y1 <= y0`` after the clip)."""
        hs, ws = self.scaled_size
        x0, y0, x1, y1 = self.window
        return x0, y0, min(x1, ws), min(y1, hs)

    def window_problem(self) -> str | None:
        """Why the window is not a region of contract §1, or ``None`` when it is: it must
        have the original image's size and a top-left corner with ``0 <= x0 <= W_s - W``
        and ``0 <= y0 <= H_s - H`` (``0`` when the scaled image is the smaller)."""
        h, w = self.image_size
        hs, ws = self.scaled_size
        x0, y0, x1, y1 = self.window
        if x1 - x0 != w or y1 - y0 != h:
            return (
                f"window {list(self.window)} must have the original image's size "
                f"(W, H) = ({w}, {h})"
            )
        if not (0 <= x0 <= max(0, ws - w) and 0 <= y0 <= max(0, hs - h)):
            return (
                f"window {list(self.window)} lies outside the valid positions on the scaled "
                f"image {hs}x{ws} (left in 0..{max(0, ws - w)}, top in 0..{max(0, hs - h)})"
            )
        return None

    def clip_to_window(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` window-pixel boxes clipped to the window's extent."""
        b = _boxes(boxes).copy()
        w, h = self.window[2] - self.window[0], self.window[3] - self.window[1]
        np.clip(b[:, 0::2], 0.0, float(w), out=b[:, 0::2])
        np.clip(b[:, 1::2], 0.0, float(h), out=b[:, 1::2])
        return b

    def clip_to_image(self, boxes: Any) -> NDArray[np.float64]:
        """``(N, 4)`` original-pixel boxes clipped to the original image ``(0, 0, W, H)``."""
        b = _boxes(boxes).copy()
        h, w = self.image_size
        np.clip(b[:, 0::2], 0.0, float(w), out=b[:, 0::2])
        np.clip(b[:, 1::2], 0.0, float(h), out=b[:, 1::2])
        return b


def _boxes(boxes: Any) -> NDArray[np.float64]:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr.reshape(1, 4)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) (x0, y0, x1, y1), got {arr.shape}")
    return arr


def scale_factors(image_sizes: Any, scale: Sequence[float]) -> NDArray[np.float64]:
    """:func:`scale_factor` of many images at one scale, vectorised.

    Args:
        image_sizes: ``(n, 2)`` positive integers ``(H, W)``.
        scale: ``(min_size, max_size)``.

    Returns:
        ``(n,)`` float64, each equal (bit for bit) to ``scale_factor(image_sizes[j], scale)``.
    """
    sizes = np.asarray(image_sizes, dtype=np.int64).reshape(-1, 2)
    if (sizes <= 0).any():
        i = int(np.flatnonzero((sizes <= 0).any(axis=1))[0])
        raise ValueError(
            f"image_sizes[{i}] must be positive (a non-positive size), got {sizes[i].tolist()}"
        )
    lo, hi = _check_scale(scale)
    out: NDArray[np.float64] = np.minimum(lo / sizes.min(axis=1), hi / sizes.max(axis=1))
    return out


def _per_box(offsets: Any, factors: Any, m: int) -> NDArray[np.float64]:
    off = np.asarray(offsets, dtype=np.int64)
    fac = np.asarray(factors, dtype=np.float64)
    if off.shape != (fac.shape[0] + 1,) or off[0] != 0 or off[-1] != m:
        raise ValueError(
            f"offsets must have n + 1 = {fac.shape[0] + 1} entries from 0 to the box count {m}"
        )
    return np.repeat(fac, np.diff(off))[:, None]


def scaled_to_original_many(boxes: Any, offsets: Any, factors: Any) -> NDArray[np.float64]:
    """Boxes of many images in scaled pixels, in original pixels (``boxes / f`` per image).

    Args:
        boxes: ``(M, 4)`` xyxy, scaled pixels.
        offsets: ``(n + 1,)``; image ``j`` owns ``boxes[offsets[j]:offsets[j + 1]]``.
        factors: ``(n,)`` each image's scale factor (:func:`scale_factors`).

    Returns:
        ``(M, 4)`` float64, row for row :meth:`RegionFrame.scaled_to_original` of its image.
    """
    b = _boxes(boxes)
    out: NDArray[np.float64] = b / _per_box(offsets, factors, b.shape[0])
    return out


def original_to_scaled_many(boxes: Any, offsets: Any, factors: Any) -> NDArray[np.float64]:
    """Boxes of many images in original pixels, in scaled pixels (``boxes * f`` per image);
    shapes as in :func:`scaled_to_original_many`."""
    b = _boxes(boxes)
    out: NDArray[np.float64] = b * _per_box(offsets, factors, b.shape[0])
    return out
