"""Fine-grained uncertainty selection: the least confident detections first.

After Desai & Balasubramanian, "Towards Fine-grained Sampling for Active Learning in
Object Detection", CVPR Workshops 2020 (classification uncertainty per instance), as the
fine-grained CONF baseline of Liou et al. (supplement §2.2): the detections of ``D_U``
(score ``>= score_threshold``, not already known, contract §6) are queried in descending
``1 - p`` (ties: detection order). Each query costs 1 and labels the best-matching
not-yet-labelled GT object with IoU ``>= 0.5``, if any (contract §7).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._common import BoxQueryStrategy, FilteredDetections
from .base import SelectionContext, register_strategy

__all__ = ["BoxUncertainty"]


@register_strategy("box_uncertainty")
class BoxUncertainty(BoxQueryStrategy):
    """Least-confident box queries (options: ``scale_index``, ``score_threshold``,
    ``iou_match``)."""

    def order(
        self, fd: FilteredDetections, ctx: SelectionContext
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        u = 1.0 - np.clip(fd.scores, 0.0, 1.0)
        return np.argsort(-u, kind="stable"), u
