"""Helpers the strategies share: vectorised detection filtering and the coarse budget loop."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..core.geometry import (
    RegionFrame,
    box_area,
    contained,
    original_to_scaled_many,
    scale_factors,
    scaled_to_original_many,
)
from ..selection import Granularity
from .base import (
    DETECTION_OPTIONS,
    BoxPick,
    ImagePick,
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_float,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..data.pool import LabeledPool
    from ..detections import ScaleDetections

__all__ = [
    "FilteredDetections",
    "filter_detections",
    "known_mask",
    "pairwise_iou_rows",
    "take_images",
]


@dataclass
class FilteredDetections:
    """One scale's detections of the ``D_U`` images, filtered; image ``j`` owns rows
    ``offsets[j]:offsets[j + 1]``.

    Shapes: ``image_ids`` ``(n,)``, ``image_sizes``/``scaled_sizes`` ``(n, 2)``,
    ``factors`` ``(n,)``, ``offsets`` ``(n + 1,)``, ``boxes`` ``(M, 4)`` scaled pixels,
    ``scores`` ``(M,)``, ``labels`` ``(M,)``, ``probs`` ``(M, C + 1)`` or ``None``.
    """

    scale: tuple[int, int]
    image_ids: NDArray[np.int64]
    image_sizes: NDArray[np.int64]
    scaled_sizes: NDArray[np.int64]
    factors: NDArray[np.float64]
    offsets: NDArray[np.int64]
    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    labels: NDArray[np.int64]
    probs: NDArray[np.float64] | None

    @property
    def image_of(self) -> NDArray[np.int64]:
        """``(M,)`` image position of each row."""
        return np.repeat(np.arange(self.image_ids.shape[0]), np.diff(self.offsets))

    def boxes_original(self) -> NDArray[np.float64]:
        """``(M, 4)`` the boxes in original pixels (each image's :class:`RegionFrame`)."""
        return scaled_to_original_many(self.boxes, self.offsets, self.factors)


def pairwise_iou_rows(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise IoU of ``(P, 4)`` boxes ``a[i]`` and ``b[i]``, shape ``(P,)``."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
    inter = iw * ih
    union = box_area(a) + box_area(b) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out: NDArray[np.float64] = np.where(union > 0, inter / union, 0.0)
    return out


def known_mask(
    boxes: NDArray[np.float64],
    det_image: NDArray[np.int64],
    lab_boxes: NDArray[np.float64],
    lab_offsets: NDArray[np.int64],
    iou_threshold: float,
) -> NDArray[np.bool_]:
    """Detections with IoU ``>= iou_threshold`` with a labelled box of their own image.

    Args:
        boxes: ``(M, 4)`` detections; ``det_image``: ``(M,)`` their image positions.
        lab_boxes: ``(L, 4)`` labelled boxes (same coordinates), image ``j`` owning rows
            ``lab_offsets[j]:lab_offsets[j + 1]``.

    Returns:
        ``(M,)`` bool, computed over all (detection, labelled box of its image) pairs at
        once (no per-detection Python loop).
    """
    m = boxes.shape[0]
    if m == 0 or lab_boxes.shape[0] == 0:
        return np.zeros(m, dtype=bool)
    per = np.diff(lab_offsets)[det_image]  # labelled boxes per detection
    total = int(per.sum())
    if total == 0:
        return np.zeros(m, dtype=bool)
    pair_det = np.repeat(np.arange(m), per)
    first = np.cumsum(per) - per
    pair_lab = np.repeat(lab_offsets[det_image], per) + (np.arange(total) - np.repeat(first, per))
    hit = pairwise_iou_rows(boxes[pair_det], lab_boxes[pair_lab]) >= iou_threshold
    out: NDArray[np.bool_] = np.bincount(pair_det[hit], minlength=m) > 0
    return out


def filter_detections(
    sd: ScaleDetections,
    pool: LabeledPool,
    unlabelled: Sequence[int],
    threshold: float,
    *,
    drop_known: bool = True,
    iou_known: float = 0.5,
    drop_inside_regions: bool = False,
) -> FilteredDetections:
    """Keep the detections of ``D_U`` images with score ``>= threshold`` that are not known.

    Known (contract §6): IoU ``>= iou_known`` with a labelled object of the image, compared in
    scaled pixels (``pool.labelled_boxes(image_id) * f``). Only images with a labelled
    object are asked for their boxes; the filtering itself is vectorised. With
    ``drop_inside_regions``, detections lying fully inside a region a human already
    labelled are dropped too (everything there was seen: drawn, ignored or background;
    used when costs are estimated from predictions, where no ground truth says so).
    """
    du = set(int(i) for i in unlabelled)
    ids = np.asarray(sd.image_ids, dtype=np.int64)
    keep_img = np.fromiter((int(i) in du for i in ids), dtype=bool, count=ids.shape[0])
    pos = np.flatnonzero(keep_img)
    offsets = np.asarray(sd.offsets, dtype=np.int64)
    counts = offsets[1:] - offsets[:-1]
    det_img = np.repeat(np.arange(ids.shape[0]), counts)
    boxes = np.asarray(sd.boxes, dtype=np.float64)
    scores = np.asarray(sd.scores, dtype=np.float64)
    mask = keep_img[det_img] & (scores >= threshold)
    sizes = np.asarray(sd.image_sizes, dtype=np.int64).reshape(-1, 2)
    factors = scale_factors(sizes, sd.scale)
    if drop_known and mask.any():
        with_labels = {k[0] for k in pool.labelled_keys()} | set(pool.full_images)
        with_labels |= {r.image_id for r in pool.regions}
        lab_counts = np.zeros(ids.shape[0], dtype=np.int64)
        chunks = []
        for j in pos:
            iid = int(ids[j])
            if iid in with_labels:
                lb = np.asarray(pool.labelled_boxes(iid), dtype=np.float64).reshape(-1, 4)
                lab_counts[j] = lb.shape[0]
                chunks.append(lb)
        if chunks:
            # chunks follow ``pos`` order = ascending image position, so offsets line up
            lab_offsets = np.concatenate([[0], np.cumsum(lab_counts)]).astype(np.int64)
            lab_boxes = original_to_scaled_many(np.concatenate(chunks), lab_offsets, factors)
            sel = np.flatnonzero(mask)
            known = known_mask(boxes[sel], det_img[sel], lab_boxes, lab_offsets, iou_known)
            mask[sel[known]] = False
    if drop_inside_regions and mask.any():
        regions: dict[int, list[Any]] = {}
        for r in pool.regions:
            regions.setdefault(int(r.image_id), []).append(r)
        for j in pos:
            rs = regions.get(int(ids[j]))
            if not rs:
                continue
            rows = np.flatnonzero(mask & (det_img == j))
            if rows.size:
                size = (int(sizes[j, 0]), int(sizes[j, 1]))
                orig = RegionFrame.at(size, sd.scale).scaled_to_original(boxes[rows])
                inside = _inside_windows(orig, rs, size)
                mask[rows[inside]] = False
    per_img = np.bincount(det_img[mask], minlength=ids.shape[0])[pos]
    offsets = np.concatenate([[0], np.cumsum(per_img)]).astype(np.int64)
    probs = None if sd.probs is None else np.asarray(sd.probs, dtype=np.float64)[mask]
    return FilteredDetections(
        scale=(int(sd.scale[0]), int(sd.scale[1])),
        image_ids=ids[pos],
        image_sizes=sizes[pos],
        scaled_sizes=np.asarray(sd.scaled_sizes, dtype=np.int64).reshape(-1, 2)[pos],
        factors=factors[pos],
        offsets=offsets,
        boxes=boxes[mask],
        scores=scores[mask],
        labels=np.asarray(sd.labels, dtype=np.int64)[mask],
        probs=probs,
    )


def _inside_windows(
    boxes: NDArray[np.float64], regions: Sequence[Any], image_size: tuple[int, int]
) -> NDArray[np.bool_]:
    """``(M,)`` bool: ``boxes`` (original pixels) lying fully inside one of ``regions``'
    windows (mapped to original pixels)."""
    out = np.zeros(boxes.shape[0], dtype=bool)
    eps = 1e-6
    for r in regions:
        x0, y0, x1, y1 = RegionFrame.at(image_size, r.scale, r.window).window_in_original()
        out |= contained(boxes, (x0 - eps, y0 - eps, x1 + eps, y1 + eps))
    return out


class CategoryLookup:
    """COCO category id of a ground-truth object ``(image_id, ann_id)`` (cached per image)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._cache: dict[int, dict[int, int]] = {}

    def __call__(self, key: tuple[int, int]) -> int:
        iid, aid = key
        m = self._cache.get(iid)
        if m is None:
            m = {a.id: a.category_id for a in self.dataset.annotations_of(iid)}
            self._cache[iid] = m
        return m[aid]


def new_objects_of(pool: LabeledPool, dataset: Any, image_id: int) -> list[tuple[int, int]]:
    """The image's (non-crowd) GT objects not yet labelled, as object keys."""
    return [
        (int(image_id), int(a))
        for a in dataset.ann_ids(image_id).tolist()
        if not pool.is_labelled(image_id, a)
    ]


def take_images(
    result: SelectionResult,
    ctx: SelectionContext,
    order: Sequence[int],
    scores: Sequence[float],
) -> SelectionResult:
    """Coarse budget loop (contract §7): take images in ``order`` until ``spent >= budget``.

    ``order`` lists image ids (all distinct, all in ``D_U``); ``scores`` their scores.
    An image costs its GT objects not yet labelled.
    """
    cats = CategoryLookup(ctx.dataset)
    if ctx.budget <= 0:
        return result
    for iid, s in zip(order, scores, strict=True):
        new = new_objects_of(ctx.pool, ctx.dataset, int(iid))
        result.items.append(ImagePick(int(iid), float(s), new, [cats(k) for k in new]))
        result.spent += len(new)
        result.cost += len(new)
        if result.cost >= ctx.budget:
            break
    return result


def image_reduce(
    values: NDArray[np.float64],
    offsets: NDArray[np.int64],
    reduce: str,
    empty: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Per image, ``mean``/``max``/``min``/``random`` of its rows' values; ``empty`` where none.

    ``random`` draws one row per non-empty image with ``rng`` (in image order).
    """
    n = offsets.shape[0] - 1
    counts = np.diff(offsets)
    out = np.full(n, float(empty), dtype=np.float64)
    has = counts > 0
    if not has.any():
        return out
    starts = offsets[:-1][has]
    if reduce == "mean":
        out[has] = np.add.reduceat(values, starts) / counts[has]
    elif reduce == "max":
        out[has] = np.maximum.reduceat(values, starts)
    elif reduce == "min":
        out[has] = np.minimum.reduceat(values, starts)
    elif reduce == "random":
        pick = rng.integers(0, counts[has])
        out[has] = values[starts + pick]
    else:  # pragma: no cover - options are validated
        raise ValueError(reduce)
    return out


def take_boxes(
    result: SelectionResult,
    ctx: SelectionContext,
    fd: FilteredDetections,
    order: Sequence[int] | NDArray[np.int64],
    query_scores: NDArray[np.float64],
    iou_match: float = 0.5,
) -> SelectionResult:
    """Fine-grained budget loop (contract §7): query detections (rows of ``fd``) in ``order``.

    Each query costs 1 and labels the best-matching (highest IoU, ties: annotation order)
    GT object of its image that is not labelled yet (nor by an earlier query) with IoU
    ``>= iou_match``, if any. Stops once ``cost >= budget`` or the detections run out.
    """
    if ctx.budget <= 0:
        return result
    cats = CategoryLookup(ctx.dataset)
    boxes_o = fd.boxes_original()
    img_of = fd.image_of
    gt: dict[int, tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]] = {}
    for r in order:
        r = int(r)
        iid = int(fd.image_ids[img_of[r]])
        if iid not in gt:
            ids = np.asarray(ctx.dataset.ann_ids(iid), dtype=np.int64)
            bx = np.asarray(ctx.dataset.boxes_xyxy(iid), dtype=np.float64).reshape(-1, 4)
            free = np.array([not ctx.pool.is_labelled(iid, int(a)) for a in ids], dtype=bool)
            gt[iid] = (ids, bx, free)
        ids, bx, free = gt[iid]
        det = boxes_o[r]
        ann: int | None = None
        best_iou = 0.0
        if ids.shape[0]:
            iou = pairwise_iou_rows(np.broadcast_to(det, bx.shape), bx)
            iou = np.where(free, iou, -1.0)
            k = int(np.argmax(iou))
            best_iou = float(max(iou[k], 0.0))
            if iou[k] >= iou_match:
                ann = int(ids[k])
                free[k] = False
        result.items.append(
            BoxPick(
                image_id=iid,
                ann_id=ann,
                box=(float(det[0]), float(det[1]), float(det[2]), float(det[3])),
                score=float(query_scores[r]),
                label=int(fd.labels[r]),
                confidence=float(fd.scores[r]),
                iou=best_iou,
                category=None if ann is None else cats((iid, ann)),
            )
        )
        result.cost += 1
        result.spent += ann is not None
        if result.cost >= ctx.budget:
            break
    return result


class BoxQueryStrategy(Strategy):
    """Fine-grained box queries (contract §7): subclasses only order the detections.

    The detections of ``D_U`` at one scale (score ``>= score_threshold``, not already
    known) are queried in :meth:`order`; each query costs 1 and labels the best-matching
    not-yet-labelled GT object with IoU ``>= iou_match``, if any.
    """

    granularity = Granularity.BOX
    OPTIONS: ClassVar[dict[str, Option]] = {
        **DETECTION_OPTIONS,
        "iou_match": opt_float(0.5, 0.0, 1.0),
    }

    @abstractmethod
    def order(
        self, fd: FilteredDetections, ctx: SelectionContext
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Query order (indices into ``fd``) and each detection's query score."""

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        assert ctx.detections is not None
        fd = filter_detections(
            ctx.detections.per_scale[self.scale_index(ctx)],
            ctx.pool,
            ctx.unlabelled_images(),
            self.threshold(ctx),
            drop_known=True,
            iou_known=self.options["iou_match"],
        )
        order, scores = self.order(fd, ctx)
        return take_boxes(self.new_result(ctx), ctx, fd, order, scores, self.options["iou_match"])
