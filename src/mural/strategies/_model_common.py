"""Helpers of the model-based baselines (CALD, LS+C, LT/C); NumPy only."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.geometry import box_iou
from .base import SelectionContext, Strategy

__all__ = ["js_divergence", "max_iou", "reference_views", "scored_images"]


def scored_images(strategy: Strategy, ctx: SelectionContext) -> tuple[list[int], list[int]]:
    """``(scored, rest)``: the ``D_U`` images to score (all, or a seeded random subset of
    ``max_images``) and the others (appended after the scored ones, in random order)."""
    du = ctx.pool.unlabelled_images()
    cap = strategy.options.get("max_images")
    if cap is None or cap >= len(du):
        return du, []
    perm = ctx.rng.permutation(len(du))
    chosen = sorted(perm[:cap].tolist())
    return [du[i] for i in chosen], [du[i] for i in perm[cap:]]


def reference_views(
    strategy: Strategy, ctx: SelectionContext, ids: list[int], top_k: int | None = None
) -> list[dict[str, NDArray[Any]]]:
    """Predictions on the untransformed images, score ``>= threshold``, best ``top_k``."""
    assert ctx.model is not None
    thr = strategy.threshold(ctx)
    out = []
    for p in ctx.model.predict_views(ids, "none", seed=0):
        s = np.asarray(p["scores"], dtype=np.float64)
        keep = np.flatnonzero(s >= thr)
        if top_k is not None and keep.shape[0] > top_k:
            keep = keep[np.argsort(-s[keep], kind="stable")[:top_k]]
        out.append({k: np.asarray(v)[keep] for k, v in p.items()})
    return out


def max_iou(a: NDArray[Any], b: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """For each box of ``a`` ``(K, 4)``, the best IoU with ``b`` ``(L, 4)`` and its index
    (``0.0``/``-1`` when ``b`` is empty)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if b.shape[0] == 0 or a.shape[0] == 0:
        return np.zeros(a.shape[0]), np.full(a.shape[0], -1, dtype=np.int64)
    iou = box_iou(a, b)
    j = np.argmax(iou, axis=1)
    return iou[np.arange(a.shape[0]), j], j.astype(np.int64)


def js_divergence(p: NDArray[Any], q: NDArray[Any]) -> NDArray[np.float64]:
    """Jensen–Shannon divergence (natural log) of row distributions ``(..., D)``."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.maximum(p.sum(-1, keepdims=True), 1e-12)
    q = q / np.maximum(q.sum(-1, keepdims=True), 1e-12)
    m = 0.5 * (p + q)

    def kl(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(x > 0, x * np.log(x / np.maximum(y, 1e-300)), 0.0)
        out: NDArray[np.float64] = t.sum(-1)
        return out

    return np.maximum(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0)
