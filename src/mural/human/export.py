"""Export selected regions as annotation tasks: Label Studio, CVAT for images 1.1, COCO.

Every selected region becomes one task whose image is the region's **crop**: the window
cut from the image resized to the region's scale (PIL bilinear), padded with the mean
colour where it passes the scaled image's edge -- the same pixels the pool's training
sample shows (:class:`mural.data.samples.TrainingSamples`), before ignore areas are
filled. The crop has the original image's size ``(H, W)``; a box drawn on it is in window
pixels. The detector's boxes inside the region (score above the threshold, more than the
visibility threshold inside, clipped) go along as pre-annotations.

Layout of the export folder::

    manifest.json                      ties each task to image, scale, window, crop
    crops/<task_id>.png                the crops
    label_studio/tasks.json            tasks with "predictions" (RectangleLabels, percent)
    label_studio/labeling_config.xml   the labelling interface to paste in Label Studio
    cvat/annotations.xml               CVAT for images 1.1 (upload with the crops)
    coco/annotations.json              COCO: crops as images, pre-annotations as boxes
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from .tasks import MANIFEST_FILE, MANIFEST_FORMAT, check_task_id, ensure_project, round_dir

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ..data.coco import CocoDataset

__all__ = [
    "FORMATS",
    "IGNORE_LABEL",
    "LS_FROM_NAME",
    "LS_TO_NAME",
    "MANIFEST_FORMAT",
    "check_mean_color",
    "export_tasks",
    "label_studio_config",
    "render_crop",
]

FORMATS = ("label-studio", "cvat", "coco")
#: A box with this label marks an ignore area (see docs/human-in-the-loop.md).
IGNORE_LABEL = "ignore"
LS_FROM_NAME = "label"
LS_TO_NAME = "image"
LS_LOCAL_FILES = "/data/local-files/?d="


def render_crop(
    image: Any,
    scale: Sequence[int],
    window: Sequence[int],
    mean_color: Sequence[float] | NDArray[np.floating[Any]],
) -> np.ndarray:
    """The region's crop: ``(H, W, 3)`` uint8, ``(H, W)`` the original image's size.

    The pixels are :func:`mural.data.images.scaled_crop`'s (what the training sample
    shows before the training-scale resize).

    Args:
        image: the original image (a PIL image, RGB).
        scale: ``(min_size, max_size)``.
        window: ``(x0, y0, x1, y1)`` in scaled pixels.
        mean_color: RGB in ``[0, 1]``, rounded to ``0..255`` for the padding.
    """
    from ..core import RegionFrame
    from ..data.images import scaled_crop, to_array

    w, h = image.size
    frame = RegionFrame.at((h, w), scale, window)
    hs, ws = frame.scaled_size
    x0, y0, x1, y1 = frame.window
    fill = np.round(np.asarray(mean_color, dtype=np.float64) * 255.0).astype(np.uint8)
    out = np.full((y1 - y0, x1 - x0, 3), fill, dtype=np.uint8)
    x0, y0, cx1, cy1 = frame.window_on_image()
    if cx1 > x0 and cy1 > y0:
        part = scaled_crop(image, (hs, ws), (x0, y0, cx1, cy1))
        out[: cy1 - y0, : cx1 - x0] = to_array(part)
    return out


def check_mean_color(mean_color: Sequence[float]) -> NDArray[np.float64]:
    """The padding colour as ``(3,)`` fractions of 255: three finite numbers in ``[0, 255]``
    (all ``<= 1``: fractions already); anything else raises :class:`ConfigError`."""
    mc = np.asarray(mean_color, dtype=np.float64).reshape(-1)
    if mc.shape != (3,) or not np.isfinite(mc).all() or (mc < 0).any() or (mc > 255).any():
        raise ConfigError(f"mean colour must be 3 numbers in [0, 255], got {mean_color!r}")
    return mc / 255.0 if (mc > 1).any() else mc


def label_studio_config(category_names: Sequence[str]) -> str:
    """The Label Studio labelling interface: an image and one RectangleLabels control."""
    labels = "\n".join(f"    <Label value={quoteattr(n)}/>" for n in category_names)
    return (
        "<View>\n"
        f'  <Image name="{LS_TO_NAME}" value="$image" zoom="true"/>\n'
        f'  <RectangleLabels name="{LS_FROM_NAME}" toName="{LS_TO_NAME}" canRotate="false">\n'
        f"{labels}\n"
        f'    <Label value="{IGNORE_LABEL}" background="#9e9e9e"/>\n'
        "  </RectangleLabels>\n"
        "</View>\n"
    )


def _ls_box(box: Sequence[float], w: int, h: int) -> dict[str, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return {
        "x": 100.0 * x0 / w,
        "y": 100.0 * y0 / h,
        "width": 100.0 * (x1 - x0) / w,
        "height": 100.0 * (y1 - y0) / h,
        "rotation": 0,
    }


def _write_label_studio(
    out: Path, tasks: list[dict[str, Any]], names: dict[int, str], url_of: Any
) -> None:
    ls_tasks = []
    for t in tasks:
        h, w = t["crop_size"]
        result = [
            {
                "id": f"{t['task_id']}_p{k}",
                "type": "rectanglelabels",
                "from_name": LS_FROM_NAME,
                "to_name": LS_TO_NAME,
                "original_width": w,
                "original_height": h,
                "image_rotation": 0,
                "value": {
                    **_ls_box(p["box"], w, h),
                    "rectanglelabels": [names[p["category_id"]]],
                },
                "score": p["score"],
            }
            for k, p in enumerate(t["predictions"])
        ]
        ls_tasks.append(
            {
                "data": {
                    "image": url_of(t["crop"]),
                    "mural_task": t["task_id"],
                    "mural_image_id": t["image_id"],
                    "mural_file_name": t["file_name"],
                    "mural_scale": t["scale"],
                    "mural_window": t["window"],
                },
                "predictions": [
                    {"model_version": "mural-selection", "score": t["score"], "result": result}
                ],
            }
        )
    atomic_write_json(out / "label_studio" / "tasks.json", ls_tasks)
    atomic_write_text(
        out / "label_studio" / "labeling_config.xml",
        label_studio_config([names[c] for c in sorted(names)]),
    )


def _write_cvat(out: Path, tasks: list[dict[str, Any]], names: dict[int, str]) -> None:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta>",
        "    <task>",
        "      <name>mural selection</name>",
        f"      <size>{len(tasks)}</size>",
        "      <mode>annotation</mode>",
        "      <labels>",
    ]
    for n in [*(names[c] for c in sorted(names)), IGNORE_LABEL]:
        lines += [
            "        <label>",
            f"          <name>{escape(n)}</name>",
            "          <type>rectangle</type>",
            "          <attributes>",
            "          </attributes>",
            "        </label>",
        ]
    lines += ["      </labels>", "    </task>", "  </meta>"]
    for k, t in enumerate(tasks):
        h, w = t["crop_size"]
        name = quoteattr(Path(t["crop"]).name)
        lines.append(f'  <image id="{k}" name={name} width="{w}" height="{h}">')
        for p in t["predictions"]:
            x0, y0, x1, y1 = p["box"]
            lines.append(
                f'    <box label={quoteattr(names[p["category_id"]])} source="auto" '
                f'occluded="0" xtl="{x0:.2f}" ytl="{y0:.2f}" xbr="{x1:.2f}" ybr="{y1:.2f}" '
                'z_order="0">'
            )
            lines.append("    </box>")
        lines.append("  </image>")
    lines.append("</annotations>")
    atomic_write_text(out / "cvat" / "annotations.xml", "\n".join(lines) + "\n")


def _write_coco(out: Path, tasks: list[dict[str, Any]], categories: list[dict[str, Any]]) -> None:
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for k, t in enumerate(tasks):
        h, w = t["crop_size"]
        images.append({"id": k + 1, "file_name": Path(t["crop"]).name, "height": h, "width": w})
        for p in t["predictions"]:
            x0, y0, x1, y1 = p["box"]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": k + 1,
                    "category_id": p["category_id"],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                    "score": p["score"],
                }
            )
    cats = [{"id": c["id"], "name": c["name"], "supercategory": ""} for c in categories]
    atomic_write_json(
        out / "coco" / "annotations.json",
        {
            "info": {"description": "mural selection: region crops with pre-annotations"},
            "images": images,
            "annotations": anns,
            "categories": cats,
        },
        indent=None,
    )


def _check_regions(regions: Any, dataset: CocoDataset, where: str) -> list[dict[str, Any]]:
    """The selection's regions, each checked before anything is written: a safe, unique
    task id; an image of the dataset; a valid scale; a window of the image's size at a
    valid position on the scaled image."""
    from ..core import RegionFrame

    if not isinstance(regions, list):
        raise DataError(f"{where}: field 'regions' must be a list")
    seen: set[str] = set()
    for k, r in enumerate(regions):
        rw = f"{where}: regions[{k}]"
        if not isinstance(r, dict):
            raise DataError(f"{rw}: must be an object")
        tid = check_task_id(r.get("task_id"), rw)
        if tid in seen:
            raise DataError(f"{rw}: task id {tid!r} appears twice")
        seen.add(tid)
        try:
            iid = int(r["image_id"])
            info = dataset.image(iid)
            frame = RegionFrame.at((info.height, info.width), r["scale"], r["window"])
        except DataError as exc:
            raise DataError(f"{rw}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{rw}: fields 'image_id', 'scale' [min, max] and 'window' [x0, y0, x1, y1] "
                f"must be valid ({exc}) (fix: select again with mural select)"
            ) from None
        problem = frame.window_problem()
        if problem is not None:
            raise DataError(f"{rw}: field 'window': {problem}")
    return regions


def _window_original(r: dict[str, Any], info: Any) -> list[float]:
    """The region's window in original pixels (``window / f``)."""
    from ..core import RegionFrame

    if r.get("window_original") is not None:
        return [float(v) for v in r["window_original"]]
    return list(
        RegionFrame.at((info.height, info.width), r["scale"], r["window"]).window_in_original()
    )


def _same_export(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether an existing manifest is this very export (re-running it resumes it)."""

    def key(m: dict[str, Any]) -> Any:
        return (
            m.get("cycle"),
            m.get("formats"),
            m.get("mean_color"),
            [
                (t.get("task_id"), t.get("image_id"), t.get("scale"), t.get("window"))
                for t in m.get("tasks", [])
            ],
        )

    return bool(key(old) == key(new))


def _check_out(out: Path, force: bool) -> dict[str, Any] | None:
    """Refuse an ``--out`` that is a file, or a non-empty folder other than an export
    folder; returns the existing manifest, if any."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: --out must be a folder, not a file")
    # a round folder of a project holds its selection.json beside the export
    if not out.is_dir() or not any(p.name != "selection.json" for p in out.iterdir()):
        return None
    man_path = out / MANIFEST_FILE
    if not man_path.is_file():
        if force:
            return None
        raise DataError(
            f"{out}: not empty and not a mural export folder (no {MANIFEST_FILE}) (fix: give a "
            "new or empty folder for --out)"
        )
    man = read_json(man_path)
    return man if isinstance(man, dict) else None


def export_tasks(
    selection: dict[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    dataset: CocoDataset | None = None,
    mean_color: Sequence[float] | None = None,
    document_root: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write crops, ``manifest.json`` and the task files of ``formats`` into ``out_dir``.

    Everything is checked before anything is written: the formats, the dataset, each
    region's task id (a safe file name, so nothing lands outside ``out_dir``), image,
    scale and window. An ``out_dir`` holding another export is refused unless ``force``
    (re-running the same export resumes it); a non-empty folder that is not an export
    folder is refused.

    Args:
        selection: a ``selection.json`` document or its path.
        out_dir: the export folder (created). Default with ``project``:
            ``<project>/rounds/round-<cycle>``.
        formats: any of ``"label-studio"``, ``"cvat"``, ``"coco"``.
        dataset: the dataset (default: the one the selection records).
        mean_color: RGB padding colour in ``[0, 1]`` (or ``0..255``); default the
            dataset's mean colour (:func:`mural.data.images.dataset_mean_color`).
        document_root: Label Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``; task
            images are ``/data/local-files/?d=<crop path relative to it>``. Default: the
            project folder with ``project``, else ``out_dir`` itself.
        project: a project folder (created, see :mod:`mural.human.tasks`): one document
            root for every round's crops.
        force: overwrite another export in ``out_dir``.

    Returns:
        The manifest document.
    """
    plan = _plan_export(
        selection, out_dir, formats, dataset, mean_color, document_root, project, force
    )
    _write_export(plan)
    return plan.manifest


@dataclass
class _ExportPlan:
    """What an export writes, every input checked; nothing is written yet."""

    out: Path
    document_root: Path
    project: Path | None
    dataset: CocoDataset
    tasks: list[dict[str, Any]]
    manifest: dict[str, Any]
    names: dict[int, str]
    mean_color: NDArray[np.float64]


def _plan_export(
    selection: dict[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None,
    formats: Sequence[str],
    dataset: CocoDataset | None,
    mean_color: Sequence[float] | None,
    document_root: str | os.PathLike[str] | None,
    project: str | os.PathLike[str] | None,
    force: bool,
) -> _ExportPlan:
    """Read and check everything :func:`export_tasks` needs (its arguments, the
    selection, the dataset, the folders), writing nothing."""
    from ..data.coco import CocoDataset
    from ..data.images import dataset_mean_color
    from ..selection import SelectionResult, read_selection

    sel_path = None
    if not isinstance(selection, dict):
        sel_path = Path(selection)
        doc = read_selection(sel_path)
    else:
        try:
            doc = SelectionResult.from_json(selection)
        except ConfigError as exc:
            raise DataError(f"selection: not a mural selection file: {exc}") from None
    where = str(sel_path or "selection")
    if doc.kind != "regions":
        raise DataError(
            f"{where}: field 'kind': {doc.kind!r}; only a selection of "
            "regions can be exported as annotation tasks"
        )
    selection = doc.to_json()
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown export format(s) {bad}; known: {list(FORMATS)}")
    try:
        cycle = int(selection["cycle"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: field 'cycle' must be an integer") from None
    if dataset is None:
        dataset = CocoDataset.from_reference(selection.get("dataset"), where)
    regions = _check_regions(selection.get("regions"), dataset, where)
    if out_dir is None and project is None:
        raise ConfigError("give the export folder (--out) or a project folder (--project)")
    out = Path(out_dir) if out_dir is not None else round_dir(project, cycle)  # type: ignore[arg-type]
    if mean_color is None:
        mean_color = dataset_mean_color(dataset)
    mc = check_mean_color(mean_color)
    names = {c.id: c.name for c in dataset.categories}
    categories = [{"id": c.id, "name": c.name} for c in dataset.categories]
    if IGNORE_LABEL in names.values():
        raise ConfigError(
            f"the dataset has a category named {IGNORE_LABEL!r}, which mural reserves for "
            "ignore areas (fix: rename that category)"
        )
    if project is not None:
        proot = Path(project)
        if proot.exists() and not proot.is_dir():
            raise DataError(f"{proot}: --project must be a folder, not a file")
        if not out.resolve().is_relative_to(proot.resolve()):
            raise ConfigError(
                f"--out {out} is not inside the project folder {proot} (fix: leave --out out; "
                "the round's folder is <project>/rounds/round-<cycle>)"
            )
        if document_root is None:
            document_root = proot
    existing = _check_out(out, force)
    root = Path(document_root).resolve() if document_root is not None else out.resolve()
    if not out.resolve().is_relative_to(root):
        raise ConfigError(
            f"the export folder {out} is not under the Label Studio document root {root} "
            "(fix: pass a --document-root that contains the export folder)"
        )
    tasks = []
    for r in regions:
        iid = int(r["image_id"])
        info = dataset.image(iid)
        rel = f"crops/{r['task_id']}.png"
        tasks.append(
            {
                "task_id": r["task_id"],
                "image_id": iid,
                "file_name": info.file_name,
                "scale": list(r["scale"]),
                "scale_index": int(r["scale_index"]),
                "window": [int(v) for v in r["window"]],
                "window_original": _window_original(r, info),
                "crop": rel,
                "crop_size": [info.height, info.width],
                "score": r["score"],
                "estimated_cost": r.get("estimated_cost"),
                "predictions": r.get("predictions") or [],
            }
        )
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "selection": str(sel_path.resolve()) if sel_path else None,
        "dataset": dataset.reference(),
        "cycle": cycle,
        "cost": selection.get("cost"),
        "visible_threshold": float(selection.get("visible_threshold", 0.7)),
        "ignore_label": IGNORE_LABEL,
        "mean_color": [float(v) for v in mc],
        "formats": list(formats),
        "document_root": str(root),
        "categories": categories,
        "tasks": [{k: v for k, v in t.items() if k != "predictions"} for t in tasks],
    }
    if existing is not None and not force and not _same_export(existing, manifest):
        raise DataError(
            f"{out}: holds another export ({MANIFEST_FILE} of cycle {existing.get('cycle')!r} "
            f"with {len(existing.get('tasks') or [])} tasks) (fix: give a new --out, or pass "
            "--force to overwrite it)"
        )
    proj = None if project is None else Path(project)
    return _ExportPlan(out, root, proj, dataset, tasks, manifest, names, mc)


def _write_export(plan: _ExportPlan) -> None:
    """Write a checked export: the project folder (when one), the crops, the task files
    and, last, ``manifest.json`` (its presence marks a finished export)."""
    from PIL import Image

    from ..data.images import read_rgb

    if plan.project is not None:
        ensure_project(plan.project)
    out, ds = plan.out, plan.dataset
    for t in plan.tasks:
        info = ds.image(t["image_id"])
        img = read_rgb(ds.image_path(t["image_id"]), (info.height, info.width))
        crop = render_crop(img, t["scale"], t["window"], plan.mean_color)
        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, format="PNG")
        atomic_write_bytes(out / t["crop"], buf.getvalue())

    def url_of(rel: str) -> str:
        return LS_LOCAL_FILES + (out.resolve() / rel).relative_to(plan.document_root).as_posix()

    formats = plan.manifest["formats"]
    if "label-studio" in formats:
        _write_label_studio(out, plan.tasks, plan.names, url_of)
    if "cvat" in formats:
        _write_cvat(out, plan.tasks, plan.names)
    if "coco" in formats:
        _write_coco(out, plan.tasks, plan.manifest["categories"])
    atomic_write_json(out / MANIFEST_FILE, plan.manifest)
