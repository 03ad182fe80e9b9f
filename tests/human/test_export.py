"""Exported crops and task files, checked against PIL and the tools' documented formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mural.data.pool import LabeledPool

from .test_roundtrip import setup, write_tool_file  # noqa: F401  (module fixture)

MEAN = (0.2, 0.4, 0.6)


def test_crops_are_the_window_of_the_scaled_image_padded_with_the_mean(setup) -> None:  # noqa: F811
    root, man = setup["root"], setup["man"]
    fill = np.round(np.array(MEAN) * 255).astype(np.uint8)
    seen_pad = False
    for t in man["tasks"]:
        crop = np.asarray(Image.open(root / "tasks" / t["crop"]).convert("RGB"))
        assert crop.shape == (40, 60, 3)
        img = Image.open(root / "images" / t["file_name"]).convert("RGB")
        ws, hs = {0: (60, 40), 1: (90, 60), 2: (30, 20)}[t["scale_index"]]
        scaled = np.asarray(img.resize((ws, hs), Image.BILINEAR) if ws != 60 else img)
        x0, y0, x1, y1 = t["window"]
        part = scaled[y0:y1, x0:x1]
        # PIL's resize-then-crop; the pool's samples resample only the window (PIL's
        # box resize), which differs by up to 2 grey levels when upscaling (a shifted
        # window would differ by ~85 on average on these noise images)
        d = np.abs(crop[: part.shape[0], : part.shape[1]].astype(int) - part)
        assert d.max() <= (0 if ws <= 60 else 2) and d.mean() < 0.5
        if part.shape != crop.shape:
            seen_pad = True
            assert (crop[part.shape[0] :, :] == fill).all()
            assert (crop[:, part.shape[1] :] == fill).all()
    assert seen_pad  # the 0.5x scale: a 30x20 image in a 60x40 window


def test_crops_match_the_pools_training_samples(setup, tmp_path: Path) -> None:  # noqa: F811
    torch = pytest.importorskip("torch")
    from mural.data.samples import TrainingSamples
    from mural.human.importer import import_annotations

    f = write_tool_file("label-studio", setup, tmp_path)
    import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    pool = LabeledPool.load(tmp_path / "pool", setup["ds"])
    samples = TrainingSamples(pool, mean_color=MEAN)
    by_key = {
        (t["image_id"], t["scale_index"], tuple(t["window"])): t for t in setup["man"]["tasks"]
    }
    for i in range(len(samples)):
        img, _ = samples[i]
        r = pool.regions[i]
        if r.ignore:
            continue  # ignore areas are filled in the sample, shown in the crop
        t = by_key[(r.image_id, r.scale_index, tuple(r.window))]
        crop = np.asarray(Image.open(setup["root"] / "tasks" / t["crop"]).convert("RGB"))
        got = (img.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        np.testing.assert_array_equal(got, crop)


def test_label_studio_tasks_and_config(setup) -> None:  # noqa: F811
    root, man = setup["root"], setup["man"]
    tasks = json.loads((root / "tasks" / "label_studio" / "tasks.json").read_text())
    assert len(tasks) == len(man["tasks"])
    sel = {r["task_id"]: r for r in setup["sel"]["regions"]}
    for t in tasks:
        assert t["data"]["image"] == f"/data/local-files/?d=crops/{t['data']['mural_task']}.png"
        r = sel[t["data"]["mural_task"]]
        res = t["predictions"][0]["result"]
        assert len(res) == len(r["predictions"])
        for item, p in zip(res, r["predictions"], strict=True):
            assert item["type"] == "rectanglelabels"
            assert (item["from_name"], item["to_name"]) == ("label", "image")
            assert (item["original_width"], item["original_height"]) == (60, 40)
            v = item["value"]
            x0, y0, x1, y1 = p["box"]
            assert v["x"] == pytest.approx(x0 / 60 * 100)
            assert v["y"] == pytest.approx(y0 / 40 * 100)
            assert v["width"] == pytest.approx((x1 - x0) / 60 * 100)
            assert v["height"] == pytest.approx((y1 - y0) / 40 * 100)
            assert 0 <= v["x"] and v["x"] + v["width"] <= 100 + 1e-9
    cfg = ET.fromstring((root / "tasks" / "label_studio" / "labeling_config.xml").read_text())
    rl = cfg.find("RectangleLabels")
    assert rl is not None and rl.get("name") == "label" and rl.get("toName") == "image"
    assert [lab.get("value") for lab in rl] == ["cat", "dog", "bird", "ignore"]
    assert cfg.find("Image").get("value") == "$image"


def test_cvat_xml_structure(setup) -> None:  # noqa: F811
    root, man = setup["root"], setup["man"]
    x = ET.parse(root / "tasks" / "cvat" / "annotations.xml").getroot()
    assert x.tag == "annotations" and x.findtext("version") == "1.1"
    labels = [e.findtext("name") for e in x.iter("label")]
    assert labels == ["cat", "dog", "bird", "ignore"]
    images = x.findall("image")
    assert [im.get("name") for im in images] == [Path(t["crop"]).name for t in man["tasks"]]
    n_boxes = sum(len(r["predictions"]) for r in setup["sel"]["regions"])
    boxes = [b for im in images for b in im.findall("box")]
    assert len(boxes) == n_boxes
    for b in boxes:
        assert b.get("source") == "auto" and b.get("occluded") == "0"
        assert float(b.get("xtl")) < float(b.get("xbr")) <= 60
    assert all(im.get("width") == "60" and im.get("height") == "40" for im in images)


def test_coco_export_and_manifest(setup) -> None:  # noqa: F811
    root, man = setup["root"], setup["man"]
    d = json.loads((root / "tasks" / "coco" / "annotations.json").read_text())
    assert [im["file_name"] for im in d["images"]] == [Path(t["crop"]).name for t in man["tasks"]]
    assert {c["id"] for c in d["categories"]} == {3, 7, 9}
    m = json.loads((root / "tasks" / "manifest.json").read_text())
    t = m["tasks"][0]
    assert set(t) >= {"task_id", "image_id", "scale", "window", "window_original", "crop"}
    f = {0: 1.0, 1: 1.5, 2: 0.5}[t["scale_index"]]
    assert t["window_original"] == pytest.approx([v / f for v in t["window"]])
