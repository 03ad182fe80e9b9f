"""The labelled pool ``D_L`` and the simulated oracle (paper §4.5; contract §5–§7).

What is known is kept per ground-truth object ``(image_id, ann_id)``, from three sources:

- **full images**: every object of the image is labelled (coarse-grained baselines, the
  initial set);
- **regions**: a window of the original image's size on one scale; the oracle labels the
  objects more than ``visible_threshold`` inside it (clipped to the window) and marks the
  partly visible ones as ignore areas (contract §5);
- **partial** images: single objects labelled one at a time (fine-grained baselines).

Everything else about the labelled state (which objects are labelled, per-class counts,
``D_U``) is derived from those three records, so it does not depend on the order in
which they were added. The pool is saved as ``pool.json`` (human-readable, versioned) and
``labeled.json`` (a standard COCO file of every label event) in one folder; see
``docs/pool.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..core import RegionFrame, acquire_region
from ..core.geometry import contained
from ..errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ..selection import SelectionResult
    from .coco import CocoDataset

__all__ = [
    "LABELED_FILE",
    "POOL_FILE",
    "POOL_FORMAT",
    "POOL_VERSION",
    "LabeledPool",
    "ObjectKey",
    "RegionLabel",
    "SimulatedOracle",
    "pool_dataset_ref",
]

ObjectKey = tuple[int, int]  # (image_id, ann_id) of a ground-truth object

POOL_FILE = "pool.json"
LABELED_FILE = "labeled.json"
POOL_FORMAT = "mural-pool"
POOL_VERSION = 1


@dataclass
class RegionLabel:
    """One labelled region (contract §5).

    Attributes:
        image_id: the image.
        scale: ``(min_size, max_size)`` of the scale the window lies on.
        scale_index: index of that scale in the run's configured scales.
        window: ``(x0, y0, x1, y1)`` integer window in scaled pixels, of the original
            image's size ``(W, H)``.
        cycle: the active-learning cycle that labelled it.
        ann_ids: GT annotation id per labelled box (``None`` for a box a human drew that
            matches no ground truth).
        boxes: labelled boxes clipped to the window, in window pixels (``(L, 4)`` xyxy).
        category_ids: COCO category id per labelled box.
        ignore: ignore areas (objects with ``0 < visible <= threshold``), clipped to the
            window, in window pixels (``(K, 4)`` xyxy).
        new_ann_ids: the GT ann ids this region labelled for the first time when it was
            added (what it cost against the budget); a subset of ``ann_ids``.
    """

    image_id: int
    scale: tuple[int, int]
    scale_index: int
    window: tuple[int, int, int, int]
    cycle: int
    ann_ids: list[int | None] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)
    ignore: list[list[float]] = field(default_factory=list)
    new_ann_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "scale": list(self.scale),
            "scale_index": self.scale_index,
            "window": list(self.window),
            "cycle": self.cycle,
            "ann_ids": list(self.ann_ids),
            "boxes": [list(b) for b in self.boxes],
            "category_ids": list(self.category_ids),
            "ignore": [list(b) for b in self.ignore],
            "new_ann_ids": list(self.new_ann_ids),
        }


class SimulatedOracle:
    """Reveals an image's ground truth (the simulation's annotator).

    ``reveal(image_id) -> (boxes, labels, ann_ids)``: ``(N, 4)`` float64 xyxy original
    pixels (clipped to the image), ``(N,)`` int64 labels ``0..C-1``, ``(N,)`` int64 ann ids,
    in the dataset's annotation order. Results are cached per image.
    """

    def __init__(self, dataset: CocoDataset) -> None:
        self.dataset = dataset
        self._cache: dict[int, tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]]
        self._cache = {}

    def reveal(
        self, image_id: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
        hit = self._cache.get(image_id)
        if hit is None:
            ds = self.dataset  # its boxes come clipped to the image
            hit = (ds.boxes_xyxy(image_id), ds.labels(image_id), ds.ann_ids(image_id))
            self._cache[image_id] = hit
        return hit


def _acquire(
    boxes: NDArray[np.float64], window: Sequence[int], threshold: float
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """:func:`mural.core.acquire_region`, tolerating zero-area GT boxes.

    A zero-width or zero-height box has no visible fraction; it is labelled when it lies
    fully in the window and is never an ignore area.
    """
    n = boxes.shape[0]
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    idx_ok = np.flatnonzero(ok)
    lab, clipped, ign = acquire_region(boxes[idx_ok], window, threshold)
    lab = idx_ok[lab]
    ign = idx_ok[ign]
    if idx_ok.shape[0] == n:
        return lab, clipped, ign
    deg = np.flatnonzero(~ok)
    deg = deg[contained(boxes[deg], window)]
    x0, y0 = float(window[0]), float(window[1])
    extra = boxes[deg] - np.array([x0, y0, x0, y0])
    all_lab = np.concatenate([lab, deg]).astype(np.int64)
    all_clip = np.concatenate([clipped, extra.reshape(-1, 4)])
    order = np.argsort(all_lab, kind="stable")
    return all_lab[order], all_clip[order], ign


def _as_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return int(v)
        raise DataError(f"{what} must be an integer, got {v!r}")
    return int(v)


def _scale_tuple(scale: Any) -> tuple[int, int]:
    try:
        vals = [float(s) for s in scale]
    except (TypeError, ValueError):
        raise DataError(f"scale must be (min_size, max_size), got {scale!r}") from None
    if len(vals) != 2 or not all(math.isfinite(v) and v > 0 for v in vals):
        raise DataError(f"scale must be two positive numbers (min_size, max_size), got {scale!r}")
    return tuple(int(v) if v.is_integer() else v for v in vals)  # type: ignore[return-value]


def _box_list(boxes: Any, what: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(boxes if len(boxes) else np.zeros((0, 4)), dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be an (N, 4) list of numbers") from None
    if arr.ndim != 2 or arr.shape[1] != 4 or not np.isfinite(arr).all():
        raise DataError(f"{what} must be an (N, 4) list of finite numbers, got shape {arr.shape}")
    return arr


class LabeledPool:
    """The labelled pool ``D_L`` of a dataset, per ground-truth object.

    Args:
        dataset: the training pool (a :class:`mural.data.coco.CocoDataset`).
        visible_threshold: a GT box is labelled by a region when strictly more than this
            fraction of its area lies in the window (contract §5).
        oracle: what reveals ground truth; :class:`SimulatedOracle` over ``dataset`` by
            default.
    """

    def __init__(
        self,
        dataset: CocoDataset,
        visible_threshold: float = 0.7,
        *,
        oracle: SimulatedOracle | None = None,
    ) -> None:
        thr = float(visible_threshold)
        if not (0.0 <= thr <= 1.0):
            raise DataError(f"visible_threshold must lie in [0, 1], got {visible_threshold!r}")
        self.dataset = dataset
        self.visible_threshold = thr
        self.oracle = oracle if oracle is not None else SimulatedOracle(dataset)
        self.full_images: dict[int, int] = {}
        self.regions: list[RegionLabel] = []
        self.partial: dict[int, dict[int, int]] = {}
        self._image_ids: set[int] = set(dataset.image_ids())
        self._category_ids: set[int] = {c.id for c in dataset.categories}
        # Derived state (a function of full_images, regions and partial).
        self._labelled: dict[int, set[int]] = {}
        self._extra_counts = np.zeros(dataset.num_classes, dtype=np.int64)

    # ----------------------------------------------------------------- helpers
    def _check_image(self, image_id: Any) -> int:
        iid = _as_int(image_id, "image_id")
        if iid not in self._image_ids:
            raise DataError(f"image {iid} is not in the dataset {self.dataset.path or ''}".strip())
        return iid

    def _gt_ids(self, image_id: int) -> NDArray[np.int64]:
        return self.oracle.reveal(image_id)[2]

    def region_frame(
        self, image_id: int, scale: Sequence[float], window: Sequence[int] | None = None
    ) -> RegionFrame:
        """The image's pixel frames at ``scale`` (original <-> scaled <-> ``window``)."""
        info = self.dataset.image(image_id)
        return RegionFrame.at((info.height, info.width), scale, window)

    def _check_window(self, image_id: int, scale: Sequence[float], window: Any) -> tuple[int, ...]:
        try:
            w = tuple(_as_int(v, "window coordinate") for v in window)
        except TypeError:
            raise DataError(f"window must be (x0, y0, x1, y1) integers, got {window!r}") from None
        if len(w) != 4:
            raise DataError(f"window must be (x0, y0, x1, y1) integers, got {window!r}")
        problem = self.region_frame(image_id, scale, w).window_problem()
        if problem is not None:
            raise DataError(f"image {image_id}: {problem}")
        return w

    def _validated_region(
        self,
        image_id: Any,
        scale: Any,
        scale_index: Any,
        window: Any,
        cycle: Any,
        boxes_window_px: Any,
        category_ids: Any,
        ann_ids: Any = None,
        ignore: Any = (),
        new_ann_ids: Any = (),
    ) -> RegionLabel:
        """A :class:`RegionLabel` from untrusted values: the one place a region is checked
        (labelling and loading both come through here). ``new_ann_ids`` is kept as given
        (checked to be a subset of ``ann_ids``)."""
        iid = self._check_image(image_id)
        sc = _scale_tuple(scale)
        win = self._check_window(iid, sc, window)
        si = _as_int(scale_index, "scale_index")
        cyc = _as_int(cycle, "cycle")
        info = self.dataset.image(iid)
        bx = _box_list(boxes_window_px, f"image {iid}: region boxes")
        ig = _box_list(ignore, f"image {iid}: region ignore areas")
        for name, arr in (("box", bx), ("ignore area", ig)):
            bad = (
                (arr[:, 0] < 0)
                | (arr[:, 1] < 0)
                | (arr[:, 2] > info.width)
                | (arr[:, 3] > info.height)
                | (arr[:, 2] < arr[:, 0])
                | (arr[:, 3] < arr[:, 1])
            )
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise DataError(
                    f"image {iid}: region {name} {arr[k].tolist()} is inverted or outside the "
                    f"window [0, {info.width}] x [0, {info.height}] (window pixels)"
                )
        try:
            cats = [_as_int(c, "category_id") for c in category_ids]
        except TypeError:
            raise DataError(f"image {iid}: category ids must be a list") from None
        if len(cats) != bx.shape[0]:
            raise DataError(f"image {iid}: {bx.shape[0]} region boxes but {len(cats)} category ids")
        for c in cats:
            if c not in self._category_ids:
                raise DataError(f"image {iid}: category id {c} is not in the dataset")
        aids: list[int | None] = [None] * len(cats) if ann_ids is None else list(ann_ids)
        if len(aids) != len(cats):
            raise DataError(f"image {iid}: {len(cats)} region boxes but {len(aids)} ann ids")
        aids = [None if a is None else _as_int(a, "ann_id") for a in aids]
        self._check_objects(iid, [a for a in aids if a is not None])
        new = [_as_int(a, "ann_id") for a in new_ann_ids]
        if not set(new) <= {a for a in aids if a is not None}:
            raise DataError(f"image {iid}: 'new_ann_ids' is not a subset of 'ann_ids'")
        return RegionLabel(
            image_id=iid,
            scale=sc,
            scale_index=si,
            window=(win[0], win[1], win[2], win[3]),
            cycle=cyc,
            ann_ids=aids,
            boxes=[[float(v) for v in b] for b in bx],
            category_ids=cats,
            ignore=[[float(v) for v in b] for b in ig],
            new_ann_ids=new,
        )

    def _check_objects(self, image_id: int, ann_ids: Iterable[Any]) -> list[int]:
        """GT ann ids of ``image_id`` (each checked to belong to it)."""
        gt = set(self._gt_ids(image_id).tolist())
        ids = [_as_int(a, "ann_id") for a in ann_ids]
        for a in ids:
            if a not in gt:
                raise DataError(f"annotation {a} does not belong to image {image_id}")
        return ids

    def _mark_region(self, region: RegionLabel) -> list[int]:
        """Mark a region's GT objects labelled and count its boxes without a GT id; return
        the objects that were new."""
        for a, c in zip(region.ann_ids, region.category_ids, strict=True):
            if a is None:
                self._extra_counts[self.dataset.label_of(c)] += 1
        return self._mark(region.image_id, [a for a in region.ann_ids if a is not None])

    def _mark(self, image_id: int, ann_ids: Iterable[int]) -> list[int]:
        """Mark objects labelled; return those that were new, in the given order."""
        have = self._labelled.setdefault(image_id, set())
        new = []
        for a in ann_ids:
            if a not in have:
                have.add(a)
                new.append(a)
        return new

    def _rebuild(self) -> None:
        self._labelled = {}
        self._extra_counts = np.zeros(self.dataset.num_classes, dtype=np.int64)
        for iid in self.full_images:
            self._mark(iid, self._gt_ids(iid).tolist())
        for r in self.regions:
            self._mark_region(r)
        for iid, objs in self.partial.items():
            self._mark(iid, objs)

    # ---------------------------------------------------------------- labelling
    def add_full_images(self, image_ids: Iterable[int], cycle: int) -> int:
        """Label whole images (all their objects); returns the newly labelled objects.

        An image already labelled as a whole keeps its first cycle.
        """
        ids = [self._check_image(i) for i in image_ids]
        cyc = _as_int(cycle, "cycle")
        new = 0
        for iid in ids:
            if iid in self.full_images:
                continue
            self.full_images[iid] = cyc
            new += len(self._mark(iid, self._gt_ids(iid).tolist()))
        return new

    def region_objects(
        self, image_id: int, scale: Sequence[float], window: Sequence[int]
    ) -> list[ObjectKey]:
        """The GT objects a region would label (labelled or not yet); no state change."""
        iid = self._check_image(image_id)
        boxes, _, ann_ids = self.oracle.reveal(iid)
        frame = self.region_frame(iid, scale)
        lab, _, _ = _acquire(frame.original_to_scaled(boxes), window, self.visible_threshold)
        return [(iid, int(ann_ids[k])) for k in lab]

    def add_region(
        self,
        image_id: int,
        scale: Sequence[float],
        scale_index: int,
        window: Sequence[int],
        cycle: int,
    ) -> RegionLabel:
        """Annotate a region with the simulated oracle (contract §5) and record it.

        The image's GT boxes are mapped to scaled pixels (``boxes * f``); those more than
        ``visible_threshold`` inside the window are labelled (clipped, window pixels),
        those partly inside are ignore areas (clipped, window pixels). The returned
        region's ``new_ann_ids`` are the objects labelled for the first time.
        """
        iid = self._check_image(image_id)
        sc = _scale_tuple(scale)
        win = self._check_window(iid, sc, window)
        boxes, labels, ann_ids = self.oracle.reveal(iid)
        frame = self.region_frame(iid, sc, win)
        scaled = frame.original_to_scaled(boxes)
        lab, clipped, ign = _acquire(scaled, win, self.visible_threshold)
        ig = frame.clip_to_window(frame.scaled_to_window(scaled[ign]))
        cats = [int(self.dataset.category_of(int(labels[k]))) for k in lab]
        return self.add_region_labels(
            iid,
            sc,
            scale_index,
            win,
            cycle,
            clipped,
            cats,
            ann_ids=[int(ann_ids[k]) for k in lab],
            ignore=ig,
        )

    def add_region_labels(
        self,
        image_id: int,
        scale: Sequence[float],
        scale_index: int,
        window: Sequence[int],
        cycle: int,
        boxes_window_px: Any,
        category_ids: Sequence[int],
        ann_ids: Sequence[int | None] | None = None,
        ignore: Any = (),
    ) -> RegionLabel:
        """Record a region's labels given directly (a human annotation import, or the oracle).

        Args:
            boxes_window_px: ``(L, 4)`` labelled boxes in window pixels, inside
                ``[0, W] x [0, H]``.
            category_ids: ``(L,)`` COCO category ids.
            ann_ids: GT ann id per box, ``None`` where a box has no GT id (all ``None`` when
                omitted); ids must belong to the image.
            ignore: ``(K, 4)`` ignore areas in window pixels.
        """
        region = self._validated_region(
            image_id,
            scale,
            scale_index,
            window,
            cycle,
            boxes_window_px,
            category_ids,
            ann_ids,
            ignore,
        )
        region.new_ann_ids = self._mark_region(region)
        self.regions.append(region)
        return region

    def remove_regions(self, indices: Iterable[int]) -> None:
        """Drop the regions at ``indices`` (a correction replaces them); the labelled state
        is derived again from what remains."""
        drop = {int(k) for k in indices}
        if not drop:
            return
        self.regions = [r for k, r in enumerate(self.regions) if k not in drop]
        self._rebuild()

    def add_objects(self, image_id: int, ann_ids: Iterable[int], cycle: int) -> int:
        """Fine-grained labels: single GT objects of one image; returns the newly labelled.

        Raises :class:`DataError` when an ann id does not belong to the image. Objects
        already labelled (by any route) are not recorded again.
        """
        iid = self._check_image(image_id)
        cyc = _as_int(cycle, "cycle")
        ids = self._check_objects(iid, ann_ids)
        new = self._mark(iid, ids)
        if new:
            entry = self.partial.setdefault(iid, {})
            for a in new:
                entry[a] = cyc
        return len(new)

    def acquire(self, selection: SelectionResult, cycle: int | None = None) -> int:
        """Label what ``selection`` picked through the simulated oracle, in cycle ``cycle``
        (default: the selection's). Images: :meth:`add_full_images`; regions:
        :meth:`add_region` each; boxes: :meth:`add_objects` per image for the queries
        that matched. Returns the newly labelled objects, which equals
        ``selection.spent`` when the pool is in the state the selection was made from.
        """
        from ..selection import COST_GT, Granularity

        if selection.cost_source != COST_GT:
            raise DataError(
                f"a selection whose cost is {selection.cost_source!r} has no ground truth to "
                "acquire (fix: annotate its regions and bring them in with mural import)"
            )
        cyc = selection.cycle if cycle is None else int(cycle)
        before = self.num_labelled()
        g = selection.granularity
        if g is Granularity.IMAGE:
            self.add_full_images([it.image_id for it in selection.items], cyc)
        elif g is Granularity.REGION:
            for r in selection.items:
                self.add_region(r.image_id, r.scale, r.scale_index, r.window, cyc)
        else:
            per: dict[int, list[int]] = {}
            for b in selection.items:
                if b.ann_id is not None:
                    per.setdefault(b.image_id, []).append(b.ann_id)
            for iid, anns in per.items():
                self.add_objects(iid, anns, cyc)
        return self.num_labelled() - before

    # ------------------------------------------------------------------ queries
    def is_labelled(self, image_id: int, ann_id: int) -> bool:
        return int(ann_id) in self._labelled.get(int(image_id), ())

    def labelled_keys(self) -> set[ObjectKey]:
        return {(i, a) for i, s in self._labelled.items() for a in s}

    def _labelled_mask(self, image_id: int) -> NDArray[np.bool_]:
        """``(N,)`` which GT objects of the image are labelled, in annotation order."""
        ids = self._gt_ids(image_id)
        have = self._labelled.get(image_id, set())
        return np.fromiter((a in have for a in ids.tolist()), dtype=bool, count=ids.shape[0])

    def labelled_ann_ids(self, image_id: int) -> NDArray[np.int64]:
        """``(L,)`` labelled GT ann ids of the image, in the dataset's annotation order."""
        iid = int(image_id)
        out: NDArray[np.int64] = self._gt_ids(iid)[self._labelled_mask(iid)]
        return out

    def labelled_boxes(self, image_id: int) -> NDArray[np.float64]:
        """``(L, 4)`` original-pixel boxes of the image's labelled objects (contract §6).

        Labelled GT objects (their full GT box, in annotation order), then region boxes
        that have no GT id, mapped back to original pixels.
        """
        iid = int(image_id)
        out = [self.oracle.reveal(iid)[0][self._labelled_mask(iid)]]
        for r in self.regions:
            if r.image_id != iid or all(a is not None for a in r.ann_ids):
                continue
            frame = self.region_frame(iid, r.scale, r.window)
            drawn = [b for a, b in zip(r.ann_ids, r.boxes, strict=True) if a is None]
            out.append(frame.clip_to_image(frame.window_to_original(drawn)))
        return np.concatenate(out, axis=0).reshape(-1, 4)

    def class_counts(self) -> NDArray[np.int64]:
        """``(C,)`` labelled objects per class (Eq. 4): GT objects once each, plus region
        boxes without a GT id by their category."""
        counts = self._extra_counts.copy()
        for iid, have in self._labelled.items():
            if not have:
                continue
            labels = self.oracle.reveal(iid)[1][self._labelled_mask(iid)]
            counts += np.bincount(labels, minlength=counts.shape[0]).astype(np.int64)
        return counts

    def num_labelled(self) -> int:
        """Labelled objects: ``class_counts().sum()``."""
        return int(sum(len(s) for s in self._labelled.values()) + self._extra_counts.sum())

    def unlabelled_images(self) -> list[int]:
        """``D_U`` in dataset order: images with a GT object not yet labelled, and images
        with no GT objects that were not taken as a full image (taking one costs 0)."""
        out = []
        for iid in self.dataset.image_ids():
            n = self._gt_ids(iid).shape[0]
            if n == 0:
                if iid not in self.full_images:
                    out.append(iid)
            elif len(self._labelled.get(iid, ())) < n:
                out.append(iid)
        return out

    def labelled_images(self) -> list[int]:
        """Images with any labelled object or taken as a full image, in dataset order."""
        return [
            i
            for i in self.dataset.image_ids()
            if i in self.full_images or self._labelled.get(i) or i in self.partial
        ]

    # -------------------------------------------------------------- comparison
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabeledPool):
            return NotImplemented
        return (
            self.visible_threshold == other.visible_threshold
            and self.full_images == other.full_images
            and self.regions == other.regions
            and self.partial == other.partial
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"LabeledPool({len(self.full_images)} full images, {len(self.regions)} regions, "
            f"{len(self.partial)} partial images, {self.num_labelled()} labelled objects)"
        )

    # ------------------------------------------------------------ persistence
    # The file formats live in :mod:`mural.data.pool_store`; these are its faces.
    def to_json(self) -> dict[str, Any]:
        """The ``pool.json`` document (see ``docs/pool.md``)."""
        from .pool_store import pool_to_json

        return pool_to_json(self)

    def to_coco(self) -> dict[str, Any]:
        """A COCO dict of every label event (``labeled.json``; see ``docs/pool.md``)."""
        from .pool_store import pool_to_coco

        return pool_to_coco(self)

    def save(self, directory: str | Path) -> None:
        """Write ``pool.json`` and ``labeled.json`` into ``directory``, each atomically."""
        from .pool_store import save_pool

        save_pool(self, directory)

    @classmethod
    def load(cls, directory: str | Path, dataset: CocoDataset | None = None) -> LabeledPool:
        """Read a pool saved by :meth:`save` (``dataset`` defaults to the one recorded)."""
        from .pool_store import load_pool

        return load_pool(cls, directory, dataset)


def pool_dataset_ref(directory: str | Path) -> tuple[Path | None, Path | None]:
    """``(annotations json, images folder)`` recorded in a pool folder's ``pool.json``."""
    from .pool_store import pool_dataset_ref as ref

    return ref(directory)
