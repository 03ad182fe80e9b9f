"""Coarse-grained uncertainty selection (CONF; least confidence).

Wang & Shang, "A new active labeling method for deep learning", IJCNN 2014, as used for
object detection by Liou et al. (supplement §2.1, Eq. 1): an image's score reduces its
detections' uncertainties ``1 - p`` (``p`` the confidence of the predicted class) by the
mean (the paper's CONF: the mean confidence, ranked least confident first), the max, or one
drawn at random. Images are taken in descending score until the budget in objects is spent
(contract §7).

Images of ``D_U`` with no detection above the threshold get ``empty_score`` (default 0.0:
with no detection there is no evidence of uncertainty, so they come last, in ``D_U``
order; ``1.0`` ranks them first instead).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..selection import Granularity
from ._common import filter_detections, image_reduce, take_images
from .base import (
    DETECTION_OPTIONS,
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_choice,
    opt_float,
    register_strategy,
)

__all__ = ["UncertaintyImages"]


@register_strategy("uncertainty")
class UncertaintyImages(Strategy):
    """Least-confidence images at one scale (options: ``reduce``, ``empty_score``,
    ``scale_index``, ``score_threshold``)."""

    granularity = Granularity.IMAGE
    OPTIONS: ClassVar[dict[str, Option]] = {
        **DETECTION_OPTIONS,
        "reduce": opt_choice("mean", ("mean", "max", "random")),
        "empty_score": opt_float(0.0, 0.0, 1.0),
    }

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        assert ctx.detections is not None
        s = self.scale_index(ctx)
        du = ctx.unlabelled_images()
        fd = filter_detections(
            ctx.detections.per_scale[s], ctx.pool, du, self.threshold(ctx), drop_known=False
        )
        per = image_reduce(
            1.0 - np.clip(fd.scores, 0.0, 1.0),
            fd.offsets,
            self.options["reduce"],
            self.options["empty_score"],
            ctx.rng,
        )
        by_id = dict(zip(fd.image_ids.tolist(), per.tolist(), strict=True))
        scores = np.array([by_id.get(i, self.options["empty_score"]) for i in du])
        order = np.argsort(-scores, kind="stable")
        return take_images(
            self.new_result(ctx), ctx, [du[i] for i in order], scores[order].tolist()
        )
