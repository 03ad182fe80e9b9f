"""A tiny pool for the strategy tests: images on disk, GT, fake detections, a tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mural.core import scale_factor, scaled_size
from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.detections import Detections, ScaleDetections
from mural.strategies import SelectionContext

H, W = 40, 60
SCALES = [(40, 60), (80, 120)]  # f = 1 and f = 2 for 40x60 images

# image id -> GT boxes (xyxy original px) with category ids
GT: dict[int, list[tuple[tuple[float, float, float, float], int]]] = {
    1: [((2, 2, 12, 12), 1), ((30, 5, 44, 20), 2), ((40, 22, 55, 36), 1)],
    2: [((5, 5, 15, 20), 2), ((20, 20, 35, 35), 1)],
    3: [],  # an image with no objects
    4: [((10, 10, 20, 20), 1), ((30, 10, 42, 25), 2)],  # an image with no detections
    5: [((15, 8, 30, 30), 2)],
    6: [((3, 3, 13, 13), 1), ((20, 3, 30, 13), 1), ((35, 3, 45, 13), 2), ((3, 20, 13, 30), 1)],
    7: [((1, 1, 20, 15), 1), ((25, 18, 50, 38), 2)],
}


def make_dataset(root: Path) -> CocoDataset:
    """Seven 40x60 images (PNG, random texture) with the GT above; categories 1 and 2."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    aid = 100
    for iid, objs in GT.items():
        name = f"im{iid}.png"
        arr = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / name)
        images.append({"id": iid, "file_name": name, "height": H, "width": W})
        for (x0, y0, x1, y1), cat in objs:
            anns.append(
                {
                    "id": aid,
                    "image_id": iid,
                    "category_id": cat,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
            aid += 1
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return CocoDataset.from_dict(
        {"images": images, "annotations": anns, "categories": cats}, image_root=root
    )


def make_detections(dataset: CocoDataset, seed: int = 1) -> Detections:
    """Per GT object a jittered detection (score 0.2..1, label mostly right), one false
    positive per image; image 4 has none; at both scales (boxes times ``f``)."""
    rng = np.random.default_rng(seed)
    per_img: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for iid in dataset.image_ids():
        if iid == 4:
            per_img[iid] = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
            continue
        boxes = dataset.boxes_xyxy(iid)
        labels = dataset.labels(iid)
        jit = rng.uniform(-1.0, 1.0, size=boxes.shape)
        b = np.clip(boxes + jit, 0, [W, H, W, H])
        fp = np.array([[rng.uniform(0, 30), rng.uniform(0, 15), 0, 0]])
        fp[:, 2:] = fp[:, :2] + rng.uniform(5, 20, size=(1, 2))
        b = np.concatenate([b, fp])
        lab = np.concatenate([labels, rng.integers(0, 2, 1)])
        flip = rng.random(lab.shape[0]) < 0.2
        lab = np.where(flip, 1 - lab, lab)
        s = rng.uniform(0.2, 1.0, size=lab.shape[0])
        per_img[iid] = (b, s, lab.astype(np.int64))
    per_scale = []
    ids = dataset.image_ids()
    for sc in SCALES:
        sizes = np.array([[H, W]] * len(ids), dtype=np.int64)
        scaled = np.array([scaled_size((H, W), sc) for _ in ids], dtype=np.int64)
        f = scale_factor((H, W), sc)
        bx = np.concatenate([per_img[i][0] for i in ids]) * f
        sco = np.concatenate([per_img[i][1] for i in ids])
        lab = np.concatenate([per_img[i][2] for i in ids])
        counts = [per_img[i][0].shape[0] for i in ids]
        probs = np.zeros((lab.shape[0], 3))
        probs[np.arange(lab.shape[0]), lab] = sco
        probs[np.arange(lab.shape[0]), 1 - lab] = (1 - sco) / 2
        probs[:, 2] = (1 - sco) / 2
        per_scale.append(
            ScaleDetections(
                scale=sc,
                image_ids=np.array(ids, dtype=np.int64),
                image_sizes=sizes,
                scaled_sizes=scaled,
                offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                boxes=bx.astype(np.float32),
                scores=sco.astype(np.float32),
                labels=lab,
                probs=probs.astype(np.float16),
            )
        )
    return Detections(num_classes=2, per_scale=per_scale)


def make_pool(dataset: CocoDataset) -> LabeledPool:
    """Image 6 fully labelled, image 2 partly (its first object), the rest in D_U."""
    pool = LabeledPool(dataset)
    pool.add_full_images([6], cycle=0)
    pool.add_objects(2, [int(dataset.ann_ids(2)[0])], cycle=0)
    return pool


def tiny_model(num_classes: int = 2, seed: int = 0) -> Any:
    """A random-init torchvision Faster R-CNN with a two-conv backbone (CPU-fast)."""
    import torch
    from torch import nn
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        backbone.out_channels = 16  # type: ignore[assignment]
        model = FasterRCNN(
            backbone,
            num_classes=num_classes + 1,
            rpn_anchor_generator=AnchorGenerator(((8, 16, 32),), ((0.5, 1.0, 2.0),)),
            box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
            min_size=40,
            max_size=60,
            box_score_thresh=0.0,
            box_detections_per_img=10,
            rpn_pre_nms_top_n_test=50,
            rpn_post_nms_top_n_test=20,
        )
    model.eval()
    return model


def make_context(
    dataset: CocoDataset,
    pool: LabeledPool,
    detections: Detections,
    budget: int,
    seed: int = 7,
    model: Any = None,
    **kw: Any,
) -> SelectionContext:
    return SelectionContext(
        dataset=dataset,
        pool=pool,
        detections=detections,
        budget=budget,
        cycle=1,
        rng=np.random.default_rng(seed),
        model=model,
        **kw,
    )
