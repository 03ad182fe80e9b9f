"""COCO results files: validation messages and coordinate systems."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mural.data.coco import CocoDataset
from mural.errors import ConfigError, DataError
from mural.human.predictions import PredictionFile, load_predictions, parse_scale

from .fixtures import write_dataset


@pytest.fixture
def ds(tmp_path: Path) -> CocoDataset:
    return CocoDataset.load(write_dataset(tmp_path), tmp_path / "images")


def _write(tmp_path: Path, entries: object) -> Path:
    p = tmp_path / "results.json"
    p.write_text(json.dumps(entries))
    return p


def test_every_problem_is_named_with_file_entry_and_field(ds, tmp_path: Path) -> None:
    ok = {"image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 0.5}
    p = _write(
        tmp_path,
        [
            ok,
            {**ok, "image_id": 77},
            {**ok, "category_id": 4},
            {**ok, "bbox": [1, 1, -5, 5]},
            {**ok, "bbox": [1, 1, 5]},
            {**ok, "score": 1.5},
            {"image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5]},
            {**ok, "bbox": [100, 100, 5, 5]},
        ],
    )
    with pytest.raises(DataError) as ei:
        load_predictions([PredictionFile(p, (40, 60))], ds)
    msg = str(ei.value)
    assert "7 invalid prediction(s)" in msg
    for line in [
        f"{p}: entry 1: field 'image_id': unknown image id 77",
        f"{p}: entry 2: field 'category_id': unknown category id 4",
        f"{p}: entry 3: field 'bbox': width and height must be positive",
        f"{p}: entry 4: field 'bbox': must be [x, y, w, h]",
        f"{p}: entry 5: field 'score': must be a number in [0, 1], got 1.5",
        f"{p}: entry 6: field 'score': missing",
        f"{p}: entry 7: field 'bbox': [100, 100, 5, 5] lies outside image 1",
    ]:
        assert line in msg
    assert "entry 0" not in msg


def test_not_a_list_and_bad_json(ds, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="must be a JSON list"):
        load_predictions([PredictionFile(_write(tmp_path, {"a": 1}), (40, 60))], ds)
    p = tmp_path / "broken.json"
    p.write_text("[{")
    with pytest.raises(DataError, match="not valid JSON"):
        load_predictions([PredictionFile(p, (40, 60))], ds)


def test_original_and_scaled_coordinates_agree(ds, tmp_path: Path) -> None:
    # scale (60, 90): f = 1.5 on a 40x60 image -> 60x90 scaled image
    e = {"image_id": 2, "category_id": 7, "bbox": [10, 4, 20, 8], "score": 0.9}
    po = tmp_path / "o.json"
    po.write_text(json.dumps([e]))
    ps = tmp_path / "s.json"
    ps.write_text(json.dumps([{**e, "bbox": [15, 6, 30, 12]}]))
    do = load_predictions([PredictionFile(po, (60, 90), "original")], ds).per_scale[0]
    dsc = load_predictions([PredictionFile(ps, (60, 90), "scaled")], ds).per_scale[0]
    np.testing.assert_allclose(do.boxes, [[15, 6, 45, 18]])
    np.testing.assert_allclose(dsc.boxes, do.boxes)
    assert do.labels.tolist() == [1]  # category 7 is the second by id -> label 1
    # every image is listed; those without predictions have none
    assert do.image_ids.tolist() == [1, 2, 3, 4, 5]
    assert np.diff(do.offsets).tolist() == [0, 1, 0, 0, 0]
    assert do.scaled_sizes.tolist()[0] == [60, 90]


def test_boxes_past_the_edge_are_clipped(ds, tmp_path: Path) -> None:
    p = _write(tmp_path, [{"image_id": 1, "category_id": 3, "bbox": [-2, 30, 10, 20], "score": 1}])
    d = load_predictions([PredictionFile(p, (20, 30))], ds).per_scale[0]  # f = 0.5
    np.testing.assert_allclose(d.boxes, [[0, 15, 4, 20]])


def test_scale_parsing_and_duplicates(ds, tmp_path: Path) -> None:
    assert parse_scale("480,512") == (480, 512)
    with pytest.raises(ConfigError, match="MIN_SIZE,MAX_SIZE"):
        parse_scale("480")
    p = _write(tmp_path, [])
    with pytest.raises(ConfigError, match="each scale may appear once"):
        load_predictions([PredictionFile(p, (40, 60)), PredictionFile(p, (40, 60))], ds)


@pytest.mark.parametrize("image_ids", [None, []], ids=["every image", "no image"])
def test_no_detection_keeps_the_dtypes(ds, tmp_path: Path, image_ids) -> None:
    """An empty results file (every image listed, none with a detection) and no image at
    all: the arrays keep the dtypes of every other ScaleDetections (float32 scores, int64
    labels), so the selection and the ``.npz`` round trip see the same types."""
    files = [PredictionFile(_write(tmp_path, []), (40, 60))]
    d = load_predictions(files, ds, image_ids=image_ids).per_scale[0]
    n = 5 if image_ids is None else 0
    assert d.image_ids.tolist() == [1, 2, 3, 4, 5][:n]
    assert d.offsets.tolist() == [0] * (n + 1)
    assert (d.boxes.shape, d.boxes.dtype) == ((0, 4), np.float32)
    assert (d.scores.shape, d.scores.dtype) == ((0,), np.float32)
    assert (d.labels.shape, d.labels.dtype) == ((0,), np.int64)
