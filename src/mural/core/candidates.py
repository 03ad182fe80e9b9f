"""Region candidates (paper §4.2, Algorithm 1; contract §2), exact and fast.

Algorithm 1 slides a window of the original image's size ``(H_r, W_r)`` over every integer
position ``(top, left)`` of the scaled image, then greedily takes the window holding the
most remaining objects (ties: smallest ``top``, then smallest ``left``), removes its objects
and repeats. The literal scan costs ``O(positions * N)`` per pick; this module returns the
same candidates without visiting every position.

Why it is exact. A box ``(x0, y0, x1, y1)`` lies in the window at ``(top, left)`` iff
``ceil(y1) - H_r <= top <= floor(y0)`` and ``ceil(x1) - W_r <= left <= floor(x0)`` (and the
position is valid), so each box covers an axis-aligned rectangle of positions
``[lt, ht] x [ll, hl]``. Let ``(t*, l*)`` be the first position (row-major) of maximum
count. If ``t* > 0`` the position ``(t* - 1, l*)`` comes earlier and so holds fewer objects:
some box covering ``(t*, l*)`` starts at ``lt = t*``. If ``t* = 0`` every covering box has
``lt = 0`` (lower bounds are clamped at 0). The same holds for ``l*``. Hence the optimum
lies on the grid ``{lt_i} x {ll_j}`` of the boxes' lower bounds, every point of which is a
real position; scanning that grid in row-major order with the same tie rule picks the
same window as the full scan. Counts on the grid are kept up to date incrementally as
objects leave, so a pick costs ``O(grid)`` and an image ``O(N^3)`` at worst.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .geometry import as_boxes, check_size

__all__ = ["Candidate", "CandidateSet", "generate_candidates", "generate_candidates_batch"]


class Candidate(NamedTuple):
    """A region candidate of one image at one scale.

    Attributes:
        window: ``(x0, y0, x1, y1)`` integer window in scaled pixels
            (``(left, top, left + W_r, top + H_r)``); it may pass the scaled image's edge
            when the image is smaller than the region (the rest is padding).
        objects: indices into the input boxes of the objects it was assigned, ascending.
    """

    window: tuple[int, int, int, int]
    objects: tuple[int, ...]


@dataclass(frozen=True)
class CandidateSet:
    """Candidates of many image-scales in flat (CSR) arrays, in pick order per image.

    Attributes:
        image: ``(K,)`` int64, the index (into the batch) of each candidate's image.
        window: ``(K, 4)`` int64 windows ``(x0, y0, x1, y1)`` in scaled pixels.
        obj_offsets: ``(K + 1,)`` int64; candidate ``k`` was assigned
            ``objects[obj_offsets[k]:obj_offsets[k + 1]]``.
        objects: ``(sum of assigned,)`` int64 indices *local to the image* (into that
            image's boxes), ascending within each candidate.
    """

    image: NDArray[np.int64]
    window: NDArray[np.int64]
    obj_offsets: NDArray[np.int64]
    objects: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def assigned(self, k: int) -> NDArray[np.int64]:
        """Local indices of the objects assigned to candidate ``k``."""
        return self.objects[self.obj_offsets[k] : self.obj_offsets[k + 1]]

    def candidate(self, k: int) -> Candidate:
        """Candidate ``k`` as a :class:`Candidate`."""
        w = self.window[k]
        return Candidate(
            (int(w[0]), int(w[1]), int(w[2]), int(w[3])),
            tuple(int(i) for i in self.assigned(k)),
        )


def _greedy_kernel(
    boxes: NDArray[np.float64],
    offsets: NDArray[np.int64],
    sizes: NDArray[np.int64],
    regions: NDArray[np.int64],
    out_image: NDArray[np.int64],
    out_window: NDArray[np.int64],
    out_obj_offsets: NDArray[np.int64],
    out_objects: NDArray[np.int64],
) -> int:  # pragma: no cover - compiled by numba; tested through its callers
    """Greedy Algorithm 1 on the lower-bound grid, for every image of a batch.

    Returns the number of candidates written (the outputs are sized for the worst case:
    one candidate per box), or -1 if a box is invalid (non-finite, negative, inverted or
    empty), in which case nothing is computed.
    """
    for j in range(boxes.shape[0]):
        x0 = boxes[j, 0]
        y0 = boxes[j, 1]
        x1 = boxes[j, 2]
        y1 = boxes[j, 3]
        # NaN fails every comparison, so `not (...)` catches it along with the rest.
        if not (x0 >= 0.0 and y0 >= 0.0 and x1 > x0 and y1 > y0 and x1 < np.inf and y1 < np.inf):
            return -1
    n_img = offsets.shape[0] - 1
    nc = 0
    no = 0
    out_obj_offsets[0] = 0
    for im in range(n_img):
        s = offsets[im]
        n = offsets[im + 1] - s
        if n == 0:
            continue
        hs = sizes[im, 0]
        ws = sizes[im, 1]
        hr = regions[im, 0]
        wr = regions[im, 1]
        maxtop = max(0, hs - hr)
        maxleft = max(0, ws - wr)
        lt = np.zeros(n, np.int64)
        ht = np.zeros(n, np.int64)
        ll = np.zeros(n, np.int64)
        hl = np.zeros(n, np.int64)
        alive = np.zeros(n, np.bool_)
        n_alive = 0
        for i in range(n):
            x0 = boxes[s + i, 0]
            y0 = boxes[s + i, 1]
            x1 = boxes[s + i, 2]
            y1 = boxes[s + i, 3]
            # top in [ceil(y1) - hr, floor(y0)] and [0, maxtop]; same for left.
            if y1 > maxtop + hr or x1 > maxleft + wr:
                continue
            a = np.int64(np.ceil(y1)) - hr
            b = np.int64(np.ceil(x1)) - wr
            lt[i] = a if a > 0 else 0
            ll[i] = b if b > 0 else 0
            ht[i] = maxtop if y0 >= maxtop else np.int64(np.floor(y0))
            hl[i] = maxleft if x0 >= maxleft else np.int64(np.floor(x0))
            if lt[i] <= ht[i] and ll[i] <= hl[i]:
                alive[i] = True
                n_alive += 1
        if n_alive == 0:
            continue
        # The grid: sorted unique lower bounds of the boxes that fit.
        tv = np.empty(n_alive, np.int64)
        lv = np.empty(n_alive, np.int64)
        j = 0
        for i in range(n):
            if alive[i]:
                tv[j] = lt[i]
                lv[j] = ll[i]
                j += 1
        tops = np.unique(tv)
        lefts = np.unique(lv)
        nt = tops.shape[0]
        nl = lefts.shape[0]
        # Each box covers grid indices [a0, a1] x [b0, b1].
        a0 = np.searchsorted(tops, lt[:n])
        a1 = np.searchsorted(tops, ht[:n], side="right") - 1
        b0 = np.searchsorted(lefts, ll[:n])
        b1 = np.searchsorted(lefts, hl[:n], side="right") - 1
        counts = np.zeros(nt * nl, np.int64)
        for i in range(n):
            if alive[i]:
                for a in range(a0[i], a1[i] + 1):
                    row = a * nl
                    for b in range(b0[i], b1[i] + 1):
                        counts[row + b] += 1
        while n_alive > 0:
            best = 0
            bestc = counts[0]
            for p in range(1, nt * nl):
                if counts[p] > bestc:
                    bestc = counts[p]
                    best = p
            ba = best // nl
            bb = best - ba * nl
            top = tops[ba]
            left = lefts[bb]
            out_image[nc] = im
            out_window[nc, 0] = left
            out_window[nc, 1] = top
            out_window[nc, 2] = left + wr
            out_window[nc, 3] = top + hr
            for i in range(n):
                if alive[i] and a0[i] <= ba <= a1[i] and b0[i] <= bb <= b1[i]:
                    out_objects[no] = i
                    no += 1
                    alive[i] = False
                    n_alive -= 1
                    for a in range(a0[i], a1[i] + 1):
                        row = a * nl
                        for b in range(b0[i], b1[i] + 1):
                            counts[row + b] -= 1
            nc += 1
            out_obj_offsets[nc] = no
    return nc


@functools.cache
def _kernel() -> Any:
    """The greedy kernel compiled by numba (once per process; cached on disk)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_greedy_kernel)


def _check_batch_sizes(sizes: Any, n: int, name: str) -> NDArray[np.int64]:
    arr = np.asarray(sizes)
    if arr.ndim == 1 and arr.shape == (2,):
        arr = np.broadcast_to(arr, (n, 2))
    if arr.shape != (n, 2):
        raise ValueError(f"{name} must have shape ({n}, 2) or (2,), got {arr.shape}")
    if not np.isfinite(arr.astype(np.float64)).all():
        raise ValueError(f"{name} must be finite")
    iarr = arr.astype(np.int64)
    if (iarr != arr).any():
        raise ValueError(f"{name} must hold integers")
    if (iarr <= 0).any():
        i = int(np.flatnonzero((iarr <= 0).any(axis=1))[0])
        raise ValueError(f"{name}[{i}] is a non-positive size: {arr[i].tolist()}")
    return np.ascontiguousarray(iarr)


def generate_candidates_batch(
    boxes: Any,
    offsets: Any,
    image_sizes: Any,
    region_sizes: Any,
) -> CandidateSet:
    """Algorithm 1 for many image-scales at once.

    Args:
        boxes: ``(M, 4)`` ``xyxy`` boxes of all images, concatenated, in scaled pixels.
        offsets: ``(n + 1,)`` non-decreasing; image ``i`` owns ``boxes[offsets[i]:offsets[i+1]]``.
        image_sizes: ``(n, 2)`` (or one ``(2,)`` for all) scaled sizes ``(H_s, W_s)``.
        region_sizes: ``(n, 2)`` (or ``(2,)``) region sizes ``(H_r, W_r)``.

    Returns:
        A :class:`CandidateSet`; per image, candidates in pick order.
    """
    bx = _as_array(boxes)
    off = np.asarray(offsets, dtype=np.int64)
    if off.ndim != 1 or off.shape[0] < 1 or off[0] != 0 or off[-1] != bx.shape[0]:
        raise ValueError("offsets must be 1-D, start at 0 and end at the number of boxes")
    if (np.diff(off) < 0).any():
        raise ValueError("offsets must be non-decreasing")
    n = off.shape[0] - 1
    sizes = _check_batch_sizes(image_sizes, n, "image_sizes")
    regions = _check_batch_sizes(region_sizes, n, "region_sizes")
    m = bx.shape[0]
    out_image = np.empty(m, np.int64)
    out_window = np.empty((m, 4), np.int64)
    out_obj_offsets = np.zeros(m + 1, np.int64)
    out_objects = np.empty(m, np.int64)
    k = int(_kernel()(bx, off, sizes, regions, out_image, out_window, out_obj_offsets, out_objects))
    if k < 0:
        as_boxes(bx)  # raises ValueError naming the first bad box
    return CandidateSet(
        image=out_image[:k].copy(),
        window=out_window[:k].copy(),
        obj_offsets=out_obj_offsets[: k + 1].copy(),
        objects=out_objects[: out_obj_offsets[k]].copy(),
    )


def generate_candidates(
    boxes: Any, image_size: Sequence[int], region_size: Sequence[int]
) -> list[Candidate]:
    """Region candidates of one image at one scale (contract §2), in pick order.

    Args:
        boxes: ``(N, 4)`` array-like of detections ``(x0, y0, x1, y1)`` in scaled pixels
            (already filtered by score and by what is labelled).
        image_size: the scaled image's ``(H_s, W_s)``.
        region_size: the region's ``(H_r, W_r)`` (the original image's size).

    Returns:
        Candidates; each holds its integer ``.window`` ``(x0, y0, x1, y1)`` and the
        ascending indices ``.objects`` of the boxes assigned to it. Boxes that fit in no
        window take no part. Equal, exactly, to Algorithm 1 over every integer position
        with ties going to the first window in row-major order.

    Raises:
        ValueError: non-finite, negative, inverted or empty boxes; non-positive sizes.
    """
    bx = _as_array(boxes)
    hs, ws = check_size(image_size, "image_size")
    hr, wr = check_size(region_size, "region_size")
    n = bx.shape[0]
    if n == 0:
        return []
    out_window = np.empty((n, 4), np.int64)
    out_obj_offsets = np.zeros(n + 1, np.int64)
    out_objects = np.empty(n, np.int64)
    k = _kernel()(
        bx,
        np.array([0, n], np.int64),
        np.array([[hs, ws]], np.int64),
        np.array([[hr, wr]], np.int64),
        np.empty(n, np.int64),
        out_window,
        out_obj_offsets,
        out_objects,
    )
    if k < 0:
        as_boxes(bx)  # raises ValueError naming the first bad box
    windows = out_window[:k].tolist()
    offs = out_obj_offsets[: k + 1].tolist()
    objs = out_objects[: offs[-1]].tolist()
    return [Candidate(tuple(windows[c]), tuple(objs[offs[c] : offs[c + 1]])) for c in range(k)]


def _as_array(boxes: Any) -> NDArray[np.float64]:
    """``(N, 4)`` float64 C-contiguous view of ``boxes``; shape errors via ``as_boxes``."""
    try:
        arr = np.ascontiguousarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("boxes must be an (N, 4) array of numbers") from None
    if arr.ndim != 2 or arr.shape[1] != 4:
        if arr.size == 0:
            return np.zeros((0, 4), dtype=np.float64)
        return as_boxes(arr)  # raises ValueError about the shape
    return arr
