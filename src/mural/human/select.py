"""MuRAL region selection from any detector's predictions (bring your own detector).

:func:`select_from_predictions` runs MuRAL's selection
(:func:`mural.strategies.mural.select_mural_regions`, the function the loop's ``mural``
strategy calls too) on :class:`mural.detections.Detections` read from COCO results files,
and returns the picked regions as a ``selection.json`` document
(:class:`mural.selection.SelectionResult`, JSON form).

Cost of a region (what it spends of the budget ``B``):

- ``"ground truth"``: the dataset has ground truth for the images being selected (a
  simulation): the objects the simulated oracle would label (contract §5).
- ``"estimated from predictions"``: no ground truth: the predicted objects the region
  holds, i.e. detections above the score threshold, more than ``visible_threshold``
  inside the window (scaled pixels) and not already known (IoU >= 0.5 with a labelled
  box, contract §6, or lying fully inside a region already labelled: the annotator saw it
  and drew it, marked it ignore, or judged it background -- so a false positive is not
  selected again). The same object predicted at several scales counts once: detections of
  one image are grouped across scales (same class, IoU >= 0.5 in original pixels).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DEFAULT_SCORE_THRESHOLD
from ..detections import Detections
from ..errors import ConfigError, DataError
from ..selection import COST_ESTIMATED, COST_GT, SelectionResult, task_id_of

if TYPE_CHECKING:
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool

__all__ = [
    "COST_ESTIMATED",
    "COST_GT",
    "next_cycle",
    "select_from_predictions",
    "task_id_of",
]

COST_MODES = ("auto", "predictions", "ground-truth")


def next_cycle(pool: LabeledPool | None) -> int:
    """One more than the latest cycle recorded in ``pool`` (1 for an empty pool)."""
    if pool is None:
        return 1
    cycles = [*pool.full_images.values(), *(r.cycle for r in pool.regions)]
    cycles += [c for objs in pool.partial.values() for c in objs.values()]
    return max(cycles, default=0) + 1


def select_from_predictions(
    dataset: CocoDataset,
    detections: Detections,
    budget: float,
    *,
    pool: LabeledPool | None = None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    visible_threshold: float = 0.7,
    known_iou: float = 0.5,
    reduce: str = "mean",
    class_weighting: bool = True,
    scale_aware: bool = True,
    cost: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Select regions under budget ``B`` from a detector's predictions (MuRAL §4.2-§4.4).

    Args:
        dataset: the images (sizes, categories; ground truth optional).
        detections: predictions at every scale (scaled pixels), e.g. from
            :func:`mural.human.predictions.load_predictions`.
        budget: ``B`` in objects.
        pool: the labelled set (``None``: nothing labelled yet). Its images labelled as a
            whole take no part; its labelled boxes make detections known (contract §6); its
            class counts weight Eq. 4.
        score_threshold: detections with ``score >= score_threshold`` take part (default:
            the detector's, ``detector.score_threshold`` of a run config).
        visible_threshold: the estimate's visibility rule (contract §5), and the oracle's
            when no ``pool`` is given (a pool's oracle keeps its own).
        known_iou: IoU with a labelled box from which a detection is known.
        reduce: ``"mean"``, ``"max"`` or ``"random"`` (contract §3).
        class_weighting: Eq. 4 (True) or Eq. 2.
        scale_aware: Algorithm 2 (True) or the union ablation.
        cost: ``"auto"`` (ground truth when an image in play has some, else estimated),
            ``"predictions"`` or ``"ground-truth"``.
        seed: seeds the ``"random"`` reduction.

    Returns:
        The ``selection.json`` document (:meth:`SelectionResult.to_json`; see
        ``docs/human-in-the-loop.md``).
    """
    from ..data.pool import LabeledPool
    from ..strategies.mural import select_mural_regions

    if cost not in COST_MODES:
        raise ConfigError(f"cost must be one of {COST_MODES}, got {cost!r}")
    if not 0.0 <= score_threshold <= 1.0:
        raise ConfigError(f"score threshold must lie in [0, 1], got {score_threshold!r}")
    if isinstance(budget, bool) or not math.isfinite(budget) or budget <= 0:
        raise ConfigError(f"budget must be a finite number > 0 (objects), got {budget!r}")
    if not detections.per_scale:
        raise ConfigError("no scales: give one predictions file per scale")
    lp = pool if pool is not None else LabeledPool(dataset, visible_threshold)
    in_play = lp.unlabelled_images()
    has_gt = any(len(dataset.ann_ids(i)) for i in in_play)
    if cost == "ground-truth" and not has_gt:
        raise ConfigError(
            "cost 'ground-truth' needs ground truth for the images to select from, but "
            "the dataset has none for them (fix: use --cost predictions)"
        )
    # "auto" and "ground-truth" use the ground truth when there is some
    cost_source = COST_GT if has_gt and cost != "predictions" else COST_ESTIMATED

    ids0 = [int(i) for i in detections.per_scale[0].image_ids]
    for d in detections.per_scale[1:]:
        if [int(i) for i in d.image_ids] != ids0:
            raise DataError("detections: every scale must list the same images in the same order")

    options = {
        "reduce": reduce,
        "category_weighting": bool(class_weighting),
        "scale_aware": bool(scale_aware),
        "iou_known": float(known_iou),
    }
    got = select_mural_regions(
        dataset,
        lp,
        detections,
        budget,
        rng=np.random.default_rng(seed),
        score_threshold=score_threshold,
        iou_known=known_iou,
        reduce=reduce,
        category_weighting=class_weighting,
        scale_aware=scale_aware,
        cost=cost_source,
        visible_threshold=visible_threshold,
        describe=True,
    )
    result = SelectionResult(
        kind="regions",
        strategy="mural",
        cycle=next_cycle(pool),
        budget=float(budget),
        items=list(got.picks),
        spent=got.spent,
        cost=got.spent,
        options=options,
        cost_source=cost_source,
        score_threshold=float(score_threshold),
        scales=list(detections.scales),
        seed=int(seed),
        visible_threshold=float(visible_threshold),
        estimated_spent=got.estimated_spent,
        dataset=dataset.reference(),
        categories=[{"id": c.id, "name": c.name} for c in dataset.categories],
    )
    return result.to_json()
