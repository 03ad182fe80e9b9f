"""Tiny models and data for the detector tests (CPU-fast)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from mural.data.coco import CocoDataset
from mural.detector import BackboneSpec, build_detector, register_backbone


class TinyBackbone(nn.Module):
    """Two stride-2 convolutions: one feature map at stride 4 with 16 channels."""

    out_channels = 16

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict([("0", self.body(x))])


def _build_tiny(state: Any, trainable: Any, pretrained: bool) -> nn.Module:
    return TinyBackbone()


register_backbone("tiny_test", BackboneSpec(_build_tiny, ((8, 16, 32),)))

CLASSES = ["red", "green"]
COLORS = {1: (230, 30, 30), 2: (30, 200, 30)}


def tiny_detector(seed: int = 0, **kw: Any):
    cfg = {
        "backbone": "tiny_test",
        "representation_size": 32,
        "min_size": 64,
        "max_size": 64,
        "seed": seed,
        "device": "cpu",
        "class_names": CLASSES,
    }
    cfg.update(kw)
    return build_detector("faster_rcnn", len(CLASSES), **cfg)


def draw_dataset(root: Path, sizes: list[tuple[int, int]], seed: int = 0) -> CocoDataset:
    """Coloured rectangles on grey; image 0 has no objects. Writes PNGs and ann.json."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, (h, w) in enumerate(sizes):
        arr = np.full((h, w, 3), 128, np.uint8)
        n = 0 if i == 0 else int(rng.integers(1, 3))
        for _ in range(n):
            bw, bh = int(rng.integers(10, w // 2)), int(rng.integers(10, h // 2))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cat = int(rng.integers(1, 3))
            arr[y : y + bh, x : x + bw] = COLORS[cat]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": cat,
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
        name = f"im{i + 1}.png"
        Image.fromarray(arr).save(root / name)
        images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
    d = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CLASSES)],
    }
    ds = CocoDataset.from_dict(d, image_root=root)
    ds.save(root / "ann.json")
    return CocoDataset.load(root / "ann.json", root)


class FullImages(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The TrainingSamples format, full images only (labels 1..C)."""

    def __init__(self, ds: CocoDataset) -> None:
        self.ds = ds
        self.ids = ds.image_ids()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_id = self.ids[i]
        with Image.open(self.ds.image_path(image_id)) as im:
            arr = np.asarray(im.convert("RGB"))
        img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255
        return img, {
            "boxes": torch.as_tensor(self.ds.boxes_xyxy(image_id), dtype=torch.float32).reshape(
                -1, 4
            ),
            "labels": torch.as_tensor(self.ds.labels(image_id) + 1, dtype=torch.int64),
            "ignore": torch.zeros((0, 4)),
            "image_id": image_id,
            "scale_index": -1,
            "window": None,
        }
