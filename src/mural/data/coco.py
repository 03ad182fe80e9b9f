"""COCO detection datasets: load, validate, query and save (pycocotools-compatible JSON).

A dataset is a COCO JSON file (``images``, ``annotations``, ``categories``; ``bbox`` is
``[x, y, width, height]`` in original image pixels) plus an *image root*, the folder that
each image's ``file_name`` is relative to.

:func:`validate_coco` lists every problem it finds; :meth:`CocoDataset.load` runs the same
checks and raises :class:`mural.errors.DataError` listing them. Rules (see docs/datasets.md):

* a ``bbox`` must be 4 finite numbers with ``width > 0`` and ``height > 0`` that lie inside
  its image up to :data:`BBOX_SLACK` pixels (``-1 <= x``, ``x + width <= image width + 1``,
  same for y); :meth:`CocoDataset.boxes_xyxy` clips boxes to the image;
* ``area`` and ``iscrowd`` are optional (default ``width * height`` and ``0``); ``iscrowd``
  must be 0 or 1. Crowd annotations (``iscrowd=1``) are kept in :attr:`CocoDataset.annotations`
  but are *not* objects: :meth:`~CocoDataset.boxes_xyxy`, :meth:`~CocoDataset.labels` and
  :meth:`~CocoDataset.ann_ids` leave them out (:meth:`~CocoDataset.crowd_boxes_xyxy` gives them);
* image files are checked by reading their header only (PIL, no decoding); the declared
  ``width``/``height`` must equal the stored pixel size (EXIF orientation is not applied).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import atomic_write_json

__all__ = [
    "BBOX_SLACK",
    "MAX_LISTED_PROBLEMS",
    "Annotation",
    "Category",
    "CocoDataset",
    "ImageInfo",
    "Problem",
    "format_problems",
    "validate_coco",
]

#: How far (pixels) a bbox may reach outside its image before it is a problem.
BBOX_SLACK = 1.0
#: How many problems a :class:`~mural.errors.DataError` message lists before "and N more".
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class ImageInfo:
    id: int
    file_name: str
    height: int
    width: int


@dataclass(frozen=True)
class Annotation:
    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]  # COCO xywh, original pixels
    area: float
    iscrowd: int = 0


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    supercategory: str = ""


@dataclass(frozen=True)
class Problem:
    """One problem of a COCO file: ``str(p)`` -> ``"FILE: image 12: field 'x': msg (fix: ...)"``.

    ``entry`` names the kind of entry (``"image"``, ``"annotation"``, ``"category"``) or, when
    the entry has no usable id, its position (``"annotations[5]"``); ``id`` is the entry's id.
    """

    file: str
    id: object | None
    field: str
    message: str
    fix: str = ""
    entry: str = ""

    def __str__(self) -> str:
        parts = [self.file]
        if self.entry and self.id is not None:
            parts.append(f"{self.entry} {self.id}")
        elif self.entry:
            parts.append(self.entry)
        elif self.id is not None:
            parts.append(f"id {self.id}")
        if self.field:
            parts.append(f"field '{self.field}'")
        text = ": ".join([*parts, self.message])
        return f"{text} (fix: {self.fix})" if self.fix else text


def format_problems(problems: Sequence[Problem | str], limit: int = MAX_LISTED_PROBLEMS) -> str:
    """One line per problem, at most ``limit`` of them, then ``"... and N more"``."""
    lines = [str(p) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- checks


#: Ids must fit a signed 64-bit integer (NumPy arrays, pycocotools, SQLite in the tools).
MAX_ID = 2**63
#: Image sides must be below this (pixels).
MAX_SIDE = 2**31


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Checker:
    """Collects :class:`Problem` s for one COCO dict."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, entry: str, id_: object | None, field: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(self.file, id_, field, message, fix, entry))

    def entries(
        self, d: dict[str, Any], kind: str, plural: str, ids: Counter[object]
    ) -> Iterator[tuple[str, object | None, dict[str, Any]]]:
        """The entries of the list ``d[plural]`` that are objects, as ``(label, id or None,
        entry)``; each usable id is counted in ``ids`` and a repeated one is a problem."""
        if plural not in d:
            self.add(
                "", None, plural, f"missing top-level key '{plural}'", f'add "{plural}": [...]'
            )
            return
        value = d[plural]
        if not isinstance(value, list):
            self.add("", None, plural, f"must be a list, got {type(value).__name__}", "")
            return
        for i, e in enumerate(value):
            entry, id_ = self.entry_id(kind, plural, i, e)
            if not isinstance(e, dict):
                continue
            if id_ is not None:
                ids[id_] += 1
                if ids[id_] == 2:
                    self.add(
                        entry, id_, "id", f"duplicate {kind} id", f"give every {kind} a unique id"
                    )
            yield entry, id_, e

    def entry_id(self, kind: str, plural: str, i: int, e: Any) -> tuple[str, object | None]:
        """Label of entry ``i`` and its id when usable (an int), else ``None``."""
        label = f"{plural}[{i}]"
        if not isinstance(e, dict):
            self.add(label, None, "", f"must be an object, got {type(e).__name__}")
        elif "id" not in e:
            self.add(label, None, "id", "missing key", f"give every {kind} an id")
        elif not _is_int(e["id"]):
            self.add(label, None, "id", f"must be an integer, got {e['id']!r}", "")
        elif not -MAX_ID <= e["id"] < MAX_ID:
            self.add(
                label,
                None,
                "id",
                f"{e['id']} is too large (ids must lie within +-2**63)",
                f"renumber the {plural}",
            )
        else:
            return kind, e["id"]
        return label, None

    def require(self, e: dict[str, Any], entry: str, id_: object, keys: Iterable[str]) -> bool:
        ok = True
        for k in keys:
            if k not in e:
                self.add(entry, id_, k, "missing key", f"add '{k}' to this {entry.split('[')[0]}")
                ok = False
        return ok


def _unsafe_file_name(name: str) -> bool:
    """A ``file_name`` that would read outside the image folder (absolute, drive, ``..``)."""
    win = PureWindowsPath(name)
    posix = PurePosixPath(name.replace("\\", "/"))
    return (
        posix.is_absolute()
        or bool(win.drive)
        or win.is_absolute()
        or ".." in posix.parts
        or "\x00" in name
    )


def _check_dict(
    d: Any, file: str, image_root: Path | None, check_images: bool
) -> tuple[list[Problem], dict[object, tuple[int, int]]]:
    """All problems of a parsed COCO dict; also the declared (width, height) per image id."""
    c = _Checker(file)
    sizes: dict[object, tuple[int, int]] = {}
    if not isinstance(d, dict):
        c.add("", None, "", f"top level must be a JSON object, got {type(d).__name__}")
        return c.problems, sizes

    # images
    seen_names: dict[str, object] = {}
    image_ids: Counter[object] = Counter()
    for entry, iid, e in c.entries(d, "image", "images", image_ids):
        c.require(e, entry, iid, ("file_name", "height", "width"))
        name = e.get("file_name")
        if "file_name" in e and (not isinstance(name, str) or not name):
            c.add(entry, iid, "file_name", f"must be a non-empty string, got {name!r}")
            name = None
        elif isinstance(name, str):
            if _unsafe_file_name(name):
                c.add(
                    entry,
                    iid,
                    "file_name",
                    f"{name!r} leaves the image folder (absolute, or with '..')",
                    "give a path relative to the image folder (--images), without '..'",
                )
            if name in seen_names:
                c.add(
                    entry,
                    iid,
                    "file_name",
                    f"duplicate file_name {name!r} (also image {seen_names[name]})",
                    "list every image file once",
                )
            else:
                seen_names[name] = iid
        dims_ok = True
        for k in ("height", "width"):
            if k in e and not (_is_int(e[k]) and 0 < e[k] < MAX_SIDE):
                c.add(entry, iid, k, f"must be a positive integer below {MAX_SIDE}, got {e[k]!r}")
                dims_ok = False
        dims_ok = dims_ok and "height" in e and "width" in e
        if dims_ok and iid is not None and image_ids[iid] == 1:
            sizes[iid] = (e["width"], e["height"])
        if check_images and isinstance(name, str) and image_root is not None:
            _check_image_file(c, entry, iid, name, image_root, e if dims_ok else None)

    # categories
    cat_ids: Counter[object] = Counter()
    cat_names: dict[str, object] = {}
    if d.get("categories") == []:
        c.add("", None, "categories", "empty list", "add at least one category {id, name}")
    for entry, cid, e in c.entries(d, "category", "categories", cat_ids):
        c.require(e, entry, cid, ("name",))
        name = e.get("name")
        if "name" in e and not (isinstance(name, str) and name):
            c.add(entry, cid, "name", f"must be a non-empty string, got {name!r}")
        elif isinstance(name, str):
            if name in cat_names:
                c.add(
                    entry,
                    cid,
                    "name",
                    f"duplicate category name {name!r} (also category {cat_names[name]})",
                    "merge the categories or rename one",
                )
            else:
                cat_names[name] = cid
        sup = e.get("supercategory", "")
        if not isinstance(sup, str):
            c.add(entry, cid, "supercategory", f"must be a string, got {sup!r}")

    # annotations
    ann_ids: Counter[object] = Counter()
    references = (
        ("image_id", "image", image_ids, "add the image to 'images' or remove the annotation"),
        (
            "category_id",
            "category",
            cat_ids,
            "add the category to 'categories' or fix the category_id",
        ),
    )
    for entry, aid, e in c.entries(d, "annotation", "annotations", ann_ids):
        c.require(e, entry, aid, ("image_id", "category_id", "bbox"))
        for key, kind, known, fix in references:
            if key not in e:
                continue
            if not _is_int(e[key]):
                c.add(entry, aid, key, f"must be an integer, got {e[key]!r}")
            elif e[key] not in known:
                c.add(entry, aid, key, f"{kind} {e[key]} does not exist", fix)
        if "bbox" in e:
            img = e.get("image_id")
            _check_bbox(c, entry, aid, e["bbox"], sizes.get(img) if _is_int(img) else None)
        if "area" in e:
            a = e["area"]
            if not (_is_num(a) and math.isfinite(a) and a >= 0):
                c.add(entry, aid, "area", f"must be a finite number >= 0, got {a!r}")
        if "iscrowd" in e and (e["iscrowd"] not in (0, 1) or isinstance(e["iscrowd"], bool)):
            c.add(entry, aid, "iscrowd", f"must be 0 or 1, got {e['iscrowd']!r}")
    return c.problems, sizes


def _check_bbox(
    c: _Checker, entry: str, aid: object, bbox: Any, size: tuple[int, int] | None
) -> None:
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(_is_num(v) for v in bbox)):
        c.add(entry, aid, "bbox", f"must be 4 numbers [x, y, width, height], got {bbox!r}")
        return
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        c.add(entry, aid, "bbox", f"non-finite value in {list(bbox)}", "fix or remove the box")
        return
    if w <= 0 or h <= 0:
        c.add(
            entry,
            aid,
            "bbox",
            f"zero or negative size (width {w:g}, height {h:g})",
            "remove the degenerate box or fix its size",
        )
        return
    if size is None:
        return
    width, height = size
    s = BBOX_SLACK
    if x < -s or y < -s or x + w > width + s or y + h > height + s:
        c.add(
            entry,
            aid,
            "bbox",
            f"[{x:g}, {y:g}, {w:g}, {h:g}] (x1={x + w:g}, y1={y + h:g}) lies outside its "
            f"{width}x{height} image by more than {s:g} px",
            "clip the box to the image or fix the image width/height",
        )


def _check_image_file(
    c: _Checker,
    entry: str,
    iid: object,
    name: str,
    root: Path,
    declared: dict[str, Any] | None,
) -> None:
    from PIL import Image, UnidentifiedImageError

    path = root / name
    if not path.is_file():
        c.add(
            entry,
            iid,
            "file_name",
            f"image file {path} not found",
            "check --images (the folder file_name is relative to) or the file_name",
        )
        return
    try:
        with Image.open(path) as im:  # reads the header only
            w, h = im.size
            mode = im.mode
    except Image.DecompressionBombError as exc:
        c.add(
            entry,
            iid,
            "file_name",
            f"image file {path} is too large to decode safely ({exc})",
            "replace it, or split it into tiles",
        )
        return
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        c.add(entry, iid, "file_name", f"image file {path} is unreadable ({exc})", "replace it")
        return
    if mode == "F" or mode.startswith(("I;32", "F;")):
        c.add(
            entry,
            iid,
            "file_name",
            f"image file {path} has pixel mode {mode} (floating-point or 32-bit), which mural "
            "does not read",
            "save it as 8-bit (or 16-bit) RGB or greyscale",
        )
    if declared is not None and (w, h) != (declared["width"], declared["height"]):
        c.add(
            entry,
            iid,
            "width/height",
            f"declared {declared['width']}x{declared['height']} but {path} is {w}x{h}",
            f"set width={w}, height={h}",
        )


def _read_coco_json(path: Path) -> tuple[Any, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(str(path), None, "", "file not found", "check the path")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), None, "", f"unreadable ({exc})")]
    try:
        return json.loads(text), []
    except RecursionError:
        return None, [
            Problem(str(path), None, "", "JSON nested too deeply to read", "replace the file")
        ]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                str(path),
                None,
                "",
                f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                "fix the JSON syntax",
            )
        ]


def _default_root(json_path: Path, image_root: str | os.PathLike[str] | None) -> Path:
    return Path(image_root) if image_root is not None else json_path.parent


def validate_coco(
    json_path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str] | None = None,
    *,
    check_images: bool = True,
) -> list[Problem]:
    """Every problem of a COCO file (empty list when valid).

    ``images_dir`` is the folder ``file_name`` is relative to (default: the JSON's folder).
    With ``check_images`` each image file must exist, be readable and have the declared size.
    """
    path = Path(json_path)
    d, problems = _read_coco_json(path)
    if problems:
        return problems
    problems, _ = _check_dict(d, str(path), _default_root(path, images_dir), check_images)
    return problems


# ----------------------------------------------------------------------------- dataset


class CocoDataset:
    """A validated COCO detection dataset (treat as immutable; ``subset`` makes new ones).

    Labels: categories sorted by id get labels ``0..C-1``.
    """

    def __init__(
        self,
        images: list[ImageInfo],
        annotations: list[Annotation],
        categories: list[Category],
        image_root: Path | None = None,
        path: Path | None = None,
    ) -> None:
        self.images = list(images)
        self.annotations = list(annotations)
        self.categories = list(categories)
        self.image_root = Path(image_root) if image_root is not None else None
        self.path = Path(path) if path is not None else None
        self._build_index()

    def _build_index(self) -> None:
        self._image_by_id = {im.id: im for im in self.images}
        self._sorted_cats = sorted(self.categories, key=lambda cat: cat.id)
        self._label_by_cat = {cat.id: i for i, cat in enumerate(self._sorted_cats)}
        self._anns_by_image: dict[int, list[Annotation]] = {im.id: [] for im in self.images}
        for a in self.annotations:
            self._anns_by_image.setdefault(a.image_id, []).append(a)
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # --- construction -----------------------------------------------------------------

    @classmethod
    def load(
        cls,
        json_path: str | os.PathLike[str],
        image_root: str | os.PathLike[str] | None = None,
        *,
        check_images: bool = True,
    ) -> CocoDataset:
        """Read and validate a COCO file; :class:`DataError` lists every problem found.

        ``image_root`` defaults to the JSON file's folder.
        """
        path = Path(json_path)
        root = _default_root(path, image_root)
        d, problems = _read_coco_json(path)
        if not problems:
            problems, _ = _check_dict(d, str(path), root, check_images)
        if problems:
            raise DataError(_problems_message(path, problems))
        return cls._from_valid_dict(d, root, path)

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        image_root: str | os.PathLike[str] | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> CocoDataset:
        """Build from a COCO dict; checks its structure (not the image files)."""
        label = str(path) if path is not None else "<dict>"
        problems, _ = _check_dict(d, label, None, False)
        if problems:
            raise DataError(_problems_message(label, problems))
        root = Path(image_root) if image_root is not None else None
        return cls._from_valid_dict(d, root, Path(path) if path is not None else None)

    @classmethod
    def _from_valid_dict(
        cls, d: dict[str, Any], root: Path | None, path: Path | None
    ) -> CocoDataset:
        images = [
            ImageInfo(int(e["id"]), str(e["file_name"]), int(e["height"]), int(e["width"]))
            for e in d["images"]
        ]
        annotations = []
        for e in d["annotations"]:
            x, y, w, h = (float(v) for v in e["bbox"])
            annotations.append(
                Annotation(
                    int(e["id"]),
                    int(e["image_id"]),
                    int(e["category_id"]),
                    (x, y, w, h),
                    float(e.get("area", w * h)),
                    int(e.get("iscrowd", 0)),
                )
            )
        categories = [
            Category(int(e["id"]), str(e["name"]), str(e.get("supercategory", "")))
            for e in d["categories"]
        ]
        return cls(images, annotations, categories, root, path)

    def reference(self) -> dict[str, str | None]:
        """``{"annotations", "images"}``: this dataset's JSON file and image folder as
        absolute paths (``None`` when unknown), as selection documents, export manifests
        and pool files record them; :meth:`from_reference` reads them back."""
        return {
            "annotations": str(self.path.resolve()) if self.path else None,
            "images": str(self.image_root.resolve()) if self.image_root else None,
        }

    @classmethod
    def from_reference(cls, ref: Any, where: str | os.PathLike[str]) -> CocoDataset:
        """The dataset a file's ``dataset`` entry (:meth:`reference`) names, its image
        files not opened; ``where`` (the file) is named when the entry names none."""
        ref = ref if isinstance(ref, dict) else {}
        if not ref.get("annotations"):
            raise DataError(f"{where}: records no dataset (fix: pass --dataset)")
        return cls.load(ref["annotations"], ref.get("images"), check_images=False)

    def to_dict(self) -> dict[str, Any]:
        """The COCO dict (``info``, ``licenses``, ``images``, ``annotations``, ``categories``)."""
        return {
            "info": {"description": "written by mural"},
            "licenses": [],
            "images": [
                {"id": im.id, "file_name": im.file_name, "height": im.height, "width": im.width}
                for im in self.images
            ],
            "annotations": [
                {
                    "id": a.id,
                    "image_id": a.image_id,
                    "category_id": a.category_id,
                    "bbox": list(a.bbox),
                    "area": a.area,
                    "iscrowd": a.iscrowd,
                }
                for a in self.annotations
            ],
            "categories": [
                {"id": cat.id, "name": cat.name, "supercategory": cat.supercategory}
                for cat in self.categories
            ],
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the COCO JSON atomically (``pycocotools.coco.COCO(path)`` opens it)."""
        atomic_write_json(path, self.to_dict(), indent=None)

    # --- queries ----------------------------------------------------------------------

    def image(self, image_id: int) -> ImageInfo:
        try:
            return self._image_by_id[image_id]
        except KeyError:
            raise DataError(f"{self._name()}: image {image_id} does not exist") from None

    def image_path(self, image_id: int) -> Path:
        """``image_root / file_name`` of an image."""
        info = self.image(image_id)
        if self.image_root is None:
            raise DataError(
                f"{self._name()}: no image root set, cannot locate image {image_id} "
                f"({info.file_name!r}) (fix: pass image_root)"
            )
        return self.image_root / info.file_name

    def image_ids(self) -> list[int]:
        """Image ids in file order."""
        return [im.id for im in self.images]

    def annotations_of(self, image_id: int) -> list[Annotation]:
        """All annotations of an image in file order, crowd ones included."""
        self.image(image_id)
        return list(self._anns_by_image.get(image_id, []))

    def _object_arrays(self, image_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cached = self._arrays.get(image_id)
        if cached is not None:
            return cached
        info = self.image(image_id)
        objs = [a for a in self._anns_by_image.get(image_id, []) if not a.iscrowd]
        ids = np.array([a.id for a in objs], dtype=np.int64)
        boxes = _xyxy_clipped([a.bbox for a in objs], info)
        labels = np.array([self._label_by_cat[a.category_id] for a in objs], dtype=np.int64)
        out = (ids, boxes, labels)
        self._arrays[image_id] = out
        return out

    def ann_ids(self, image_id: int) -> np.ndarray:
        """(N,) int64 ids of the image's objects (non-crowd), same order as ``boxes_xyxy``."""
        return self._object_arrays(image_id)[0].copy()

    def boxes_xyxy(self, image_id: int) -> np.ndarray:
        """(N, 4) float64 ``x0, y0, x1, y1`` of the image's objects, original pixels,
        clipped to the image."""
        return self._object_arrays(image_id)[1].copy()

    def labels(self, image_id: int) -> np.ndarray:
        """(N,) int64 class labels ``0..C-1`` of the image's objects."""
        return self._object_arrays(image_id)[2].copy()

    def crowd_boxes_xyxy(self, image_id: int) -> np.ndarray:
        """(K, 4) float64 boxes of the image's ``iscrowd=1`` annotations, clipped."""
        info = self.image(image_id)
        crowd = [a.bbox for a in self._anns_by_image.get(image_id, []) if a.iscrowd]
        return _xyxy_clipped(crowd, info)

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    @property
    def class_names(self) -> list[str]:
        """Category names in label order (categories sorted by id)."""
        return [cat.name for cat in self._sorted_cats]

    def label_of(self, category_id: int) -> int:
        try:
            return self._label_by_cat[category_id]
        except KeyError:
            raise DataError(f"{self._name()}: category {category_id} does not exist") from None

    def category_of(self, label: int) -> int:
        if not 0 <= label < len(self._sorted_cats):
            raise DataError(
                f"{self._name()}: label {label} out of range 0..{len(self._sorted_cats) - 1}"
            )
        return self._sorted_cats[label].id

    def subset(self, image_ids: Iterable[int]) -> CocoDataset:
        """The given images (kept in this dataset's file order) with their annotations and
        all categories; same image root, no path."""
        wanted = set(image_ids)
        missing = wanted - self._image_by_id.keys()
        if missing:
            raise DataError(
                f"{self._name()}: subset asks for images that do not exist: {sorted(missing)[:10]}"
            )
        images = [im for im in self.images if im.id in wanted]
        anns = [a for a in self.annotations if a.image_id in wanted]
        return CocoDataset(images, anns, self.categories, self.image_root, None)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (
            f"CocoDataset({self._name()}: {len(self.images)} images, "
            f"{len(self.annotations)} annotations, {len(self.categories)} categories)"
        )

    def _name(self) -> str:
        return str(self.path) if self.path is not None else "<dataset>"


def _xyxy_clipped(
    bboxes: Sequence[tuple[float, float, float, float]], info: ImageInfo
) -> np.ndarray:
    arr = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    xyxy = np.concatenate([arr[:, :2], arr[:, :2] + arr[:, 2:]], axis=1)
    w, h = float(info.width), float(info.height)
    return np.asarray(np.clip(xyxy, 0.0, [w, h, w, h]), dtype=np.float64)


def _problems_message(path: object, problems: Sequence[Problem]) -> str:
    n = len(problems)
    if n == 1:  # one line: the problem names the file, entry, field and fix
        return str(problems[0])
    head = f"{path}: {n} problems in COCO dataset"
    return head + "\n" + format_problems(problems)
