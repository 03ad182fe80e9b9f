"""COCO-style evaluation with pycocotools' ``COCOeval`` (contract §8: mAP, AP50, per-class AP).

:func:`evaluate_coco` returns a flat dict of floats in ``[0, 1]`` (not percent):

- ``AP`` (IoU .50:.95), ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR1``, ``AR10``,
  ``AR100``, ``ARs``, ``ARm``, ``ARl``: ``COCOeval.stats`` in its order;
- ``AP/<class name>``: per-class AP (IoU .50:.95, all areas, 100 detections), the mean of
  the class's precision entries that COCOeval defines, exactly as ``summarize`` does;
- ``AP50/<class name>``: the same at IoU 0.5.

Where COCOeval has no value (``-1``: a class absent from the ground truth of the evaluated
images, or no small/medium/large objects) we report ``NaN`` (``null`` in JSON), never
``-1`` or ``0``; the means above are over the classes COCOeval counts, i.e. a class absent
from the ground truth takes no part in ``AP``. No detections at all give ``0.0`` wherever
ground truth exists (no crash).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError

if TYPE_CHECKING:
    from .data.coco import CocoDataset
    from .detections import Detections

__all__ = ["STAT_NAMES", "detections_to_results", "evaluate_coco", "json_safe"]

STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)


def detections_to_results(
    dataset: CocoDataset, detections: Detections, scale_index: int = 0
) -> list[dict[str, Any]]:
    """COCO result dicts (``image_id``, ``category_id``, ``bbox`` xywh original px, ``score``)."""
    if not 0 <= scale_index < len(detections.per_scale):
        raise DataError(
            f"evaluate: scale index {scale_index} out of range "
            f"(the detections have {len(detections.per_scale)} scales)"
        )
    if detections.num_classes != dataset.num_classes:
        raise DataError(
            f"evaluate: detections have {detections.num_classes} classes, the dataset "
            f"{dataset.num_classes}"
        )
    d = detections.per_scale[scale_index]
    image_of_row = np.repeat(d.image_ids, np.diff(d.offsets))
    cats = [dataset.category_of(int(k)) for k in range(dataset.num_classes)]
    return [
        {
            "image_id": int(image_id),
            "category_id": cats[int(lab)],
            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
            "score": float(s),
        }
        for image_id, b, s, lab in zip(
            image_of_row.tolist(),
            d.boxes_original().tolist(),
            d.scores.tolist(),
            d.labels.tolist(),
            strict=True,
        )
    ]


def _nan(v: float) -> float:
    v = float(v)
    return math.nan if v < 0 else v


def _class_ap(precision: np.ndarray, k: int, iou: int | None) -> float:
    """Mean of precision[T, R, k, area=all, maxDets=last] over defined entries, as summarize."""
    p = precision[:, :, k, 0, -1] if iou is None else precision[iou, :, k, 0, -1]
    p = p[p > -1]
    return float(np.mean(p)) if p.size else math.nan


def evaluate_coco(
    dataset: CocoDataset,
    detections_or_results: Detections | Iterable[dict[str, Any]],
    *,
    scale_index: int = 0,
    image_ids: Sequence[int] | None = None,
) -> dict[str, float]:
    """Evaluate detections (a :class:`Detections` at ``scale_index``, or COCO result dicts)
    on ``dataset``'s ground truth over ``image_ids`` (default: every image of ``dataset``).

    Images without a detection count as misses. Returns the flat dict of the module doc.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from .detections import Detections

    if isinstance(detections_or_results, Detections):
        results = detections_to_results(dataset, detections_or_results, scale_index)
    else:
        results = list(detections_or_results)
    gt_dict = dataset.to_dict()
    known_images = {im["id"] for im in gt_dict["images"]}
    known_cats = {c["id"] for c in gt_dict["categories"]}
    dt_anns = []
    for i, r in enumerate(results):
        try:
            image_id, cat, score = int(r["image_id"]), int(r["category_id"]), float(r["score"])
            x, y, w, h = (float(v) for v in r["bbox"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"evaluate: result {i} needs image_id, category_id, bbox [x, y, w, h] and "
                f"score ({exc})"
            ) from None
        if image_id not in known_images:
            raise DataError(f"evaluate: result {i}: image {image_id} is not in the dataset")
        if cat not in known_cats:
            raise DataError(f"evaluate: result {i}: category {cat} is not in the dataset")
        dt_anns.append(
            {
                "id": i + 1,
                "image_id": image_id,
                "category_id": cat,
                "bbox": [x, y, w, h],
                "score": score,
                "area": w * h,
                "iscrowd": 0,
            }
        )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = COCO()
        dt.dataset = {
            "images": gt_dict["images"],
            "categories": gt_dict["categories"],
            "annotations": dt_anns,
        }
        dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        if image_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out = {name: _nan(v) for name, v in zip(STAT_NAMES, ev.stats, strict=True)}
    precision = ev.eval["precision"]
    cat_index = {c: k for k, c in enumerate(ev.params.catIds)}
    iou50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    for prefix, iou in (("AP", None), ("AP50", iou50)):
        for label, name in enumerate(dataset.class_names):
            k = cat_index[dataset.category_of(label)]
            out[f"{prefix}/{name}"] = _class_ap(precision, k, iou)
    return out


def json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    """``NaN`` -> ``None`` so the dict is valid JSON (``null``)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
