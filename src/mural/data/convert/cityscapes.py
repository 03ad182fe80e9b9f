"""Cityscapes (``gtFine/{split}/{city}/*_gtFine_polygons.json`` + ``leftImg8bit/``) to COCO.

Objects of the 8 Cityscapes instance classes evaluated in the benchmark become boxes; every
other label is ignored. The class table is vendored from ``cityscapesscripts.helpers.labels``
(https://github.com/mcordts/cityscapesScripts, MIT licence): the labels with
``hasInstances=True`` and ``ignoreInEval=False``. Category id = the Cityscapes label id,
supercategory = its Cityscapes category. (The package itself is the optional extra
``mural[cityscapes]``; it is not needed here: it pulls dependencies unrelated to the table.)

Box of a polygon: vertices are integer pixel indices and Cityscapes rasterises polygons
including their boundary pixels, so the box is ``[min x, min y, max x + 1, max y + 1]``,
clipped to the image. Group labels (``cargroup``, ``persongroup``...: crowds of one class)
are skipped by default (counted in the summary), or written as ``iscrowd=1`` annotations
with ``crowd_groups=True``. Objects marked ``deleted`` are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...errors import DataError
from .common import ConversionResult, _Collector, _finish, _Image

__all__ = ["CITYSCAPES_DETECTION_CLASSES", "convert_cityscapes"]

#: (name, Cityscapes label id, Cityscapes category) of the 8 detection classes, in id order.
CITYSCAPES_DETECTION_CLASSES: tuple[tuple[str, int, str], ...] = (
    ("person", 24, "human"),
    ("rider", 25, "human"),
    ("car", 26, "vehicle"),
    ("truck", 27, "vehicle"),
    ("bus", 28, "vehicle"),
    ("train", 31, "vehicle"),
    ("motorcycle", 32, "vehicle"),
    ("bicycle", 33, "vehicle"),
)


def convert_cityscapes(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    crowd_groups: bool = False,
) -> ConversionResult:
    """Convert a Cityscapes root (holding ``gtFine/`` and ``leftImg8bit/``) to COCO.

    One JSON per folder of ``gtFine/`` (``train``, ``val``, ``test``). Raises
    :class:`DataError` listing unreadable polygon files and missing images.
    """
    root = Path(src)
    gt = root / "gtFine"
    if not gt.is_dir():
        raise DataError(
            f"{root}: no gtFine/ folder (fix: pass the Cityscapes root holding gtFine/ "
            "and leftImg8bit/)"
        )
    names = [n for n, _, _ in CITYSCAPES_DETECTION_CLASSES]
    label_of = {n: i for i, n in enumerate(names)}
    result = ConversionResult(root)
    col = _Collector(result)
    n_groups = n_deleted = 0
    size_mismatch = 0
    splits: dict[str, list[_Image]] = {}
    for split_dir in sorted(p for p in gt.iterdir() if p.is_dir()):
        split = split_dir.name
        imgs: list[_Image] = []
        for jp in sorted(split_dir.glob("*/*_polygons.json")):
            stem = jp.name.removesuffix("_polygons.json").removesuffix("_gtFine")
            img_path = root / "leftImg8bit" / split / jp.parent.name / f"{stem}_leftImg8bit.png"
            if not img_path.is_file():
                col.problems.append(
                    f"{jp}: image {img_path} not found (fix: add leftImg8bit/ for this split)"
                )
                continue
            try:
                data = json.loads(jp.read_text(encoding="utf-8"))
                objects = data["objects"]
                declared = (data.get("imgWidth"), data.get("imgHeight"))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                col.problems.append(f"{jp}: unreadable polygon file ({exc!r})")
                continue
            img = col.image(img_path)
            if img is None:
                continue
            if declared != (img.width, img.height):
                size_mismatch += 1
                result.warnings.append(
                    f"{jp}: imgWidth/imgHeight {declared[0]}x{declared[1]} differ from the "
                    f"image's {img.width}x{img.height}; using the image size"
                )
            for k, obj in enumerate(objects):
                label = obj.get("label", "") if isinstance(obj, dict) else ""
                crowd = 0
                if label not in label_of and label.endswith("group"):
                    if label[: -len("group")] not in label_of:
                        continue
                    n_groups += 1
                    if not crowd_groups:
                        continue
                    label, crowd = label[: -len("group")], 1
                if label not in label_of:
                    continue
                if obj.get("deleted"):
                    n_deleted += 1
                    continue
                poly = obj.get("polygon")
                try:
                    xs = [float(p[0]) for p in poly]
                    ys = [float(p[1]) for p in poly]
                except (TypeError, ValueError, IndexError):
                    xs = ys = []
                if not xs:
                    col.problems.append(
                        f"{jp}: object {k} ({label}): field 'polygon' must be a list of "
                        "[x, y] points"
                    )
                    continue
                coords = (min(xs), min(ys), max(xs) + 1.0, max(ys) + 1.0)
                col.box(img, coords, label_of[label], f"{jp.name} object {k}", iscrowd=crowd)
            imgs.append(img)
        splits[split] = imgs
    if not splits:
        raise DataError(f"{gt}: no split folders (fix: gtFine/train/<city>/*_polygons.json)")
    col.fail_if_problems(root, "Cityscapes")
    group_note = "written as iscrowd=1" if crowd_groups else "skipped"
    result.notes.append(f"group objects (e.g. cargroup): {n_groups} ({group_note})")
    if n_deleted:
        result.notes.append(f"deleted objects skipped: {n_deleted}")
    if size_mismatch:
        result.notes.append(f"declared size differs from the image in {size_mismatch} file(s)")
    return _finish(
        result,
        splits,
        names,
        out_dir,
        category_ids=[i for _, i, _ in CITYSCAPES_DETECTION_CLASSES],
        supercategories=[c for _, _, c in CITYSCAPES_DETECTION_CLASSES],
        fmt="Cityscapes",
    )
