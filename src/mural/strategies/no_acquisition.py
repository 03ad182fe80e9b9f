"""The no-acquisition control: a strategy that selects nothing (no baseline of
contract §7: it spends 0 of the budget).

Every later cycle trains again on the initial ``D_L`` (with ``detector.warm_start``: for
``detector.epochs`` more, from the previous cycle's model), under the same protocol as the
strategies it controls. A strategy's gain over this curve at the same cycle is what its
labels bought; the control's own rise is what the extra training did. Its annotation cost
stays 0, so it has no area under a cost curve: run it as a comparison of its own and read
it by cycle (docs/results.md does).
"""

from __future__ import annotations

from typing import ClassVar

from ..selection import Granularity
from .base import Option, SelectionContext, SelectionResult, Strategy, register_strategy

__all__ = ["NoAcquisition"]


@register_strategy("none")
class NoAcquisition(Strategy):
    """Selects nothing (no options): the control for what extra training alone does."""

    granularity = Granularity.IMAGE
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        return self.new_result(ctx)
