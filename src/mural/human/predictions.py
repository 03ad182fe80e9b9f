"""Predictions of any detector, read from COCO results files (one file per scale).

A COCO results file is a JSON list of ``{"image_id", "category_id", "bbox": [x, y, w, h],
"score"}`` entries, as detectron2, mmdetection, ultralytics and the COCO evaluators write
them. Each file holds one scale's predictions and declares its coordinates: ``original``
(pixels of the original image, what those tools write by default) or ``scaled`` (pixels of
the image resized at that scale, contract §1). Other keys (``segmentation``, ``area`` ...) are
ignored.

Everything is validated before use; a :class:`~mural.errors.DataError` lists the problems,
each naming the file, the entry index and the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.geometry import RegionFrame
from ..data.coco import format_problems
from ..detections import Detections, ScaleDetections
from ..errors import ConfigError, DataError
from ..io import read_json

if TYPE_CHECKING:
    from ..data.coco import CocoDataset

__all__ = ["COORDS", "PredictionFile", "load_predictions", "parse_scale", "read_results"]

#: Coordinate systems a results file may declare.
COORDS = ("original", "scaled")
MAX_LISTED = 20


@dataclass(frozen=True)
class PredictionFile:
    """One results file: its path, scale ``(min_size, max_size)`` and coordinate system."""

    path: Path
    scale: tuple[int, int]
    coords: str = "original"


def parse_scale(text: str) -> tuple[int, int]:
    """``"480,512"`` -> ``(480, 512)``; a :class:`ConfigError` explains a bad value."""
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        lo, hi = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(
            f"scale {text!r}: expected MIN_SIZE,MAX_SIZE (two positive integers, e.g. 480,512)"
        ) from None
    if lo <= 0 or hi <= 0:
        raise ConfigError(f"scale {text!r}: sizes must be positive (e.g. 480,512)")
    return lo, hi


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_results(
    pf: PredictionFile, dataset: CocoDataset
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read and validate one results file.

    Returns:
        ``{image_id: (boxes, scores, labels)}`` for the images that have predictions:
        ``boxes`` ``(M, 4)`` float64 ``xyxy`` in *scaled* pixels of ``pf.scale``, clipped to
        the scaled image; ``scores`` ``(M,)`` float64; ``labels`` ``(M,)`` int64 ``0..C-1``.

    Raises:
        DataError: listing every bad entry as ``FILE: entry I: field 'F': problem``.
    """
    if pf.coords not in COORDS:
        raise ConfigError(f"{pf.path}: coords must be one of {COORDS}, got {pf.coords!r}")
    data = read_json(pf.path)
    name = str(pf.path)
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]  # a COCO dict with scored annotations is accepted too
    if not isinstance(data, list):
        raise DataError(
            f"{name}: a COCO results file must be a JSON list of "
            "{image_id, category_id, bbox, score} entries"
        )
    sizes = {im.id: (im.height, im.width) for im in dataset.images}
    cats = {c.id for c in dataset.categories}
    problems: list[str] = []
    rows: dict[int, list[tuple[float, float, float, float, float, int]]] = {}

    def bad(i: int, field: str, msg: str) -> None:
        problems.append(f"{name}: entry {i}: field '{field}': {msg}")

    frames: dict[int, RegionFrame] = {}
    for i, e in enumerate(data):
        if not isinstance(e, dict):
            problems.append(f"{name}: entry {i}: must be an object, got {type(e).__name__}")
            continue
        ok = True
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in e:
                bad(i, key, "missing")
                ok = False
        if not ok:
            continue
        iid, cid, bbox, score = e["image_id"], e["category_id"], e["bbox"], e["score"]
        if isinstance(iid, bool) or not isinstance(iid, int) or iid not in sizes:
            bad(i, "image_id", f"unknown image id {iid!r} (not in the dataset)")
            ok = False
        if isinstance(cid, bool) or not isinstance(cid, int) or cid not in cats:
            bad(i, "category_id", f"unknown category id {cid!r} (dataset has {sorted(cats)})")
            ok = False
        if not _num(score) or not 0.0 <= score <= 1.0:
            bad(i, "score", f"must be a number in [0, 1], got {score!r}")
            ok = False
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_num(v) for v in bbox):
            bad(i, "bbox", f"must be [x, y, w, h] of 4 finite numbers, got {bbox!r}")
            continue
        x, y, w, h = (float(v) for v in bbox)
        if w <= 0 or h <= 0:
            bad(i, "bbox", f"width and height must be positive, got {bbox!r}")
            continue
        if not ok:
            continue
        hh, ww = sizes[iid]
        frame = frames.get(iid)
        if frame is None:
            frame = frames[iid] = RegionFrame.at((hh, ww), pf.scale)
        hs, ws = frame.scaled_size
        lim_w, lim_h = (float(ww), float(hh)) if pf.coords == "original" else (ws, hs)
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, lim_w), min(y + h, lim_h)
        if x1 <= x0 or y1 <= y0:
            bad(
                i,
                "bbox",
                f"{bbox!r} lies outside image {iid} ({lim_w:g} x {lim_h:g} {pf.coords} pixels); "
                "check --coords",
            )
            continue
        if pf.coords == "original":  # to scaled pixels, the far side clipped to the image
            x0, y0, x1, y1 = (float(v) for v in frame.original_to_scaled((x0, y0, x1, y1))[0])
            x1, y1 = min(x1, float(ws)), min(y1, float(hs))
        rows.setdefault(iid, []).append((x0, y0, x1, y1, float(score), dataset.label_of(cid)))
    if problems:
        raise DataError(
            f"{name}: {len(problems)} invalid prediction(s):\n"
            + format_problems(problems, MAX_LISTED)
        )
    out = {}
    for iid, r in rows.items():
        a = np.array(r, dtype=np.float64).reshape(-1, 6)
        out[iid] = (a[:, :4].copy(), a[:, 4].copy(), a[:, 5].astype(np.int64))
    return out


def load_predictions(
    files: Sequence[PredictionFile],
    dataset: CocoDataset,
    image_ids: Sequence[int] | None = None,
) -> Detections:
    """Read one results file per scale into a :class:`mural.detections.Detections`.

    Args:
        files: one :class:`PredictionFile` per scale, in the configured scale order.
        dataset: the images (sizes, categories) the predictions refer to.
        image_ids: images to keep (default: every image of the dataset, in file order);
            an image with no prediction in a file has none at that scale.

    Returns:
        Detections with boxes in scaled pixels, labels ``0..C-1``, no class probabilities.
    """
    if not files:
        raise ConfigError("give at least one predictions file (one per scale)")
    scales = [pf.scale for pf in files]
    if len(set(scales)) != len(scales):
        raise ConfigError(f"each scale may appear once, got {scales}")
    ids = list(dataset.image_ids() if image_ids is None else image_ids)
    sizes = [(dataset.image(i).height, dataset.image(i).width) for i in ids]
    out = Detections(num_classes=dataset.num_classes)
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    for pf in files:
        per = read_results(pf, dataset)
        got = [per.get(iid, empty) for iid in ids]
        out.per_scale.append(ScaleDetections.from_images(pf.scale, ids, sizes, got))
    return out
