"""The synthetic shapes dataset: determinism, class tail, counts, sizes, format, CLI."""

from __future__ import annotations

import colorsys
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mural.cli import main
from mural.data.synthetic import CLASS_HUES, CLASS_NAMES, make_synthetic, shape_mask
from mural.errors import ConfigError

SMALL = {"n_train": 40, "n_val": 16}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_synthetic(tmp_path_factory.mktemp("synth") / "d", seed=3, **SMALL)


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, small: dict[str, Path]) -> None:
    again = make_synthetic(tmp_path / "again", seed=3, **SMALL)
    a, b = _digest(small["root"]), _digest(again["root"])
    assert len(a) == SMALL["n_train"] + SMALL["n_val"] + 2
    assert a == b
    other = _digest(make_synthetic(tmp_path / "other", seed=4, **SMALL)["root"])
    assert other.keys() == a.keys()
    assert other["train.json"] != a["train.json"] and other["val.json"] != a["val.json"]
    pngs = [k for k in a if k.endswith(".png")]
    assert all(other[k] != a[k] for k in pngs)


def test_layout_ids_and_files(small: dict[str, Path]) -> None:
    train, val = _load(small["train"]), _load(small["val"])
    assert len(train["images"]) == SMALL["n_train"] and len(val["images"]) == SMALL["n_val"]
    image_ids = [im["id"] for d in (train, val) for im in d["images"]]
    ann_ids = [a["id"] for d in (train, val) for a in d["annotations"]]
    assert len(set(image_ids)) == len(image_ids) and len(set(ann_ids)) == len(ann_ids)
    assert [c["name"] for c in train["categories"]] == list(CLASS_NAMES)
    assert [c["id"] for c in train["categories"]] == list(range(1, len(CLASS_NAMES) + 1))
    for d in (train, val):
        for im in d["images"]:
            with Image.open(small["images"] / im["file_name"]) as img:  # relative to images/
                assert img.size == (im["width"], im["height"]) == (128, 128)
                assert img.mode == "RGB"


def test_long_tail_matches_geometric_series(small: dict[str, Path]) -> None:
    for split in ("train", "val"):
        anns = _load(small[split])["annotations"]
        counts = np.bincount([a["category_id"] for a in anns], minlength=9)[1:]
        total = counts.sum()
        # independent: p_k = 20**(-k/7) / sum, most common 20x the rarest
        p = np.array([20.0 ** (-k / 7) for k in range(8)])
        p /= p.sum()
        assert np.all(np.abs(counts - total * p) <= 1.0), (split, counts, total * p)
        assert np.all(counts >= 1)  # every class present in both splits
    train_counts = np.bincount([a["category_id"] for a in _load(small["train"])["annotations"]])
    assert train_counts[1] >= 10 * train_counts[8]


def test_default_dataset_figures(tmp_path: Path) -> None:
    paths = make_synthetic(tmp_path / "default")  # the demo's default: 300 train, 100 val
    train, val = _load(paths["train"]), _load(paths["val"])
    for d in (train, val):
        per_image = np.bincount([a["image_id"] for a in d["annotations"]])
        per_image = per_image[[im["id"] for im in d["images"]]]
        assert per_image.min() >= 5 and per_image.max() <= 30
        assert per_image.min() == 5 and per_image.max() == 30  # the range is used
    counts = np.bincount([a["category_id"] for a in train["annotations"]])[1:]
    assert counts.max() >= 10 * counts.min() and counts.argmax() == 0
    val_counts = np.bincount([a["category_id"] for a in val["annotations"]])[1:]
    assert val_counts.min() >= 15  # the rarest class is evaluable on val
    sides = np.array([max(a["bbox"][2:]) for a in train["annotations"]])
    assert sides.min() <= 6 and sides.max() >= 60 and sides.max() / sides.min() >= 10
    vis = np.array([a["visible"] for d in (train, val) for a in d["annotations"]])
    assert vis.min() >= 0.3 - 1e-9  # the occlusion rule held everywhere
    assert (vis < 1.0).mean() > 0.1  # and occlusion does happen


def test_boxes_inside_and_consistent(small: dict[str, Path]) -> None:
    for split in ("train", "val"):
        d = _load(small[split])
        size = {im["id"]: (im["width"], im["height"]) for im in d["images"]}
        for a in d["annotations"]:
            x, y, w, h = a["bbox"]
            W, H = size[a["image_id"]]
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= W and y + h <= H
            assert a["area"] == w * h and a["iscrowd"] == 0


def test_pixels_show_the_labelled_class(small: dict[str, Path]) -> None:
    """The centre pixel of an unoccluded object has its class's hue (shapes filled there)."""
    d = _load(small["train"])
    files = {im["id"]: im["file_name"] for im in d["images"]}
    arrays: dict[int, np.ndarray] = {}
    checked = 0
    for a in d["annotations"]:
        name = CLASS_NAMES[a["category_id"] - 1]
        x, y, w, h = (int(v) for v in a["bbox"])
        if a["visible"] < 1.0 or name == "ring" or min(w, h) < 10:
            continue
        img = arrays.setdefault(
            a["image_id"], np.asarray(Image.open(small["images"] / files[a["image_id"]]))
        )
        r, g, b = img[y + h // 2, x + w // 2] / 255.0
        hue = colorsys.rgb_to_hsv(r, g, b)[0] * 360.0
        diff = abs((hue - CLASS_HUES[a["category_id"] - 1] + 180.0) % 360.0 - 180.0)
        assert diff <= 20.0, (a, hue)
        checked += 1
    assert checked >= 50


def test_shape_masks_hand_computed() -> None:
    # pixel centres at u, v in {-2/3, 0, 2/3}: diamond |u|+|v| <= 1 leaves a plus sign
    plus = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    assert np.array_equal(shape_mask("diamond", 3, 3), plus)
    # 4x4 circle: centres at ±0.25, ±0.75; only the corners (r² = 1.125) fall outside
    circle = np.ones((4, 4), dtype=bool)
    circle[[0, 0, 3, 3], [0, 3, 0, 3]] = False
    assert np.array_equal(shape_mask("circle", 4, 4), circle)
    assert shape_mask("square", 2, 5).all()
    ring = shape_mask("ring", 20, 20)
    assert not ring[10, 10] and ring[10, 0] and ring[0, 10]  # hollow centre
    for name in CLASS_NAMES:
        m = shape_mask(name, 6, 6)
        assert m.shape == (6, 6) and m.any() and not m.flags.writeable


def test_coco_validators_accept_output(small: dict[str, Path]) -> None:
    from pycocotools.coco import COCO

    from mural.data.coco import CocoDataset, validate_coco

    for split in ("train", "val"):
        assert validate_coco(small[split], small["images"]) == []
        coco = COCO(str(small[split]))
        assert len(coco.getImgIds()) == len(_load(small[split])["images"])
        ds = CocoDataset.load(small[split], small["images"])
        assert ds.num_classes == 8 and ds.class_names == list(CLASS_NAMES)
        first = ds.image_ids()[0]
        assert ds.boxes_xyxy(first).shape[0] >= 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_train": 0},
        {"n_val": 0},
        {"image_size": (8, 128)},
        {"object_size": (6, 200)},
        {"object_size": (10, 5)},
        {"objects_per_image": (0, 3)},
        {"num_classes": 9},
        {"tail_ratio": 0.5},
        {"min_visible": 1.0},
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="synthetic"):
        make_synthetic(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_non_empty_folder_needs_overwrite(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        make_synthetic(tmp_path, n_train=2, n_val=2)
    paths = make_synthetic(tmp_path, n_train=3, n_val=2, overwrite=True)
    make_synthetic(tmp_path, n_train=2, n_val=2, overwrite=True)  # no stale images left
    assert len(list(paths["images"].glob("*.png"))) == 4
    assert (tmp_path / "keep.txt").exists()


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = ["synth", "--out", str(out), "--seed", "5", "--train", "6", "--val", "3"]
    assert main([*argv, "--size", "64x80"]) == 0
    assert "images root" in capsys.readouterr().out
    train = _load(out / "train.json")
    assert len(train["images"]) == 6 and len(_load(out / "val.json")["images"]) == 3
    assert (train["images"][0]["height"], train["images"][0]["width"]) == (64, 80)
    with Image.open(out / "images" / train["images"][0]["file_name"]) as img:
        assert img.size == (80, 64)
    sides = [max(a["bbox"][2:]) for a in train["annotations"]]
    assert max(sides) <= 32 * 1.25 + 1  # object sides scale with the image: up to H/2
    # same arguments into a fresh folder: same bytes as the library call
    lib = make_synthetic(
        tmp_path / "lib", seed=5, n_train=6, n_val=3, image_size=(64, 80), object_size=(6, 32)
    )
    assert _digest(out) == _digest(lib["root"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "big"], "expected HxW"),
        (["--size", "8x8"], "at least 16"),
        (["--train", "0"], "each split needs"),
    ],
)
def test_cli_bad_args(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["synth", "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_non_empty_and_unparsable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f.txt").write_text("x")
    base = ["synth", "--out", str(tmp_path), "--train", "2", "--val", "2"]
    assert main(base) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*base, "--force"]) == 0
    with pytest.raises(SystemExit) as exc:  # argparse rejects a non-integer count
        main(["synth", "--out", str(tmp_path / "o"), "--train", "many"])
    assert exc.value.code == 2
    assert "invalid int value" in capsys.readouterr().err
