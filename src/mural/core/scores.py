"""Informative score of a region (paper §4.3, Eq. 2 and Eq. 4; contract §3).

For a region, take the ``K`` detections fully inside its window with confidences
``p_1..p_K`` and labels ``o_1..o_K``. The term of detection ``k`` is ``(1 - p_k)`` (Eq. 2)
or ``(1 - p_k) / P(o_k)`` with ``P(o) = max(n_o, 1) / max(N, 1)`` (Eq. 4), ``n_o`` the
labelled ground-truth objects of class ``o`` and ``N`` their total. The score reduces the
terms by ``mean`` (the paper's), ``max``, or ``random`` (one term drawn uniformly with the
caller's seeded generator; Table 2's ablation).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .candidates import CandidateSet

__all__ = [
    "REDUCTIONS",
    "class_weights",
    "informative_score",
    "region_scores",
]

REDUCTIONS = ("mean", "max", "random")


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}; known: {', '.join(REDUCTIONS)}")


def class_weights(class_counts: Any) -> NDArray[np.float64]:
    """Per-class weights ``1 / P(o) = max(N, 1) / max(n_o, 1)`` of Eq. 4, shape ``(C,)``.

    ``class_counts`` is the ``(C,)`` count of labelled ground-truth objects per class;
    the floor of 1 keeps a class not yet labelled finite and the most wanted.
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.shape[0] == 0:
        raise ValueError(f"class_counts must be a non-empty 1-D array, got shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("class_counts must be finite and non-negative")
    total = max(float(counts.sum()), 1.0)
    weights: NDArray[np.float64] = total / np.maximum(counts, 1.0)
    return weights


def _terms(confidences: Any, labels: Any, class_counts: Any) -> NDArray[np.float64]:
    p = np.asarray(confidences, dtype=np.float64).reshape(-1)
    if p.shape[0] == 0:
        raise ValueError("informative_score needs at least one detection (got none)")
    if not np.isfinite(p).all():
        raise ValueError("confidences must be finite (got NaN or inf)")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("confidences must lie in [0, 1]")
    terms = 1.0 - p
    if class_counts is None:
        if labels is not None and np.asarray(labels).reshape(-1).shape[0] != p.shape[0]:
            raise ValueError("labels and confidences must have the same length")
        return terms
    w = class_weights(class_counts)
    if labels is None:
        raise ValueError("labels are needed with class_counts (Eq. 4)")
    lab_raw = np.asarray(labels).reshape(-1)
    if lab_raw.shape[0] != p.shape[0]:
        raise ValueError("labels and confidences must have the same length")
    if lab_raw.size and not np.issubdtype(lab_raw.dtype, np.integer):
        if (
            not np.isfinite(lab_raw.astype(np.float64)).all()
            or (lab_raw != np.round(lab_raw)).any()
        ):
            raise ValueError("labels must be integer class indices")
    lab = lab_raw.astype(np.int64)
    if (lab < 0).any() or (lab >= w.shape[0]).any():
        raise ValueError(f"labels must lie in 0..{w.shape[0] - 1} (the length of class_counts)")
    out: NDArray[np.float64] = terms * w[lab]
    return out


def informative_score(
    confidences: Any,
    labels: Any = None,
    class_counts: Any = None,
    reduce: str = "mean",
    rng: np.random.Generator | None = None,
) -> float:
    """Informative score of one region.

    Args:
        confidences: ``(K,)`` confidences in ``[0, 1]`` of the detections inside the region.
        labels: ``(K,)`` class indices ``0..C-1`` (needed with ``class_counts``).
        class_counts: ``None`` for Eq. 2, else the ``(C,)`` labelled counts per class (Eq. 4).
        reduce: ``"mean"`` (paper), ``"max"`` or ``"random"``.
        rng: the generator that draws the term for ``"random"``; pass a seeded one for
            reproducible results (``None`` draws from a fresh, unseeded generator).

    Returns:
        The score as a Python float.

    Raises:
        ValueError: no detections, non-finite or out-of-range confidences, labels outside
            ``class_counts``, negative counts, or an unknown reduction.

    >>> informative_score([0.9, 0.5])
    0.3
    """
    _check_reduce(reduce)
    terms = _terms(confidences, labels, class_counts)
    if reduce == "mean":
        return float(terms.mean())
    if reduce == "max":
        return float(terms.max())
    gen = rng if rng is not None else np.random.default_rng()
    return float(terms[int(gen.integers(terms.shape[0]))])


def _scores_kernel(
    boxes: NDArray[np.float64],
    offsets: NDArray[np.int64],
    terms: NDArray[np.float64],
    cand_image: NDArray[np.int64],
    cand_window: NDArray[np.int64],
    pick: NDArray[np.int64],
    mode: int,
    out: NDArray[np.float64],
    out_count: NDArray[np.int64],
) -> None:  # pragma: no cover - compiled by numba; tested through its callers
    """Reduce the terms of the detections inside each candidate's window.

    ``mode``: 0 mean, 1 max, 2 count only, 3 the ``pick[k]``-th inside term.
    """
    for k in range(cand_image.shape[0]):
        im = cand_image[k]
        x0 = cand_window[k, 0]
        y0 = cand_window[k, 1]
        x1 = cand_window[k, 2]
        y1 = cand_window[k, 3]
        c = 0
        acc = 0.0
        mx = -np.inf
        val = 0.0
        for j in range(offsets[im], offsets[im + 1]):
            if boxes[j, 0] >= x0 and boxes[j, 2] <= x1 and boxes[j, 1] >= y0 and boxes[j, 3] <= y1:
                t = terms[j]
                if mode == 3 and c == pick[k]:
                    val = t
                c += 1
                acc += t
                if t > mx:
                    mx = t
        out_count[k] = c
        if mode == 0:
            out[k] = acc / c if c > 0 else 0.0
        elif mode == 1:
            out[k] = mx if c > 0 else 0.0
        elif mode == 3:
            out[k] = val


@functools.cache
def _kernel() -> Any:
    import numba

    return numba.njit(cache=True, nogil=True)(_scores_kernel)


def region_scores(
    candidates: CandidateSet,
    boxes: Any,
    offsets: Any,
    confidences: Any,
    labels: Any = None,
    class_counts: Any = None,
    reduce: str = "mean",
    rng: np.random.Generator | None = None,
) -> NDArray[np.float64]:
    """Informative scores of a batch of candidates, shape ``(K,)``.

    Every detection fully inside a candidate's window counts, not only its assigned ones.

    Args:
        candidates: from :func:`~mural.core.candidates.generate_candidates_batch` on the
            same ``boxes`` and ``offsets``.
        boxes: ``(M, 4)`` detections of all images, concatenated (already validated).
        offsets: ``(n + 1,)`` image offsets into ``boxes``.
        confidences: ``(M,)`` confidences in ``[0, 1]``.
        labels: ``(M,)`` class indices (needed with ``class_counts``).
        class_counts: ``None`` (Eq. 2) or ``(C,)`` labelled counts per class (Eq. 4).
        reduce: ``"mean"``, ``"max"`` or ``"random"``.
        rng: generator for ``"random"`` (one draw per candidate, in candidate order).

    Returns:
        Equal to :func:`informative_score` on each candidate's inside detections (for
        ``"random"``, with the draws this function makes).
    """
    _check_reduce(reduce)
    bx = np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4)
    off = np.asarray(offsets, dtype=np.int64)
    k = len(candidates)
    if bx.shape[0] == 0 or k == 0:
        return np.zeros(k, dtype=np.float64)
    terms = np.ascontiguousarray(_terms(confidences, labels, class_counts))
    if terms.shape[0] != bx.shape[0]:
        raise ValueError("confidences must have one entry per box")
    out = np.zeros(k, dtype=np.float64)
    count = np.zeros(k, dtype=np.int64)
    pick = np.zeros(k, dtype=np.int64)
    kern = _kernel()
    args = (bx, off, terms, candidates.image, candidates.window)
    if reduce == "random":
        kern(*args, pick, 2, out, count)
        gen = rng if rng is not None else np.random.default_rng()
        pick = gen.integers(0, np.maximum(count, 1)).astype(np.int64)
        kern(*args, pick, 3, out, count)
    else:
        kern(*args, pick, 0 if reduce == "mean" else 1, out, count)
    return out
