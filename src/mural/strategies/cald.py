"""CALD: consistency-based active learning for object detection.

Yu, Zhu, Yang & Chen, "Consistency-based Active Learning for Object Detection", CVPR
Workshops 2022 (reference code github.com/we1pingyu/CALD, ``cald_train.py``).

Stage 1 (consistency, individual information): each ``D_U`` image is predicted on the
original view and on augmented views. For a reference box ``b`` (class probabilities
``p``, confidence ``s``) and, per view, the view's box ``b'`` of highest IoU with it
(``p'``, ``s'``), the consistency is ``|IoU(b, b') + ½ (1 - JS(p, p')) (s + s') - β|``
with ``β = 1.3``; the image's consistency in a view is the minimum over its boxes (capped
at 1, a view with no box gives 0), averaged over the views. Lower is more informative.

Stage 2 (distribution, mutual information): the least consistent images whose objects
reach ``candidate_factor × B`` are candidates; images whose per-class maximum confidence
vector (averaged over the views) is all zero come first, then candidates in descending
Jensen–Shannon divergence between ``softmax`` of that vector and ``softmax`` of the
labelled set's mean per-image class-count vector. Images are then taken under the budget
rule (SPEC §7); after the candidates, the rest follow in stage-1 order.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ._common import take_images
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


@register_strategy("cald")
class Cald(Strategy):
    """CALD (options: ``augmentations``, ``beta``, ``candidate_factor``, ``max_images``,
    ``score_threshold``, ``empty_score``)."""

    granularity = "image"
    needs_model = True
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "augmentations": opt_str_list(
            ["hflip", "color:1.5", "resize:0.8"],
            check_transform,
            "a non-empty list of transforms ('hflip', 'color:<f>', 'noise:<sigma>', 'resize:<f>')",
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
        views = [
            access.predict_views(ids, t, seed=int(ctx.rng.integers(2**31)))
            for t in self.options["augmentations"]
        ]
        beta = self.options["beta"]
        consistency = np.zeros(len(ids))
        cls_corr = np.zeros((len(ids), c))
        for i in range(len(ids)):
            r = ref[i]
            k = r["boxes"].shape[0]
            corr = [self._class_max(r, c)]
            per_view = []
            for v in views:
                a = v[i]
                corr.append(self._class_max(a, c))
                if a["boxes"].shape[0] == 0:
                    per_view.append(0.0)
                    continue
                if k == 0:
                    continue
                iou, j = max_iou(r["boxes"], a["boxes"])
                js = js_divergence(r["probs"], np.asarray(a["probs"])[j])
                m = np.abs(
                    iou + 0.5 * (1.0 - js) * (r["scores"] + np.asarray(a["scores"])[j]) - beta
                )
                per_view.append(min(1.0, float(m.min())))
            cls_corr[i] = np.mean(corr, axis=0)
            consistency[i] = self.options["empty_score"] if k == 0 else float(np.mean(per_view))
        stage1 = np.argsort(consistency, kind="stable")
        # candidates: least consistent images until their objects reach factor * B
        want = self.options["candidate_factor"] * ctx.budget
        n_cand, objs = 0, 0
        for i in stage1:
            if objs >= want:
                break
            objs += sum(
                1
                for a in ctx.dataset.ann_ids(ids[i]).tolist()
                if not ctx.pool.is_labelled(ids[i], a)
            )
            n_cand += 1
        cand = stage1[:n_cand]
        labelled = ctx.pool.labelled_images()
        lab_dist = ctx.pool.class_counts().astype(np.float64) / max(len(labelled), 1)
        js = js_divergence(_softmax(lab_dist[None, :]), _softmax(cls_corr[cand]))
        zero = cls_corr[cand].sum(axis=1) == 0
        key = np.where(zero, np.inf, js)
        cand_order = cand[np.argsort(-key, kind="stable")]
        order = list(cand_order) + list(stage1[n_cand:])
        image_order = [ids[i] for i in order] + rest
        scores = [float(consistency[i]) for i in order] + [float("nan")] * len(rest)
        scores = [s if np.isfinite(s) else -1.0 for s in scores]
        return take_images(self.new_result(ctx), ctx, image_order, scores)

    @staticmethod
    def _class_max(p: dict, c: int) -> np.ndarray:
        out = np.zeros(c)
        if p["boxes"].shape[0]:
            np.maximum.at(out, np.asarray(p["labels"], dtype=np.int64), p["scores"])
        return out
