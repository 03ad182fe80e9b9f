"""Export -> each tool's own format (written by a perfect simulated annotator) -> import."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.errors import DataError
from mural.human.export import export_tasks
from mural.human.importer import import_annotations
from mural.human.predictions import PredictionFile, load_predictions
from mural.human.select import select_from_predictions

from .fixtures import CATS, FACTORS, write_dataset, write_predictions

NAMES = {c["id"]: c["name"] for c in CATS}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("h")
    ds = CocoDataset.load(write_dataset(root), root / "images")
    files = [PredictionFile(p, s, c) for p, s, c in write_predictions(root)]
    dets = load_predictions(files, ds)
    sel = select_from_predictions(ds, dets, budget=1000)
    (root / "sel").mkdir()
    (root / "sel" / "selection.json").write_text(json.dumps(sel))
    man = export_tasks(root / "sel" / "selection.json", root / "tasks", mean_color=(0.2, 0.4, 0.6))
    return {"root": root, "ds": ds, "sel": sel, "man": man}


def perfect_annotator(ds: CocoDataset, task: dict[str, Any]) -> list[tuple[str, list[float]]]:
    """What a perfect annotator draws on a crop: GT > 0.7 visible (clipped), and partly
    visible objects as 'ignore' boxes (clipped). Independent of mural's acquisition code."""
    f = FACTORS[task["scale_index"]]
    x0, y0, x1, y1 = task["window"]
    out = []
    for a in ds.annotations_of(task["image_id"]):
        bx, by, bw, bh = (v * f for v in a.bbox)
        ix = max(0.0, min(bx + bw, x1) - max(bx, x0))
        iy = max(0.0, min(by + bh, y1) - max(by, y0))
        vis = ix * iy / (bw * bh)
        if vis <= 0:
            continue
        box = [
            max(bx, x0) - x0,
            max(by, y0) - y0,
            min(bx + bw, x1) - x0,
            min(by + bh, y1) - y0,
        ]
        out.append((NAMES[a.category_id] if vis > 0.7 else "ignore", box))
    return out


def label_studio_export(tasks_json: list[dict[str, Any]], ds, man) -> list[dict[str, Any]]:
    """Label Studio's 'JSON' export: tasks with annotations[].result[] in percent."""
    by_id = {t["task_id"]: t for t in man["tasks"]}
    out = []
    for n, t in enumerate(copy.deepcopy(tasks_json)):
        task = by_id[t["data"]["mural_task"]]
        h, w = task["crop_size"]
        result = []
        for k, (label, (a, b, c, d)) in enumerate(perfect_annotator(ds, task)):
            result.append(
                {
                    "id": f"r{k}",
                    "type": "rectanglelabels",
                    "from_name": "label",
                    "to_name": "image",
                    "original_width": w,
                    "original_height": h,
                    "image_rotation": 0,
                    "origin": "manual",
                    "value": {
                        "x": 100 * a / w,
                        "y": 100 * b / h,
                        "width": 100 * (c - a) / w,
                        "height": 100 * (d - b) / h,
                        "rotation": 0,
                        "rectanglelabels": [label],
                    },
                }
            )
        t["id"] = 1000 + n
        t["annotations"] = [
            {"id": 1, "result": [], "was_cancelled": True, "updated_at": "2024-01-02T00:00:00Z"},
            {
                "id": 2,
                "result": result,
                "was_cancelled": False,
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            },
        ]
        out.append(t)
    return out


def cvat_export(ds, man) -> str:
    """CVAT for images 1.1, as CVAT writes it (2 decimals, source='manual')."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta><task><name>t</name><mode>annotation</mode><labels>",
    ]
    lines += [f"<label><name>{n}</name></label>" for n in [*NAMES.values(), "ignore"]]
    lines += ["</labels></task></meta>"]
    for k, task in enumerate(man["tasks"]):
        h, w = task["crop_size"]
        name = Path(task["crop"]).name
        lines.append(f'  <image id="{k}" name="{name}" width="{w}" height="{h}">')
        for label, (a, b, c, d) in perfect_annotator(ds, task):
            lines.append(
                f'    <box label="{label}" source="manual" occluded="0" xtl="{a:.2f}" '
                f'ytl="{b:.2f}" xbr="{c:.2f}" ybr="{d:.2f}" z_order="0">\n    </box>'
            )
        lines.append("  </image>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


def coco_export(ds, man) -> dict[str, Any]:
    """A COCO export of the crops: renumbered image and category ids (names are kept)."""
    cats = [{"id": 50 + k, "name": n} for k, n in enumerate([*NAMES.values(), "ignore"])]
    cid = {c["name"]: c["id"] for c in cats}
    images, anns = [], []
    for k, task in enumerate(man["tasks"]):
        h, w = task["crop_size"]
        images.append(
            {
                "id": 900 + k,
                "file_name": "images/" + Path(task["crop"]).name,
                "width": w,
                "height": h,
            }
        )
        for label, (a, b, c, d) in perfect_annotator(ds, task):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": 900 + k,
                    "category_id": cid[label],
                    "bbox": [a, b, c - a, d - b],
                    "area": (c - a) * (d - b),
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": anns, "categories": cats}


def write_tool_file(fmt: str, s: dict[str, Any], where: Path) -> Path:
    ds, man, root = s["ds"], s["man"], s["root"]
    if fmt == "label-studio":
        tasks = json.loads((root / "tasks" / "label_studio" / "tasks.json").read_text())
        p = where / "ls_export.json"
        p.write_text(json.dumps(label_studio_export(tasks, ds, man)))
    elif fmt == "cvat":
        p = where / "annotations.xml"
        p.write_text(cvat_export(ds, man))
    else:
        p = where / "coco_export.json"
        p.write_text(json.dumps(coco_export(ds, man)))
    return p


def oracle_pool(s: dict[str, Any]) -> LabeledPool:
    pool = LabeledPool(s["ds"])
    for r in s["sel"]["regions"]:
        pool.add_region(r["image_id"], r["scale"], r["scale_index"], r["window"], 1)
    return pool


def hashes(d: Path) -> dict[str, str]:
    if not d.exists():
        return {}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def _sorted(b: list[list[float]]) -> np.ndarray:
    a = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return a[np.lexsort(a.T[::-1])]


def test_selection_covers_empty_image_and_skips_image_without_predictions(setup) -> None:
    images = {r["image_id"] for r in setup["sel"]["regions"]}
    assert 3 in images  # no objects, a false positive: a region with nothing to label
    assert 4 not in images  # no predictions: no candidates
    assert setup["sel"]["cost"] == "ground truth"
    assert {r["scale_index"] for r in setup["sel"]["regions"]} == {0, 1, 2}


@pytest.mark.parametrize("fmt", ["label-studio", "cvat", "coco"])
def test_roundtrip_equals_simulated_oracle(setup, fmt: str, tmp_path: Path) -> None:
    f = write_tool_file(fmt, setup, tmp_path)
    pool_dir = tmp_path / "pool"
    done = None if fmt == "label-studio" else "all"  # CVAT/COCO: the user says what is done
    rep = import_annotations(f, setup["root"] / "tasks", pool_dir, done=done)
    assert rep["format"] == fmt
    assert rep["added"] == len(setup["sel"]["regions"]) and not rep["pending"]
    got = LabeledPool.load(pool_dir, setup["ds"])
    want = oracle_pool(setup)
    atol = 0.006 if fmt == "cvat" else 1e-9  # CVAT writes 2 decimals
    assert len(got.regions) == len(want.regions)
    wk = {(r.image_id, tuple(r.scale), tuple(r.window)): r for r in want.regions}
    n_empty = 0
    for r in got.regions:
        w = wk[(r.image_id, tuple(r.scale), tuple(r.window))]
        assert sorted(r.category_ids) == sorted(w.category_ids)
        assert sorted(a for a in r.ann_ids) == sorted(w.ann_ids)  # every box matched to GT
        np.testing.assert_allclose(_sorted(r.boxes), _sorted(w.boxes), atol=atol)
        np.testing.assert_allclose(_sorted(r.ignore), _sorted(w.ignore), atol=atol)
        n_empty += not r.boxes
    assert n_empty >= 1  # the empty image's region
    np.testing.assert_array_equal(got.class_counts(), want.class_counts())
    assert got.labelled_keys() == want.labelled_keys()
    # estimate against actual is reported
    assert rep["actual"] == sum(len(r.boxes) for r in want.regions)

    # importing twice changes nothing, byte for byte
    before = hashes(pool_dir)
    rep2 = import_annotations(f, setup["root"] / "tasks", pool_dir, done=done)
    assert rep2["added"] == 0 and rep2["skipped"] == rep["added"] and not rep2["changed"]
    assert hashes(pool_dir) == before


def _ls_file(setup, tmp_path: Path) -> tuple[list[dict[str, Any]], Path]:
    f = write_tool_file("label-studio", setup, tmp_path)
    return json.loads(f.read_text()), f


def _first_with_boxes(data: list[dict[str, Any]]) -> dict[str, Any]:
    return next(t for t in data if t["annotations"][1]["result"])


@pytest.mark.parametrize(
    "case",
    [
        "unknown_task",
        "unknown_category",
        "outside",
        "malformed",
        "degenerate",
        "cvat_malformed",
        "coco_unknown_category",
    ],
)
def test_bad_import_leaves_pool_unchanged(setup, tmp_path: Path, case: str) -> None:
    data, _ = _ls_file(setup, tmp_path)
    pool_dir = tmp_path / "pool"
    # a pool with one region imported already
    first = tmp_path / "first.json"
    first.write_text(json.dumps(data[:1]))
    import_annotations(first, setup["root"] / "tasks", pool_dir)
    before = hashes(pool_dir)
    assert before
    bad = tmp_path / "bad.json"
    t = _first_with_boxes(data)
    tid = t["data"]["mural_task"]
    msg = ""
    if case == "unknown_task":
        t["data"]["mural_task"] = "img99_s0_x0_y0"
        msg = "unknown task 'img99_s0_x0_y0'"
    elif case == "unknown_category":
        t["annotations"][1]["result"][0]["value"]["rectanglelabels"] = ["zebra"]
        msg = f"({tid}): result 0 (id r0), percent: unknown label 'zebra'"
    elif case == "outside":
        t["annotations"][1]["result"][-1]["value"]["x"] = 150.0
        msg = "lies outside the region"
    elif case == "degenerate":
        t["annotations"][1]["result"][0]["value"]["width"] = 0.0
        msg = "degenerate box"
    if case in ("unknown_task", "unknown_category", "outside", "degenerate"):
        bad.write_text(json.dumps(data))
    elif case == "malformed":
        bad.write_text(json.dumps(data)[:-40])
        msg = "not valid JSON"
    elif case == "cvat_malformed":
        bad = tmp_path / "bad.xml"
        bad.write_text(cvat_export(setup["ds"], setup["man"])[:-30])
        msg = "not valid XML"
    else:
        d = coco_export(setup["ds"], setup["man"])
        d["annotations"][0]["category_id"] = 4242
        bad.write_text(json.dumps(d))
        msg = "unknown category 4242"
    done = "all" if case == "coco_unknown_category" else None
    with pytest.raises(DataError) as ei:
        import_annotations(bad, setup["root"] / "tasks", pool_dir, done=done)
    assert msg in str(ei.value)
    assert hashes(pool_dir) == before
    # and with no pool yet, nothing is created
    with pytest.raises(DataError):
        import_annotations(bad, setup["root"] / "tasks", tmp_path / "new_pool", done=done)
    assert not (tmp_path / "new_pool").exists()


def test_partial_import_then_rest_and_conflict(setup, tmp_path: Path) -> None:
    data, _ = _ls_file(setup, tmp_path)
    pending = copy.deepcopy(data)
    for t in pending[1:]:
        t["annotations"] = []  # not annotated yet
    f1 = tmp_path / "a.json"
    f1.write_text(json.dumps(pending))
    pool_dir = tmp_path / "pool"
    rep = import_annotations(f1, setup["root"] / "tasks", pool_dir)
    assert rep["added"] == 1 and len(rep["pending"]) == len(data) - 1
    f2 = tmp_path / "b.json"
    f2.write_text(json.dumps(data))
    rep = import_annotations(f2, setup["root"] / "tasks", pool_dir)
    assert rep["added"] == len(data) - 1 and rep["skipped"] == 1
    # the same region with different boxes: a correction, it replaces the earlier labels
    before = LabeledPool.load(pool_dir, setup["ds"])
    t = _first_with_boxes(data)
    t["annotations"][1]["result"][0]["value"]["x"] += 1.0
    tid = t["data"]["mural_task"]
    f3 = tmp_path / "c.json"
    f3.write_text(json.dumps(data))
    rep = import_annotations(f3, setup["root"] / "tasks", pool_dir)
    assert rep["replaced"] == 1 and rep["added"] == 0 and rep["skipped"] == len(data) - 1
    assert [e["status"] for e in rep["tasks"] if e["task_id"] == tid] == ["replaced"]
    after = LabeledPool.load(pool_dir, setup["ds"])
    assert len(after.regions) == len(before.regions)
    task = next(x for x in setup["man"]["tasks"] if x["task_id"] == tid)
    key = (task["image_id"], tuple(task["scale"]), tuple(task["window"]))
    old_r = next(r for r in before.regions if (r.image_id, r.scale, r.window) == key)
    new_r = next(r for r in after.regions if (r.image_id, r.scale, r.window) == key)
    moved = [b for b in new_r.boxes + new_r.ignore if b not in old_r.boxes + old_r.ignore]
    assert len(moved) == 1  # exactly the corrected box changed
    others = [r for r in after.regions if r is not new_r]
    assert all(r in before.regions for r in others)
    # importing the correction again changes nothing
    h = hashes(pool_dir)
    rep = import_annotations(f3, setup["root"] / "tasks", pool_dir)
    assert rep["replaced"] == 0 and not rep["changed"] and hashes(pool_dir) == h


def test_small_overhang_is_clipped(setup, tmp_path: Path) -> None:
    data, _ = _ls_file(setup, tmp_path)
    t = _first_with_boxes(data)
    task = next(x for x in setup["man"]["tasks"] if x["task_id"] == t["data"]["mural_task"])
    w = task["crop_size"][1]
    res = t["annotations"][1]["result"]
    v = next(r["value"] for r in res if r["value"]["rectanglelabels"] != ["ignore"])
    v["x"], v["width"] = -100 * 0.5 / w, 100 * 10.5 / w  # 0.5 px past the left edge
    f = tmp_path / "o.json"
    f.write_text(json.dumps([t]))
    import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    pool = LabeledPool.load(tmp_path / "pool", setup["ds"])
    assert any(abs(b[2] - 10.0) < 1e-9 and b[0] == 0.0 for b in pool.regions[0].boxes)
