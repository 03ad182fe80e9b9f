"""Shared parts of the converters (see :mod:`mural.data.convert`).

Each converter returns a :class:`ConversionResult` (a ``dict`` split -> :class:`CocoDataset`)
and, given ``out_dir``, writes one ``<split>.json`` per split (``all.json`` when the source
defines no split). Every ``file_name`` is relative to the source folder ``src``: pass
``--images SRC`` (``image_root=src``) when using the JSON files.

Shared rules (docs/datasets.md): image sizes are read from the image files (header only);
boxes are clipped to the image; boxes of zero or negative size (before or after clipping)
are dropped and counted in :attr:`ConversionResult.warnings`; image ids are ``1..N`` over the
whole source in sorted ``file_name`` order (an image has the same id in every split), and
annotation ids ``1..M`` in that image order.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from ...errors import ConfigError, DataError
from ..coco import Annotation, Category, CocoDataset, ImageInfo, format_problems

__all__ = [
    "IMAGE_EXTENSIONS",
    "ConversionResult",
    "ConversionWarning",
    "image_size",
    "refuse_earlier_output",
    "shrink_result",
]

#: Canonical split order in outputs and summaries.
SPLIT_ORDER = ("train", "trainval", "val", "test", "all")
#: A clip that moves a box edge by more than this (pixels) is reported.
CLIP_REPORT_PX = 0.01
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ConversionWarning(UserWarning):
    """Boxes were dropped or clipped, or files were left out, while converting."""


class ConversionResult(dict[str, CocoDataset]):
    """Split name -> dataset, plus what the conversion noticed.

    ``warnings``: one line per dropped/clipped box or left-out file; ``dropped``: number of
    dropped boxes; ``paths``: split -> written JSON (empty when no ``out_dir``); ``src``:
    the image root to use with the JSON files.
    """

    def __init__(self, src: Path) -> None:
        super().__init__()
        self.src = src
        self.warnings: list[str] = []
        self.dropped = 0
        self.clipped = 0
        self.paths: dict[str, Path] = {}
        self.notes: list[str] = []

    def summary(self, max_warnings: int = 20) -> str:
        """Lines: images and boxes per split (per class), the JSON written, the first
        ``max_warnings`` warnings, and the image root to use."""
        lines = []
        for split, ds in self.items():
            per_class = Counter(
                ds.class_names[ds.label_of(a.category_id)] for a in ds.annotations if not a.iscrowd
            )
            n_crowd = sum(a.iscrowd for a in ds.annotations)
            classes = ", ".join(f"{name} {per_class[name]}" for name in ds.class_names)
            crowd = f", {n_crowd} crowd" if n_crowd else ""
            dest = f" -> {self.paths[split]}" if split in self.paths else ""
            lines.append(
                f"{split}: {len(ds.images)} images, {sum(per_class.values())} boxes "
                f"({classes}){crowd}{dest}"
            )
        lines.extend(self.notes)
        lines.append(f"dropped boxes: {self.dropped}, clipped boxes: {self.clipped}")
        lines.extend(f"  warning: {w}" for w in self.warnings[:max_warnings])
        if len(self.warnings) > max_warnings:
            lines.append(f"  ... and {len(self.warnings) - max_warnings} more warnings")
        lines.append(f"image root (pass as --images): {self.src}")
        return "\n".join(lines)


@dataclass
class _Box:
    x0: float
    y0: float
    x1: float
    y1: float
    label: int  # index into the class list
    iscrowd: int = 0


@dataclass
class _Image:
    file_name: str  # relative to src, POSIX separators
    width: int
    height: int
    boxes: list[_Box] = field(default_factory=list)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header; :class:`DataError` when unreadable."""
    from ..images import read_size

    return read_size(path)


class _Collector:
    """Problems (fatal, reported together) and box bookkeeping shared by the converters."""

    def __init__(self, result: ConversionResult) -> None:
        self.result = result
        self.problems: list[str] = []

    def image(self, path: Path) -> _Image | None:
        """The image at ``path`` (named relative to the source), or ``None`` when its header
        is unreadable (a problem)."""
        try:
            width, height = image_size(path)
        except DataError as exc:
            self.problems.append(str(exc))
            return None
        return _Image(path.relative_to(self.result.src).as_posix(), width, height)

    def box(
        self,
        img: _Image,
        coords: tuple[float, float, float, float],
        label: int,
        where: str,
        iscrowd: int = 0,
    ) -> None:
        """Clip ``(x0, y0, x1, y1)`` to the image and add it, or drop it when degenerate."""
        x0, y0, x1, y1 = coords
        if not (x1 > x0 and y1 > y0):
            self.drop(where, coords, "zero or negative size")
            return
        cx0, cx1 = min(max(x0, 0.0), img.width), min(max(x1, 0.0), img.width)
        cy0, cy1 = min(max(y0, 0.0), img.height), min(max(y1, 0.0), img.height)
        if not (cx1 > cx0 and cy1 > cy0):
            self.drop(where, coords, f"outside the {img.width}x{img.height} image")
            return
        moved = max(abs(cx0 - x0), abs(cx1 - x1), abs(cy0 - y0), abs(cy1 - y1))
        if moved > CLIP_REPORT_PX:
            self.result.clipped += 1
            self.result.warnings.append(
                f"{where}: box {_fmt(coords)} clipped to the {img.width}x{img.height} image"
            )
        img.boxes.append(_Box(cx0, cy0, cx1, cy1, label, iscrowd))

    def drop(self, where: str, coords: tuple[float, float, float, float], why: str) -> None:
        self.result.dropped += 1
        self.result.warnings.append(f"{where}: dropped box {_fmt(coords)} ({why})")

    def fail_if_problems(self, src: Path, fmt: str) -> None:
        if self.problems:
            n = len(self.problems)
            raise DataError(
                f"{src}: {n} problem(s) converting {fmt} dataset\n" + format_problems(self.problems)
            )


def _fmt(coords: tuple[float, float, float, float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in coords) + ")"


def refuse_earlier_output(result: ConversionResult, out_dir: str | os.PathLike[str]) -> None:
    """:class:`ConfigError` when ``out_dir`` holds a ``<split>.json`` of ``result``'s splits."""
    out = Path(out_dir)
    have = [f"{s}.json" for s in result if (out / f"{s}.json").exists()]
    if have:
        raise ConfigError(
            f"--out {out}: already holds {', '.join(have)} from an earlier conversion "
            "(fix: pass --force to replace them, or choose another --out)"
        )


def save_result(
    result: ConversionResult, out_dir: str | os.PathLike[str], *, overwrite: bool = True
) -> None:
    """Write each split of ``result`` as ``out_dir/<split>.json`` (recording the paths).

    Without ``overwrite`` an existing ``<split>.json`` is refused (ConfigError) before
    anything is written.
    """
    out = Path(out_dir)
    if not overwrite:
        refuse_earlier_output(result, out)
    out.mkdir(parents=True, exist_ok=True)
    for split, ds in result.items():
        path = out / f"{split}.json"
        ds.save(path)
        ds.path = path
        result.paths[split] = path


def shrink_result(
    result: ConversionResult,
    out_dir: str | os.PathLike[str],
    max_side: int,
    *,
    overwrite: bool = False,
) -> ConversionResult:
    """Copies of ``result``'s images whose longer side is at most ``max_side`` pixels.

    Each image larger than that is resized (aspect ratio kept, sides rounded, Pillow's
    bilinear filter, which averages when shrinking) and written to
    ``out_dir/images/<file_name>`` in its own format (JPEG at quality 95); a smaller one is
    copied byte for byte. Boxes are scaled by ``(W'/W, H'/H)``; ids and splits are kept.
    Returns the new result, whose ``src`` (the image root) is ``out_dir/images``. For
    protocols that must run small (a CPU comparison): a region is a window of the
    original image size (contract §1), so shrinking the originals keeps regions smaller
    than the scaled images. An existing ``out_dir/images/<file_name>`` is refused
    (:class:`ConfigError`, before anything is written) unless ``overwrite``.
    """
    from ...io import atomic_open
    from ..images import read_rgb, resize

    if int(max_side) < 1:
        raise ConfigError(f"--max-side {max_side}: must be a positive number of pixels")
    root = Path(out_dir) / "images"
    infos = {im.file_name: im for ds in result.values() for im in ds.images}
    if not overwrite:
        have = sorted(n for n in infos if (root / n).exists())
        if have:
            raise ConfigError(
                f"{root / have[0]}: already exists ({len(have)} image(s) from an earlier "
                "conversion) (fix: pass --force to replace them, or choose another --out)"
            )
    new_size: dict[str, tuple[int, int]] = {}
    for name, im in infos.items():
        f = min(1.0, int(max_side) / max(im.width, im.height))
        w, h = max(1, round(im.width * f)), max(1, round(im.height * f))
        new_size[name] = (h, w)
        dst = root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        src = result.src / name
        if (h, w) == (im.height, im.width):
            with open(src, "rb") as fin, atomic_open(dst, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            continue
        img = resize(read_rgb(src, (im.height, im.width)), (h, w))
        fmt = "JPEG" if dst.suffix.lower() in (".jpg", ".jpeg") else None
        with atomic_open(dst, "wb") as fout:
            if fmt == "JPEG":
                img.save(fout, format=fmt, quality=95)
            else:
                img.save(fout, format=Image.registered_extensions().get(dst.suffix.lower()))
    out = ConversionResult(root)
    out.warnings, out.dropped, out.clipped = list(result.warnings), result.dropped, result.clipped
    out.notes = [*result.notes, f"images shrunk to at most {int(max_side)} px per side"]
    for split, ds in result.items():
        images, anns = [], []
        scale: dict[int, tuple[float, float]] = {}
        for im in ds.images:
            h, w = new_size[im.file_name]
            images.append(ImageInfo(im.id, im.file_name, h, w))
            scale[im.id] = (w / im.width, h / im.height)
        for a in ds.annotations:
            sx, sy = scale[a.image_id]
            x, y, bw, bh = a.bbox
            box = (x * sx, y * sy, bw * sx, bh * sy)
            anns.append(replace(a, bbox=box, area=box[2] * box[3]))
        out[split] = CocoDataset(images, anns, ds.categories, image_root=root)
    return out


def _finish(
    result: ConversionResult,
    splits: dict[str, list[_Image]],
    class_names: Sequence[str],
    out_dir: str | os.PathLike[str] | None,
    *,
    category_ids: Sequence[int] | None = None,
    supercategories: Sequence[str] | None = None,
    fmt: str,
) -> ConversionResult:
    """Number images/annotations, build one dataset per split, optionally save them."""
    cat_ids = (
        list(category_ids) if category_ids is not None else list(range(1, len(class_names) + 1))
    )
    sups = list(supercategories) if supercategories is not None else [""] * len(class_names)
    categories = [Category(c, n, s) for c, n, s in zip(cat_ids, class_names, sups, strict=True)]

    by_name: dict[str, _Image] = {}
    for images in splits.values():
        for im in images:
            by_name.setdefault(im.file_name, im)
    image_id: dict[str, int] = {}
    ann_ids: dict[str, list[int]] = {}
    next_ann = 1
    for i, name in enumerate(sorted(by_name), start=1):
        image_id[name] = i
        n = len(by_name[name].boxes)
        ann_ids[name] = list(range(next_ann, next_ann + n))
        next_ann += n

    ordered = sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 99, s))
    for split in ordered:
        infos: list[ImageInfo] = []
        anns: list[Annotation] = []
        for im in sorted(splits[split], key=lambda im: im.file_name):
            iid = image_id[im.file_name]
            infos.append(ImageInfo(iid, im.file_name, im.height, im.width))
            for aid, b in zip(ann_ids[im.file_name], by_name[im.file_name].boxes, strict=True):
                w, h = b.x1 - b.x0, b.y1 - b.y0
                anns.append(
                    Annotation(aid, iid, cat_ids[b.label], (b.x0, b.y0, w, h), w * h, b.iscrowd)
                )
        ds = CocoDataset(infos, anns, categories, image_root=result.src)
        # structural self-check (ids, boxes inside images): a failure here is a bug
        CocoDataset.from_dict(ds.to_dict(), image_root=result.src)
        result[split] = ds
    if out_dir is not None:
        save_result(result, out_dir)
    if result.warnings:
        warnings.warn(
            f"converting {fmt} dataset {result.src}: {result.dropped} box(es) dropped, "
            f"{result.clipped} clipped, {len(result.warnings)} warning(s) in total "
            "(see ConversionResult.warnings)",
            ConversionWarning,
            stacklevel=3,
        )
    return result
