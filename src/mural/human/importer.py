"""Import human annotations of exported regions back into the labelled pool.

Reads Label Studio's "JSON" export, CVAT for images 1.1 XML, or COCO JSON; maps each box
from crop pixels (= window pixels) to the region. Three steps:

1. **parse** (:func:`parse_annotations`): the tool's file -> one :class:`TaskAnnotation`
   per task, and the tasks the file says nobody finished;
2. **plan** (:func:`plan_import`): which tasks are finished, each box validated and
   clipped, and per task ``add``, ``replace`` (a correction) or ``skip`` (already in the
   pool) -- every problem collected, nothing changed;
3. **apply** (:func:`apply_plan`) and save, only when the plan has no problem; else a
   :class:`~mural.errors.DataError` lists every problem and the pool folder is untouched.

Rules (also in ``docs/human-in-the-loop.md``):

- a task is found by ``data.mural_task`` (Label Studio) or by its crop file name;
- **finished**: Label Studio: the task has a submitted annotation (not skipped; drafts
  are not annotations); CVAT and COCO: the files do not say, so a task is finished only
  when ``done`` names it (or is ``"all"``); every other task is pending and left alone;
- every box the annotator drew is a labelled object of the region, clipped to the crop
  and to the part of the crop that shows the image (not the padding); a box with the
  label ``ignore`` is an ignore area instead (hidden in training, not taught);
- a box may pass the crop's edge by at most ``tolerance`` crop pixels (default 1.0), else
  it is an error; a box lying on the padding only is an error naming the padding; after
  clipping both sides must be at least ``min_side`` (0.1 px);
- a region already in the pool with the same boxes (within ``1e-6`` px), categories and
  ignore areas is skipped (importing twice changes nothing); with different ones the
  file's annotation is a **correction** and replaces the pool's ("replaced");
- with ground truth in the dataset, each drawn box is matched to a GT object the region
  labels (same category, IoU >= 0.5 after clipping, greedy by IoU) so the pool counts
  it once as that object; unmatched boxes are human boxes with no GT id.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import numpy as np

from ..core import RegionFrame, box_iou
from ..errors import ConfigError, DataError
from ..io import read_json
from .tasks import TaskIndex, load_tasks

if TYPE_CHECKING:
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool

__all__ = [
    "IMPORT_FORMATS",
    "DrawnBox",
    "ImportPlan",
    "TaskAnnotation",
    "TaskPlan",
    "apply_plan",
    "detect_format",
    "import_annotations",
    "parse_annotations",
    "plan_import",
]

IMPORT_FORMATS = ("label-studio", "cvat", "coco")
TOLERANCE = 1.0
MIN_SIDE = 0.1
SAME_ATOL = 1e-6
MAX_LISTED = 30
_LS_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


@dataclass
class DrawnBox:
    """A box as drawn: its label, ``xyxy`` in crop pixels, and where it was found."""

    label: str
    box: tuple[float, float, float, float]
    where: str


@dataclass
class TaskAnnotation:
    """The annotation of one task as found in a tool's file."""

    ref: str  # task id or crop file name
    where: str  # e.g. "task 12" or "image 'img1_s0_x0_y0.png'"
    boxes: list[DrawnBox] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (W, H) the tool reports, when it does


def _f(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("boolean")
    x = float(v)
    if not math.isfinite(x):
        raise ValueError("not finite")
    return x


# ------------------------------------------------------------------------ parsers
def detect_format(path: str | os.PathLike[str]) -> str:
    """``"cvat"`` for XML, ``"label-studio"`` for a JSON list, ``"coco"`` for a COCO dict."""
    p = Path(path)
    if p.suffix.lower() == ".xml":
        return "cvat"
    data = read_json(p)
    if isinstance(data, list):
        return "label-studio"
    if isinstance(data, dict) and "images" in data:
        return "coco"
    raise DataError(
        f"{p}: cannot tell the format (expected Label Studio's JSON export: a list of tasks; "
        "a COCO dict with 'images'; or CVAT XML) (fix: pass --format)"
    )


def _ls_ref(task: dict[str, Any]) -> str | None:
    data = task.get("data")
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("mural_task"), str):
        return str(data["mural_task"])
    img = data.get("image")
    if isinstance(img, str) and img:
        return PurePosixPath(unquote(img.split("?d=")[-1])).name
    return None


def parse_label_studio(path: Path) -> tuple[list[TaskAnnotation], list[str]]:
    """Label Studio's JSON export -> finished tasks, and the refs of the pending ones.

    Finished: the task has an annotation that was submitted, not skipped
    (``was_cancelled``). Drafts (the task's ``drafts``) and predictions are not
    annotations; with several annotations the latest (``updated_at``) counts.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: Label Studio's JSON export is a list of tasks")
    out, pending = [], []
    for i, task in enumerate(data):
        if not isinstance(task, dict):
            raise DataError(f"{path}: task [{i}]: must be an object")
        ref = _ls_ref(task)
        where = f"task {task.get('id', f'[{i}]')}"
        if ref is None:
            raise DataError(
                f"{path}: {where}: no 'data.mural_task' nor 'data.image' "
                "(fix: export with Label Studio's 'JSON' format, not 'JSON-MIN')"
            )
        where += f" ({ref})"
        anns = task.get("annotations", task.get("completions", []))
        if not isinstance(anns, list):
            raise DataError(f"{path}: {where}: field 'annotations' must be a list")
        done = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled", False)]
        if not done:
            pending.append(ref)
            continue
        ann = max(
            enumerate(done),
            key=lambda ka: (str(ka[1].get("updated_at") or ka[1].get("created_at") or ""), ka[0]),
        )[1]
        ta = TaskAnnotation(ref, where)
        result = ann.get("result", [])
        if not isinstance(result, list):
            raise DataError(f"{path}: {where}: field 'result' must be a list")
        for k, r in enumerate(result):
            rwhere = f"result {k}" + (
                f" (id {r['id']})" if isinstance(r, dict) and "id" in r else ""
            )
            if not isinstance(r, dict):
                raise DataError(f"{path}: {where}: {rwhere}: must be an object")
            if r.get("type") not in ("rectanglelabels", "rectangle"):
                continue  # other controls (choices, text ...) carry no boxes
            v = r.get("value")
            try:
                assert isinstance(v, dict)
                x, y, w, h = (_f(v[key]) for key in ("x", "y", "width", "height"))
                rot = _f(v.get("rotation", 0) or 0)
            except (AssertionError, KeyError, TypeError, ValueError):
                raise DataError(
                    f"{path}: {where}: {rwhere}: field 'value' needs finite x, y, width, height "
                    "(percent of the image)"
                ) from None
            if abs(rot) > 1e-6:
                raise DataError(
                    f"{path}: {where}: {rwhere}: rotated box (rotation {rot:g}); mural takes "
                    'axis-aligned boxes (fix: canRotate="false" in the labeling config)'
                )
            labels = v.get("rectanglelabels")
            if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
                raise DataError(
                    f"{path}: {where}: {rwhere}: field 'rectanglelabels' must hold exactly one "
                    f"label, got {labels!r}"
                )
            ow, oh = r.get("original_width"), r.get("original_height")
            if isinstance(ow, int) and isinstance(oh, int):
                if ta.size is not None and ta.size != (ow, oh):
                    raise DataError(f"{path}: {where}: results disagree on the image size")
                ta.size = (ow, oh)
            # percent of the crop, converted once the crop size is known (see _to_pixels)
            ta.boxes.append(DrawnBox(labels[0], (x, y, x + w, y + h), f"{rwhere}, percent"))
        out.append(ta)
    return out, pending


_CVAT_SHAPES = ("polygon", "polyline", "points", "mask", "cuboid", "ellipse", "skeleton")


def parse_cvat(path: Path) -> list[TaskAnnotation]:
    """CVAT for images 1.1 XML -> one annotation per ``<image>`` (every image counts)."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid XML ({exc})") from None
    if root.tag != "annotations":
        raise DataError(f"{path}: root element must be <annotations> (CVAT for images 1.1)")
    if root.find("track") is not None:
        raise DataError(
            f"{path}: has <track> elements (CVAT for video) (fix: export as 'CVAT for images 1.1')"
        )
    out = []
    for i, im in enumerate(root.iter("image")):
        name = im.get("name")
        if not name:
            raise DataError(f"{path}: <image> [{i}]: missing attribute 'name'")
        ref = PurePosixPath(name).name
        where = f"image {name!r}"
        ta = TaskAnnotation(ref, where)
        try:
            ta.size = (int(im.get("width", "")), int(im.get("height", "")))
        except ValueError:
            ta.size = None
        for k, el in enumerate(im):
            if el.tag == "tag":
                continue
            if el.tag in _CVAT_SHAPES:
                raise DataError(
                    f"{path}: {where}: <{el.tag}> [{k}]: mural imports boxes only "
                    "(fix: draw rectangles, or delete the shape)"
                )
            if el.tag != "box":
                continue
            bwhere = f"box {k}"
            try:
                x0, y0, x1, y1 = (_f(el.get(a, "")) for a in ("xtl", "ytl", "xbr", "ybr"))
                rot = _f(el.get("rotation", "0"))
            except ValueError:
                raise DataError(
                    f"{path}: {where}: {bwhere}: attributes xtl, ytl, xbr, ybr must be numbers"
                ) from None
            if abs(rot) > 1e-6:
                raise DataError(f"{path}: {where}: {bwhere}: rotated box (rotation {rot:g})")
            label = el.get("label")
            if not label:
                raise DataError(f"{path}: {where}: {bwhere}: missing attribute 'label'")
            ta.boxes.append(DrawnBox(label, (x0, y0, x1, y1), bwhere))
        out.append(ta)
    return out


def parse_coco(path: Path, fallback_categories: dict[int, str]) -> list[TaskAnnotation]:
    """COCO JSON whose images are the crops -> one annotation per image."""
    d = read_json(path)
    if not isinstance(d, dict) or not isinstance(d.get("images"), list):
        raise DataError(f"{path}: a COCO file needs an 'images' list")
    anns = d.get("annotations", [])
    cats_in = d.get("categories")
    names = dict(fallback_categories)
    if isinstance(cats_in, list) and cats_in:
        try:
            names = {int(c["id"]): str(c["name"]) for c in cats_in}
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: 'categories' entries need 'id' and 'name'") from None
    by_image: dict[Any, TaskAnnotation] = {}
    out = []
    for i, im in enumerate(d["images"]):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise DataError(f"{path}: images[{i}]: needs 'id' and 'file_name'")
        ref = PurePosixPath(im["file_name"].replace("\\", "/")).name  # only the name counts
        ta = TaskAnnotation(ref, f"image {im['id']} ({im['file_name']})")
        if isinstance(im.get("width"), int) and isinstance(im.get("height"), int):
            ta.size = (im["width"], im["height"])
        by_image[im["id"]] = ta
        out.append(ta)
    if not isinstance(anns, list):
        raise DataError(f"{path}: 'annotations' must be a list")
    for k, a in enumerate(anns):
        where = f"annotation {a.get('id', f'[{k}]')}" if isinstance(a, dict) else f"[{k}]"
        if not isinstance(a, dict) or a.get("image_id") not in by_image:
            raise DataError(f"{path}: {where}: field 'image_id': unknown image")
        ta = by_image[a["image_id"]]
        cid = a.get("category_id")
        if cid not in names:
            raise DataError(
                f"{path}: {ta.where}: {where}: field 'category_id': unknown category {cid!r}"
            )
        try:
            x, y, w, h = (_f(v) for v in a["bbox"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{path}: {ta.where}: {where}: field 'bbox' must be [x, y, w, h] numbers"
            ) from None
        ta.boxes.append(DrawnBox(names[cid], (x, y, x + w, y + h), where))
    return out


def parse_annotations(
    path: str | os.PathLike[str], fmt: str = "auto", categories: dict[int, str] | None = None
) -> tuple[str, list[TaskAnnotation], list[str]]:
    """``(format, annotated tasks, refs of tasks not annotated yet)`` of a tool's file."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: file not found")
    if fmt == "auto":
        fmt = detect_format(p)
    if fmt == "label-studio":
        tasks, pending = parse_label_studio(p)
        return fmt, tasks, pending
    if fmt == "cvat":
        return fmt, parse_cvat(p), []
    if fmt == "coco":
        return fmt, parse_coco(p, categories or {}), []
    raise ConfigError(f"unknown annotation format {fmt!r}; known: {list(IMPORT_FORMATS)}")


# ------------------------------------------------------------------------ import
def _match_gt(
    boxes: np.ndarray, cats: list[int], gt_boxes: np.ndarray, gt_cats: list[int]
) -> list[int | None]:
    """Per drawn box, the index of its GT object (greedy by IoU >= 0.5, same category)."""
    out: list[int | None] = [None] * boxes.shape[0]
    if not boxes.shape[0] or not gt_boxes.shape[0]:
        return out
    iou = box_iou(boxes, gt_boxes)
    same = np.array(cats)[:, None] == np.array(gt_cats)[None, :]
    iou = np.where(same, iou, -1.0)
    pairs = sorted(
        ((float(iou[i, j]), i, j) for i, j in zip(*np.nonzero(iou >= 0.5), strict=True)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_b: set[int] = set()
    used_g: set[int] = set()
    for _, i, j in pairs:
        if i not in used_b and j not in used_g:
            out[i] = int(j)
            used_b.add(i)
            used_g.add(j)
    return out


def _same(a: list[list[float]], b: list[list[float]]) -> bool:
    x = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    y = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if x.shape != y.shape:
        return False
    return bool(np.allclose(x[np.lexsort(x.T[::-1])], y[np.lexsort(y.T[::-1])], atol=SAME_ATOL))


# ------------------------------------------------------------------------ plan
@dataclass
class TaskPlan:
    """What importing one finished task does: ``add``, ``replace`` or ``skip``."""

    task: dict[str, Any]  # the manifest's task
    cycle: int
    action: str
    boxes: list[list[float]]  # labelled boxes, window pixels, clipped to the image
    cats: list[int]
    ignore: list[list[float]]
    replaces: int | None = None  # index of the pool region a correction replaces


@dataclass
class ImportPlan:
    """Everything an import will do, decided before the pool is touched."""

    tasks: list[TaskPlan] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # task ids (or refs) not finished
    problems: list[str] = field(default_factory=list)


def _done_set(done: str | Sequence[str] | None) -> set[str] | str | None:
    if done is None or done == "all":
        return done
    if isinstance(done, str):
        done = done.split(",")
    return {d.strip() for d in done if d.strip()}


def _clip_task_boxes(
    ta: TaskAnnotation,
    t: dict[str, Any],
    dataset: CocoDataset,
    where: str,
    cat_by_name: dict[str, int],
    ignore_label: str,
    tolerance: float,
    min_side: float,
    problems: list[str],
) -> tuple[list[list[float]], list[int], list[list[float]]]:
    """A task's drawn boxes in window pixels, clipped to the part of the crop showing the
    image; every problem appended to ``problems``."""
    h, w = (int(v) for v in t["crop_size"])
    info = dataset.image(int(t["image_id"]))
    x0w, y0w = int(t["window"][0]), int(t["window"][1])
    frame = RegionFrame.at((info.height, info.width), t["scale"], (x0w, y0w, x0w + w, y0w + h))
    # the image's part of the crop: its scaled extent (W * f, H * f), not the padding
    _, _, iw, ih = (float(v) for v in frame.original_to_window((0, 0, info.width, info.height))[0])
    cw, ch = min(float(w), iw), min(float(h), ih)
    known_labels = sorted([*cat_by_name, ignore_label])
    boxes: list[list[float]] = []
    cats: list[int] = []
    ign: list[list[float]] = []
    tol = float(tolerance)
    for b in ta.boxes:
        bw = f"{where}: {b.where}"
        x0, y0, x1, y1 = b.box
        if b.where.endswith("percent"):
            x0, x1 = x0 * w / 100.0, x1 * w / 100.0
            y0, y1 = y0 * h / 100.0, y1 * h / 100.0
        if b.label != ignore_label and b.label not in cat_by_name:
            problems.append(f"{bw}: unknown label {b.label!r} (known: {known_labels})")
            continue
        if x1 <= x0 or y1 <= y0:
            problems.append(f"{bw}: degenerate box [{x0:g}, {y0:g}, {x1:g}, {y1:g}]")
            continue
        if x0 < -tol or y0 < -tol or x1 > w + tol or y1 > h + tol:
            problems.append(
                f"{bw}: box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies outside the region "
                f"(crop {w}x{h} px, tolerance {tol:g} px)"
            )
            continue
        if x0 >= cw - min_side or y0 >= ch - min_side:
            problems.append(
                f"{bw}: box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies on the crop's grey padding "
                f"(the image covers only [0, {cw:g}] x [0, {ch:g}] of this {w}x{h} crop); "
                "nothing is left once it is clipped to the image (fix: delete the box)"
            )
            continue
        c = [max(x0, 0.0), max(y0, 0.0), min(x1, cw), min(y1, ch)]
        if c[2] - c[0] < min_side or c[3] - c[1] < min_side:
            problems.append(
                f"{bw}: box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] is thinner than {min_side:g} px "
                "once clipped to the image part of the crop (fix: redraw or delete it)"
            )
            continue
        if b.label == ignore_label:
            ign.append(c)
        else:
            boxes.append(c)
            cats.append(cat_by_name[b.label])
    return boxes, cats, ign


def plan_import(
    fmt: str,
    found: list[TaskAnnotation],
    pending: list[str],
    index: TaskIndex,
    pool: LabeledPool,
    dataset: CocoDataset,
    *,
    source: str,
    done: str | Sequence[str] | None = None,
    cycle: int | None = None,
    tolerance: float = TOLERANCE,
    min_side: float = MIN_SIDE,
    skip_empty: bool = False,
) -> ImportPlan:
    """Decide, per task of a tool's file, whether it is finished and what importing it does.

    A task is **finished** when Label Studio holds a submitted annotation of it (a task with
    none, only skipped ones or only drafts is pending); CVAT and COCO files do not say, so
    their tasks are finished only when ``done`` names them (task ids or crop file names) or
    is ``"all"``; every other task is pending, and so is every task of ``index`` that the
    file leaves out and the pool does not label yet. A finished task's boxes are validated and
    clipped; it is ``skip`` when the pool already holds the same labels of its region,
    ``replace`` when the pool holds other labels of it (a correction), else ``add``.
    No state changes; problems are collected in the plan.
    """
    plan = ImportPlan()
    header = index.header
    ignore_label = str(header.get("ignore_label", "ignore"))
    cat_by_name = {c.name: c.id for c in dataset.categories}
    done_set = _done_set(done)
    if fmt == "label-studio" and done_set is not None:
        raise ConfigError(
            "--done is for CVAT and COCO files; Label Studio's export says which tasks a "
            "person submitted (fix: leave --done out)"
        )
    for ref in pending:
        t = index.find(ref) or index.find(_LS_UPLOAD_PREFIX.sub("", ref))
        plan.pending.append(t["task_id"] if t is not None else ref)
    if isinstance(done_set, set):
        refs = {ta.ref for ta in found}
        named = refs | {str(t["task_id"]) for t in map(index.find, refs) if t is not None}
        for d in sorted(done_set - named):
            plan.problems.append(
                f"{source}: --done names {d!r}, which is not a task of this file (fix: give "
                "task ids or crop file names of the file, or 'all')"
            )
    seen: dict[str, str] = {}
    by_region = {
        (r.image_id, tuple(r.scale), tuple(r.window)): k for k, r in enumerate(pool.regions)
    }
    for ta in found:
        t = index.find(ta.ref) or index.find(_LS_UPLOAD_PREFIX.sub("", ta.ref))
        where = f"{source}: {ta.where}"
        if t is None:
            plan.problems.append(
                f"{where}: unknown task {ta.ref!r} (not in {', '.join(map(str, index.manifests))})"
            )
            continue
        tid = str(t["task_id"])
        if tid in seen:
            plan.problems.append(f"{where}: task {tid} appears twice (also {seen[tid]})")
            continue
        seen[tid] = ta.where
        if fmt != "label-studio" and not (
            done_set == "all"
            or (isinstance(done_set, set) and (tid in done_set or ta.ref in done_set))
        ):
            plan.pending.append(tid)
            continue
        h, w = (int(v) for v in t["crop_size"])
        if ta.size is not None and tuple(ta.size) != (w, h):
            plan.problems.append(
                f"{where}: image size {ta.size[0]}x{ta.size[1]} (WxH) differs from the crop's "
                f"{w}x{h}"
            )
            continue
        if skip_empty and not ta.boxes:
            plan.pending.append(tid)
            continue
        n_before = len(plan.problems)
        boxes, cats, ign = _clip_task_boxes(
            ta, t, dataset, where, cat_by_name, ignore_label, tolerance, min_side, plan.problems
        )
        if len(plan.problems) > n_before:
            continue
        tp = TaskPlan(t, index.cycle[tid] if cycle is None else int(cycle), "add", boxes, cats, ign)
        key = (int(t["image_id"]), tuple(t["scale"]), tuple(int(v) for v in t["window"]))
        k = by_region.get(key)
        if k is not None:
            region = pool.regions[k]
            same = (
                sorted(region.category_ids) == sorted(cats)
                and _same(region.boxes, boxes)
                and _same(region.ignore, ign)
            )
            tp.action, tp.replaces = ("skip", None) if same else ("replace", k)
        plan.tasks.append(tp)
    # Tasks the file does not hold at all (Label Studio's JSON export leaves out the tasks
    # nobody annotated) and the pool does not label yet are pending too.
    listed = set(seen) | set(plan.pending)
    for tid, t in index.tasks.items():
        key = (int(t["image_id"]), tuple(t["scale"]), tuple(int(v) for v in t["window"]))
        if tid not in listed and key not in by_region:
            plan.pending.append(tid)
    # A region selected again in a later round is two tool tasks with one task id: when
    # one of them is finished, the region is not pending.
    finished = {str(tp.task["task_id"]) for tp in plan.tasks}
    plan.pending = sorted({t for t in plan.pending if t not in finished})
    return plan


# ------------------------------------------------------------------------ apply
def apply_plan(
    plan: ImportPlan, pool: LabeledPool, dataset: CocoDataset, *, match_gt: bool = True
) -> list[dict[str, Any]]:
    """Carry out a plan on the pool in memory (nothing is written); one entry per task.

    Corrections first drop the regions they replace, then every added or replacing task
    is recorded with :meth:`LabeledPool.add_region_labels`, in file order.
    """
    pool.remove_regions([tp.replaces for tp in plan.tasks if tp.replaces is not None])
    entries = []
    for tp in plan.tasks:
        t = tp.task
        entry: dict[str, Any] = {
            "task_id": t["task_id"],
            "image_id": t["image_id"],
            "cycle": tp.cycle,
            "estimated_cost": t.get("estimated_cost"),
            "boxes": len(tp.boxes),
            "ignore": len(tp.ignore),
            "new_gt_objects": 0,
        }
        entries.append(entry)
        if tp.action == "skip":
            entry["status"] = "skipped (already imported)"
            continue
        iid = int(t["image_id"])
        bx = np.asarray(tp.boxes, dtype=np.float64).reshape(-1, 4)
        cats = list(tp.cats)
        ann_ids: list[int | None] = [None] * len(cats)
        order = list(range(len(cats)))
        if match_gt:
            gt_boxes, gt_labels, gt_ids = pool.oracle.reveal(iid)
            if gt_ids.shape[0]:
                info = dataset.image(iid)
                window = [int(v) for v in t["window"]]  # of the crop's size (load_tasks checks)
                frame = RegionFrame.at((info.height, info.width), t["scale"], window)
                s = frame.clip_to_window(frame.original_to_window(gt_boxes))
                gcats = [dataset.category_of(int(v)) for v in gt_labels]
                m = _match_gt(bx, cats, s, gcats)
                ann_ids = [None if j is None else int(gt_ids[j]) for j in m]
                # matched boxes in GT order, then the others as drawn
                order = sorted(order, key=lambda i: (m[i] is None, m[i] or 0, i))
        region = pool.add_region_labels(
            iid,
            t["scale"],
            int(t["scale_index"]),
            t["window"],
            tp.cycle,
            bx[order] if order else np.zeros((0, 4)),
            [cats[i] for i in order],
            ann_ids=[ann_ids[i] for i in order],
            ignore=np.asarray(tp.ignore, dtype=np.float64).reshape(-1, 4),
        )
        entry["new_gt_objects"] = len(region.new_ann_ids)
        entry["status"] = "replaced" if tp.action == "replace" else "added"
    return entries


def import_annotations(
    annotations: str | os.PathLike[str],
    manifest: str | os.PathLike[str],
    pool_dir: str | os.PathLike[str],
    *,
    dataset: CocoDataset | None = None,
    fmt: str = "auto",
    cycle: int | None = None,
    tolerance: float = TOLERANCE,
    min_side: float = MIN_SIDE,
    match_gt: bool = True,
    skip_empty: bool = False,
    done: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """Validate a tool's annotations of exported regions and merge them into the pool.

    Parse (the tool's file) -> plan (:func:`plan_import`: which tasks are finished, what
    each does, every problem) -> apply (:func:`apply_plan`) -> save, only when the plan
    has no problem and changes something.

    Args:
        annotations: the tool's export (Label Studio JSON, CVAT XML or COCO JSON).
        manifest: the export folder's ``manifest.json``, the folder, or a project folder
            (every round's tasks).
        pool_dir: the pool folder (``pool.json``); created when absent.
        dataset: the dataset (default: the one the manifest records).
        fmt: ``"auto"``, ``"label-studio"``, ``"cvat"`` or ``"coco"``.
        cycle: the cycle to record (default: each task's round).
        tolerance: how far (crop pixels) a box may pass the crop's edge before it is an error.
        min_side: smallest width and height (crop pixels) after clipping.
        match_gt: link drawn boxes to ground-truth objects when the dataset has them.
        skip_empty: treat a task with no box as not annotated yet (instead of a region
            with no objects).
        done: CVAT and COCO only: the tasks a person finished (task ids or crop file names,
            a list or a comma string), or ``"all"``; the file's other tasks stay pending.

    Returns:
        A report: ``{"format", "added", "replaced", "skipped", "pending", "tasks": [...],
        "estimated", "actual", "changed"}``; each task has ``task_id``, ``status``
        (``added``, ``replaced``, ``skipped (already imported)``), ``estimated_cost``,
        ``boxes`` (labelled objects drawn), ``ignore``, ``new_gt_objects``; ``pending``
        lists the ids of the tasks not finished.

    Raises:
        DataError: listing every problem; the pool folder is then left unchanged.
    """
    from ..data.coco import CocoDataset, format_problems
    from ..data.pool import POOL_FILE, LabeledPool

    index = load_tasks(manifest)
    mpath = index.manifests[-1]
    if dataset is None:
        dataset = CocoDataset.from_reference(index.header.get("dataset"), mpath)

    apath = Path(annotations)
    fmt, found, pending = parse_annotations(apath, fmt, {c.id: c.name for c in dataset.categories})
    pdir = Path(pool_dir)
    if (pdir / POOL_FILE).exists():
        pool: LabeledPool = LabeledPool.load(pdir, dataset)
    else:
        pool = LabeledPool(dataset, float(index.header.get("visible_threshold", 0.7)))
    plan = plan_import(
        fmt,
        found,
        pending,
        index,
        pool,
        dataset,
        source=str(apath),
        done=done,
        cycle=cycle,
        tolerance=tolerance,
        min_side=min_side,
        skip_empty=skip_empty,
    )
    if plan.problems:
        raise DataError(
            f"{apath}: {len(plan.problems)} problem(s); nothing was imported:\n"
            + format_problems(plan.problems, MAX_LISTED)
        )
    entries = apply_plan(plan, pool, dataset, match_gt=match_gt)
    done_entries = [e for e in entries if e["status"] in ("added", "replaced")]
    changed = bool(done_entries)
    if changed:
        pool.save(pdir)
    return {
        "format": fmt,
        "annotations": str(apath),
        "pool": str(pdir),
        "cycle": cycle if cycle is not None else int(index.header["cycle"]),
        "cost": index.header.get("cost"),
        "added": sum(e["status"] == "added" for e in entries),
        "replaced": sum(e["status"] == "replaced" for e in entries),
        "skipped": sum(e["status"].startswith("skipped") for e in entries),
        "pending": sorted(set(plan.pending)),
        "pending_reason": (
            "CVAT and COCO files do not say which images a person finished (fix: pass "
            "--done all or --done TASK_ID,...)"
            if fmt != "label-studio" and done is None and plan.pending
            else None
        ),
        "estimated": int(sum(e["estimated_cost"] or 0 for e in done_entries)),
        "actual": int(sum(e["boxes"] for e in done_entries)),
        "changed": changed,
        "tasks": entries,
    }
