"""Coarse-grained random selection (RAND of the paper's supplement, §2.1).

Images of ``D_U`` in a uniformly random order drawn from the context's seeded
generator, taken whole until the budget in objects is spent (contract §7). The baseline every
active-learning paper reports; here as in Liou et al., "Multi-scale Region-based Active
Learning for Object Detection", §5.2.
"""

from __future__ import annotations

from typing import ClassVar

from ..selection import Granularity
from ._common import take_images
from .base import Option, SelectionContext, SelectionResult, Strategy, register_strategy

__all__ = ["RandomImages"]


@register_strategy("random")
class RandomImages(Strategy):
    """Whole images in a seeded random order (no options)."""

    granularity = Granularity.IMAGE
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        du = ctx.unlabelled_images()
        order = [du[i] for i in ctx.rng.permutation(len(du))]
        return take_images(self.new_result(ctx), ctx, order, [0.0] * len(order))
