"""evaluate_coco against pycocotools run directly on the same predictions."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mural.data.coco import CocoDataset
from mural.detections import Detections, ScaleDetections
from mural.errors import DataError
from mural.evaluation import STAT_NAMES, detections_to_results, evaluate_coco, json_safe

# Category 7 ("absent") has no ground truth; image 3 has no objects.
GT = {
    "images": [
        {"id": 1, "file_name": "a.png", "height": 100, "width": 200},
        {"id": 2, "file_name": "b.png", "height": 120, "width": 80},
        {"id": 3, "file_name": "c.png", "height": 50, "width": 50},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 30], "area": 1200},
        {"id": 2, "image_id": 1, "category_id": 5, "bbox": [100, 20, 60, 60], "area": 3600},
        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [5, 5, 50, 100], "area": 5000},
        {"id": 4, "image_id": 2, "category_id": 5, "bbox": [20, 30, 10, 10], "area": 100},
    ],
    "categories": [
        {"id": 3, "name": "cat"},
        {"id": 5, "name": "dog"},
        {"id": 7, "name": "absent"},
    ],
}

MIXED = [
    {"image_id": 1, "category_id": 3, "bbox": [12, 11, 38, 30], "score": 0.9},
    {"image_id": 1, "category_id": 5, "bbox": [90, 20, 60, 60], "score": 0.4},
    {"image_id": 1, "category_id": 3, "bbox": [100, 20, 60, 60], "score": 0.7},
    {"image_id": 2, "category_id": 3, "bbox": [5, 5, 50, 80], "score": 0.6},
    {"image_id": 2, "category_id": 5, "bbox": [60, 60, 10, 10], "score": 0.95},
    {"image_id": 3, "category_id": 7, "bbox": [1, 1, 10, 10], "score": 0.5},
]


def _direct(tmp_path, results, cat_ids=None):
    """pycocotools as its documentation uses it: COCO(file), loadRes, COCOeval."""
    path = tmp_path / "gt.json"
    d = dict(GT)
    d["annotations"] = [dict(a, iscrowd=0) for a in GT["annotations"]]
    path.write_text(json.dumps(d))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [math.nan if v < 0 else float(v) for v in ev.stats]


@pytest.fixture
def ds() -> CocoDataset:
    return CocoDataset.from_dict(GT)


def test_mixed_predictions_equal_pycocotools(ds, tmp_path):
    ours = evaluate_coco(ds, MIXED)
    ref = _direct(tmp_path, MIXED)
    for name, v in zip(STAT_NAMES, ref, strict=True):
        np.testing.assert_equal(ours[name], v, err_msg=name)
    assert 0 < ours["AP"] < 1
    # per-class AP: COCOeval restricted to that one category
    for cat_id, name in [(3, "cat"), (5, "dog")]:
        assert ours[f"AP/{name}"] == pytest.approx(_direct(tmp_path, MIXED, [cat_id])[0])
        assert ours[f"AP50/{name}"] == pytest.approx(_direct(tmp_path, MIXED, [cat_id])[1])
    # a class absent from the GT: NaN, and it takes no part in the mean
    assert math.isnan(ours["AP/absent"])
    assert ours["AP"] == pytest.approx((ours["AP/cat"] + ours["AP/dog"]) / 2)


def test_perfect_predictions_give_one(ds):
    perfect = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in GT["annotations"]
    ]
    m = evaluate_coco(ds, perfect)
    assert m["AP"] == 1.0 and m["AP50"] == 1.0 and m["AP75"] == 1.0
    assert m["AP/cat"] == 1.0 and m["AP/dog"] == 1.0


def test_no_detections_is_zero_not_a_crash(ds, tmp_path):
    m = evaluate_coco(ds, [])
    assert m["AP"] == 0.0 and m["AP50"] == 0.0 and m["AP/cat"] == 0.0
    assert math.isnan(m["AP/absent"])
    safe = json_safe(m)
    assert safe["AP/absent"] is None
    json.dumps(safe, allow_nan=False)


def test_detections_input_maps_scaled_boxes_to_original(ds):
    """Detections at a scale with f = 2 (image 1: 100x200 -> 200x400): boxes are halved."""
    sd = ScaleDetections(
        scale=(200, 400),
        image_ids=np.array([1, 2, 3], np.int64),
        image_sizes=np.array([[100, 200], [120, 80], [50, 50]], np.int64),
        scaled_sizes=np.array([[200, 400], [400, 267], [200, 200]], np.int64),
        offsets=np.array([0, 2, 2, 2], np.int64),
        boxes=np.array([[20, 20, 100, 80], [200, 40, 320, 160]], np.float32),
        scores=np.array([0.8, 0.7], np.float32),
        labels=np.array([0, 1], np.int64),
    )
    dets = Detections(num_classes=3, per_scale=[sd])
    res = detections_to_results(ds, dets)
    assert res == [
        {
            "image_id": 1,
            "category_id": 3,
            "bbox": [10.0, 10.0, 40.0, 30.0],
            "score": 0.800000011920929,
        },
        {
            "image_id": 1,
            "category_id": 5,
            "bbox": [100.0, 20.0, 60.0, 60.0],
            "score": 0.699999988079071,
        },
    ]
    assert evaluate_coco(ds, dets) == pytest.approx(evaluate_coco(ds, res), nan_ok=True)
    with pytest.raises(DataError, match="scale index"):
        evaluate_coco(ds, dets, scale_index=1)


def test_bad_results_are_named(ds):
    with pytest.raises(DataError, match="image 99"):
        evaluate_coco(ds, [{"image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(DataError, match="result 0 needs"):
        evaluate_coco(ds, [{"image_id": 1}])
