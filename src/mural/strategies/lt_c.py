"""LT/C: localization tightness with classification information.

Kao, Lee, Sen & Liu, "Localization-Aware Active Learning for Object Detection", ACCV 2018
(§3.1, LT/C for two-stage detectors). For each detection of a ``D_U`` image (score
``>= threshold``), the tightness ``T`` is the IoU between the final box and the RPN
proposal it was regressed from; the tightness-classification inconsistency is
``J = |T + P - 1|`` with ``P`` the box's confidence. The image's score is ``min_j J``; images
are taken in ascending score (most inconsistent box first). Images with no detection score
``empty_score`` (default 1.0, the largest possible ``J``: no evidence, ranked last).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..selection import Granularity
from ._common import pairwise_iou_rows, take_images
from .base import (
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_float,
    opt_int,
    register_strategy,
)
from .model_based import reference_views, scored_images

__all__ = ["LtC"]


@register_strategy("lt_c")
class LtC(Strategy):
    """LT/C (options: ``max_images``, ``score_threshold``, ``empty_score``)."""

    granularity = Granularity.IMAGE
    needs_model = True
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "max_images": opt_int(None, 1, optional=True),
        "score_threshold": opt_float(None, 0.0, 1.0, optional=True),
        "empty_score": opt_float(1.0),
    }

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        ids, rest = scored_images(self, ctx)
        ref = reference_views(self, ctx, ids)
        score = np.full(len(ids), self.options["empty_score"], dtype=np.float64)
        for i, r in enumerate(ref):
            if r["boxes"].shape[0] == 0:
                continue
            t = pairwise_iou_rows(
                np.asarray(r["boxes"], dtype=np.float64), np.asarray(r["proposals"], np.float64)
            )
            j = np.abs(t + np.asarray(r["scores"], dtype=np.float64) - 1.0)
            score[i] = float(j.min())
        order = np.argsort(score, kind="stable")
        return take_images(
            self.new_result(ctx),
            ctx,
            [ids[i] for i in order] + rest,
            [float(score[i]) for i in order] + [1.0] * len(rest),
        )
