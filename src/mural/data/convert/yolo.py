"""YOLO (``data.yaml`` + ``{train,valid,test}/{images,labels}``) to COCO.

A label line is ``class cx cy w h`` normalised to ``[0, 1]``; it becomes the pixel box
``x0 = (cx - w/2) * W`` ... with ``W, H`` read from the image file. A segment line
(``class x1 y1 x2 y2 ...``, YOLO segmentation export) becomes its polygon's bounds. Class
``k`` (0-based, ``names[k]`` of ``data.yaml``) becomes category id ``k + 1``. An image
without a label file, or with an empty one, has no objects. ``valid/`` (or ``val/``) is
written as ``val.json``; a folder with ``images/`` and ``labels/`` directly in ``src`` and
no split folders is written as ``all.json``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ...errors import DataError
from .common import IMAGE_EXTENSIONS, ConversionResult, _Collector, _finish, _Image

__all__ = ["convert_yolo", "read_yolo_names"]

_SPLIT_DIRS = (("train", "train"), ("valid", "val"), ("val", "val"), ("test", "test"))


def read_yolo_names(yaml_path: Path) -> list[str]:
    """Class names of a YOLO ``data.yaml`` (``names`` as a list or an ``{index: name}`` map)."""
    import yaml

    try:
        data: Any = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{yaml_path}: file not found (fix: a YOLO dataset needs data.yaml with 'names')"
        ) from None
    except yaml.YAMLError as exc:
        raise DataError(f"{yaml_path}: not valid YAML ({exc})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise DataError(
                f"{yaml_path}: field 'names': keys must be 0..N-1, got {keys} (fix: renumber)"
            )
        names = [names[k] for k in keys]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise DataError(
            f"{yaml_path}: field 'names': must be a non-empty list of class names, got "
            f"{names!r} (fix: names: ['car', 'bus', ...])"
        )
    if len(set(names)) != len(names):
        raise DataError(f"{yaml_path}: field 'names': duplicate class names in {names}")
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        raise DataError(
            f"{yaml_path}: field 'nc' is {nc} but 'names' has {len(names)} entries "
            "(fix: make them agree)"
        )
    return names


def _parse_label_file(col: _Collector, path: Path, rel: str, img: _Image, num_classes: int) -> None:
    W, H = img.width, img.height
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        tok = line.split()
        if not tok:
            continue
        where = f"{rel}:{lineno}"
        try:
            values = [float(t) for t in tok]
        except ValueError:
            col.problems.append(f"{path}:{lineno}: not numbers: {line!r} (fix: 'class cx cy w h')")
            continue
        cls = values[0]
        if not (cls.is_integer() and 0 <= cls < num_classes):
            col.problems.append(
                f"{path}:{lineno}: class {tok[0]} is not in 0..{num_classes - 1} "
                "(fix: use an index into data.yaml names)"
            )
            continue
        nums = values[1:]
        if not all(math.isfinite(v) for v in nums):
            col.problems.append(f"{path}:{lineno}: non-finite value in {line!r}")
            continue
        if len(nums) == 4:
            cx, cy, w, h = nums
            coords = ((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H)
        elif len(nums) >= 6 and len(nums) % 2 == 0:
            xs, ys = nums[0::2], nums[1::2]
            coords = (min(xs) * W, min(ys) * H, max(xs) * W, max(ys) * H)
        else:
            col.problems.append(
                f"{path}:{lineno}: expected 'class cx cy w h' (or a segment 'class x1 y1 x2 y2 "
                f"x3 y3 ...'), got {len(tok)} values"
            )
            continue
        col.box(img, coords, int(cls), where)


def convert_yolo(
    src: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> ConversionResult:
    """Convert a YOLO dataset folder (holding ``data.yaml``) to COCO, one JSON per split.

    Raises :class:`DataError` listing every malformed label line, unknown class index and
    unreadable image.
    """
    root = Path(src)
    yaml_path = next(
        (root / n for n in ("data.yaml", "data.yml") if (root / n).is_file()), root / "data.yaml"
    )
    names = read_yolo_names(yaml_path)
    result = ConversionResult(root)
    col = _Collector(result)

    split_dirs: list[tuple[str, Path]] = [
        (split, root / d) for d, split in _SPLIT_DIRS if (root / d / "images").is_dir()
    ]
    if [s for s, _ in split_dirs].count("val") > 1:
        raise DataError(f"{root}: both valid/ and val/ exist (fix: keep one of them)")
    if not split_dirs:
        if (root / "images").is_dir():
            split_dirs = [("all", root)]
        else:
            raise DataError(
                f"{root}: no train/images, valid/images, test/images or images/ folder "
                "(fix: pass the folder that holds data.yaml and the split folders)"
            )

    splits: dict[str, list[_Image]] = {}
    for split, d in split_dirs:
        images_dir, labels_dir = d / "images", d / "labels"
        imgs: list[_Image] = []
        used_labels: set[Path] = set()
        for p in sorted(images_dir.rglob("*")):
            if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
                continue
            img = col.image(p)
            if img is None:
                continue
            label = (labels_dir / p.relative_to(images_dir)).with_suffix(".txt")
            if label.is_file():
                used_labels.add(label)
                _parse_label_file(col, label, label.relative_to(root).as_posix(), img, len(names))
            imgs.append(img)
        orphans = (
            sorted(set(labels_dir.rglob("*.txt")) - used_labels) if labels_dir.is_dir() else []
        )
        if orphans:
            result.warnings.append(
                f"{labels_dir}: {len(orphans)} label file(s) without an image were left out "
                f"(e.g. {orphans[0].name})"
            )
        splits[split] = imgs
    col.fail_if_problems(root, "YOLO")
    return _finish(result, splits, names, out_dir, fmt="YOLO")
