"""What the model-based baselines (CALD, LS+C, LT/C) share; NumPy only, no torch.

They read the model through :class:`~mural.strategies.base.ModelAccess`: the context's
``model`` when set (a test double, or any object with ``predict_views``), else
:class:`DetectorViews` over the context's :class:`~mural.detector.Detector`, whose
:meth:`~mural.detector.Detector.predict_views` runs the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.geometry import box_iou
from ..detections import DEFAULT_SCORE_THRESHOLD
from .base import ModelAccess, SelectionContext, Strategy

__all__ = [
    "DetectorViews",
    "js_divergence",
    "max_iou",
    "model_access",
    "reference_views",
    "scored_images",
]


class DetectorViews:
    """:class:`ModelAccess` over a detector: ``detector.predict_views`` on ``dataset`` at
    ``scale`` (``None``: the detector's own), detections above ``score_threshold``."""

    def __init__(
        self,
        detector: Any,
        dataset: Any,
        scale: Sequence[int] | None = None,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ) -> None:
        self.detector = detector
        self.dataset = dataset
        self.scale = None if scale is None else (int(scale[0]), int(scale[1]))
        self.score_threshold = float(score_threshold)
        self.num_classes = int(dataset.num_classes)

    def predict_views(
        self,
        image_ids: Sequence[int],
        transform: str,
        *,
        seed: int = 0,
        reference: Sequence[NDArray[Any]] | None = None,
    ) -> list[dict[str, NDArray[Any]]]:
        kw: dict[str, Any] = {} if reference is None else {"reference": reference}
        out: list[dict[str, NDArray[Any]]] = self.detector.predict_views(
            self.dataset,
            image_ids,
            transform,
            seed=seed,
            scale=self.scale,
            score_threshold=self.score_threshold,
            **kw,
        )
        return out


def model_access(strategy: Strategy, ctx: SelectionContext) -> ModelAccess:
    """The context's model access: ``ctx.model``, else views of ``ctx.detector`` at
    ``ctx.train_scale`` holding the detections above the strategy's threshold (the run's
    one setting unless the strategy sets its own), as its other inputs."""
    if ctx.model is not None:
        return ctx.model
    assert ctx.detector is not None, "check_context guarantees a model or a detector"
    return DetectorViews(ctx.detector, ctx.dataset, ctx.train_scale, strategy.threshold(ctx))


def scored_images(strategy: Strategy, ctx: SelectionContext) -> tuple[list[int], list[int]]:
    """``(scored, rest)``: the ``D_U`` images to score (all, or a seeded random subset of
    ``max_images``) and the others (appended after the scored ones, in random order)."""
    du = ctx.unlabelled_images()
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
    thr = strategy.threshold(ctx)
    out = []
    for p in model_access(strategy, ctx).predict_views(ids, "none", seed=0):
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
