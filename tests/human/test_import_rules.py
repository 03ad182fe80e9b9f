"""Which tasks are finished, corrections, clipping, padding (issue 11 items 1, 5, 6)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mural.cli import main
from mural.cli.import_ import format_report
from mural.data.coco import CocoDataset
from mural.data.pool import LABELED_FILE, LabeledPool
from mural.errors import ConfigError, DataError
from mural.human.importer import import_annotations
from mural.selection import SELECTION_FORMAT

from .test_roundtrip import hashes, setup, write_tool_file  # noqa: F401  (module fixture)


def _tid(task: dict[str, Any]) -> str:
    return str(task["task_id"])


@pytest.mark.parametrize("fmt", ["cvat", "coco"])
def test_cvat_coco_without_done_import_nothing_and_name_pending(setup, tmp_path, fmt) -> None:  # noqa: F811
    """A CVAT/COCO file lists every image, reviewed or not: nothing is labelled unless the
    user says which images are finished (before: every image went in, pre-annotations or
    nothing as if a person had drawn them)."""
    f = write_tool_file(fmt, setup, tmp_path)
    pool_dir = tmp_path / "pool"
    rep = import_annotations(f, setup["root"] / "tasks", pool_dir)
    ids = sorted(_tid(t) for t in setup["man"]["tasks"])
    assert rep["added"] == 0 and not rep["changed"]
    assert rep["pending"] == ids
    assert "--done" in rep["pending_reason"]
    assert not pool_dir.exists()
    # the command too (it locks the pool folder): exit 0, and no pool folder left behind
    assert (
        main(["import", str(f), "--tasks", str(setup["root"] / "tasks"), "--pool", str(pool_dir)])
        == 0
    )
    assert not pool_dir.exists()
    text = format_report(rep)
    assert f"{len(ids)} not finished yet" in text and ids[0] in text and ids[-1] in text


@pytest.mark.parametrize("fmt", ["cvat", "coco"])
def test_done_list_takes_only_the_named_tasks(setup, tmp_path, fmt) -> None:  # noqa: F811
    f = write_tool_file(fmt, setup, tmp_path)
    tasks = setup["man"]["tasks"]
    done = [_tid(tasks[0]), Path(tasks[1]["crop"]).name]  # a task id and a crop file name
    rep = import_annotations(f, setup["root"] / "tasks", tmp_path / "pool", done=done)
    assert rep["added"] == 2
    assert {e["task_id"] for e in rep["tasks"]} == {_tid(tasks[0]), _tid(tasks[1])}
    assert rep["pending"] == sorted(_tid(t) for t in tasks[2:])
    pool = LabeledPool.load(tmp_path / "pool", setup["ds"])
    assert len(pool.regions) == 2
    # a --done entry that is not in the file is an error, nothing written
    h = hashes(tmp_path / "pool")
    with pytest.raises(DataError, match="--done names 'nope'"):
        import_annotations(f, setup["root"] / "tasks", tmp_path / "pool", done="nope,all2")
    assert hashes(tmp_path / "pool") == h


def test_unreviewed_cvat_frames_do_not_come_back_as_drawn(setup, tmp_path) -> None:  # noqa: F811
    """mural's own CVAT file (pre-annotations, source='auto') uploaded and exported back
    untouched: no frame was reviewed, so nothing enters the pool."""
    f = setup["root"] / "tasks" / "cvat" / "annotations.xml"
    rep = import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    assert rep["added"] == 0 and len(rep["pending"]) == len(setup["man"]["tasks"])
    assert not (tmp_path / "pool").exists()


def test_label_studio_done_is_refused(setup, tmp_path) -> None:  # noqa: F811
    f = write_tool_file("label-studio", setup, tmp_path)
    with pytest.raises(ConfigError, match="--done is for CVAT and COCO"):
        import_annotations(f, setup["root"] / "tasks", tmp_path / "pool", done="all")


def test_label_studio_pending_kinds(setup, tmp_path) -> None:  # noqa: F811
    """No annotation, only a skipped one, only a draft: pending, named by id."""
    f = write_tool_file("label-studio", setup, tmp_path)
    data = json.loads(f.read_text())
    a, b, c = data[0], data[1], data[2]
    a["annotations"] = []
    b["annotations"] = [{"id": 9, "result": [], "was_cancelled": True}]
    c["drafts"] = [{"id": 5, "result": c["annotations"][1]["result"]}]
    c["annotations"] = []
    f.write_text(json.dumps(data))
    rep = import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    want = sorted(t["data"]["mural_task"] for t in (a, b, c))
    assert rep["pending"] == want
    assert rep["added"] == len(data) - 3
    pool = LabeledPool.load(tmp_path / "pool", setup["ds"])
    task_of = {_tid(t): t for t in setup["man"]["tasks"]}
    keys = {(r.image_id, r.scale, r.window) for r in pool.regions}
    for tid in want:
        t = task_of[tid]
        assert (t["image_id"], tuple(t["scale"]), tuple(t["window"])) not in keys


def test_cli_import_names_pending_and_replaced(setup, tmp_path, capsys) -> None:  # noqa: F811
    f = write_tool_file("label-studio", setup, tmp_path)
    data = json.loads(f.read_text())
    pending_id = data[0]["data"]["mural_task"]
    data[0]["annotations"] = []
    f.write_text(json.dumps(data))
    argv = ["import", str(f), "--tasks", str(setup["root"] / "tasks"), "--pool"]
    assert main([*argv, str(tmp_path / "pool")]) == 0
    out = capsys.readouterr().out
    assert "1 not finished yet" in out and f"pending: {pending_id}" in out
    # a correction: the task with boxes gets one box moved
    t = next(t for t in data[1:] if t["annotations"][1]["result"])
    t["annotations"][1]["result"][0]["value"]["y"] += 2.0
    f.write_text(json.dumps(data))
    assert main([*argv, str(tmp_path / "pool")]) == 0
    out = capsys.readouterr().out
    assert "1 replaced" in out and f"{t['data']['mural_task']}: replaced" in out


# ----------------------------------------------------------------- clipping and padding
def _one_image_setup(root: Path, h: int, w: int, scale: tuple[int, int]) -> dict[str, Any]:
    """One image, one region at the scaled image's right/bottom edge, exported."""
    from PIL import Image

    from mural.core import scaled_size
    from mural.human.export import export_tasks

    (root / "images").mkdir(parents=True)
    Image.new("RGB", (w, h), (90, 120, 150)).save(root / "images" / "a.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": h, "width": w}],
        "annotations": [],
        "categories": [{"id": 1, "name": "cell"}],
    }
    (root / "data.json").write_text(json.dumps(coco))
    ds = CocoDataset.load(root / "data.json", root / "images")
    hs, ws = scaled_size((h, w), scale)
    x0, y0 = max(0, ws - w), max(0, hs - h)
    sel = {
        "format": SELECTION_FORMAT,
        "kind": "regions",
        "strategy": "mural",
        "cycle": 1,
        "budget": 1,
        "spent": 1,
        "budget_used": 1,
        "cost": "estimated from predictions",
        "visible_threshold": 0.7,
        "regions": [
            {
                "image_id": 1,
                "scale": list(scale),
                "scale_index": 0,
                "window": [x0, y0, x0 + w, y0 + h],
                "window_original": [0, 0, w, h],
                "score": 1.0,
                "estimated_cost": 1,
                "predictions": [],
            }
        ],
    }
    man = export_tasks(sel, root / "tasks", dataset=ds, mean_color=(0.5, 0.5, 0.5))
    return {"ds": ds, "man": man, "root": root}


def _ls_file(root: Path, task: dict[str, Any], boxes: list[list[float]]) -> Path:
    h, w = task["crop_size"]
    result = [
        {
            "id": f"r{k}",
            "type": "rectanglelabels",
            "from_name": "label",
            "to_name": "image",
            "original_width": w,
            "original_height": h,
            "value": {
                "x": 100 * a / w,
                "y": 100 * b / h,
                "width": 100 * (c - a) / w,
                "height": 100 * (d - b) / h,
                "rotation": 0,
                "rectanglelabels": ["cell"],
            },
        }
        for k, (a, b, c, d) in enumerate(boxes)
    ]
    f = root / "ls.json"
    f.write_text(
        json.dumps(
            [
                {
                    "id": 1,
                    "data": {"image": "x", "mural_task": task["task_id"]},
                    "annotations": [{"id": 1, "result": result, "was_cancelled": False}],
                }
            ]
        )
    )
    return f


def test_labeled_json_boxes_stay_inside_the_image(tmp_path) -> None:
    """67x45 image at scale (20, 30): f = 4/9, the scaled image is rounded to 30x20 while
    it really spans 29.78 x 20; a box drawn to the crop's image edge used to come back
    ~0.5 px past the image's right edge in labeled.json."""
    s = _one_image_setup(tmp_path, 45, 67, (20, 30))
    task = s["man"]["tasks"][0]
    x0w = task["window"][0]
    assert x0w == 0  # the 30x20 scaled image sits in the window's top-left
    f = _ls_file(tmp_path, task, [[10.0, 5.0, 30.0, 15.0]])  # to the rounded image edge
    import_annotations(f, tmp_path / "tasks", tmp_path / "pool")
    coco = json.loads((tmp_path / "pool" / LABELED_FILE).read_text())
    (ann,) = coco["annotations"]
    x, y, bw, bh = ann["bbox"]
    assert x + bw <= 67 + 1e-9 and y + bh <= 45 + 1e-9
    assert x + bw == pytest.approx(67.0)
    pool = LabeledPool.load(tmp_path / "pool", s["ds"])
    assert pool.labelled_boxes(1)[:, 2].max() <= 67 + 1e-9


def test_to_coco_clips_a_pool_region_box(tmp_path) -> None:
    """The pool's own COCO file is clipped to the image even for a box recorded directly."""
    s = _one_image_setup(tmp_path, 45, 67, (20, 30))
    pool = LabeledPool(s["ds"])
    pool.add_region_labels(1, (20, 30), 0, (0, 0, 67, 45), 1, [[20.0, 10.0, 30.0, 20.0]], [1])
    (ann,) = pool.to_coco()["annotations"]
    x, y, bw, bh = ann["bbox"]
    assert x + bw <= 67 and y + bh <= 45
    np.testing.assert_allclose([x + bw, y + bh], [67.0, 45.0])


def test_box_on_padding_names_the_padding(tmp_path) -> None:
    """A box drawn on the grey padding: one clear message, not an inverted box."""
    s = _one_image_setup(tmp_path, 45, 67, (20, 30))
    task = s["man"]["tasks"][0]
    f = _ls_file(tmp_path, task, [[40.0, 5.0, 60.0, 15.0], [5.0, 30.0, 20.0, 40.0]])
    with pytest.raises(DataError) as ei:
        import_annotations(f, tmp_path / "tasks", tmp_path / "pool")
    msg = str(ei.value)
    assert msg.count("grey padding") == 2 and "img1_s0_x0_y0" in msg and "delete the box" in msg
    assert "degenerate" not in msg
    assert not (tmp_path / "pool").exists()
    # a box partly on the padding is clipped to the image
    f = _ls_file(tmp_path, task, [[20.0, 5.0, 50.0, 15.0]])
    import_annotations(f, tmp_path / "tasks", tmp_path / "pool")
    pool = LabeledPool.load(tmp_path / "pool", s["ds"])
    (box,) = pool.regions[0].boxes
    assert box[2] == pytest.approx(67 * 20 / 45) and box[0] == 20.0


def test_load_refuses_a_region_box_the_pool_would_refuse(tmp_path) -> None:
    """Loading goes through the labelling checks: an inverted box in pool.json is refused
    (before, load accepted what add_region_labels refuses)."""
    s = _one_image_setup(tmp_path, 45, 67, (20, 30))
    pool = LabeledPool(s["ds"])
    pool.add_region_labels(1, (20, 30), 0, (0, 0, 67, 45), 1, [[2.0, 3.0, 9.0, 8.0]], [1])
    pool.save(tmp_path / "pool")
    doc = json.loads((tmp_path / "pool" / "pool.json").read_text())
    bad = copy.deepcopy(doc)
    bad["regions"][0]["boxes"][0] = [9.0, 3.0, 2.0, 8.0]
    (tmp_path / "pool" / "pool.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"regions\[0\]: .*inverted or outside"):
        LabeledPool.load(tmp_path / "pool", s["ds"])
    bad = copy.deepcopy(doc)
    bad["regions"][0]["boxes"][0] = [2.0, 3.0, 90.0, 8.0]
    (tmp_path / "pool" / "pool.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="inverted or outside"):
        LabeledPool.load(tmp_path / "pool", s["ds"])


def test_tasks_left_out_of_the_file_are_pending(setup, tmp_path) -> None:  # noqa: F811
    """Label Studio's JSON export leaves out the tasks nobody annotated (found with Label
    Studio 1.23): they are named pending too, not silently forgotten."""
    f = write_tool_file("label-studio", setup, tmp_path)
    data = json.loads(f.read_text())
    f.write_text(json.dumps(data[2:]))
    rep = import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    assert rep["added"] == len(data) - 2
    assert rep["pending"] == sorted(t["data"]["mural_task"] for t in data[:2])
    # once imported, a task is not pending when a later file leaves it out
    f.write_text(json.dumps(data[:1]))
    rep = import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    assert rep["added"] == 1 and rep["pending"] == [data[1]["data"]["mural_task"]]


def test_a_task_finished_in_a_later_round_is_not_pending(setup, tmp_path) -> None:  # noqa: F811
    """A region pending in round 1 and selected again in round 2 is two Label Studio tasks
    with one task id (found with Label Studio 1.23): the skipped copy does not make the
    finished one pending."""
    f = write_tool_file("label-studio", setup, tmp_path)
    data = json.loads(f.read_text())
    skipped = copy.deepcopy(data[0])
    skipped["id"] = 1
    skipped["annotations"] = [{"id": 9, "result": [], "was_cancelled": True}]
    f.write_text(json.dumps([skipped, *data]))
    rep = import_annotations(f, setup["root"] / "tasks", tmp_path / "pool")
    assert rep["added"] == len(data) and rep["pending"] == []
