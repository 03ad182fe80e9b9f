"""The selection document: what a strategy or ``mural select`` picked, and with what.

One typed, versioned document (:class:`SelectionResult`, ``"format":
"mural-selection/2"``) serves the loop's ``RUN_DIR/cycle_NN/selection.json``, the output
of ``mural select`` and the input of ``mural export``; it is read and written only here
(:func:`read_selection`, :func:`write_selection`). The picks are images, regions or
boxes (:class:`Granularity`), listed in the order taken under the key named by the kind::

    {"format": "mural-selection/2", "kind": "regions", "strategy": "mural",
     "options": {...}, "cycle": 1, "budget": 500, "spent": 503, "budget_used": 503,
     "cost": "ground truth", "score_threshold": 0.05, "scales": [[480, 512], ...],
     "seed": 123, "visible_threshold": 0.7, ..., "regions": [{...}, ...]}

``spent`` is the number of objects the selection newly labels (or, with ``cost``
``"estimated from predictions"``, the predicted objects it is estimated to label);
``budget_used`` the budget consumed (box queries for the fine-grained baselines).
Every document records the parameters it ran with (strategy and options, score
threshold, scales, budget, seed) so that a comparison can be audited. A loop document
written before this format (no ``"format"`` key, picks under ``"items"``) is still read.

Only the standard library is imported here.
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError

__all__ = [
    "COST_ESTIMATED",
    "COST_GT",
    "SELECTION_FORMAT",
    "BoxPick",
    "Granularity",
    "ImagePick",
    "RegionPick",
    "SelectionResult",
    "read_selection",
    "task_id_of",
    "write_selection",
]

SELECTION_FORMAT = "mural-selection/2"
#: ``cost``: what ``spent`` counts. The simulated oracle's ground-truth objects, or the
#: predicted objects a region holds (``mural select`` without ground truth).
COST_GT = "ground truth"
COST_ESTIMATED = "estimated from predictions"
COSTS = (COST_GT, COST_ESTIMATED)

ObjectKey = tuple[int, int]


class Granularity(str, enum.Enum):
    """What a strategy selects: whole images, regions (contract §1) or single boxes."""

    IMAGE = "image"
    REGION = "region"
    BOX = "box"

    @property
    def kind(self) -> str:
        """The document's ``kind`` (and the key its picks are listed under)."""
        return self.value + ("es" if self is Granularity.BOX else "s")

    @classmethod
    def of_kind(cls, kind: str) -> Granularity:
        for g in cls:
            if g.kind == kind:
                return g
        raise ConfigError(f"selection: kind must be 'images', 'regions' or 'boxes', got {kind!r}")


def task_id_of(image_id: int, scale_index: int, window: tuple[int, ...]) -> str:
    """A region's stable, file-name-safe id, e.g. ``img12_s0_x40_y0``."""
    return f"img{image_id}_s{scale_index}_x{window[0]}_y{window[1]}"


# ----------------------------------------------------------------------------- picks
@dataclass
class ImagePick:
    """A whole image: its score and the objects it newly labels (with COCO category ids)."""

    image_id: int
    score: float
    new_objects: list[ObjectKey] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)


@dataclass
class RegionPick:
    """A region (contract §1) on scale ``scale_index``; ``window`` in scaled pixels.

    ``new_objects``/``categories``: the ground-truth objects it newly labels (empty when
    the cost is estimated). The optional fields describe the region for annotation:
    ``image_size`` ``(H, W)`` original pixels, ``scaled_size`` ``(h, w)``, ``file_name``,
    ``estimated_cost`` (predicted objects it newly holds) and ``predictions`` (the
    detections above the threshold inside it, window pixels: ``category_id``, ``box``,
    ``score``).
    """

    image_id: int
    scale_index: int
    scale: tuple[int, int]
    window: tuple[int, int, int, int]
    score: float
    new_objects: list[ObjectKey] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)
    image_size: tuple[int, int] | None = None
    scaled_size: tuple[int, int] | None = None
    file_name: str | None = None
    estimated_cost: int | None = None
    predictions: list[dict[str, Any]] | None = None

    @property
    def task_id(self) -> str:
        return task_id_of(self.image_id, self.scale_index, self.window)

    def window_original(self) -> tuple[float, float, float, float] | None:
        """The window in original pixels (contract §1), when ``image_size`` is known."""
        if self.image_size is None:
            return None
        from .core.geometry import RegionFrame

        x0, y0, x1, y1 = RegionFrame.at(
            self.image_size, self.scale, self.window
        ).window_in_original()
        return (float(x0), float(y0), float(x1), float(y1))


@dataclass
class BoxPick:
    """One box query: the detection that asked and the GT object it labelled (if any).

    ``box`` is the detection in original pixels; ``ann_id`` is ``None`` when no
    not-yet-labelled GT object matched with IoU ``>= 0.5`` (the query still cost 1).
    """

    image_id: int
    ann_id: int | None
    box: tuple[float, float, float, float]
    score: float
    label: int
    confidence: float
    iou: float
    category: int | None = None


# ---------------------------------------------------------------------------- document
@dataclass
class SelectionResult:
    """What a selection picked, in the order taken, and the parameters it ran with.

    Attributes:
        kind: ``"images"``, ``"regions"`` or ``"boxes"`` (:attr:`granularity`).
        strategy: the strategy's registered name; ``options`` its validated options.
        cycle: the cycle the picks are labelled in.
        budget: ``B``; ``cost``: budget consumed; ``spent``: objects newly labelled
            (estimated when ``cost_source`` is :data:`COST_ESTIMATED`).
        items: :class:`ImagePick`, :class:`RegionPick` or :class:`BoxPick` list.
        cost_source: :data:`COST_GT` or :data:`COST_ESTIMATED` (JSON key ``cost``).
        score_threshold, scales, seed, visible_threshold: the parameters it ran with.
        estimated_spent: the predicted objects the picks hold (``mural select``).
        dataset: ``{"annotations": path, "images": path}`` when known.
        categories: ``[{"id", "name"}]`` of the dataset.
        inputs: where the inputs came from (free-form: pool, prediction files).
    """

    kind: str
    strategy: str
    cycle: int
    budget: float
    items: list[Any] = field(default_factory=list)
    spent: int = 0
    cost: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    cost_source: str = COST_GT
    score_threshold: float | None = None
    scales: list[tuple[int, int]] = field(default_factory=list)
    seed: int | None = None
    visible_threshold: float | None = None
    estimated_spent: int | None = None
    dataset: dict[str, str | None] | None = None
    categories: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def granularity(self) -> Granularity:
        return Granularity.of_kind(self.kind)

    # --- derived ----------------------------------------------------------------
    def new_objects(self) -> list[ObjectKey]:
        """Every newly labelled object ``(image_id, ann_id)`` in pick order."""
        if self.granularity is Granularity.BOX:
            return [(b.image_id, b.ann_id) for b in self.items if b.ann_id is not None]
        return [k for it in self.items for k in it.new_objects]

    def category_distribution(self) -> dict[int, int]:
        """Newly labelled GT objects per COCO category id (sums to ``spent`` under
        ground-truth cost)."""
        if self.granularity is Granularity.BOX:
            cats = [b.category for b in self.items if b.ann_id is not None]
        else:
            cats = [c for it in self.items for c in it.categories]
        return dict(sorted(Counter(int(c) for c in cats).items()))

    def category_names(self) -> dict[int, str]:
        return {int(c["id"]): str(c["name"]) for c in self.categories}

    def image_ids(self) -> list[int]:
        """Distinct images touched, in first-pick order."""
        return list(dict.fromkeys(int(it.image_id) for it in self.items))

    # --- JSON ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON document (``from_json(to_json(r)) == r``)."""
        g = self.granularity
        items: list[dict[str, Any]] = []
        for it in self.items:
            d = {k: v for k, v in vars(it).items() if v is not None or k in ("ann_id", "category")}
            if "new_objects" in d:
                d["new_objects"] = [[int(a), int(b)] for a, b in d["new_objects"]]
            for k in ("scale", "window", "box", "image_size", "scaled_size"):
                if k in d:
                    d[k] = list(d[k])
            if g is Granularity.REGION:
                d["task_id"] = it.task_id
                wo = it.window_original()
                if wo is not None:
                    d["window_original"] = list(wo)
                if self.cost_source == COST_GT:
                    d["cost"] = len(it.new_objects)
            items.append(d)
        doc: dict[str, Any] = {
            "format": SELECTION_FORMAT,
            "kind": self.kind,
            "strategy": self.strategy,
            "options": self.options,
            "cycle": self.cycle,
            "budget": self.budget,
            "spent": self.spent,
            "budget_used": self.cost,
            "cost": self.cost_source,
            "score_threshold": self.score_threshold,
            "scales": [list(s) for s in self.scales],
            "seed": self.seed,
            "visible_threshold": self.visible_threshold,
        }
        if self.estimated_spent is not None:
            doc["estimated_spent"] = self.estimated_spent
        doc["dataset"] = self.dataset
        doc["categories"] = self.categories
        doc["inputs"] = self.inputs
        doc["category_distribution"] = {str(k): v for k, v in self.category_distribution().items()}
        doc[self.kind] = items
        return doc

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SelectionResult:
        """Inverse of :meth:`to_json`; a malformed document raises :class:`ConfigError`
        naming the field. Also reads the loop's earlier, unversioned documents."""
        if not isinstance(d, Mapping):
            raise ConfigError("selection: not a JSON object")
        fmt = d.get("format")
        legacy = fmt is None
        if not legacy and fmt != SELECTION_FORMAT:
            raise ConfigError(
                f"selection: field 'format' must be {SELECTION_FORMAT!r}, got {fmt!r}"
                + (" (written by an older mural select: select again)" if fmt else "")
            )
        g = Granularity.of_kind(d.get("kind"))  # type: ignore[arg-type]
        where = "items" if legacy else g.kind
        make = _MAKERS[g]
        fld = where
        try:
            raw = d[where]
            if not isinstance(raw, list):
                raise TypeError(f"a list, got {type(raw).__name__}")
            items = []
            for k, e in enumerate(raw):
                fld = f"{where}[{k}]"
                items.append(make(e))
            fld = "strategy"
            strategy = str(d["strategy"])
            fld = "cycle"
            cycle = _int(d["cycle"])
            fld = "budget"
            budget = _num(d["budget"])
            fld = "spent"
            spent = _int(d["spent"])
            fld = "budget_used"
            cost = _int(d["cost"] if legacy else d["budget_used"])
            fld = "options"
            options = dict(d.get("options") or {})
            out = cls(
                kind=g.kind,
                strategy=strategy,
                cycle=cycle,
                budget=budget,
                items=items,
                spent=spent,
                cost=cost,
                options=options,
            )
            if legacy:
                names = d.get("category_names") or {}
                out.categories = [{"id": int(k), "name": str(v)} for k, v in names.items()]
                return out
            fld = "cost"
            out.cost_source = str(d["cost"])
            if out.cost_source not in COSTS:
                raise ValueError(f"one of {COSTS}")
            fld = "score_threshold"
            out.score_threshold = _opt(_num, d.get("score_threshold"))
            fld = "scales"
            out.scales = [(_int(a), _int(b)) for a, b in d.get("scales") or []]
            fld = "seed"
            out.seed = _opt(_int, d.get("seed"))
            fld = "visible_threshold"
            out.visible_threshold = _opt(_num, d.get("visible_threshold"))
            fld = "estimated_spent"
            out.estimated_spent = _opt(_int, d.get("estimated_spent"))
            fld = "dataset"
            ds = d.get("dataset")
            out.dataset = None if ds is None else {str(k): v for k, v in dict(ds).items()}
            fld = "categories"
            out.categories = [
                {"id": _int(c["id"]), "name": str(c["name"])} for c in d.get("categories") or []
            ]
            fld = "inputs"
            out.inputs = dict(d.get("inputs") or {})
            return out
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc) or repr(exc)
            raise ConfigError(f"selection: malformed field '{fld}' ({what})") from None


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ValueError(f"an integer, got {v!r}")
    return int(v)


def _num(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        raise ValueError(f"a number, got {v!r}")
    return v


def _opt(conv: Callable[[Any], Any], v: Any) -> Any:
    return None if v is None else conv(v)


def _pair(v: Any) -> tuple[int, int]:
    a, b = v
    return (_int(a), _int(b))


def _objects(v: Any) -> list[ObjectKey]:
    return [(_int(a), _int(b)) for a, b in v]


def _image(e: Mapping[str, Any]) -> ImagePick:
    return ImagePick(
        _int(e["image_id"]),
        float(e["score"]),
        _objects(e["new_objects"]),
        [_int(c) for c in e["categories"]],
    )


def _region(e: Mapping[str, Any]) -> RegionPick:
    w = tuple(_int(v) for v in e["window"])
    if len(w) != 4:
        raise ValueError(f"a window of 4 integers, got {e['window']!r}")
    preds = e.get("predictions")
    return RegionPick(
        _int(e["image_id"]),
        _int(e["scale_index"]),
        _pair(e["scale"]),
        w,
        float(e["score"]),
        _objects(e.get("new_objects", [])),
        [_int(c) for c in e.get("categories", [])],
        image_size=_opt(_pair, e.get("image_size")),
        scaled_size=_opt(_pair, e.get("scaled_size")),
        file_name=_opt(str, e.get("file_name")),
        estimated_cost=_opt(_int, e.get("estimated_cost")),
        predictions=None if preds is None else [dict(p) for p in preds],
    )


def _box(e: Mapping[str, Any]) -> BoxPick:
    b = tuple(float(v) for v in e["box"])
    if len(b) != 4:
        raise ValueError(f"a box of 4 numbers, got {e['box']!r}")
    return BoxPick(
        _int(e["image_id"]),
        _opt(_int, e["ann_id"]),
        b,
        float(e["score"]),
        _int(e["label"]),
        float(e["confidence"]),
        float(e["iou"]),
        _opt(_int, e.get("category")),
    )


_MAKERS: dict[Granularity, Callable[[Mapping[str, Any]], Any]] = {
    Granularity.IMAGE: _image,
    Granularity.REGION: _region,
    Granularity.BOX: _box,
}


# ---------------------------------------------------------------------------- files
def read_selection(path: str | os.PathLike[str]) -> SelectionResult:
    """Read a selection document; a damaged or foreign file raises :class:`DataError`
    naming the file and the field."""
    from .io import read_json

    p = Path(path)
    try:
        doc = read_json(p)
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable selection file ({exc})") from None
    try:
        return SelectionResult.from_json(doc)
    except ConfigError as exc:
        msg = str(exc).removeprefix("selection: ")
        raise DataError(f"{p}: not a mural selection file: {msg}") from None


def write_selection(path: str | os.PathLike[str], selection: SelectionResult) -> None:
    """Write ``selection`` atomically as JSON."""
    from .io import atomic_write_json

    atomic_write_json(path, _plain(selection.to_json()))


def _plain(x: Any) -> Any:
    """JSON-ready copy: NumPy scalars and arrays become Python numbers and lists."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    tolist = getattr(x, "tolist", None)
    if tolist is not None and not isinstance(x, (str, bytes)):
        return tolist()
    return x
