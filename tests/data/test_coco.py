"""CocoDataset: round trip, queries against hand-computed values and pycocotools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from mural.data.coco import Annotation, Category, CocoDataset, ImageInfo
from mural.errors import DataError


def _dict() -> dict[str, Any]:
    # category ids deliberately unsorted and non-contiguous: labels follow sorted ids
    return {
        "images": [
            {"id": 5, "file_name": "x.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "y.png", "width": 10, "height": 10},  # no objects
            {"id": 9, "file_name": "z.png", "width": 20, "height": 20},
        ],
        "annotations": [
            {"id": 31, "image_id": 5, "category_id": 8, "bbox": [1, 2, 10, 5], "area": 40.0},
            {"id": 4, "image_id": 9, "category_id": 3, "bbox": [0, 0, 4, 4], "iscrowd": 1},
            {"id": 7, "image_id": 5, "category_id": 3, "bbox": [-0.5, 25, 40.75, 5.5]},
            {"id": 12, "image_id": 9, "category_id": 11, "bbox": [2.5, 3.5, 1, 2]},
        ],
        "categories": [
            {"id": 8, "name": "bus", "supercategory": "vehicle"},
            {"id": 3, "name": "car"},
            {"id": 11, "name": "bike"},
        ],
    }


@pytest.fixture
def ds(tmp_path: Path) -> CocoDataset:
    for f, size in (("x.png", (40, 30)), ("y.png", (10, 10)), ("z.png", (20, 20))):
        Image.new("L", size).save(tmp_path / f)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(_dict()), encoding="utf-8")
    return CocoDataset.load(path)


def test_load_parses_entries(ds: CocoDataset, tmp_path: Path) -> None:
    assert ds.path == tmp_path / "ann.json" and ds.image_root == tmp_path
    assert ds.images[0] == ImageInfo(5, "x.png", 30, 40)
    assert ds.image_ids() == [5, 2, 9]  # file order
    assert ds.categories[0] == Category(8, "bus", "vehicle")
    assert ds.categories[1] == Category(3, "car", "")
    # area and iscrowd default to width * height and 0
    assert ds.annotations[2] == Annotation(7, 5, 3, (-0.5, 25.0, 40.75, 5.5), 40.75 * 5.5, 0)
    assert ds.annotations[1].iscrowd == 1 and ds.annotations[0].area == 40.0


def test_labels_follow_sorted_category_ids(ds: CocoDataset) -> None:
    assert ds.num_classes == 3
    assert ds.class_names == ["car", "bus", "bike"]  # ids 3, 8, 11
    assert [ds.label_of(c) for c in (3, 8, 11)] == [0, 1, 2]
    assert [ds.category_of(lab) for lab in (0, 1, 2)] == [3, 8, 11]
    with pytest.raises(DataError, match="category 4 does not exist"):
        ds.label_of(4)
    with pytest.raises(DataError, match="label 3 out of range"):
        ds.category_of(3)


def test_boxes_labels_ids(ds: CocoDataset) -> None:
    boxes = ds.boxes_xyxy(5)
    assert boxes.dtype == np.float64 and boxes.shape == (2, 4)
    # second box reaches outside the 40x30 image by 0.5 px: clipped
    np.testing.assert_array_equal(boxes, [[1, 2, 11, 7], [0, 25, 40, 30]])
    ids = ds.ann_ids(5)
    assert ids.dtype == np.int64 and ids.tolist() == [31, 7]
    labels = ds.labels(5)
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0]


def test_image_with_no_annotations(ds: CocoDataset) -> None:
    assert ds.annotations_of(2) == []
    assert ds.boxes_xyxy(2).shape == (0, 4) and ds.boxes_xyxy(2).dtype == np.float64
    assert ds.labels(2).shape == (0,) and ds.labels(2).dtype == np.int64
    assert ds.ann_ids(2).shape == (0,) and ds.ann_ids(2).dtype == np.int64
    assert ds.crowd_boxes_xyxy(2).shape == (0, 4)


def test_crowd_annotations_are_not_objects(ds: CocoDataset) -> None:
    assert [a.id for a in ds.annotations_of(9)] == [4, 12]
    assert ds.ann_ids(9).tolist() == [12]
    np.testing.assert_array_equal(ds.boxes_xyxy(9), [[2.5, 3.5, 3.5, 5.5]])
    assert ds.labels(9).tolist() == [2]
    np.testing.assert_array_equal(ds.crowd_boxes_xyxy(9), [[0, 0, 4, 4]])


def test_returned_arrays_are_copies(ds: CocoDataset) -> None:
    ds.boxes_xyxy(5)[0, 0] = 99
    ds.labels(5)[0] = 99
    assert ds.boxes_xyxy(5)[0, 0] == 1 and ds.labels(5)[0] == 1


def test_image_lookup(ds: CocoDataset, tmp_path: Path) -> None:
    assert ds.image(9).file_name == "z.png"
    assert ds.image_path(9) == tmp_path / "z.png"
    with pytest.raises(DataError, match="image 3 does not exist"):
        ds.image(3)
    no_root = CocoDataset.from_dict(_dict())
    with pytest.raises(DataError, match="no image root"):
        no_root.image_path(5)


def test_save_round_trip_and_pycocotools(ds: CocoDataset, tmp_path: Path) -> None:
    out = tmp_path / "out" / "copy.json"
    ds.save(out)
    again = CocoDataset.load(out, tmp_path)
    assert again.images == ds.images
    assert again.annotations == ds.annotations
    assert again.categories == ds.categories
    coco = COCO(str(out))
    assert sorted(coco.getImgIds()) == [2, 5, 9]
    assert coco.getAnnIds(imgIds=[5]) == [31, 7]
    assert coco.getAnnIds(imgIds=[2]) == []
    assert coco.getAnnIds(imgIds=[9], iscrowd=False) == [12]
    assert coco.loadAnns([7])[0]["area"] == pytest.approx(40.75 * 5.5)
    assert coco.loadCats([8])[0]["name"] == "bus"
    assert not list(out.parent.glob(".*.tmp"))  # atomic write left no temporary file


def test_subset(ds: CocoDataset) -> None:
    sub = ds.subset([9, 2])
    assert sub.image_ids() == [2, 9]  # original file order
    assert [a.id for a in sub.annotations] == [4, 12]
    assert sub.categories == ds.categories and sub.class_names == ds.class_names
    assert sub.image_root == ds.image_root and sub.path is None
    np.testing.assert_array_equal(sub.boxes_xyxy(9), ds.boxes_xyxy(9))
    with pytest.raises(DataError, match=r"do not exist: \[77\]"):
        ds.subset([5, 77])
    assert ds.subset([]).image_ids() == []


def test_to_dict_is_loadable(ds: CocoDataset) -> None:
    d = ds.to_dict()
    assert set(d) == {"info", "licenses", "images", "annotations", "categories"}
    again = CocoDataset.from_dict(d)
    assert again.annotations == ds.annotations and again.image_root is None
