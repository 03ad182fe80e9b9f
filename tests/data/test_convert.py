"""Converters: real BCCD (VOC) and Vehicles-OpenImages (YOLO) against their SOURCE.txt
figures, tiny generated VOC/YOLO/Cityscapes fixtures against hand-computed boxes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO

from mural.cli import main
from mural.data.coco import CocoDataset, validate_coco
from mural.data.convert import (
    CITYSCAPES_DETECTION_CLASSES,
    ConversionResult,
    ConversionWarning,
    convert_cityscapes,
    convert_voc,
    convert_yolo,
)
from mural.errors import DataError
from tests.conftest import shared_dataset

YOLO_DIR = "Vehicles-OpenImages.v1-416x416.yolov8"


def _source_box_counts(source_txt: Path) -> dict[str, int]:
    counts = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+boxes=\s*(\d+)", source_txt.read_text(), re.M)
    }
    assert counts, f"no per-class counts parsed from {source_txt}"
    return counts


def _class_counts(result: ConversionResult) -> Counter[str]:
    out: Counter[str] = Counter()
    for ds in result.values():
        out.update(ds.class_names[ds.label_of(a.category_id)] for a in ds.annotations)
    return out


def _check_outputs(result: ConversionResult, out: Path) -> None:
    """Every written JSON validates (images included) and opens in pycocotools."""
    for split, ds in result.items():
        path = out / f"{split}.json"
        assert result.paths[split] == path
        assert validate_coco(path, result.src) == [], split
        coco = COCO(str(path))
        assert len(coco.getImgIds()) == len(ds.images)
        assert len(coco.getAnnIds()) == len(ds.annotations)
        loaded = CocoDataset.load(path, result.src)
        assert loaded.annotations == ds.annotations


def _png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)


# ----------------------------------------------------------------------------- BCCD (VOC)


def test_bccd_matches_source(tmp_path: Path) -> None:
    root = shared_dataset("bccd")
    src = root / "BCCD"
    source = (root / "SOURCE.txt").read_text()
    assert "2 degenerate boxes" in source
    n_images = int(re.search(r"^xml files (\d+) images (\d+)", source, re.M).group(2))
    with pytest.warns(ConversionWarning, match="2 box"):
        result = convert_voc(src, tmp_path)
    assert list(result) == ["train", "val", "test"]  # trainval ignored: train+val exist
    # split sizes: the ImageSets/Main lists, read independently
    for split, ds in result.items():
        listed = (src / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        assert sorted(Path(im.file_name).stem for im in ds.images) == sorted(listed)
    assert sum(len(ds.images) for ds in result.values()) == n_images == 364
    expected = _source_box_counts(root / "SOURCE.txt")
    assert expected == {"RBC": 4155, "WBC": 372, "Platelets": 361}
    # the 2 degenerate (single-point) boxes are RBCs (SOURCE: RBC sqrt(area) min=0)
    assert result.dropped == 2
    assert _class_counts(result) == {**expected, "RBC": expected["RBC"] - 2}
    assert len(result.warnings) == 2
    assert {w.split(" ")[0] for w in result.warnings} == {
        "BloodImage_00338.xml",
        "BloodImage_00343.xml",
    }
    # ids: unique over the whole dataset
    img_ids = [im.id for ds in result.values() for im in ds.images]
    ann_ids = [a.id for ds in result.values() for a in ds.annotations]
    assert sorted(img_ids) == list(range(1, 365))
    assert sorted(ann_ids) == list(range(1, 4887))
    _check_outputs(result, tmp_path)


def test_bccd_box_conversion(tmp_path: Path) -> None:
    src = shared_dataset("bccd") / "BCCD"
    with pytest.warns(ConversionWarning):
        result = convert_voc(src)
    assert result.paths == {}  # no out_dir: nothing written
    ds = next(
        d for d in result.values() if any(im.file_name.endswith("_00000.jpg") for im in d.images)
    )
    img = next(im for im in ds.images if im.file_name == "JPEGImages/BloodImage_00000.jpg")
    assert (img.width, img.height) == (640, 480)
    first = ds.annotations_of(img.id)[0]
    # XML: WBC xmin 260 ymin 177 xmax 491 ymax 376 (1-based inclusive)
    assert ds.class_names[ds.label_of(first.category_id)] == "WBC"
    assert first.bbox == (259.0, 176.0, 232.0, 200.0)
    assert first.area == 232.0 * 200.0


# ----------------------------------------------------------------------------- Vehicles (YOLO)


def test_vehicles_matches_source(tmp_path: Path) -> None:
    root = shared_dataset("vehicles_openimages")
    source = (root / "SOURCE.txt").read_text()
    m = re.search(r"train (\d+) / valid (\d+) / test (\d+)", source)
    result = convert_yolo(root / YOLO_DIR, tmp_path)
    assert {s: len(ds.images) for s, ds in result.items()} == {
        "train": int(m.group(1)),
        "val": int(m.group(2)),
        "test": int(m.group(3)),
    }
    assert sum(len(ds.images) for ds in result.values()) == 627
    assert _class_counts(result) == _source_box_counts(root / "SOURCE.txt")
    assert result.dropped == 0 and result.clipped == 0
    ds = result["train"]
    assert ds.class_names == ["Ambulance", "Bus", "Car", "Motorcycle", "Truck"]
    assert [c.id for c in ds.categories] == [1, 2, 3, 4, 5]
    name = "train/images/005980b3a5f93085_jpg.rf.68f1ed44dbca53b707a1d3d82d4b7d9a.jpg"
    img = next(im for im in ds.images if im.file_name == name)
    (ann,) = ds.annotations_of(img.id)
    # label "2 0.50120192 0.51201923 0.82692308 0.74519231" on a 416x416 image:
    # cx = 208.5, w = 344, cy = 213, h = 310
    assert ann.category_id == 3
    assert ann.bbox == pytest.approx((36.5, 58.0, 344.0, 310.0), abs=1e-9)
    _check_outputs(result, tmp_path)


# ----------------------------------------------------------------------------- tiny VOC


def _voc_xml(filename: str, size: tuple[int, int], objects: list[tuple]) -> str:
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin>"
        f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, b, d in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>"
    )


def _tiny_voc(root: Path) -> Path:
    (root / "Annotations").mkdir(parents=True)
    _png(root / "JPEGImages" / "a.png", (30, 20))
    _png(root / "JPEGImages" / "b.png", (16, 16))
    (root / "Annotations" / "a.xml").write_text(
        _voc_xml(
            "a.png",
            (30, 20),
            [("dog", (1, 1, 30, 20), 0), ("cat", (5, 6, 7, 9), 1), ("cat", (3, 3, 2, 8), 0)],
        )
    )
    # declared size wrong (real 16x16), no objects
    (root / "Annotations" / "b.xml").write_text(_voc_xml("b.png", (17, 16), []))
    return root


def test_voc_without_splits_hand_checked(tmp_path: Path) -> None:
    src = _tiny_voc(tmp_path / "voc")
    with pytest.warns(ConversionWarning):
        result = convert_voc(src, tmp_path / "out")
    assert list(result) == ["all"]
    ds = result["all"]
    assert ds.class_names == ["cat", "dog"]
    a, b = ds.images
    assert (a.file_name, a.width, a.height) == ("JPEGImages/a.png", 30, 20)
    assert (b.file_name, b.width, b.height) == ("JPEGImages/b.png", 16, 16)  # real size
    assert [x.bbox for x in ds.annotations_of(a.id)] == [(0, 0, 30, 20), (4, 5, 3, 4)]
    assert ds.labels(a.id).tolist() == [1, 0]
    assert ds.annotations_of(b.id) == []  # an image with no objects
    assert result.dropped == 1
    assert any("a.xml object 2: dropped box (3, 3, 2, 8)" in w for w in result.warnings)
    assert any("field 'size': 17x16 differs" in w for w in result.warnings)
    assert "difficult boxes: 1 (kept as ordinary boxes)" in result.summary()
    _check_outputs(result, tmp_path / "out")


def test_voc_drop_difficult_and_splits(tmp_path: Path) -> None:
    src = _tiny_voc(tmp_path / "voc")
    main_dir = src / "ImageSets" / "Main"
    main_dir.mkdir(parents=True)
    (main_dir / "trainval.txt").write_text("a\nb\n")
    (main_dir / "test.txt").write_text("b\n")
    with pytest.warns(ConversionWarning):
        result = convert_voc(src, keep_difficult=False, classes=["dog", "cat", "bird"])
    assert list(result) == ["trainval", "test"]  # trainval used: no train/val lists
    assert result["trainval"].class_names == ["dog", "cat", "bird"]
    assert [a.bbox for a in result["trainval"].annotations] == [(0, 0, 30, 20)]
    assert [im.id for im in result["test"].images] == [2]  # same id as in trainval


def test_voc_errors_are_listed(tmp_path: Path) -> None:
    src = _tiny_voc(tmp_path / "voc")
    (src / "JPEGImages" / "b.png").unlink()
    (src / "Annotations" / "c.xml").write_text("<annotation><filename>")
    main_dir = src / "ImageSets" / "Main"
    main_dir.mkdir(parents=True)
    (main_dir / "train.txt").write_text("a\nzzz\n")
    with pytest.raises(DataError) as info:
        convert_voc(src)
    msg = str(info.value)
    assert "3 problem(s)" in msg
    assert "b.xml: field 'filename': image 'b.png' not found" in msg
    assert "c.xml: unreadable XML" in msg
    assert "train.txt: id 'zzz' has no Annotations/zzz.xml" in msg
    with pytest.raises(DataError, match="not in classes"):
        convert_voc(_tiny_voc(tmp_path / "more" / "voc2"), classes=["dog"])
    with pytest.raises(DataError, match=r"no Annotations/ folder \(found Annotations/ in: voc2\)"):
        convert_voc(tmp_path / "more")


# ----------------------------------------------------------------------------- tiny YOLO


def _tiny_yolo(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "data.yaml").write_text("nc: 2\nnames: ['car', 'bus']\n")
    _png(root / "train" / "images" / "p.png", (40, 20))
    _png(root / "train" / "images" / "q.jpg", (10, 10))  # empty label file
    _png(root / "train" / "images" / "r.png", (10, 10))  # no label file
    (root / "train" / "labels").mkdir()
    (root / "train" / "labels" / "p.txt").write_text(
        "1 0.5 0.5 0.5 0.5\n\n0 0.1 0.2 0.3 0.4 0.05 0.3\n0 0.95 0.5 0.2 0.2\n0 0.5 0.5 0 0.1\n"
    )
    (root / "train" / "labels" / "q.txt").write_text("")
    (root / "train" / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    _png(root / "valid" / "images" / "s.png", (8, 8))
    (root / "valid" / "labels").mkdir()
    (root / "valid" / "labels" / "s.txt").write_text("0 0.25 0.25 0.5 0.5\n")
    return root


def test_yolo_hand_checked(tmp_path: Path) -> None:
    src = _tiny_yolo(tmp_path / "yolo")
    with pytest.warns(ConversionWarning):
        result = convert_yolo(src, tmp_path / "out")
    assert list(result) == ["train", "val"]
    tr = result["train"]
    assert [im.file_name for im in tr.images] == [
        "train/images/p.png",
        "train/images/q.jpg",
        "train/images/r.png",
    ]
    p = tr.images[0]
    boxes = [(a.category_id, a.bbox) for a in tr.annotations_of(p.id)]
    assert boxes[0] == (2, (10.0, 5.0, 20.0, 10.0))  # bus, 40x20 image
    assert boxes[1][0] == 1 and boxes[1][1] == pytest.approx((2.0, 4.0, 10.0, 4.0))  # segment
    # cx 0.95, w 0.2 -> x 34..42, clipped to 40; cy 0.5, h 0.2 -> y 8..12
    assert boxes[2][0] == 1 and boxes[2][1] == pytest.approx((34.0, 8.0, 6.0, 4.0))
    assert len(boxes) == 3  # the zero-width box is dropped
    for empty in tr.images[1:]:  # empty label file, no label file: no objects
        assert tr.annotations_of(empty.id) == []
    assert result.dropped == 1 and result.clipped == 1
    assert any("orphan.txt" in w for w in result.warnings)
    assert result["val"].annotations[0].bbox == (0.0, 0.0, 4.0, 4.0)
    _check_outputs(result, tmp_path / "out")


def test_yolo_flat_layout_is_all(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: {0: a}\n")
    _png(root / "images" / "x.png", (4, 4))
    (root / "labels" / "x.txt").write_text("0 0.5 0.5 1 1\n")
    result = convert_yolo(root, tmp_path / "out")
    assert list(result) == ["all"] and (tmp_path / "out" / "all.json").is_file()
    assert result["all"].annotations[0].bbox == (0.0, 0.0, 4.0, 4.0)


def test_yolo_errors_are_listed(tmp_path: Path) -> None:
    src = _tiny_yolo(tmp_path / "yolo")
    (src / "train" / "labels" / "p.txt").write_text("2 0.5 0.5 0.1 0.1\n0 0.5 0.5\n0 a b c d\n")
    with pytest.raises(DataError) as info:
        convert_yolo(src)
    msg = str(info.value)
    assert "3 problem(s)" in msg
    assert "p.txt:1: class 2 is not in 0..1" in msg
    assert "p.txt:2: expected 'class cx cy w h'" in msg
    assert "p.txt:3: not numbers" in msg
    (src / "data.yaml").write_text("nc: 3\nnames: ['car', 'bus']\n")
    with pytest.raises(DataError, match="field 'nc' is 3 but 'names' has 2"):
        convert_yolo(src)
    (src / "data.yaml").unlink()
    with pytest.raises(DataError, match=r"data\.yaml: file not found"):
        convert_yolo(src)


# ----------------------------------------------------------------------------- tiny Cityscapes


def _tiny_cityscapes(root: Path) -> Path:
    def write(split: str, city: str, stem: str, size: tuple[int, int], objects: list) -> None:
        _png(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", size)
        gt = root / "gtFine" / split / city / f"{stem}_gtFine_polygons.json"
        gt.parent.mkdir(parents=True, exist_ok=True)
        gt.write_text(json.dumps({"imgHeight": size[1], "imgWidth": size[0], "objects": objects}))

    write(
        "train",
        "aachen",
        "aachen_000000_000019",
        (32, 16),
        [
            {"label": "road", "polygon": [[0, 10], [31, 10], [31, 15], [0, 15]]},
            {"label": "car", "polygon": [[2, 3], [9, 3], [9, 7], [5, 8]]},
            {"label": "person", "polygon": [[28, 1], [35, 2], [30, 12]]},  # clipped at x=32
            {"label": "cargroup", "polygon": [[10, 10], [20, 10], [20, 14]]},
            {"label": "bicycle", "polygon": [[1, 1], [3, 3]], "deleted": 1},
            {"label": "caravan", "polygon": [[1, 1], [3, 3]]},  # not a detection class
            {"label": "rider", "polygon": [[4, 4]]},  # a single point: a 1x1 box
        ],
    )
    write("train", "bremen", "bremen_000001_000019", (32, 16), [])  # no objects
    write(
        "val",
        "lindau",
        "lindau_000000_000019",
        (32, 16),
        [{"label": "bus", "polygon": [[-3, -2], [40, -2], [40, 20], [-3, 20]]}],
    )
    return root


def test_cityscapes_hand_checked(tmp_path: Path) -> None:
    src = _tiny_cityscapes(tmp_path / "cs")
    with pytest.warns(ConversionWarning, match="0 box.es. dropped, 2 clipped"):
        result = convert_cityscapes(src, tmp_path / "out")
    assert list(result) == ["train", "val"]
    tr = result["train"]
    assert tr.class_names == [n for n, _, _ in CITYSCAPES_DETECTION_CLASSES]
    assert tr.class_names == ["person", "rider", "car", "truck", "bus", "train",
                              "motorcycle", "bicycle"]  # fmt: skip
    assert [c.id for c in tr.categories] == [24, 25, 26, 27, 28, 31, 32, 33]
    assert tr.categories[0].supercategory == "human"
    a, b = tr.images
    assert a.file_name == "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    assert (a.width, a.height) == (32, 16)
    got = [(x.category_id, x.bbox, x.iscrowd) for x in tr.annotations_of(a.id)]
    assert got == [
        (26, (2.0, 3.0, 8.0, 6.0), 0),  # car: x 2..9, y 3..8 inclusive
        (24, (28.0, 1.0, 4.0, 12.0), 0),  # person: x 28..35 -> clipped to 32
        (25, (4.0, 4.0, 1.0, 1.0), 0),  # rider: single pixel
    ]
    assert tr.annotations_of(b.id) == []
    assert result["val"].annotations[0].bbox == (0.0, 0.0, 32.0, 16.0)
    summary = result.summary()
    assert "group objects (e.g. cargroup): 1 (skipped)" in summary
    assert "deleted objects skipped: 1" in summary
    _check_outputs(result, tmp_path / "out")


def test_cityscapes_groups_as_crowd(tmp_path: Path) -> None:
    src = _tiny_cityscapes(tmp_path / "cs")
    with pytest.warns(ConversionWarning):
        result = convert_cityscapes(src, tmp_path / "out", crowd_groups=True)
    tr = result["train"]
    crowd = [a for a in tr.annotations if a.iscrowd]
    assert [(a.category_id, a.bbox) for a in crowd] == [(26, (10.0, 10.0, 11.0, 5.0))]
    # crowd regions are not objects
    assert len(tr.ann_ids(tr.images[0].id)) == 3
    _check_outputs(result, tmp_path / "out")
    coco = COCO(str(tmp_path / "out" / "train.json"))
    assert len(coco.getAnnIds(iscrowd=True)) == 1


def test_cityscapes_missing_image(tmp_path: Path) -> None:
    src = _tiny_cityscapes(tmp_path / "cs")
    (src / "leftImg8bit" / "val" / "lindau" / "lindau_000000_000019_leftImg8bit.png").unlink()
    with pytest.raises(
        DataError, match=r"lindau_000000_000019_gtFine_polygons.json: image .* not found"
    ):
        convert_cityscapes(src)


def test_vendored_table_matches_cityscapesscripts() -> None:
    labels = pytest.importorskip("cityscapesscripts.helpers.labels")
    official = tuple(
        (lab.name, lab.id, lab.category)
        for lab in labels.labels
        if lab.hasInstances and not lab.ignoreInEval
    )
    assert official == CITYSCAPES_DETECTION_CLASSES


# ----------------------------------------------------------------------------- CLI


def test_cli_convert_voc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _tiny_voc(tmp_path / "voc")
    out = tmp_path / "out"
    assert main(["convert", "voc", str(src), "--out", str(out), "--drop-difficult"]) == 0
    text = capsys.readouterr().out
    assert f"all: 2 images, 1 boxes (cat 0, dog 1) -> {out / 'all.json'}" in text
    assert "difficult boxes: 1 (dropped)" in text
    assert "dropped boxes: 1, clipped boxes: 0" in text
    assert f"image root (pass as --images): {src}" in text
    assert main(["validate", str(out / "all.json"), "--images", str(src)]) == 0


def test_cli_convert_error_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "voc", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no Annotations/ folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_convert_subprocess(tmp_path: Path) -> None:
    src = _tiny_cityscapes(tmp_path / "cs")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mural", "convert", "cityscapes", str(src), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "train: 2 images, 3 boxes (person 1, rider 1, car 1," in r.stdout
    assert "val: 1 images, 1 boxes" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["train.json", "val.json"]


# ----------------------------------------------------------------------------- --max-side


def test_max_side_hand_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """a.png 30x20 with max side 15 -> 15x10, boxes halved; b.png 16x16 -> 15x15 (factor
    15/16); an image already small enough is copied byte for byte; b has no objects."""
    src = _tiny_voc(tmp_path / "voc")
    (src / "JPEGImages" / "c.png").write_bytes(b"")  # not referenced: not copied
    _png(src / "JPEGImages" / "d.png", (8, 6))
    d_xml = _voc_xml("d.png", (8, 6), [("cat", (2, 2, 4, 5), 0)])
    (src / "Annotations" / "d.xml").write_text(d_xml)
    out = tmp_path / "out"
    assert main(["convert", "voc", str(src), "--out", str(out), "--max-side", "15"]) == 0
    text = capsys.readouterr().out
    assert f"image root (pass as --images): {out / 'images'}" in text
    assert "images shrunk to at most 15 px per side" in text
    ds = CocoDataset.load(out / "all.json", out / "images")
    a, b, d = ds.images
    assert (a.width, a.height) == (15, 10)
    assert (b.width, b.height) == (15, 15)
    assert (d.width, d.height) == (8, 6)
    with Image.open(out / "images" / "JPEGImages" / "a.png") as im:
        assert im.size == (15, 10)
    # a: dog (1,1,30,20) -> clipped (0,0,30,20) xywh (0,0,30,20) -> (0,0,15,10); cat
    # (5,6,7,9) -> xywh (4,5,3,4) -> (2,2.5,1.5,2)
    assert [x.bbox for x in ds.annotations_of(a.id)] == [(0, 0, 15, 10), (2, 2.5, 1.5, 2)]
    assert [x.area for x in ds.annotations_of(a.id)] == [150, 3]
    assert ds.annotations_of(b.id) == []
    assert (out / "images" / "JPEGImages" / "d.png").read_bytes() == (
        src / "JPEGImages" / "d.png"
    ).read_bytes()
    assert not (out / "images" / "JPEGImages" / "c.png").exists()
    assert validate_coco(out / "all.json", out / "images") == []
    # a second conversion into the same folder is refused before anything is written
    before = (out / "images" / "JPEGImages" / "a.png").stat().st_mtime_ns
    assert main(["convert", "voc", str(src), "--out", str(out), "--max-side", "12"]) == 2
    assert "already holds all.json" in capsys.readouterr().err
    assert (out / "images" / "JPEGImages" / "a.png").stat().st_mtime_ns == before
    assert main(["convert", "voc", str(src), "--out", str(out), "--max-side", "12", "--force"]) == 0
    with pytest.raises(SystemExit) as exit_info:  # refused by argparse, nothing written
        main(["convert", "voc", str(src), "--out", str(tmp_path / "o0"), "--max-side", "0"])
    assert exit_info.value.code == 2
    assert "expected an integer >= 1 (pixels)" in capsys.readouterr().err
    assert not (tmp_path / "o0").exists()
    assert CocoDataset.load(out / "all.json", out / "images").images[0].width == 12


def test_max_side_images_refused_without_force(tmp_path: Path) -> None:
    from mural.data.convert import shrink_result
    from mural.errors import ConfigError

    src = _tiny_voc(tmp_path / "voc")
    with pytest.warns(ConversionWarning):
        result = convert_voc(src)
    (tmp_path / "out" / "images" / "JPEGImages").mkdir(parents=True)
    (tmp_path / "out" / "images" / "JPEGImages" / "b.png").write_bytes(b"mine")
    with pytest.raises(ConfigError, match=r"b\.png: already exists"):
        shrink_result(result, tmp_path / "out", 10)
    assert (tmp_path / "out" / "images" / "JPEGImages" / "b.png").read_bytes() == b"mine"
    assert not (tmp_path / "out" / "images" / "JPEGImages" / "a.png").exists()
    with pytest.raises(ConfigError, match="--max-side 0"):
        shrink_result(result, tmp_path / "o2", 0)


def test_max_side_on_bccd_keeps_boxes_in_proportion(tmp_path: Path) -> None:
    root = shared_dataset("bccd") / "BCCD"
    with pytest.warns(ConversionWarning):
        result = convert_voc(root)
    from mural.data.convert import shrink_result

    only_val = ConversionResult(result.src)
    only_val["val"] = result["val"]
    small = shrink_result(only_val, tmp_path, 320)
    assert small.src == tmp_path / "images"
    big, half = result["val"], small["val"]
    assert all((im.width, im.height) == (320, 240) for im in half.images)
    for a, b in zip(big.annotations, half.annotations, strict=True):
        assert b.bbox == pytest.approx(tuple(v / 2 for v in a.bbox))
    half.save(tmp_path / "val.json")
    assert validate_coco(tmp_path / "val.json", tmp_path / "images") == []
