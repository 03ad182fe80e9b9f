"""LS+C: localization stability plus classification uncertainty.

Kao, Lee, Sen & Liu, "Localization-Aware Active Learning for Object Detection", ACCV 2018
(§3.2, LS+C; as re-implemented in github.com/we1pingyu/CALD, ``ls_c_train.py``).

Each ``D_U`` image is predicted clean (the reference boxes: score ``>= threshold``, the
``top_k`` most confident) and with Gaussian pixel noise at several levels (``sigma`` on
the 0..255 scale, default 8, 16, …, 48). A reference box's stability is the mean over the
noise levels of its best IoU with the noisy view's boxes; the image's stability is the
confidence-weighted mean ``S = Σ p_j S_j / Σ p_j``; its classification uncertainty is
``U = max_j (1 - p_j)``. The score ``S - U`` ranks images ascending (least stable and most
uncertain first). Images with no reference box score ``empty_score`` (0.0 as in the
reference code).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..selection import Granularity
from ._common import take_images
from .base import (
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_float,
    opt_int,
    register_strategy,
)
from .model_based import max_iou, model_access, reference_views, scored_images

__all__ = ["LsC"]


@register_strategy("ls_c")
class LsC(Strategy):
    """LS+C (options: ``noise_levels``, ``top_k``, ``max_images``, ``score_threshold``,
    ``empty_score``)."""

    granularity = Granularity.IMAGE
    needs_model = True
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "noise_levels": Option(
            [8.0, 16.0, 24.0, 32.0, 40.0, 48.0],
            list[float],
            "a non-empty list of positive sigmas",
            lambda v: len(v) > 0 and all(x > 0 for x in v),
        ),
        "top_k": opt_int(30, 1),
        "max_images": opt_int(None, 1, optional=True),
        "score_threshold": opt_float(None, 0.0, 1.0, optional=True),
        "empty_score": opt_float(0.0),
    }

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        ids, rest = scored_images(self, ctx)
        access = model_access(self, ctx)
        ref = reference_views(self, ctx, ids, top_k=self.options["top_k"])
        levels = self.options["noise_levels"]
        noisy = [
            access.predict_views(ids, f"noise:{s:g}", seed=int(ctx.rng.integers(2**31)))
            for s in levels
        ]
        score = np.zeros(len(ids))
        for i, r in enumerate(ref):
            p = np.asarray(r["scores"], dtype=np.float64)
            if p.shape[0] == 0:
                score[i] = self.options["empty_score"]
                continue
            stab = sum(max_iou(r["boxes"], v[i]["boxes"])[0] for v in noisy) / len(levels)
            s_img = float((p * stab).sum() / max(p.sum(), 1e-12))
            score[i] = s_img - float((1.0 - p).max())
        order = np.argsort(score, kind="stable")
        return take_images(
            self.new_result(ctx),
            ctx,
            [ids[i] for i in order] + rest,
            [float(score[i]) for i in order] + [0.0] * len(rest),
        )
