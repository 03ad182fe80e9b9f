"""MuRAL region selection from any detector's predictions (bring your own detector).

:func:`select_from_predictions` runs the MuRAL core (:func:`mural.core.select_regions`:
candidates, Eq. 2/4 scores with class counts from the labelled set, scale-aware selection)
on :class:`mural.detections.Detections` read from COCO results files, and returns the
picked regions as a JSON-ready ``selection.json`` document.

Cost of a region (what it spends of the budget ``B``):

- ``"ground truth"``: the dataset has ground truth for the images being selected (a
  simulation): the objects the simulated oracle would label (SPEC §5).
- ``"estimated from predictions"``: no ground truth: the predicted objects the region
  holds, i.e. detections above the score threshold, more than ``visible_threshold``
  inside the window (scaled pixels) and not already known (IoU >= 0.5 with a labelled
  box, SPEC §6, or lying fully inside a region already labelled: the annotator saw it
  and drew it, marked it ignore, or judged it background -- so a false positive is not
  selected again). The same object predicted at several scales counts once: detections of
  one image are grouped across scales (same class, IoU >= 0.5 in original pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import (
    ScaleInput,
    acquire_region,
    box_iou,
    known_detections,
    region_to_original,
    scale_factor,
    select_regions,
)
from ..detections import Detections
from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool

__all__ = [
    "COST_ESTIMATED",
    "COST_GT",
    "SELECTION_FORMAT",
    "next_cycle",
    "select_from_predictions",
    "task_id_of",
]

SELECTION_FORMAT = "mural-selection"
COST_ESTIMATED = "estimated from predictions"
COST_GT = "ground truth"
COST_MODES = ("auto", "predictions", "ground-truth")


def task_id_of(image_id: int, scale_index: int, window: tuple[int, ...]) -> str:
    """A region's stable, file-name-safe id, e.g. ``img12_s0_x40_y0``."""
    return f"img{image_id}_s{scale_index}_x{window[0]}_y{window[1]}"


def next_cycle(pool: LabeledPool | None) -> int:
    """One more than the latest cycle recorded in ``pool`` (1 for an empty pool)."""
    if pool is None:
        return 1
    cycles = [*pool.full_images.values(), *(r.cycle for r in pool.regions)]
    cycles += [c for objs in pool.partial.values() for c in objs.values()]
    return max(cycles, default=0) + 1


@dataclass
class _ImageDets:
    boxes: np.ndarray  # (M, 4) scaled pixels, float64
    scores: np.ndarray  # (M,)
    labels: np.ndarray  # (M,)
    keep: np.ndarray  # (M,) bool: above threshold and not known
    above: np.ndarray  # (M,) bool: above threshold


def _group_across_scales(per_scale: list[_ImageDets], factors: list[float]) -> list[np.ndarray]:
    """Per scale, an object id for each kept detection (-1 for the others).

    Detections of later scales join the best-overlapping group of an earlier scale with
    the same class and IoU >= 0.5 in original pixels (one detection per scale per group).
    """
    out: list[np.ndarray] = []
    g_boxes: list[np.ndarray] = []
    g_labels: list[int] = []
    for d, f in zip(per_scale, factors, strict=True):
        ids = np.full(d.boxes.shape[0], -1, dtype=np.int64)
        idx = np.flatnonzero(d.keep)
        if idx.size:
            orig = d.boxes[idx] / f
            taken: set[int] = set()
            existing = len(g_boxes)
            if existing:
                iou = box_iou(orig, np.stack(g_boxes[:existing]))
                same = d.labels[idx][:, None] == np.array(g_labels[:existing])[None, :]
                iou = np.where(same, iou, 0.0)
            for r, k in enumerate(idx):
                gid = -1
                if existing:
                    order = np.argsort(-iou[r], kind="stable")
                    for g in order:
                        if iou[r, g] < 0.5:
                            break
                        if int(g) not in taken:
                            gid = int(g)
                            break
                if gid < 0:
                    gid = len(g_boxes)
                    g_boxes.append(orig[r])
                    g_labels.append(int(d.labels[k]))
                taken.add(gid)
                ids[k] = gid
        out.append(ids)
    return out


def _inside_labelled_regions(lp: LabeledPool, image_id: int, boxes: np.ndarray) -> np.ndarray:
    """``(M,)`` bool: boxes (original pixels) lying fully inside a region of the image that
    a human already labelled (everything there was seen: drawn, ignored, or background)."""
    out = np.zeros(boxes.shape[0], dtype=bool)
    info = lp.dataset.image(image_id)
    for r in lp.regions:
        if r.image_id != image_id:
            continue
        f = scale_factor((info.height, info.width), r.scale)
        x0, y0, x1, y1 = region_to_original(r.window, f)
        eps = 1e-6
        out |= (
            (boxes[:, 0] >= x0 - eps)
            & (boxes[:, 1] >= y0 - eps)
            & (boxes[:, 2] <= x1 + eps)
            & (boxes[:, 3] <= y1 + eps)
        )
    return out


def select_from_predictions(
    dataset: CocoDataset,
    detections: Detections,
    budget: float,
    *,
    pool: LabeledPool | None = None,
    score_threshold: float = 0.5,
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
            whole take no part; its labelled boxes make detections known (SPEC §6); its
            class counts weight Eq. 4.
        score_threshold: detections with ``score >= score_threshold`` take part.
        visible_threshold: the oracle's / estimate's visibility rule (SPEC §5).
        known_iou: IoU with a labelled box from which a detection is known.
        reduce: ``"mean"``, ``"max"`` or ``"random"`` (SPEC §3).
        class_weighting: Eq. 4 (True) or Eq. 2.
        scale_aware: Algorithm 2 (True) or the union ablation.
        cost: ``"auto"`` (ground truth when an image in play has some, else estimated),
            ``"predictions"`` or ``"ground-truth"``.
        seed: seeds the ``"random"`` reduction.

    Returns:
        The ``selection.json`` document (see ``docs/human-in-the-loop.md``).
    """
    from ..data.pool import LabeledPool

    if cost not in COST_MODES:
        raise ConfigError(f"cost must be one of {COST_MODES}, got {cost!r}")
    if not 0.0 <= score_threshold <= 1.0:
        raise ConfigError(f"score threshold must lie in [0, 1], got {score_threshold!r}")
    if not detections.per_scale:
        raise ConfigError("no scales: give one predictions file per scale")
    lp = pool if pool is not None else LabeledPool(dataset, visible_threshold)
    in_play = set(lp.unlabelled_images()) - set(lp.full_images)
    has_gt = any(len(dataset.ann_ids(i)) for i in in_play)
    if cost == "auto":
        use_gt = has_gt
    elif cost == "ground-truth":
        if not has_gt:
            raise ConfigError(
                "cost 'ground-truth' needs ground truth for the images to select from, but "
                "the dataset has none for them (fix: use --cost predictions)"
            )
        use_gt = True
    else:
        use_gt = False

    ids0 = [int(i) for i in detections.per_scale[0].image_ids]
    for d in detections.per_scale[1:]:
        if [int(i) for i in d.image_ids] != ids0:
            raise DataError("detections: every scale must list the same images in the same order")
    images = [i for i in ids0 if i in in_play]
    pos = {iid: j for j, iid in enumerate(ids0)}

    # Per image and scale: detections in scaled pixels, which take part.
    dets: list[list[_ImageDets]] = []  # [scale][image]
    factors: list[list[float]] = []
    for d in detections.per_scale:
        row, frow = [], []
        for iid in images:
            j = pos[iid]
            info = dataset.image(iid)
            f = scale_factor((info.height, info.width), d.scale)
            sl = d.rows(j)
            boxes = d.boxes[sl].astype(np.float64).reshape(-1, 4)
            scores = d.scores[sl].astype(np.float64)
            labels = d.labels[sl].astype(np.int64)
            above = scores >= score_threshold
            known = np.zeros_like(above)
            lab = lp.labelled_boxes(iid)
            if lab.shape[0] and boxes.shape[0]:
                known = known_detections(boxes, lab * f, known_iou)
            if not use_gt and boxes.shape[0]:
                known |= _inside_labelled_regions(lp, iid, boxes / f)
            row.append(_ImageDets(boxes, scores, labels, above & ~known, above))
            frow.append(f)
        dets.append(row)
        factors.append(frow)
    groups = [  # [image][scale] object ids
        _group_across_scales([dets[s][j] for s in range(len(dets))], [f[j] for f in factors])
        for j in range(len(images))
    ]

    inputs = []
    for s, d in enumerate(detections.per_scale):
        kb = [dets[s][j].boxes[dets[s][j].keep] for j in range(len(images))]
        counts = [b.shape[0] for b in kb]
        sizes = [dataset.image(i) for i in images]
        inputs.append(
            ScaleInput(
                boxes=np.concatenate(kb).reshape(-1, 4) if kb else np.zeros((0, 4)),
                offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                confidences=np.concatenate(
                    [dets[s][j].scores[dets[s][j].keep] for j in range(len(images))]
                )
                if images
                else np.zeros(0),
                labels=np.concatenate(
                    [dets[s][j].labels[dets[s][j].keep] for j in range(len(images))]
                ).astype(np.int64)
                if images
                else np.zeros(0, np.int64),
                scaled_sizes=np.array(
                    [d.scaled_sizes[pos[i]] for i in images], dtype=np.int64
                ).reshape(-1, 2),
                region_sizes=np.array(
                    [(im.height, im.width) for im in sizes], dtype=np.int64
                ).reshape(-1, 2),
            )
        )

    def estimated(s: int, j: int, window: tuple[int, int, int, int]) -> list[tuple[Any, ...]]:
        d = dets[s][j]
        idx = np.flatnonzero(d.keep)
        if not idx.size:
            return []
        lab, _, _ = acquire_region(d.boxes[idx], window, visible_threshold)
        return [("pred", images[j], int(groups[j][s][idx[k]])) for k in lab]

    def oracle(s: int, j: int, window: tuple[int, int, int, int]) -> list[Any]:
        return list(lp.region_objects(images[j], detections.per_scale[s].scale, window))

    rng = np.random.default_rng(seed)
    counts = lp.class_counts() if class_weighting else None
    picked, _, _, sel = select_regions(
        inputs,
        budget,
        oracle if use_gt else estimated,
        class_counts=counts,
        reduce=reduce,
        rng=rng,
        scale_aware=scale_aware,
        labelled=lp.labelled_keys() if use_gt else (),
    )

    # The estimate per picked region (also in GT mode, to compare).
    seen: set[Any] = set()
    regions = []
    for p in picked:
        iid = images[p.image_index]
        info = dataset.image(iid)
        d = detections.per_scale[p.scale_index]
        f = factors[p.scale_index][p.image_index]
        est = estimated(p.scale_index, p.image_index, p.window)
        new_est = [o for o in est if o not in seen]
        seen.update(est)
        dd = dets[p.scale_index][p.image_index]
        preds = []
        idx = np.flatnonzero(dd.above)
        if idx.size:
            lab, clipped, _ = acquire_region(dd.boxes[idx], p.window, visible_threshold)
            for k, b in zip(lab, clipped, strict=True):
                m = int(idx[k])
                preds.append(
                    {
                        "category_id": int(dataset.category_of(int(dd.labels[m]))),
                        "box": [float(v) for v in b],
                        "score": float(dd.scores[m]),
                    }
                )
        entry: dict[str, Any] = {
            "task_id": task_id_of(iid, p.scale_index, p.window),
            "image_id": iid,
            "file_name": info.file_name,
            "image_size": [info.height, info.width],
            "scale": list(d.scale),
            "scale_index": p.scale_index,
            "scaled_size": [int(v) for v in d.scaled_sizes[pos[iid]]],
            "window": list(p.window),
            "window_original": [float(v) for v in region_to_original(p.window, f)],
            "score": p.score,
            "estimated_cost": len(new_est),
            "predictions": preds,
        }
        if use_gt:
            entry["cost"] = len(p.new_objects)
        regions.append(entry)

    return {
        "format": SELECTION_FORMAT,
        "version": 1,
        "dataset": {
            "annotations": str(dataset.path.resolve()) if dataset.path else None,
            "images": str(dataset.image_root.resolve()) if dataset.image_root else None,
        },
        "cycle": next_cycle(pool),
        "budget": float(budget),
        "cost": COST_GT if use_gt else COST_ESTIMATED,
        "spent": int(sel.spent),
        "estimated_spent": int(sum(r["estimated_cost"] for r in regions)),
        "scales": [list(d.scale) for d in detections.per_scale],
        "score_threshold": float(score_threshold),
        "visible_threshold": float(visible_threshold),
        "reduce": reduce,
        "class_weighting": bool(class_weighting),
        "scale_aware": bool(scale_aware),
        "categories": [{"id": c.id, "name": c.name} for c in dataset.categories],
        "regions": regions,
    }
