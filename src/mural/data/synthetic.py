"""A synthetic COCO detection dataset that runs anywhere: mural's embedded default.

:func:`make_synthetic` draws small images of coloured shapes on textured backgrounds and
writes them as a COCO dataset (``images/*.png``, ``train.json``, ``val.json``). Everything
is a pure function of the seed and the arguments: the same call writes byte-identical
files, a different seed different ones. The choices (class frequencies, sizes, occlusion
rule) are documented in ``docs/synthetic.md``.

Only NumPy and Pillow are needed; drawing is vectorised per object (boolean masks).
"""

from __future__ import annotations

import colorsys
import io
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import (
    MARKER_FILE,
    atomic_write_bytes,
    atomic_write_json,
    is_mural_folder,
    remove_stale_temps,
)

__all__ = [
    "CLASS_HUES",
    "CLASS_NAMES",
    "SyntheticObject",
    "class_frequencies",
    "is_synthetic_folder",
    "make_synthetic",
    "render_image",
    "shape_mask",
]

GENERATOR_VERSION = 1

#: Category names in label order (category id = index + 1), most frequent first.
CLASS_NAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "star",
    "diamond",
    "hexagon",
)
#: Base hue (degrees) of each class: shapes *and* colours tell the classes apart.
CLASS_HUES: tuple[float, ...] = (0.0, 120.0, 240.0, 55.0, 300.0, 180.0, 28.0, 270.0)

_SPLIT_CODES = {"train": 1, "val": 2}


@dataclass(frozen=True)
class SyntheticObject:
    """One drawn object: its class label (0..C-1), tight box and visible fraction."""

    label: int
    box_xyxy: tuple[int, int, int, int]  # tight box of the drawn mask, pixel edges
    area: int  # mask pixels before occlusion
    visible: float  # fraction of the mask not covered by later objects


def class_frequencies(num_classes: int, tail_ratio: float) -> np.ndarray:
    """Geometric class frequencies: ``p_k ∝ r**k`` with ``p_0 / p_{C-1} = tail_ratio``.

    Returns:
        (C,) float64, sums to 1, non-increasing.
    """
    if num_classes == 1:
        return np.ones(1)
    r = tail_ratio ** (-1.0 / (num_classes - 1))
    p = r ** np.arange(num_classes, dtype=np.float64)
    return np.asarray(p / p.sum())


def _quotas(total: int, p: np.ndarray, minimum: int) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``total * p`` (largest remainder),
    each at least ``minimum`` (taken from the largest classes).

    Returns:
        (C,) int64.
    """
    exact = total * p
    counts = np.floor(exact).astype(np.int64)
    rest = total - int(counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:rest]] += 1
    for k in range(len(counts)):
        while counts[k] < minimum:
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[k] += 1
    return np.asarray(counts)


@lru_cache(maxsize=4096)
def shape_mask(kind: str, h: int, w: int) -> np.ndarray:
    """Boolean mask of a shape filling an ``h x w`` box (pixel centres tested).

    Returns:
        (h, w) bool, read-only (cached).
    """
    v = (2.0 * (np.arange(h) + 0.5) / h - 1.0)[:, None]  # -1 top .. 1 bottom
    u = (2.0 * (np.arange(w) + 0.5) / w - 1.0)[None, :]
    r2 = u * u + v * v
    if kind == "circle":
        m = r2 <= 1.0
    elif kind == "square":
        m = np.ones((h, w), dtype=bool)
    elif kind == "triangle":
        m = np.abs(u) <= (v + 1.0) / 2.0 + 1.0 / w
    elif kind == "cross":
        m = (np.abs(u) <= 0.34) | (np.abs(v) <= 0.34)
    elif kind == "ring":
        m = (r2 <= 1.0) & (r2 >= 0.36)
    elif kind == "star":
        theta = np.arctan2(u, -v)
        spikes = ((1.0 + np.cos(5.0 * theta)) / 2.0) ** 2
        m = np.sqrt(r2) <= 0.45 + 0.6 * spikes
    elif kind == "diamond":
        m = np.abs(u) + np.abs(v) <= 1.0
    elif kind == "hexagon":
        s3 = math.sqrt(3.0)
        m = (np.abs(v) <= s3 / 2.0 + 1.0 / h) & (s3 * np.abs(u) + np.abs(v) <= s3)
    else:  # pragma: no cover - guarded by CLASS_NAMES
        raise ValueError(f"unknown shape {kind!r}")
    m = np.broadcast_to(m, (h, w)).copy()
    if not m.any():  # degenerate tiny box: at least the centre pixel
        m[h // 2, w // 2] = True
    m.setflags(write=False)
    return m


@lru_cache(maxsize=4096)
def _outline(kind: str, h: int, w: int) -> np.ndarray:
    """The 1-pixel rim of :func:`shape_mask` (mask minus its 4-neighbour erosion).

    Returns:
        (h, w) bool, read-only (cached).
    """
    m = np.pad(shape_mask(kind, h, w), 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    rim = m[1:-1, 1:-1] & ~inner
    rim.setflags(write=False)
    return np.asarray(rim)


def _hsv(h_deg: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb((h_deg % 360.0) / 360.0, s, v), dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Value noise: a random ``cells x cells`` grid, bilinearly upsampled.

    Returns:
        (height, width) float32 in [0, 1].
    """
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    ys = np.linspace(0.0, cells, height, dtype=np.float32)
    xs = np.linspace(0.0, cells, width, dtype=np.float32)
    y0 = np.minimum(ys.astype(np.int64), cells - 1)
    x0 = np.minimum(xs.astype(np.int64), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return np.asarray((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured, low-saturation background: gradient + stripes + value noise.

    Returns:
        (height, width, 3) float32 in [0, 1].
    """
    yy = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    hue = rng.uniform(0.0, 360.0)
    c0 = _hsv(hue, rng.uniform(0.0, 0.25), rng.uniform(0.25, 0.6))
    c1 = _hsv(hue + rng.uniform(-60.0, 60.0), rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.75))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy + 1.0) / 2.0  # gradient 0..1
    img = c0[None, None, :] * (1.0 - t[..., None]) + c1[None, None, :] * t[..., None]
    # stripes of random orientation and period, random strength
    s_angle = rng.uniform(0.0, math.pi)
    period = rng.uniform(6.0, 40.0)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    coord = (np.cos(s_angle) * xx * width + np.sin(s_angle) * yy * height) / 2.0
    stripes = np.sin(2.0 * math.pi * coord / period + phase)
    img = img + rng.uniform(0.0, 0.12) * stripes[..., None]
    # low-frequency blotches
    noise = _smooth_noise(rng, height, width, int(rng.integers(3, 9))) - 0.5
    img = img + rng.uniform(0.05, 0.25) * noise[..., None]
    return np.asarray(img.astype(np.float32))


def render_image(
    rng: np.random.Generator,
    labels: np.ndarray,
    image_size: tuple[int, int],
    *,
    min_size: int,
    max_size: int,
    min_visible: float = 0.3,
    attempts: int = 40,
) -> tuple[np.ndarray, list[SyntheticObject]]:
    """Draw one image holding one object per entry of ``labels``, in that order.

    Later objects are drawn over earlier ones. A placement is rejected when it would leave
    an earlier object less than ``min_visible`` visible; after ``attempts`` tries the
    least-damaging candidate is kept (only in very crowded images).

    Args:
        rng: the image's generator.
        labels: (N,) int class labels 0..C-1.
        image_size: (H, W).

    Returns:
        (H, W, 3) uint8 image and the N objects in drawing order.
    """
    height, width = image_size
    img = _background(rng, height, width)
    owner = np.full((height, width), -1, dtype=np.int64)  # index of the top object
    areas: list[int] = []
    n = len(labels)
    vis = np.zeros(n, dtype=np.float64)  # currently visible pixels per object
    area_arr = np.ones(n, dtype=np.float64)
    placed: list[tuple[int, int, int, int]] = []  # x0, y0, w, h of the drawn box
    log_lo, log_hi = math.log(min_size), math.log(max_size)
    for k, label in enumerate(labels.tolist()):
        kind = CLASS_NAMES[label]
        best: tuple[float, int, int, int, int] | None = None
        for attempt in range(attempts):
            if attempt % 10 == 0:  # a new size every 10 positions
                side = math.exp(rng.uniform(log_lo, log_hi))
                aspect = math.exp(rng.uniform(-0.2, 0.2))
                w = int(np.clip(round(side * aspect), min_size, width))
                h = int(np.clip(round(side / aspect), min_size, height))
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            mask = shape_mask(kind, h, w)
            under = owner[y0 : y0 + h, x0 : x0 + w][mask]
            under = under[under >= 0]
            worst = 1.0
            if under.size:
                lost = np.bincount(under, minlength=k)
                hit = np.flatnonzero(lost)
                worst = float(((vis[hit] - lost[hit]) / area_arr[hit]).min())
            if best is None or worst > best[0]:
                best = (worst, x0, y0, w, h)
            if worst >= min_visible:
                break
        assert best is not None
        _, x0, y0, w, h = best
        mask = shape_mask(kind, h, w)
        hue = CLASS_HUES[label] + rng.uniform(-8.0, 8.0)
        colour = _hsv(hue, rng.uniform(0.75, 1.0), rng.uniform(0.7, 1.0))
        patch = img[y0 : y0 + h, x0 : x0 + w]
        patch[mask] = colour
        patch[_outline(kind, h, w)] = colour * 0.4  # dark rim: same-class neighbours separate
        region = owner[y0 : y0 + h, x0 : x0 + w]
        under = region[mask]
        under = under[under >= 0]
        if under.size:
            vis[:k] -= np.bincount(under, minlength=k)
        region[mask] = k
        areas.append(int(mask.sum()))
        vis[k] = area_arr[k] = areas[-1]
        placed.append((x0, y0, w, h))
    # sensor noise, quantise
    img = img + rng.normal(0.0, 0.02, size=img.shape).astype(np.float32)
    out = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    visible_px = np.bincount(owner[owner >= 0], minlength=len(areas))
    objects = []
    for k, ((x0, y0, w, h), area) in enumerate(zip(placed, areas, strict=True)):
        mask = shape_mask(CLASS_NAMES[int(labels[k])], h, w)
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        box = (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
        objects.append(SyntheticObject(int(labels[k]), box, area, float(visible_px[k]) / area))
    return out, objects


def _png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _check(
    n_train: int,
    n_val: int,
    image_size: tuple[int, int],
    objects_per_image: tuple[int, int],
    object_size: tuple[int, int],
    num_classes: int,
    tail_ratio: float,
    min_visible: float,
) -> None:
    h, w = image_size
    lo_n, hi_n = objects_per_image
    lo_s, hi_s = object_size
    if n_train < 1 or n_val < 1:
        raise ConfigError(
            f"synthetic: n_train={n_train}, n_val={n_val}: each split needs >= 1 image"
        )
    if not (2 <= num_classes <= len(CLASS_NAMES)):
        raise ConfigError(f"synthetic: num_classes={num_classes}: must be in 2..{len(CLASS_NAMES)}")
    if h < 16 or w < 16 or h > 4096 or w > 4096:
        raise ConfigError(f"synthetic: image size {h}x{w}: each side must be in 16..4096")
    if not (1 <= lo_n <= hi_n):
        raise ConfigError(f"synthetic: objects per image {lo_n}..{hi_n}: need 1 <= min <= max")
    if not (2 <= lo_s <= hi_s <= min(h, w)):
        raise ConfigError(
            f"synthetic: object size {lo_s}..{hi_s} px: need 2 <= min <= max <= "
            f"the image's shorter side ({min(h, w)})"
        )
    if not (tail_ratio >= 1.0):
        raise ConfigError(f"synthetic: tail_ratio={tail_ratio}: must be >= 1")
    if not (0.0 <= min_visible < 1.0):
        raise ConfigError(f"synthetic: min_visible={min_visible}: must be in [0, 1)")
    for name, n in (("n_train", n_train), ("n_val", n_val)):
        if n * lo_n < num_classes:
            raise ConfigError(
                f"synthetic: {name}={n} images x >= {lo_n} objects cannot hold all "
                f"{num_classes} classes; use more images"
            )


def _split(
    name: str,
    seed: int,
    n_images: int,
    first_image_id: int,
    first_ann_id: int,
    image_size: tuple[int, int],
    objects_per_image: tuple[int, int],
    object_size: tuple[int, int],
    p: np.ndarray,
    min_visible: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, bytes]]:
    code = _SPLIT_CODES[name]
    rng = np.random.default_rng([seed, code, 0])
    lo_n, hi_n = objects_per_image
    # objects per image: log-uniform integer in lo..hi (more sparse than crowded images)
    counts = np.floor(np.exp(rng.uniform(math.log(lo_n), math.log(hi_n + 1), n_images)))
    counts = np.clip(counts.astype(np.int64), lo_n, hi_n)
    total = int(counts.sum())
    per_class = _quotas(total, p, minimum=1)
    labels = rng.permutation(np.repeat(np.arange(len(p)), per_class))
    starts = np.concatenate([[0], np.cumsum(counts)])
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    height, width = image_size
    ann_id = first_ann_id
    for i in range(n_images):
        image_id = first_image_id + i
        file_name = f"{name}_{i:06d}.png"
        img_rng = np.random.default_rng([seed, code, 1, i])
        pixels, objects = render_image(
            img_rng,
            labels[starts[i] : starts[i + 1]],
            image_size,
            min_size=object_size[0],
            max_size=object_size[1],
            min_visible=min_visible,
        )
        files[file_name] = _png_bytes(pixels)
        images.append({"id": image_id, "file_name": file_name, "height": height, "width": width})
        for obj in objects:
            x0, y0, x1, y1 = obj.box_xyxy
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": obj.label + 1,
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "area": float((x1 - x0) * (y1 - y0)),
                    "iscrowd": 0,
                    "visible": round(obj.visible, 4),
                }
            )
            ann_id += 1
    return images, annotations, files


#: Names of the files :func:`make_synthetic` writes under ``images/``.
_IMAGE_NAME = re.compile(r"^(train|val)_\d{6}\.png$")
_TEMP_NAME = re.compile(r"^\.(train|val)_\d{6}\.png\.mural-[0-9a-f]{8}\.tmp$")


def _own_entries(root: Path) -> list[str]:
    return [n for n in os.listdir(root) if n != MARKER_FILE]


def is_synthetic_folder(root: Path) -> bool:
    """Whether ``root`` holds a synthetic dataset :func:`make_synthetic` wrote.

    Recognised by the loop's stamp ``.mural-synthetic.json``, by the ``info`` with which
    :func:`make_synthetic` starts ``train.json``/``val.json``, or (an interrupted run) by
    holding nothing but ``images/`` with only the generator's file names in it.
    """
    if (root / ".mural-synthetic.json").is_file():
        return True
    if _own_entries(root) == ["images"] and (root / "images").is_dir():
        names = os.listdir(root / "images")
        if all(_IMAGE_NAME.match(n) or _TEMP_NAME.match(n) for n in names):
            return True
    for name in ("train.json", "val.json"):
        try:
            with open(root / name, encoding="utf-8") as fh:
                head = fh.read(200)
        except (OSError, UnicodeDecodeError):
            continue
        if head.startswith('{"info": {"description": "mural synthetic shapes'):
            return True
    return False


def _check_replaceable(root: Path) -> None:
    """Refuse to replace, in a folder that is not mural's, files the generator would
    overwrite or delete (``train.json``, ``val.json``, ``images/{train,val}_NNNNNN.png``):
    they are someone else's. Other files in the folder are never touched."""
    if is_mural_folder(root) or is_synthetic_folder(root):
        return
    clash = [n for n in ("train.json", "val.json") if (root / n).exists()]
    if (root / "images").is_dir():
        clash += sorted(f"images/{n}" for n in os.listdir(root / "images") if _IMAGE_NAME.match(n))
    if clash:
        shown = ", ".join(clash[:3]) + (" ..." if len(clash) > 3 else "")
        raise ConfigError(
            f"{root}: holds {shown}, which mural did not write; --force replaces only a "
            "dataset mural generated (fix: choose another --out)"
        )


def make_synthetic(
    out_dir: str | Path,
    *,
    seed: int = 0,
    n_train: int = 300,
    n_val: int = 100,
    image_size: tuple[int, int] = (128, 128),
    objects_per_image: tuple[int, int] = (5, 30),
    object_size: tuple[int, int] = (6, 64),
    num_classes: int = 8,
    tail_ratio: float = 20.0,
    min_visible: float = 0.3,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the synthetic COCO dataset into ``out_dir``.

    Layout: ``out_dir/images/{train,val}_NNNNNN.png``, ``out_dir/train.json`` and
    ``out_dir/val.json``; ``file_name`` is relative to ``out_dir/images`` (pass that folder
    as the image root). Image and annotation ids are unique across both splits; category
    ids are ``1..num_classes`` in :data:`CLASS_NAMES` order, most frequent first.

    Args:
        out_dir: target folder; must be absent or empty unless ``overwrite``, which
            deletes only the files the generator writes
            (``images/{train,val}_NNNNNN.png``, ``train.json``, ``val.json``) of a dataset
            mural generated, and never anything else; a folder holding such names that
            mural did not write is refused.
        seed: everything is a function of it (same seed and arguments: same bytes).
        n_train, n_val: images per split.
        image_size: (H, W) of every image.
        objects_per_image: inclusive range; counts are log-uniform in it.
        object_size: inclusive range of an object's nominal side in pixels, log-uniform.
        num_classes: 2..8, taking the first names of :data:`CLASS_NAMES`.
        tail_ratio: frequency of the most common class over the rarest (geometric series).
        min_visible: an earlier object keeps at least this fraction of its pixels visible
            (best effort: see :func:`render_image`).
        overwrite: replace a previous run in ``out_dir``.

    Returns:
        ``{"root": out_dir, "images": out_dir/images, "train": ..., "val": ...}``.

    Raises:
        ConfigError: invalid arguments, a non-empty ``out_dir`` without ``overwrite``, or
            a folder holding dataset files mural did not write.
    """
    image_size = (int(image_size[0]), int(image_size[1]))
    objects_per_image = (int(objects_per_image[0]), int(objects_per_image[1]))
    object_size = (int(object_size[0]), int(object_size[1]))
    _check(
        n_train,
        n_val,
        image_size,
        objects_per_image,
        object_size,
        num_classes,
        tail_ratio,
        min_visible,
    )
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder; choose another --out")
    if root.is_dir() and _own_entries(root):
        if not overwrite:
            raise ConfigError(
                f"{root}: folder is not empty; choose a new --out or pass --force "
                "(which replaces the images, train.json and val.json written there before)"
            )
        _check_replaceable(root)
        remove_stale_temps(root)
        for name in ("train.json", "val.json"):
            (root / name).unlink(missing_ok=True)
        if (root / "images").is_dir():
            for f in (root / "images").iterdir():
                if _IMAGE_NAME.match(f.name) and f.is_file():
                    f.unlink()
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)

    p = class_frequencies(num_classes, tail_ratio)
    categories = [
        {"id": k + 1, "name": CLASS_NAMES[k], "supercategory": "shape"} for k in range(num_classes)
    ]
    params = {
        "seed": int(seed),
        "n_train": int(n_train),
        "n_val": int(n_val),
        "image_size": list(image_size),
        "objects_per_image": list(objects_per_image),
        "object_size": list(object_size),
        "num_classes": int(num_classes),
        "tail_ratio": float(tail_ratio),
        "min_visible": float(min_visible),
    }
    paths = {"root": root, "images": images_dir}
    next_image, next_ann = 1, 1
    for name, n in (("train", n_train), ("val", n_val)):
        images, annotations, files = _split(
            name,
            seed,
            n,
            next_image,
            next_ann,
            image_size,
            objects_per_image,
            object_size,
            p,
            min_visible,
        )
        for file_name, data in files.items():
            atomic_write_bytes(images_dir / file_name, data)
        doc = {
            "info": {
                "description": f"mural synthetic shapes, {name} split",
                "version": f"synthetic-v{GENERATOR_VERSION}",
                "parameters": params,
            },
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        path = root / f"{name}.json"
        atomic_write_json(path, doc, indent=None)
        paths[name] = path
        next_image += n
        next_ann += len(annotations)
    return paths
