"""MuRAL: multi-scale region-based selection.

Liou et al., "Multi-scale Region-based Active Learning for Object Detection" (the
project's paper, §4.2–§4.5; SPEC §2–§6). Per configured scale: the detections of ``D_U``
images with score ``>= score_threshold`` that are not already known (IoU ``>= iou_known``
with a labelled object of the image, SPEC §6) feed region candidate generation
(Algorithm 1) with regions of the original image's size; candidates are scored by the
informative score (Eq. 2, or Eq. 4 weighted by the pool's per-class labelled counts) and
picked by scale-aware selection (Algorithm 2) or, for the ablation, from the union of all
scales. Only popped regions are annotated (lazily, through ``pool.region_objects``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..core import ScaleInput, select_regions
from ..core.scores import REDUCTIONS
from ..errors import ConfigError
from ._common import CategoryLookup, FilteredDetections, filter_detections
from .base import (
    Option,
    RegionPick,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_bool,
    opt_choice,
    opt_float,
    opt_int_list,
    register_strategy,
)

__all__ = ["MuralStrategy"]


@register_strategy("mural")
class MuralStrategy(Strategy):
    """MuRAL (the paper's method); see the module docstring.

    Options:
        reduce: ``"mean"`` (Eq. 2/4), ``"max"`` or ``"random"`` (Table 2's ablation).
        category_weighting: Eq. 4 with ``pool.class_counts()`` (True) or Eq. 2.
        scale_aware: Algorithm 2 (True) or the union-of-scales ablation.
        scales: the scale indices to use, in this order (``None``: all, configured order).
        score_threshold: detections with a lower score take no part (default ``0.05``,
            measured: docs/strategies.md, "Detection score threshold of ``mural``";
            ``None``: the context's ``score_threshold``).
        iou_known: IoU with a labelled object at which a detection is known.
    """

    granularity = "region"
    OPTIONS: ClassVar[dict[str, Option]] = {
        "reduce": opt_choice("mean", REDUCTIONS),
        "category_weighting": opt_bool(True),
        "scale_aware": opt_bool(True),
        "scales": opt_int_list(None),
        # Measured default (docs/strategies.md): set here, not taken from the context.
        "score_threshold": opt_float(0.05, 0.0, 1.0, optional=True),
        "iou_known": opt_float(0.5, 0.0, 1.0),
    }

    def needed_scales(
        self, scales: Sequence[tuple[int, int]], train_scale: tuple[int, int] | None
    ) -> list[int]:
        used = self.options["scales"]
        return list(range(len(scales))) if used is None else [s for s in used if s < len(scales)]

    def scale_inputs(
        self, ctx: SelectionContext
    ) -> tuple[list[int], list[FilteredDetections], list[ScaleInput]]:
        """The used scale indices, their filtered detections and core inputs."""
        assert ctx.detections is not None
        n = len(ctx.detections.per_scale)
        used = self.options["scales"]
        if used is None:
            used = list(range(n))
        bad = [s for s in used if s >= n]
        if bad:
            raise ConfigError(
                f"strategy 'mural': option 'scales' must hold scale indices in 0..{n - 1} "
                f"(the detections have {n} scales), got {bad[0]}"
            )
        du = ctx.pool.unlabelled_images()
        thr = self.threshold(ctx)
        fds, inputs = [], []
        for s in used:
            fd = filter_detections(
                ctx.detections.per_scale[s],
                ctx.pool,
                du,
                thr,
                drop_known=True,
                iou_known=self.options["iou_known"],
            )
            fds.append(fd)
            inputs.append(
                ScaleInput(
                    boxes=fd.boxes,
                    offsets=fd.offsets,
                    confidences=np.clip(fd.scores, 0.0, 1.0),
                    labels=fd.labels,
                    scaled_sizes=fd.scaled_sizes,
                    region_sizes=fd.image_sizes,
                )
            )
        return list(used), fds, inputs

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        result = self.new_result(ctx)
        used, fds, inputs = self.scale_inputs(ctx)
        pool = ctx.pool

        def annotate(s: int, j: int, window: tuple[int, int, int, int]) -> Any:
            return pool.region_objects(int(fds[s].image_ids[j]), fds[s].scale, window)

        counts = pool.class_counts() if self.options["category_weighting"] else None
        picked, _, _, sel = select_regions(
            inputs,
            ctx.budget,
            annotate,
            class_counts=counts,
            reduce=self.options["reduce"],
            rng=ctx.rng,
            scale_aware=self.options["scale_aware"],
            labelled=pool.labelled_keys(),
        )
        cats = CategoryLookup(ctx.dataset)
        for p in picked:
            fd = fds[p.scale_index]
            new = [(int(a), int(b)) for a, b in p.new_objects]
            result.items.append(
                RegionPick(
                    image_id=int(fd.image_ids[p.image_index]),
                    scale_index=used[p.scale_index],
                    scale=fd.scale,
                    window=p.window,
                    score=p.score,
                    new_objects=new,
                    categories=[cats(k) for k in new],
                )
            )
        result.spent = int(sel.spent)
        result.cost = int(sel.spent)
        return result
