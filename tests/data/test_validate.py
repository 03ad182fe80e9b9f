"""validate_coco / CocoDataset.load: one test per problem kind, and the ``mural validate`` CLI."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mural.cli import main
from mural.data.coco import BBOX_SLACK, CocoDataset, Problem, validate_coco
from mural.errors import DataError


def _base() -> dict[str, Any]:
    """Two 20x10 and 16x12 images (the second without objects), two categories."""
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
            {"id": 2, "file_name": "sub/b.png", "width": 16, "height": 12},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [1, 2, 5, 4], "area": 20},
            {"id": 11, "image_id": 1, "category_id": 3, "bbox": [0, 0, 20, 10]},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (20, 10)).save(tmp_path / "a.png")
    Image.new("RGB", (16, 12)).save(tmp_path / "sub" / "b.png")
    return tmp_path


def _write(root: Path, d: Any, name: str = "ann.json") -> Path:
    p = root / name
    p.write_text(json.dumps(d), encoding="utf-8")  # json.dumps writes NaN/Infinity literally
    return p


def _only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def _assert_names(p: Problem, path: Path, entry: str, id_: object, field: str) -> None:
    s = str(p)
    assert p.file == str(path) and s.startswith(str(path))
    assert p.id == id_ and p.field == field and p.entry == entry
    assert f"{entry} {id_}" in s if id_ is not None else entry in s
    if field:
        assert f"field '{field}'" in s
    assert "(fix: " in s or not p.fix


def test_valid_file_has_no_problem(root: Path) -> None:
    path = _write(root, _base())
    assert validate_coco(path) == []  # images default to the JSON's folder
    assert validate_coco(path, root) == []
    ds = CocoDataset.load(path)
    assert [im.id for im in ds.images] == [1, 2]
    assert ds.annotations_of(2) == []  # an image with no objects is fine


def test_unreadable_json(root: Path) -> None:
    path = root / "ann.json"
    path.write_text('{"images": [}', encoding="utf-8")
    p = _only(validate_coco(path))
    assert p.file == str(path) and "not valid JSON" in p.message and "line 1" in p.message
    with pytest.raises(DataError, match="not valid JSON"):
        CocoDataset.load(path)


def test_json_file_not_found(root: Path) -> None:
    p = _only(validate_coco(root / "nope.json"))
    assert "not found" in str(p) and "nope.json" in str(p)


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_missing_top_level_key(root: Path, key: str) -> None:
    d = _base()
    del d[key]
    problems = validate_coco(_write(root, d))
    assert any(p.field == key and "missing top-level key" in p.message for p in problems)
    if key == "images":  # the annotations now point to images that do not exist
        assert sum(p.field == "image_id" for p in problems) == 2
    else:
        assert len(problems) == (1 if key == "annotations" else 3)


@pytest.mark.parametrize(
    ("section", "index", "key", "entry", "id_"),
    [
        ("images", 0, "file_name", "image", 1),
        ("images", 1, "width", "image", 2),
        ("images", 0, "height", "image", 1),
        ("annotations", 0, "bbox", "annotation", 10),
        ("annotations", 1, "category_id", "annotation", 11),
        ("annotations", 0, "image_id", "annotation", 10),
        ("categories", 1, "name", "category", 3),
    ],
)
def test_missing_entry_key(
    root: Path, section: str, index: int, key: str, entry: str, id_: int
) -> None:
    d = _base()
    del d[section][index][key]
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, entry, id_, key)
    assert "missing key" in p.message


def test_missing_id_names_the_position(root: Path) -> None:
    d = _base()
    del d["annotations"][1]["id"]
    path = _write(root, d)
    p = _only(validate_coco(path))
    assert p.entry == "annotations[1]" and p.field == "id" and p.id is None
    assert "annotations[1]: field 'id': missing key" in str(p)


@pytest.mark.parametrize(
    ("section", "entry", "id_"),
    [("images", "image", 1), ("annotations", "annotation", 10), ("categories", "category", 7)],
)
def test_duplicate_ids(root: Path, section: str, entry: str, id_: int) -> None:
    d = _base()
    dup = copy.deepcopy(d[section][0])
    if section == "images":
        dup["file_name"] = "sub/b.png"
        dup["width"], dup["height"] = 16, 12
        d["images"][1] = dup  # image 2 no longer exists: remove nothing else refers to it
    elif section == "categories":
        dup["name"] = "bird"
        d["categories"].append(dup)
    else:
        d["annotations"].append(dup)
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, entry, id_, "id")
    assert f"duplicate {entry} id" in p.message


def test_duplicate_file_name(root: Path) -> None:
    d = _base()
    d["images"][1].update(file_name="a.png", width=20, height=10)
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "image", 2, "file_name")
    assert "duplicate file_name 'a.png' (also image 1)" in p.message


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_bbox_not_finite(root: Path, bad: float) -> None:
    d = _base()
    d["annotations"][0]["bbox"][2] = bad
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "annotation", 10, "bbox")
    assert "non-finite" in p.message


@pytest.mark.parametrize("wh", [(0, 4), (5, 0), (-1, 4), (5, -2)])
def test_bbox_zero_or_negative_size(root: Path, wh: tuple[int, int]) -> None:
    d = _base()
    d["annotations"][0]["bbox"][2:] = list(wh)
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "annotation", 10, "bbox")
    assert "zero or negative size" in p.message and p.fix


@pytest.mark.parametrize(
    "bbox",
    [[-1.5, 0, 5, 5], [0, -1.01, 5, 5], [15, 0, 6.5, 5], [0, 5, 5, 6.01]],
)
def test_bbox_outside_image(root: Path, bbox: list[float]) -> None:
    d = _base()
    d["annotations"][0]["bbox"] = bbox
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "annotation", 10, "bbox")
    assert "outside its 20x10 image" in p.message


@pytest.mark.parametrize("bbox", [[-1, -1, 22, 12], [0, 0, 20.5, 10.5], [19, 9, 1, 1]])
def test_bbox_within_slack_is_accepted(root: Path, bbox: list[float]) -> None:
    assert BBOX_SLACK == 1.0
    d = _base()
    d["annotations"][0]["bbox"] = bbox
    assert validate_coco(_write(root, d)) == []


@pytest.mark.parametrize("bbox", [[1, 2, 3], "1 2 3 4", [1, 2, "3", 4], [1, 2, True, 4]])
def test_bbox_malformed(root: Path, bbox: Any) -> None:
    d = _base()
    d["annotations"][0]["bbox"] = bbox
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "annotation", 10, "bbox")
    assert "must be 4 numbers" in p.message


def test_annotation_of_missing_image(root: Path) -> None:
    d = _base()
    d["annotations"][1]["image_id"] = 99
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "annotation", 11, "image_id")
    assert "image 99 does not exist" in p.message


def test_annotation_of_missing_category(root: Path) -> None:
    d = _base()
    d["annotations"][0]["category_id"] = 5
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "annotation", 10, "category_id")
    assert "category 5 does not exist" in p.message


def test_image_file_missing(root: Path) -> None:
    (root / "sub" / "b.png").unlink()
    path = _write(root, _base())
    p = _only(validate_coco(path))
    _assert_names(p, path, "image", 2, "file_name")
    assert str(root / "sub" / "b.png") in p.message and "not found" in p.message
    assert validate_coco(path, check_images=False) == []
    CocoDataset.load(path, check_images=False)  # no error without the image check


def test_image_file_unreadable(root: Path) -> None:
    (root / "a.png").write_bytes(b"this is not a png")
    path = _write(root, _base())
    p = _only(validate_coco(path))
    _assert_names(p, path, "image", 1, "file_name")
    assert "unreadable" in p.message


def test_image_size_differs(root: Path) -> None:
    d = _base()
    d["images"][1]["width"] = 17
    path = _write(root, d)
    p = _only(validate_coco(path))
    _assert_names(p, path, "image", 2, "width/height")
    assert "declared 17x12" in p.message and "is 16x12" in p.message
    assert p.fix == "set width=16, height=12"


def test_images_dir_is_used(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("json")
    path = _write(elsewhere, _base())
    assert len(validate_coco(path)) == 2  # default root: the JSON's folder, no images there
    assert validate_coco(path, root) == []


@pytest.mark.parametrize(
    ("section", "index", "key", "value", "entry", "id_"),
    [
        ("images", 0, "height", 0, "image", 1),
        ("images", 0, "width", 2.5, "image", 1),
        ("images", 0, "file_name", "", "image", 1),
        ("annotations", 0, "iscrowd", 2, "annotation", 10),
        ("annotations", 0, "area", -1, "annotation", 10),
        ("annotations", 0, "category_id", "7", "annotation", 10),
        ("categories", 0, "supercategory", 3, "category", 7),
    ],
)
def test_wrong_value_types(
    root: Path, section: str, index: int, key: str, value: Any, entry: str, id_: int
) -> None:
    d = _base()
    d[section][index][key] = value
    path = _write(root, d)
    problems = validate_coco(path, check_images=False)
    p = _only(problems)
    _assert_names(p, path, entry, id_, key)


def test_non_integer_id(root: Path) -> None:
    d = _base()
    d["categories"][0]["id"] = "7"
    path = _write(root, d)
    problems = validate_coco(path)
    assert any(p.entry == "categories[0]" and "must be an integer" in str(p) for p in problems)
    # annotation 10 refers to category 7, which no longer exists as an integer id
    assert any(p.id == 10 and p.field == "category_id" for p in problems)


def test_empty_categories(root: Path) -> None:
    d = _base()
    d["categories"] = []
    d["annotations"] = []
    p = _only(validate_coco(_write(root, d)))
    assert p.field == "categories" and "empty" in p.message


def test_every_problem_is_listed_and_load_caps_the_message(root: Path) -> None:
    d = _base()
    d["annotations"] = [
        {"id": 100 + i, "image_id": 1, "category_id": 7, "bbox": [0, 0, 0, 1]} for i in range(25)
    ]
    d["images"][0]["width"] = 21
    path = _write(root, d)
    problems = validate_coco(path)
    assert len(problems) == 26
    with pytest.raises(DataError) as info:
        CocoDataset.load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: 26 problems")
    for p in problems[:20]:
        assert str(p) in msg
    assert str(problems[20]) not in msg
    assert "... and 6 more" in msg


def test_from_dict_checks_structure() -> None:
    d = _base()
    d["annotations"][0]["bbox"] = [0, 0, -1, 1]
    with pytest.raises(DataError, match=r"annotation 10: field 'bbox': zero or negative"):
        CocoDataset.from_dict(d)


# ----------------------------------------------------------------------------- CLI


def test_cli_validate_ok(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(root, _base())
    assert main(["validate", str(path), "--images", str(root)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{path}: OK: 2 images, 2 annotations, 2 categories (image files checked)"]


def test_cli_validate_lists_every_problem(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _base()
    d["annotations"][0]["bbox"] = [0, 0, 0, 1]
    d["annotations"][1]["image_id"] = 42
    d["images"][1]["height"] = 13
    path = _write(root, d)
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert "annotation 10: field 'bbox'" in out
    assert "annotation 11: field 'image_id'" in out
    assert "image 2: field 'width/height'" in out
    assert out.strip().endswith("3 problems found")


def test_cli_validate_subprocess_exit_codes(root: Path) -> None:
    bad = root / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    good = _write(root, _base())
    env_cmd = [sys.executable, "-m", "mural", "validate"]
    r = subprocess.run([*env_cmd, str(bad)], capture_output=True, text=True, check=False)
    assert r.returncode == 2, r.stderr
    assert "not valid JSON" in r.stdout and "Traceback" not in r.stderr
    r = subprocess.run([*env_cmd, str(good)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "OK: 2 images, 2 annotations, 2 categories" in r.stdout
