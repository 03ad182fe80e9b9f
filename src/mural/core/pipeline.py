"""MuRAL's selection from detections to chosen regions, for a whole pool (paper §4.2–§4.4).

Per scale: candidates of every image (Algorithm 1), their informative scores (Eq. 2/4),
then scale-aware selection (Algorithm 2) that annotates only the regions it pops.
Everything is array-in, array-out; what a region labels comes from the caller's
``annotate`` callback (a simulated oracle or a cost estimate).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .candidates import CandidateSet, generate_candidates_batch
from .scores import region_scores
from .selection import Selection, select_lazy

__all__ = ["PickedRegion", "ScaleInput", "select_regions"]


@dataclass(frozen=True)
class ScaleInput:
    """One scale's detections of ``n`` images, already filtered (score threshold, known).

    Attributes:
        boxes: ``(M, 4)`` ``xyxy`` in scaled pixels, all images concatenated.
        offsets: ``(n + 1,)`` image ``j`` owns ``boxes[offsets[j]:offsets[j + 1]]``.
        confidences: ``(M,)`` in ``[0, 1]``.
        labels: ``(M,)`` class indices ``0..C-1``.
        scaled_sizes: ``(n, 2)`` scaled ``(H_s, W_s)``.
        region_sizes: ``(n, 2)`` region ``(H_r, W_r)`` = original image sizes.
    """

    boxes: NDArray[np.float64]
    offsets: NDArray[np.int64]
    confidences: NDArray[np.float64]
    labels: NDArray[np.int64]
    scaled_sizes: NDArray[np.int64]
    region_sizes: NDArray[np.int64]


@dataclass(frozen=True)
class PickedRegion:
    """A selected region: scale, image position in that scale's input, window, cost."""

    scale_index: int
    image_index: int
    window: tuple[int, int, int, int]
    score: float
    new_objects: tuple[Hashable, ...]


def select_regions(
    scales: Sequence[ScaleInput],
    budget: float,
    annotate: Callable[[int, int, tuple[int, int, int, int]], Iterable[Hashable]],
    *,
    class_counts: Any = None,
    reduce: str = "mean",
    rng: np.random.Generator | None = None,
    scale_aware: bool = True,
    labelled: Iterable[Hashable] = (),
) -> tuple[list[PickedRegion], list[CandidateSet], list[NDArray[np.float64]], Selection]:
    """Candidates, scores and selection for every scale of a pool.

    Args:
        scales: one :class:`ScaleInput` per scale, in the configured scale order.
        budget: ``B`` in objects.
        annotate: ``annotate(scale_index, image_index, window)`` returns the objects the
            region would label (called once per popped region, in pick order).
        class_counts: ``None`` (Eq. 2) or ``(C,)`` labelled counts per class (Eq. 4).
        reduce: ``"mean"``, ``"max"`` or ``"random"``.
        rng: generator for ``"random"``.
        scale_aware: Algorithm 2 (True) or the union ablation.
        labelled: objects already labelled (they cost nothing).

    Returns:
        ``(picked, candidates, scores, selection)``: the picked regions in pick order, and
        per scale the candidate set and its scores.
    """
    cands: list[CandidateSet] = []
    scores: list[NDArray[np.float64]] = []
    for si in scales:
        cs = generate_candidates_batch(si.boxes, si.offsets, si.scaled_sizes, si.region_sizes)
        cands.append(cs)
        scores.append(
            region_scores(
                cs,
                si.boxes,
                si.offsets,
                si.confidences,
                si.labels,
                class_counts=class_counts,
                reduce=reduce,
                rng=rng,
            )
        )

    def _annotate(s: int, k: int) -> Iterable[Hashable]:
        w = cands[s].window[k]
        return annotate(s, int(cands[s].image[k]), (int(w[0]), int(w[1]), int(w[2]), int(w[3])))

    sel = select_lazy(scores, _annotate, budget, scale_aware=scale_aware, labelled=labelled)
    picked = []
    for (s, k), new in zip(sel.picks, sel.new_objects, strict=True):
        w = cands[s].window[k]
        picked.append(
            PickedRegion(
                scale_index=s,
                image_index=int(cands[s].image[k]),
                window=(int(w[0]), int(w[1]), int(w[2]), int(w[3])),
                score=float(scores[s][k]),
                new_objects=tuple(new),
            )
        )
    return picked, cands, scores, sel
