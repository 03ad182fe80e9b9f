"""MuRAL: multi-scale region-based selection.

Liou et al., "Multi-scale Region-based Active Learning for Object Detection" (the
project's paper, §4.2–§4.5; contract §2–§6). Per configured scale: the detections of ``D_U``
images with score ``>= score_threshold`` that are not already known (IoU ``>= iou_known``
with a labelled object of the image, contract §6) feed region candidate generation
(Algorithm 1) with regions of the original image's size; candidates are scored by the
informative score (Eq. 2, or Eq. 4 weighted by the pool's per-class labelled counts) and
picked by scale-aware selection (Algorithm 2) or, for the ablation, from the union of all
scales. Only popped regions are annotated (lazily).

:func:`select_mural_regions` is the one implementation: the ``mural`` strategy of the
loop and ``mural select`` (:func:`mural.human.select.select_from_predictions`) both call
it. What a region costs is a parameter:

- :data:`~mural.selection.COST_GT`: the objects the simulated oracle would label
  (``pool.region_objects``, contract §5).
- :data:`~mural.selection.COST_ESTIMATED`: no ground truth: the predicted objects the
  region holds, i.e. kept detections more than ``visible_threshold`` inside the window
  (scaled pixels). Detections lying fully inside a region already labelled are not kept
  either (the annotator saw them), and the same object predicted at several scales
  counts once: the kept detections of one image are grouped across scales (same class,
  IoU ``>= 0.5`` in original pixels).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from numpy.typing import NDArray

from ..core import ScaleInput, acquire_region, box_iou, select_regions
from ..core.scores import REDUCTIONS
from ..errors import ConfigError
from ..selection import COST_ESTIMATED, COST_GT, Granularity, RegionPick
from ._common import CategoryLookup, FilteredDetections, filter_detections
from .base import (
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_bool,
    opt_choice,
    opt_float,
    opt_int_list,
    register_strategy,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool
    from ..detections import Detections

__all__ = ["MuralRegions", "MuralStrategy", "scale_inputs", "select_mural_regions"]


@dataclass
class MuralRegions:
    """What :func:`select_mural_regions` picked: ``picks`` in pick order, ``spent`` the
    (ground-truth or estimated) objects they newly label, ``estimated_spent`` the
    predicted objects they newly hold (when ``describe``), ``scales`` the used scale
    indices."""

    picks: list[RegionPick]
    spent: int
    estimated_spent: int | None
    scales: list[int]


def _group_across_scales(
    boxes: Sequence[NDArray[np.float64]],
    labels: Sequence[NDArray[np.int64]],
) -> list[NDArray[np.int64]]:
    """Per scale, an object id for each of one image's kept detections.

    ``boxes[s]`` ``(M_s, 4)`` the detections of scale ``s`` in original pixels,
    ``labels[s]`` ``(M_s,)``. Detections of later scales join the best-overlapping group
    of an earlier scale with the same class and IoU ``>= 0.5`` in original pixels (one
    detection per scale per group); the others open a new group.
    """
    out: list[NDArray[np.int64]] = []
    g_boxes: list[NDArray[np.float64]] = []
    g_labels: list[int] = []
    for orig, lab in zip(boxes, labels, strict=True):
        ids = np.full(orig.shape[0], -1, dtype=np.int64)
        if orig.shape[0]:
            taken: set[int] = set()
            existing = len(g_boxes)
            if existing:
                iou = box_iou(orig, np.stack(g_boxes[:existing]))
                same = lab[:, None] == np.array(g_labels[:existing])[None, :]
                iou = np.where(same, iou, 0.0)
            for r in range(orig.shape[0]):
                gid = -1
                if existing:
                    for g in np.argsort(-iou[r], kind="stable"):
                        if iou[r, g] < 0.5:
                            break
                        if int(g) not in taken:
                            gid = int(g)
                            break
                if gid < 0:
                    gid = len(g_boxes)
                    g_boxes.append(orig[r])
                    g_labels.append(int(lab[r]))
                taken.add(gid)
                ids[r] = gid
        out.append(ids)
    return out


def scale_inputs(
    pool: LabeledPool,
    detections: Detections,
    score_threshold: float,
    iou_known: float,
    scales: Sequence[int] | None,
    *,
    drop_inside_regions: bool = False,
    candidates: Sequence[int] | None = None,
) -> tuple[list[int], list[FilteredDetections], list[ScaleInput]]:
    """The used scale indices, their filtered detections of ``D_U`` and the core inputs
    (see :func:`select_mural_regions` for the arguments)."""
    n = len(detections.per_scale)
    used = list(range(n)) if scales is None else [int(s) for s in scales]
    bad = [s for s in used if not 0 <= s < n]
    if bad:
        raise ConfigError(
            f"strategy 'mural': option 'scales' must hold scale indices in 0..{n - 1} "
            f"(the detections have {n} scales), got {bad[0]}"
        )
    du = pool.unlabelled_images()
    if candidates is not None:
        keep = {int(i) for i in candidates}
        du = [i for i in du if i in keep]
    fds: list[FilteredDetections] = []
    inputs: list[ScaleInput] = []
    for s in used:
        fd = filter_detections(
            detections.per_scale[s],
            pool,
            du,
            score_threshold,
            drop_known=True,
            iou_known=iou_known,
            drop_inside_regions=drop_inside_regions,
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
    return used, fds, inputs


def select_mural_regions(
    dataset: CocoDataset,
    pool: LabeledPool,
    detections: Detections,
    budget: float,
    *,
    rng: np.random.Generator,
    score_threshold: float,
    iou_known: float = 0.5,
    reduce: str = "mean",
    category_weighting: bool = True,
    scale_aware: bool = True,
    scales: Sequence[int] | None = None,
    cost: str = COST_GT,
    visible_threshold: float | None = None,
    describe: bool = False,
    candidates: Sequence[int] | None = None,
) -> MuralRegions:
    """MuRAL's region selection under budget ``B`` (paper §4.2–§4.4; contract §2–§7).

    Args:
        dataset: the images (sizes, file names, categories; ground truth for
            :data:`COST_GT`).
        pool: the labelled set ``D_L`` (not modified): its ``D_U`` images take part, its
            labelled boxes make detections known (contract §6), its class counts weight Eq. 4.
        detections: the detector's detections at every configured scale (scaled pixels).
        budget: ``B`` in objects.
        rng: draws for ``reduce="random"``.
        score_threshold: detections with ``score >= score_threshold`` take part.
        iou_known: IoU with a labelled box from which a detection is known.
        reduce: ``"mean"``, ``"max"`` or ``"random"`` (contract §3).
        category_weighting: Eq. 4 (True) or Eq. 2.
        scale_aware: Algorithm 2 (True) or the union ablation.
        scales: the scale indices to use, in this order (``None``: all).
        cost: :data:`COST_GT` or :data:`COST_ESTIMATED` (see the module docstring).
        visible_threshold: the estimate's visibility rule (default: the pool's, which
            the oracle uses).
        describe: also fill each pick's ``estimated_cost`` and ``predictions`` (the
            above-threshold detections inside it, window pixels) for annotation.
        candidates: the images of ``D_U`` that may be picked (the loop's
            ``selection.pool_subset``); ``None``: all of ``D_U``.

    Returns:
        :class:`MuralRegions`.
    """
    if cost not in (COST_GT, COST_ESTIMATED):
        raise ConfigError(f"cost must be {COST_GT!r} or {COST_ESTIMATED!r}, got {cost!r}")
    estimated = cost == COST_ESTIMATED
    used, fds, inputs = scale_inputs(
        pool,
        detections,
        score_threshold,
        iou_known,
        scales,
        drop_inside_regions=estimated,
        candidates=candidates,
    )
    vis = pool.visible_threshold if visible_threshold is None else float(visible_threshold)
    groups: list[list[NDArray[np.int64]]] = []  # [image][scale]
    if estimated or describe:
        for k in range(1, len(fds)):
            if not np.array_equal(fds[k].image_ids, fds[0].image_ids):
                raise ConfigError(
                    "detections: every scale must list the same images in the same order"
                )
        m = fds[0].image_ids.shape[0] if fds else 0
        originals = [fd.boxes_original() for fd in fds]
        for j in range(m):
            sl = [slice(fd.offsets[j], fd.offsets[j + 1]) for fd in fds]
            groups.append(
                _group_across_scales(
                    [o[r] for o, r in zip(originals, sl, strict=True)],
                    [fd.labels[r] for fd, r in zip(fds, sl, strict=True)],
                )
            )

    def predicted(s: int, j: int, window: tuple[int, int, int, int]) -> list[Hashable]:
        fd = fds[s]
        boxes = fd.boxes[fd.offsets[j] : fd.offsets[j + 1]]
        if not boxes.shape[0]:
            return []
        lab, _, _ = acquire_region(boxes, window, vis)
        return [("pred", int(fd.image_ids[j]), int(groups[j][s][k])) for k in lab]

    def oracle(s: int, j: int, window: tuple[int, int, int, int]) -> list[Hashable]:
        return list(pool.region_objects(int(fds[s].image_ids[j]), fds[s].scale, window))

    counts = pool.class_counts() if category_weighting else None
    picked, _, _, sel = select_regions(
        inputs,
        budget,
        predicted if estimated else oracle,
        class_counts=counts,
        reduce=reduce,
        rng=rng,
        scale_aware=scale_aware,
        labelled=() if estimated else pool.labelled_keys(),
    )
    cats = CategoryLookup(dataset)
    picks: list[RegionPick] = []
    seen: set[Hashable] = set()
    est_total = 0
    for p in picked:
        fd = fds[p.scale_index]
        j = p.image_index
        iid = int(fd.image_ids[j])
        new = [] if estimated else [_object_key(o) for o in p.new_objects]
        pick = RegionPick(
            image_id=iid,
            scale_index=used[p.scale_index],
            scale=fd.scale,
            window=p.window,
            score=p.score,
            new_objects=new,
            categories=[cats(k) for k in new],
            image_size=(int(fd.image_sizes[j, 0]), int(fd.image_sizes[j, 1])),
            scaled_size=(int(fd.scaled_sizes[j, 0]), int(fd.scaled_sizes[j, 1])),
            file_name=dataset.image(iid).file_name,
        )
        if describe:
            est = predicted(p.scale_index, j, p.window)
            pick.estimated_cost = len([o for o in est if o not in seen])
            seen.update(est)
            est_total += pick.estimated_cost
            pick.predictions = _predictions_in(
                dataset, detections, used[p.scale_index], iid, p.window, score_threshold, vis
            )
        picks.append(pick)
    return MuralRegions(picks, int(sel.spent), est_total if describe else None, used)


def _predictions_in(
    dataset: CocoDataset,
    detections: Detections,
    scale_index: int,
    image_id: int,
    window: tuple[int, int, int, int],
    score_threshold: float,
    visible_threshold: float,
) -> list[dict[str, Any]]:
    """The image's detections with ``score >= score_threshold`` (known or not) more than
    ``visible_threshold`` inside ``window``, clipped to it (window pixels)."""
    sd = detections.per_scale[scale_index]
    pos = np.flatnonzero(np.asarray(sd.image_ids) == image_id)
    if not pos.size:
        return []
    sl = sd.rows(int(pos[0]))
    boxes = np.asarray(sd.boxes[sl], dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(sd.scores[sl], dtype=np.float64)
    labels = np.asarray(sd.labels[sl], dtype=np.int64)
    idx = np.flatnonzero(scores >= score_threshold)
    if not idx.size:
        return []
    lab, clipped, _ = acquire_region(boxes[idx], window, visible_threshold)
    return [
        {
            "category_id": int(dataset.category_of(int(labels[idx[k]]))),
            "box": [float(v) for v in b],
            "score": float(scores[idx[k]]),
        }
        for k, b in zip(lab, clipped, strict=True)
    ]


@register_strategy("mural")
class MuralStrategy(Strategy):
    """MuRAL (the paper's method); see the module docstring.

    Options:
        reduce: ``"mean"`` (Eq. 2/4), ``"max"`` or ``"random"`` (Table 2's ablation).
        category_weighting: Eq. 4 with ``pool.class_counts()`` (True) or Eq. 2.
        scale_aware: Algorithm 2 (True) or the union-of-scales ablation.
        scales: the scale indices to use, in this order (``None``: all, configured order).
        score_threshold: detections with a lower score take no part (``None``, the
            default: the run's ``detector.score_threshold``, like every strategy).
        iou_known: IoU with a labelled object at which a detection is known.
    """

    granularity = Granularity.REGION
    OPTIONS: ClassVar[dict[str, Option]] = {
        "reduce": opt_choice("mean", REDUCTIONS),
        "category_weighting": opt_bool(True),
        "scale_aware": opt_bool(True),
        "scales": opt_int_list(None),
        "score_threshold": opt_float(None, 0.0, 1.0, optional=True),
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
        o = self.options
        return scale_inputs(
            ctx.pool,
            ctx.detections,
            self.threshold(ctx),
            o["iou_known"],
            o["scales"],
            candidates=ctx.candidates,
        )

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        assert ctx.detections is not None
        o = self.options
        got = select_mural_regions(
            ctx.dataset,
            ctx.pool,
            ctx.detections,
            ctx.budget,
            rng=ctx.rng,
            score_threshold=self.threshold(ctx),
            iou_known=o["iou_known"],
            reduce=o["reduce"],
            category_weighting=o["category_weighting"],
            scale_aware=o["scale_aware"],
            scales=o["scales"],
            cost=COST_GT,
            candidates=ctx.candidates,
        )
        result = self.new_result(ctx)
        result.items = list(got.picks)
        result.spent = result.cost = got.spent
        return result


def _object_key(obj: Hashable) -> tuple[int, int]:
    """A ground-truth object id of the pipeline, ``(image_id, annotation index)``, as ints."""
    a, b = cast("tuple[int, int]", obj)
    return int(a), int(b)
