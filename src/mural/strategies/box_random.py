"""Fine-grained random selection: one detection (box query) at a time, at random.

After Desai & Balasubramanian, "Towards Fine-grained Sampling for Active Learning in
Object Detection", CVPR Workshops 2020, as the fine-grained RAND baseline of Liou et al.
(supplement §2.2): the detections of ``D_U`` (score ``>= score_threshold``, not already
known, SPEC §6) are queried in a seeded random order. Each query costs 1 and labels the
best-matching not-yet-labelled GT object with IoU ``>= 0.5``, if any (SPEC §7).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ._common import filter_detections, take_boxes
from .base import (
    DETECTION_OPTIONS,
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_float,
    register_strategy,
)

__all__ = ["BoxRandom"]


@register_strategy("box_random")
class BoxRandom(Strategy):
    """Random box queries (options: ``scale_index``, ``score_threshold``, ``iou_match``)."""

    granularity = "box"
    OPTIONS: ClassVar[dict[str, Option]] = {
        **DETECTION_OPTIONS,
        "iou_match": opt_float(0.5, 0.0, 1.0),
    }

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        assert ctx.detections is not None
        fd = filter_detections(
            ctx.detections.per_scale[self.scale_index(ctx)],
            ctx.pool,
            ctx.pool.unlabelled_images(),
            self.threshold(ctx),
            drop_known=True,
            iou_known=self.options["iou_match"],
        )
        m = fd.scores.shape[0]
        order = ctx.rng.permutation(m)
        return take_boxes(
            self.new_result(ctx), ctx, fd, order, np.zeros(m), self.options["iou_match"]
        )
