"""A tiny COCO dataset with images, GT and per-scale predictions for the human-loop tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

H, W = 40, 60
# (min_size, max_size): f = 1, 1.5 and 0.5 for a 40x60 image.
SCALES = [(40, 60), (60, 90), (20, 30)]
FACTORS = [1.0, 1.5, 0.5]
CATS = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 9, "name": "bird"}]

# image id -> GT boxes (x, y, w, h) original pixels with category ids
GT: dict[int, list[tuple[tuple[float, float, float, float], int]]] = {
    1: [((5, 5, 10, 8), 3), ((30, 10, 12, 12), 7), ((44, 25, 14, 12), 9)],
    2: [((0, 0, 9, 9), 7), ((50, 30, 10, 10), 3)],
    3: [],  # an image with no objects (it gets one false-positive prediction)
    4: [((20, 15, 10, 10), 3)],  # an image with no predictions at all
    5: [((8, 20, 16, 12), 9), ((20, 22, 10, 10), 3), ((36, 4, 11, 15), 7), ((2, 2, 6, 6), 9)],
}


def write_dataset(root: Path, with_gt: bool = True) -> Path:
    """Images under root/images, COCO JSON at root/data.json; returns the JSON path."""
    rng = np.random.default_rng(7)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for iid, objs in GT.items():
        arr = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / "images" / f"im{iid}.png")
        images.append({"id": iid, "file_name": f"im{iid}.png", "height": H, "width": W})
        for bbox, cid in objs:
            anns.append(
                {
                    "id": 100 * iid + len(anns),
                    "image_id": iid,
                    "category_id": cid,
                    "bbox": list(bbox),
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
    d = {"images": images, "annotations": anns if with_gt else [], "categories": CATS}
    path = root / "data.json"
    path.write_text(json.dumps(d))
    return path


def write_predictions(root: Path) -> list[tuple[Path, tuple[int, int], str]]:
    """One COCO results file per scale: GT boxes jittered, plus a false positive on image 3.

    Scale 1 is written in scaled pixels, the others in original pixels.
    """
    rng = np.random.default_rng(11)
    out = []
    for s, (scale, f) in enumerate(zip(SCALES, FACTORS, strict=True)):
        coords = "scaled" if s == 1 else "original"
        k = f if coords == "scaled" else 1.0
        res: list[dict[str, Any]] = []
        for iid, objs in GT.items():
            if iid == 4:
                continue
            for (x, y, w, h), cid in objs:
                j = rng.uniform(-0.3, 0.3, 2)
                res.append(
                    {
                        "image_id": iid,
                        "category_id": cid,
                        "bbox": [
                            max(0.0, (x + j[0]) * k),
                            max(0.0, (y + j[1]) * k),
                            w * k,
                            h * k,
                        ],
                        "score": float(rng.uniform(0.55, 0.95)),
                    }
                )
            if iid == 3:
                res.append(
                    {
                        "image_id": 3,
                        "category_id": 9,
                        "bbox": [20 * k, 10 * k, 9 * k, 9 * k],
                        "score": 0.6,
                    }
                )
            if iid == 1:  # below the score threshold: takes no part
                res.append(
                    {"image_id": 1, "category_id": 3, "bbox": [1, 1, 5 * k, 5 * k], "score": 0.2}
                )
        p = root / f"results_{s}.json"
        p.write_text(json.dumps(res))
        out.append((p, scale, coords))
    return out
