"""Fine-grained random selection: one detection (box query) at a time, at random.

After Desai & Balasubramanian, "Towards Fine-grained Sampling for Active Learning in
Object Detection", CVPR Workshops 2020, as the fine-grained RAND baseline of Liou et al.
(supplement §2.2): the detections of ``D_U`` (score ``>= score_threshold``, not already
known, contract §6) are queried in a seeded random order. Each query costs 1 and labels the
best-matching not-yet-labelled GT object with IoU ``>= 0.5``, if any (contract §7).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._common import BoxQueryStrategy, FilteredDetections
from .base import SelectionContext, register_strategy

__all__ = ["BoxRandom"]


@register_strategy("box_random")
class BoxRandom(BoxQueryStrategy):
    """Random box queries (options: ``scale_index``, ``score_threshold``, ``iou_match``)."""

    def order(
        self, fd: FilteredDetections, ctx: SelectionContext
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        m = fd.scores.shape[0]
        return ctx.rng.permutation(m), np.zeros(m)
