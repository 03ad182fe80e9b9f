"""LabeledPool: simulated oracle (contract §5), labelled state (§6), save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mural.data.coco import CocoDataset
from mural.data.pool import LABELED_FILE, POOL_FILE, LabeledPool, pool_dataset_ref
from mural.errors import DataError


def make_dict(images: list[tuple[int, int, int]], anns: list[tuple[int, int, int, list[float]]]):
    """images: (id, H, W); anns: (id, image_id, category_id, xyxy)."""
    return {
        "images": [
            {"id": i, "file_name": f"{i}.png", "height": h, "width": w} for i, h, w in images
        ],
        "annotations": [
            {
                "id": a,
                "image_id": im,
                "category_id": c,
                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                "area": (b[2] - b[0]) * (b[3] - b[1]),
                "iscrowd": 0,
            }
            for a, im, c, b in anns
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
    }


def write_images(root: Path, d: dict[str, Any], color=(120, 60, 30)) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for im in d["images"]:
        Image.new("RGB", (im["width"], im["height"]), color).save(root / im["file_name"])


# Image 1: 10x10, scale (20, 20) -> f = 2, scaled 20x20, windows 10x10 at left/top 0..10.
# Boxes (original xyxy) chosen so that in window (0, 0, 10, 10) their visible fractions are
# exactly 0.7, 0.75, 0.65, 1.0 and 0 (the last lies fully outside).
THRESHOLD_ANNS = [
    (11, 1, 3, [1.5, 0.0, 6.5, 4.0]),  # scaled x 3..13 -> 7/10 = 0.70 (ignore: not > 0.7)
    (12, 1, 7, [1.25, 0.0, 6.25, 4.0]),  # scaled x 2.5..12.5 -> 7.5/10 = 0.75 (labelled)
    (13, 1, 3, [1.75, 0.5, 6.75, 4.5]),  # scaled x 3.5..13.5 -> 6.5/10 = 0.65 (ignore)
    (14, 1, 7, [0.5, 0.5, 2.0, 2.0]),  # scaled 1..4 -> inside (labelled)
    (15, 1, 3, [6.0, 6.0, 9.0, 9.0]),  # scaled 12..18 -> outside
]
WIN = (0, 0, 10, 10)


@pytest.fixture
def ds() -> CocoDataset:
    d = make_dict(
        [(1, 10, 10), (2, 10, 10), (3, 8, 12)],
        [*THRESHOLD_ANNS, (21, 2, 3, [1.0, 1.0, 3.0, 3.0]), (22, 2, 7, [5.0, 5.0, 9.0, 8.0])],
    )
    return CocoDataset.from_dict(d)  # image 3 has no objects


def test_acquisition_at_and_around_threshold(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    r = pool.add_region(1, (20, 20), 0, WIN, cycle=1)
    assert r.ann_ids == [12, 14]
    # Clipped boxes in window pixels, by hand: 12 -> (2.5, 0, 10, 8); 14 -> (1, 1, 4, 4).
    assert r.boxes == [[2.5, 0.0, 10.0, 8.0], [1.0, 1.0, 4.0, 4.0]]
    assert r.category_ids == [7, 7]
    # Ignore areas: 11 and 13, clipped to the window (window pixels).
    assert r.ignore == [[3.0, 0.0, 10.0, 8.0], [3.5, 1.0, 10.0, 9.0]]
    assert r.new_ann_ids == [12, 14]
    assert pool.labelled_keys() == {(1, 12), (1, 14)}
    # A lower threshold takes the 0.70 and 0.65 objects too (strictly greater than).
    low = LabeledPool(ds, visible_threshold=0.6)
    assert [k[1] for k in low.region_objects(1, (20, 20), WIN)] == [11, 12, 13, 14]
    exact = LabeledPool(ds, visible_threshold=0.65)
    assert [k[1] for k in exact.region_objects(1, (20, 20), WIN)] == [11, 12, 14]


def test_window_off_origin(ds: CocoDataset) -> None:
    # Window left = 10: boxes 11, 12, 13 are 0.3, 0.25 and 0.35 inside -> ignore areas;
    # 14 and 15 lie outside. By hand, in window pixels (x - 10):
    pool = LabeledPool(ds)
    r = pool.add_region(1, (20, 20), 0, (10, 0, 20, 10), cycle=1)
    assert r.ann_ids == [] and r.boxes == []
    assert r.ignore == [[0.0, 0.0, 3.0, 8.0], [0.0, 0.0, 2.5, 8.0], [0.0, 1.0, 3.5, 9.0]]
    assert pool.num_labelled() == 0


def test_region_objects_has_no_side_effect(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    keys = pool.region_objects(1, (20, 20), WIN)
    assert keys == [(1, 12), (1, 14)]
    assert pool.num_labelled() == 0 and pool.regions == []
    r = pool.add_region(1, (20, 20), 0, WIN, cycle=1)
    assert [(1, a) for a in r.ann_ids] == keys
    # It still reports labelled objects (selection passes labelled_keys() separately).
    assert pool.region_objects(1, (20, 20), WIN) == keys


def test_shared_object_counts_once(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    a = pool.add_region(1, (20, 20), 0, (0, 0, 10, 10), cycle=1)
    # Window left = 1: 11 (0.8), 12 (0.85), 13 (0.75) and 14 (inside) are labelled.
    b = pool.add_region(1, (20, 20), 0, (1, 0, 11, 10), cycle=2)
    assert a.ann_ids == [12, 14] and a.new_ann_ids == [12, 14]
    assert b.ann_ids == [11, 12, 13, 14] and b.new_ann_ids == [11, 13]
    assert pool.num_labelled() == 4
    assert pool.class_counts().tolist() == [2, 2]
    # A full image afterwards adds only the rest of its objects (15).
    assert pool.add_full_images([1], cycle=3) == 1
    assert pool.num_labelled() == 5
    assert pool.class_counts().tolist() == [3, 2]
    assert pool.unlabelled_images() == [2, 3]


def test_full_image_newly_and_unlabelled(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    assert pool.unlabelled_images() == [1, 2, 3]
    assert pool.add_full_images([2], cycle=0) == 2
    assert pool.add_full_images([2], cycle=5) == 0  # already labelled: costs nothing
    assert pool.full_images == {2: 0}
    assert pool.unlabelled_images() == [1, 3]
    # Image 3 has no objects: it stays in D_U until taken as a full image, which costs 0.
    r = pool.add_region(3, (8, 12), 0, (0, 0, 12, 8), cycle=1)
    assert r.ann_ids == [] and r.ignore == []
    assert 3 in pool.unlabelled_images()
    assert pool.add_full_images([3], cycle=1) == 0
    assert pool.unlabelled_images() == [1]
    assert pool.class_counts().tolist() == [1, 1]
    assert pool.labelled_boxes(3).shape == (0, 4)


def test_image_leaves_du_when_regions_label_everything(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    # Image 2 at f=1 (scale (10, 10)): one window, the whole image: both objects labelled.
    r = pool.add_region(2, (10, 10), 1, (0, 0, 10, 10), cycle=1)
    assert r.ann_ids == [21, 22] and r.boxes == [[1, 1, 3, 3], [5, 5, 9, 8]]
    assert 2 not in pool.unlabelled_images()
    np.testing.assert_array_equal(pool.labelled_boxes(2), [[1, 1, 3, 3], [5, 5, 9, 8]])


def test_add_objects_validates_and_counts(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    with pytest.raises(DataError, match="annotation 21 does not belong"):
        pool.add_objects(1, [21], cycle=1)
    assert pool.add_objects(1, [11, 15], cycle=1) == 2
    assert pool.add_objects(1, [11], cycle=2) == 0
    assert pool.partial == {1: {11: 1, 15: 1}}
    assert pool.is_labelled(1, 11) and not pool.is_labelled(1, 12)
    assert pool.class_counts().tolist() == [2, 0]
    with pytest.raises(DataError, match="image 99"):
        pool.add_full_images([99], cycle=0)


def test_window_validation(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    with pytest.raises(DataError, match="original image's size"):
        pool.add_region(1, (20, 20), 0, (0, 0, 9, 10), cycle=1)
    with pytest.raises(DataError, match="outside the valid positions"):
        pool.add_region(1, (20, 20), 0, (11, 0, 21, 10), cycle=1)


def test_human_region_without_gt_ids(ds: CocoDataset) -> None:
    pool = LabeledPool(ds)
    r = pool.add_region_labels(
        1, (20, 20), 0, (10, 10, 20, 20), 4, [[0.0, 0.0, 4.0, 2.0]], [7], ignore=[[5, 5, 6, 6]]
    )
    assert r.ann_ids == [None] and r.new_ann_ids == []
    assert pool.class_counts().tolist() == [0, 1] and pool.num_labelled() == 1
    # Back in original pixels: ((0, 0, 4, 2) + (10, 10)) / 2.
    np.testing.assert_allclose(pool.labelled_boxes(1), [[5.0, 5.0, 7.0, 6.0]])
    with pytest.raises(DataError, match="outside the window"):
        pool.add_region_labels(1, (20, 20), 0, (10, 10, 20, 20), 4, [[0, 0, 11, 2]], [7])
    with pytest.raises(DataError, match="category id 5"):
        pool.add_region_labels(1, (20, 20), 0, (10, 10, 20, 20), 4, [[0, 0, 1, 2]], [5])


def build_mixed_pool(ds: CocoDataset) -> LabeledPool:
    pool = LabeledPool(ds)
    pool.add_full_images([2, 3], cycle=0)
    pool.add_region(1, (20, 20), 0, WIN, cycle=1)
    pool.add_region(1, (20, 20), 0, (1, 0, 11, 10), cycle=1)
    pool.add_region_labels(1, (20, 20), 0, (10, 10, 20, 20), 2, [[0.0, 0.0, 4.0, 2.0]], [7])
    assert pool.add_objects(1, [15], cycle=2) == 1
    return pool


def test_round_trip(ds: CocoDataset, tmp_path: Path) -> None:
    pool = build_mixed_pool(ds)
    pool.save(tmp_path / "p")
    back = LabeledPool.load(tmp_path / "p", ds)
    assert back == pool
    assert back.labelled_keys() == pool.labelled_keys()
    assert back.class_counts().tolist() == pool.class_counts().tolist()
    assert back.unlabelled_images() == pool.unlabelled_images()
    assert back.regions[0].new_ann_ids == pool.regions[0].new_ann_ids
    # A change is visible to __eq__.
    back.add_full_images([1], cycle=3)
    assert back != pool
    doc = json.loads((tmp_path / "p" / POOL_FILE).read_text())
    assert doc["format"] == "mural-pool" and doc["version"] == 1


def test_labeled_json_opens_in_pycocotools(ds: CocoDataset, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    pool = build_mixed_pool(ds)
    pool.save(tmp_path)
    coco = COCO(str(tmp_path / LABELED_FILE))
    # Full image 2: 2 annotations, image 3: 0; regions: 2 + 4 + 1 boxes; partial: 1.
    assert len(coco.getAnnIds()) == 2 + 0 + 2 + 4 + 1 + 1
    assert sorted(coco.getImgIds()) == [1, 2, 3]
    region_anns = [
        a for a in coco.loadAnns(coco.getAnnIds(imgIds=[1])) if a.get("mural_region") == 0
    ]
    # Box 12 clipped to (2.5, 0, 10, 8) window px -> /2 -> (1.25, 0, 5, 4) -> xywh.
    assert region_anns[0]["bbox"] == [1.25, 0.0, 3.75, 4.0]
    assert region_anns[0]["mural_gt_ann_id"] == 12
    human = [a for a in coco.loadAnns(coco.getAnnIds()) if a.get("mural_gt_ann_id", 0) is None]
    assert [h["bbox"] for h in human] == [[5.0, 5.0, 2.0, 1.0]]


def test_load_rejects_unknown_ids(ds: CocoDataset, tmp_path: Path) -> None:
    pool = build_mixed_pool(ds)
    pool.save(tmp_path)
    path = tmp_path / POOL_FILE
    good = json.loads(path.read_text())
    bad = json.loads(json.dumps(good))
    bad["regions"][1]["image_id"] = 404
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"pool\.json: regions\[1\]: image 404"):
        LabeledPool.load(tmp_path, ds)
    bad = json.loads(json.dumps(good))
    assert good["partial"][0]["objects"][0]["ann_id"] == 15
    bad["partial"][0]["objects"][0]["ann_id"] = 21
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"partial\[0\]: annotation 21 does not belong"):
        LabeledPool.load(tmp_path, ds)
    bad = json.loads(json.dumps(good))
    bad["version"] = 99
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="version"):
        LabeledPool.load(tmp_path, ds)


def test_atomic_save_keeps_previous(
    ds: CocoDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = build_mixed_pool(ds)
    pool.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    pool.add_full_images([1], cycle=9)

    def boom(*a: Any, **k: Any) -> str:
        raise RuntimeError("disk on fire")

    import mural.io

    monkeypatch.setattr(mural.io.json, "dumps", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        pool.save(tmp_path)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # no torn file, no temporary left behind
    assert LabeledPool.load(tmp_path, ds) == build_mixed_pool(ds)


def test_load_uses_recorded_dataset(tmp_path: Path) -> None:
    d = make_dict([(1, 10, 10), (2, 6, 6)], [(5, 1, 3, [1.0, 1.0, 4.0, 4.0])])
    write_images(tmp_path / "imgs", d)
    (tmp_path / "ann.json").write_text(json.dumps(d))
    ds = CocoDataset.load(tmp_path / "ann.json", tmp_path / "imgs")
    pool = LabeledPool(ds)
    pool.add_full_images([1, 2], cycle=0)
    pool.save(tmp_path / "pool")
    ann, imgs = pool_dataset_ref(tmp_path / "pool")
    assert ann == (tmp_path / "ann.json").resolve() and imgs == (tmp_path / "imgs").resolve()
    assert LabeledPool.load(tmp_path / "pool") == pool
