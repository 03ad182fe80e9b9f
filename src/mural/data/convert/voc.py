"""Pascal VOC (``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/*.txt``) to COCO.

Coordinates: VOC ``xmin..xmax`` are 1-based *inclusive* pixel indices, so the box covers the
continuous range ``[xmin - 1, xmax]`` in 0-based pixel coordinates (the convention of
Detectron2's VOC loader). COCO ``bbox = [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]``.
A box with ``xmax <= xmin`` or ``ymax <= ymin`` is degenerate (VOC tools treat such
annotations as errors; BCCD has two single-point ones) and is dropped with a warning.

``difficult`` boxes are kept as ordinary objects (``iscrowd=0``) unless
``keep_difficult=False``; their number is reported in the summary.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ...errors import DataError
from .common import IMAGE_EXTENSIONS, ConversionResult, _Collector, _finish, _Image

__all__ = ["convert_voc"]

_SPLITS = ("train", "val", "test")


def _read_split_lists(main: Path) -> dict[str, list[str]]:
    """Split -> image ids from ``ImageSets/Main`` (train/val/test; trainval only when
    neither train nor val exists)."""
    found = {s: main / f"{s}.txt" for s in (*_SPLITS, "trainval")}
    names = [s for s in _SPLITS if found[s].is_file()]
    if not ({"train", "val"} & set(names)) and found["trainval"].is_file():
        names.insert(0, "trainval")
    out: dict[str, list[str]] = {}
    for s in names:
        lines = found[s].read_text(encoding="utf-8").splitlines()
        out[s] = [line.split()[0] for line in lines if line.strip()]
    return out


def _text(node: ET.Element | None, tag: str) -> str | None:
    if node is None:
        return None
    child = node.find(tag)
    return child.text.strip() if child is not None and child.text is not None else None


def _find_image(images_dir: Path, stem: str, declared: str | None) -> Path | None:
    if declared:
        p = images_dir / declared
        if p.is_file():
            return p
    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            p = images_dir / f"{stem}{e}"
            if p.is_file():
                return p
    return None


def convert_voc(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    classes: Sequence[str] | None = None,
    keep_difficult: bool = True,
) -> ConversionResult:
    """Convert a Pascal VOC folder (the one holding ``Annotations/``) to COCO.

    Splits come from ``ImageSets/Main/{train,val,test}.txt`` when present (``trainval.txt``
    is used only when neither train nor val exists); otherwise one split ``all`` holds every
    XML. ``classes`` fixes the class order (category ids ``1..C``); by default the class
    names found, sorted. Raises :class:`DataError` listing every unreadable XML, missing
    image, unknown class or id listed in a split without an XML.
    """
    root = Path(src)
    ann_dir = root / "Annotations"
    if not ann_dir.is_dir():
        below = sorted(p.parent.name for p in root.glob("*/Annotations") if p.is_dir())
        hint = f" (found Annotations/ in: {', '.join(below)})" if below else ""
        raise DataError(
            f"{root}: no Annotations/ folder{hint} "
            "(fix: pass the VOC folder that holds Annotations/ and JPEGImages/)"
        )
    result = ConversionResult(root)
    col = _Collector(result)
    images_dir = root / "JPEGImages"

    xml_paths = {p.stem: p for p in sorted(ann_dir.glob("*.xml"))}
    parsed: dict[str, tuple[_Image, list[tuple[str, tuple[float, ...], bool, str]]]] = {}
    size_mismatch = 0
    n_difficult = 0
    for stem, xml_path in xml_paths.items():
        try:
            tree = ET.parse(xml_path).getroot()
        except (ET.ParseError, OSError) as exc:
            col.problems.append(f"{xml_path}: unreadable XML ({exc}) (fix: repair or remove it)")
            continue
        img_path = _find_image(images_dir, stem, _text(tree, "filename"))
        if img_path is None:
            col.problems.append(
                f"{xml_path}: field 'filename': image {_text(tree, 'filename')!r} not found "
                f"in {images_dir} (fix: add the image or remove the XML)"
            )
            continue
        img = col.image(img_path)
        if img is None:
            continue
        size = tree.find("size")
        xml_wh = (_text(size, "width"), _text(size, "height"))
        if xml_wh != (str(img.width), str(img.height)):
            size_mismatch += 1
            result.warnings.append(
                f"{xml_path}: field 'size': {xml_wh[0]}x{xml_wh[1]} differs from the image's "
                f"{img.width}x{img.height}; using the image size"
            )
        objs = []
        for k, obj in enumerate(tree.findall("object")):
            where = f"{xml_path.name} object {k}"
            name = _text(obj, "name")
            bnd = obj.find("bndbox")
            try:
                coords = tuple(
                    float(_text(bnd, t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax")
                )
            except ValueError:
                coords = (float("nan"),) * 4
            if not name or bnd is None or any(c != c for c in coords):
                col.problems.append(
                    f"{xml_path}: object {k}: needs 'name' and numeric bndbox "
                    "xmin/ymin/xmax/ymax (fix: complete or remove the object)"
                )
                continue
            difficult = (_text(obj, "difficult") or "0") not in ("0", "")
            objs.append((name, coords, difficult, where))
        parsed[stem] = (img, objs)

    found = sorted({o[0] for _, objs in parsed.values() for o in objs})
    class_names = list(classes) if classes is not None else found
    unknown = sorted(set(found) - set(class_names))
    if unknown:
        col.problems.append(
            f"{ann_dir}: class names {unknown} are not in classes={class_names} "
            "(fix: add them to classes)"
        )
    label_of = {n: i for i, n in enumerate(class_names)}
    for img, objs in parsed.values():
        for name, (x0, y0, x1, y1), difficult, where in objs:
            if name not in label_of:
                continue
            if difficult:
                n_difficult += 1
                if not keep_difficult:
                    continue
            if x1 <= x0 or y1 <= y0:  # degenerate in VOC's own (inclusive) coordinates
                col.drop(where, (x0, y0, x1, y1), "xmax <= xmin or ymax <= ymin")
                continue
            col.box(img, (x0 - 1.0, y0 - 1.0, x1, y1), label_of[name], where)

    main = root / "ImageSets" / "Main"
    split_ids = _read_split_lists(main) if main.is_dir() else {}
    splits: dict[str, list[_Image]] = {}
    if split_ids:
        listed: set[str] = set()
        for split, ids in split_ids.items():
            imgs = []
            for i in ids:
                if i not in xml_paths:
                    col.problems.append(
                        f"{main / (split + '.txt')}: id {i!r} has no Annotations/{i}.xml "
                        "(fix: add the XML or remove the line)"
                    )
                elif i in parsed:
                    imgs.append(parsed[i][0])
            listed.update(ids)
            splits[split] = imgs
        left_out = sorted(set(xml_paths) - listed)
        if left_out:
            result.warnings.append(
                f"{len(left_out)} annotation file(s) are in no split and were left out "
                f"(e.g. {left_out[0]}.xml)"
            )
    else:
        splits["all"] = [img for img, _ in parsed.values()]
    col.fail_if_problems(root, "VOC")
    diff_note = "dropped" if not keep_difficult else "kept as ordinary boxes"
    result.notes.append(f"difficult boxes: {n_difficult} ({diff_note})")
    if size_mismatch:
        result.notes.append(f"XML size differs from the image in {size_mismatch} file(s)")
    return _finish(result, splits, class_names, out_dir, fmt="VOC")
