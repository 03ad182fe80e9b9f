"""CALD: consistency-based active learning for object detection.

Yu, Zhu, Yang & Chen, "Consistency-based Active Learning for Object Detection", CVPR
Workshops 2022; reference code github.com/we1pingyu/CALD, ``cald_train.py``
(``get_uncertainty``, ``cls_kldiv``, ``main``) and ``cald/cald_helper.py`` (the
augmentations). What follows is that code's rule, adapted only where mural's budget counts
objects instead of images.

Stage 1 (consistency, individual information; ``get_uncertainty``): each ``D_U`` image is
predicted on the original view: its reference boxes are the detections with score
``>= threshold``; when there are more than 40, 50 of them evenly spaced in score order
(``round(linspace(0, K - 1, 50))``) are kept. An image with no reference box scores 0
(most informative) and its class vector is zero. Otherwise each augmentation (default
the reference's ``-a FCDR``: ``hflip``, ``cutout:2``, ``resize:0.8``, ``rotate:5``; see
:mod:`mural.detector.views`) is predicted, and the reference boxes are mapped *into the
view* (``reference_view``) and compared there with the view's detections (``view_boxes``,
above the same threshold): for a reference box ``b`` (class probabilities ``p`` over the
``C + 1`` outputs, ``s`` its largest foreground probability, ``prob_max``) and the view's
box ``b'`` of highest IoU with it (``p'``, ``s'``), the consistency is
``|IoU(b, b') + ½ (1 - JS(p, p')) (s + s') - β|`` with ``β = 1.3`` (``-bp``). The image's
consistency in a view is the minimum over its reference boxes, capped at 1; a view with no
detection gives 0; the image's score is the mean over the views. Lower is more
informative.

Stage 2 (distribution, mutual information; ``cls_kldiv``): the stage-1 order's first
images are the candidates; the reference takes ``int(mr × b)`` images for a budget of
``b`` images (``mr = 1.2``); with a budget of ``B`` objects, mural takes the shortest
prefix whose not-yet-labelled objects reach ``candidate_factor × B``. Each image's class
vector is the per-class maximum detection score, averaged over the original and the
augmented views. Candidates whose vector is all zero come first (in stage-1 order), then
the rest in descending Jensen–Shannon divergence between ``softmax`` of the labelled set's
mean per-image class-count vector and ``softmax`` of the image's vector (the labelled
distribution is not updated as images are picked, as in the reference). Images are then
taken under the budget rule (contract §7); if the candidates run out first, the rest follow
in stage-1 order.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..selection import Granularity
from ._common import new_objects_of, take_images
from .base import (
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    check_transform,
    opt_float,
    opt_int,
    opt_str_list,
    register_strategy,
)
from .model_based import js_divergence, max_iou, model_access, reference_views, scored_images

__all__ = ["Cald"]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


#: The reference's default augmentations (``cald_train.py``, ``-a FCDR``: flip, cutout with
#: two patches, the 0.8 ``smaller_resize`` and a 5° ``rotation``).
REFERENCE_AUGMENTATIONS = ["hflip", "cutout:2", "resize:0.8", "rotate:5"]


def reference_subset(scores: np.ndarray) -> np.ndarray:
    """Indices of the reference boxes CALD keeps: all when ``K <= 40``, else 50 evenly
    spaced in descending score order (``round(linspace(0, K - 1, 50))``, repeats kept as in
    ``get_uncertainty``; they change neither a minimum nor a maximum)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if order.shape[0] > 40:
        order = order[np.round(np.linspace(0, order.shape[0] - 1, 50)).astype(np.int64)]
    return order


def view_consistency(
    ref_boxes: np.ndarray,
    ref_probs: np.ndarray,
    view_boxes: np.ndarray,
    view_probs: np.ndarray,
    beta: float,
) -> float:
    """One view's consistency of an image (``get_uncertainty``'s ``consistency_img``).

    Args:
        ref_boxes: ``(K, 4)`` reference boxes, ``K >= 1``, in the view's pixels.
        ref_probs: ``(K, C + 1)`` their class probabilities (background last).
        view_boxes: ``(L, 4)`` the view's detections; ``view_probs``: ``(L, C + 1)``.

    Returns ``min(1, min_k |IoU_k + ½ (1 - JS_k)(s_k + s'_k) - beta|)`` with ``s`` the
    largest foreground probability of a row; ``0.0`` when ``L == 0``.
    """
    view_boxes = np.asarray(view_boxes, dtype=np.float64).reshape(-1, 4)
    if view_boxes.shape[0] == 0:
        return 0.0
    rp = np.asarray(ref_probs, dtype=np.float64)
    vp = np.asarray(view_probs, dtype=np.float64)
    iou, j = max_iou(ref_boxes, view_boxes)
    js = js_divergence(rp, vp[j])
    s_ref, s_view = rp[:, :-1].max(axis=1), vp[j][:, :-1].max(axis=1)
    m = np.abs(iou + 0.5 * (1.0 - js) * (s_ref + s_view) - beta)
    return min(1.0, float(m.min()))


def class_vector(labels: np.ndarray, scores: np.ndarray, c: int) -> np.ndarray:
    """``(C,)``: per class, the largest score of a detection of that class (0 if none)."""
    out = np.zeros(c)
    if len(labels):
        np.maximum.at(out, np.asarray(labels, dtype=np.int64), np.asarray(scores, float))
    return out


def stage2_order(
    stage1: np.ndarray,
    new_objects: np.ndarray,
    class_vectors: np.ndarray,
    labelled_mean: np.ndarray,
    want: float,
) -> tuple[np.ndarray, int]:
    """CALD's stage-2 order (``cls_kldiv``), for an object budget.

    Args:
        stage1: ``(N,)`` image positions in ascending consistency.
        new_objects: ``(N,)`` not-yet-labelled objects of each image (by position).
        class_vectors: ``(N, C)`` each image's class vector (by position).
        labelled_mean: ``(C,)`` the labelled images' mean per-image class counts.
        want: ``candidate_factor × B``.

    Returns ``(order, n_candidates)``: the candidates (the shortest prefix of ``stage1``
    whose ``new_objects`` reach ``want``, or all) with all-zero class vectors first (stage-1
    order), then by descending ``JS(softmax(labelled_mean), softmax(vector))`` (ties: stage-1
    order); then the other images in stage-1 order.
    """
    counts = np.asarray(new_objects, dtype=np.float64)[stage1]
    reach = np.flatnonzero(np.cumsum(counts) >= want)
    n_cand = int(reach[0]) + 1 if reach.shape[0] else int(stage1.shape[0])
    if want <= 0:
        n_cand = 0
    cand = stage1[:n_cand]
    vec = np.asarray(class_vectors, dtype=np.float64)[cand]
    js = js_divergence(_softmax(np.asarray(labelled_mean, float)[None, :]), _softmax(vec))
    key = np.where(vec.sum(axis=1) == 0, np.inf, js)
    order = np.concatenate([cand[np.argsort(-key, kind="stable")], stage1[n_cand:]])
    return order.astype(np.int64), n_cand


@register_strategy("cald")
class Cald(Strategy):
    """CALD (options: ``augmentations`` (default the reference's ``hflip``, ``cutout:2``,
    ``resize:0.8``, ``rotate:5``), ``beta`` (1.3), ``candidate_factor`` (1.2),
    ``max_images``, ``score_threshold``, ``empty_score`` (0.0))."""

    granularity = Granularity.IMAGE
    needs_model = True
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "augmentations": opt_str_list(
            REFERENCE_AUGMENTATIONS,
            check_transform,
            "a non-empty list of transforms ('hflip', 'cutout:<n>', 'resize:<f>', "
            "'rotate:<degrees>', 'color:<f>', 'noise:<sigma>')",
        ),
        "beta": opt_float(1.3, 0.0),
        "candidate_factor": opt_float(1.2, 1.0),
        "max_images": opt_int(None, 1, optional=True),
        "score_threshold": opt_float(None, 0.0, 1.0, optional=True),
        "empty_score": opt_float(0.0),
    }

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        ids, rest = scored_images(self, ctx)
        access = model_access(self, ctx)
        c = int(ctx.dataset.num_classes)
        ref = reference_views(self, ctx, ids)
        for i, r in enumerate(ref):
            keep = reference_subset(r["scores"])
            ref[i] = {k: np.asarray(v)[keep] for k, v in r.items()}
        boxes = [np.asarray(r["boxes"], dtype=np.float64).reshape(-1, 4) for r in ref]
        views = [
            access.predict_views(ids, t, seed=int(ctx.rng.integers(2**31)), reference=boxes)
            for t in self.options["augmentations"]
        ]
        beta = self.options["beta"]
        consistency = np.zeros(len(ids))
        cls_vec = np.zeros((len(ids), c))
        for i, r in enumerate(ref):
            if r["boxes"].shape[0] == 0:  # the reference skips the views: score 0, zero vector
                consistency[i] = self.options["empty_score"]
                continue
            vecs = [class_vector(r["labels"], r["scores"], c)]
            per_view = []
            for v in views:
                a = v[i]
                vecs.append(class_vector(a["labels"], a["scores"], c))
                rb = a.get("reference_view", r["boxes"])
                vb = a.get("view_boxes", a["boxes"])
                per_view.append(view_consistency(rb, r["probs"], vb, a["probs"], beta))
            cls_vec[i] = np.mean(vecs, axis=0)
            consistency[i] = float(np.mean(per_view))
        stage1 = np.argsort(consistency, kind="stable")
        new = np.array([len(new_objects_of(ctx.pool, ctx.dataset, iid)) for iid in ids], np.int64)
        labelled = ctx.pool.labelled_images()
        lab_mean = ctx.pool.class_counts().astype(np.float64) / max(len(labelled), 1)
        want = self.options["candidate_factor"] * ctx.budget
        order, _ = stage2_order(stage1, new, cls_vec, lab_mean, want)
        image_order = [ids[i] for i in order] + rest
        scores = [float(consistency[i]) for i in order] + [-1.0] * len(rest)
        return take_images(self.new_result(ctx), ctx, image_order, scores)
