"""The selection context: everything a strategy may read to select under budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import DEFAULT_SCORE_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool
    from ..detections import Detections
    from ..detector import Detector
    from .base import ModelAccess

__all__ = ["SelectionContext"]


@dataclass
class SelectionContext:
    """Everything a strategy may read to select under budget.

    Attributes:
        dataset: the training pool (``CocoDataset``).
        pool: the labelled pool ``D_L`` (``LabeledPool``); not modified by ``select``.
        detections: the detector's detections on the images of ``D_U`` at every configured
            scale (``mural.detections.Detections``); ``None`` for strategies that need none.
        budget: ``B`` in objects (box queries for the fine-grained baselines).
        cycle: the active-learning cycle being selected for.
        rng: the seeded generator every random choice draws from.
        score_threshold: detections below it take no part: the run's one setting,
            ``detector.score_threshold`` (default the detector's own, 0.05). A
            strategy's ``score_threshold`` option wins only when set explicitly.
        model: model access for CALD, LS+C and LT/C (:class:`ModelAccess`), or ``None``
            (then views of ``detector`` are used).
        detector: the trained :class:`mural.detector.Detector`, or ``None``; CALD, LS+C
            and LT/C read its ``predict_views`` at ``train_scale`` when ``model`` is unset.
        train_scale: ``(min_size, max_size)`` the detector was trained at; the default
            ``scale_index`` of single-scale strategies is the configured scale whose
            ``min_size`` is closest to it (scale 0 when ``None``).
        seed: the seed ``rng`` was made from (recorded in the selection document).
        candidates: the images of ``D_U`` scored this cycle (the loop's
            ``selection.pool_subset``); ``None``: all of ``D_U``. Strategies read ``D_U``
            through :meth:`unlabelled_images`, which applies it.
    """

    dataset: CocoDataset
    pool: LabeledPool
    detections: Detections | None
    budget: int
    cycle: int
    rng: np.random.Generator
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    model: ModelAccess | None = None
    train_scale: tuple[int, int] | None = None
    detector: Detector | None = None
    seed: int | None = None
    candidates: Sequence[int] | None = None

    def unlabelled_images(self) -> list[int]:
        """``D_U`` as the strategy may pick from it: the pool's unlabelled images, in the
        pool's order, restricted to :attr:`candidates` when given."""
        du = self.pool.unlabelled_images()
        if self.candidates is None:
            return du
        keep = {int(i) for i in self.candidates}
        return [i for i in du if i in keep]
