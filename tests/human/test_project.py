"""Many rounds in one project folder; export/import safety (issue 11 items 2 and 4)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mural.cli import main
from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.errors import ConfigError, DataError
from mural.human.export import export_tasks
from mural.human.importer import import_annotations
from mural.human.predictions import PredictionFile, load_predictions
from mural.human.select import select_from_predictions
from mural.human.tasks import PROJECT_FILE, check_task_id, load_tasks

from .fixtures import write_dataset, write_predictions
from .test_roundtrip import label_studio_export

MEAN = (0.2, 0.4, 0.6)


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two selections (cycle 1 and 2) of disjoint regions on the fixture dataset."""
    root = tmp_path_factory.mktemp("p")
    ds = CocoDataset.load(write_dataset(root), root / "images")
    files = [PredictionFile(p, s, c) for p, s, c in write_predictions(root)]
    dets = load_predictions(files, ds)
    sel1 = select_from_predictions(ds, dets, budget=3)
    pool = LabeledPool(ds)
    for r in sel1["regions"]:
        pool.add_region(r["image_id"], r["scale"], r["scale_index"], r["window"], 1)
    sel2 = select_from_predictions(ds, dets, budget=3, pool=pool)
    assert sel2["cycle"] == 2
    t1 = {r["task_id"] for r in sel1["regions"]}
    # (with ground-truth costs an empty region of round 1 can come back at cost 0)
    sel2["regions"] = [r for r in sel2["regions"] if r["task_id"] not in t1]
    assert sel2["regions"]
    return {"root": root, "ds": ds, "sel1": sel1, "sel2": sel2}


def _ls_of(rnd: Path, ds: CocoDataset) -> list[dict[str, Any]]:
    man = json.loads((rnd / "manifest.json").read_text())
    tasks = json.loads((rnd / "label_studio" / "tasks.json").read_text())
    return label_studio_export(tasks, ds, man)


def test_rounds_share_one_document_root(two_rounds, tmp_path: Path) -> None:
    """Round 2's crops are served from the same document root as round 1's (before, each
    export folder was its own root, so one of the rounds 404'd in Label Studio)."""
    ds, proj = two_rounds["ds"], tmp_path / "proj"
    m1 = export_tasks(two_rounds["sel1"], project=proj, dataset=ds, mean_color=MEAN)
    m2 = export_tasks(two_rounds["sel2"], project=proj, dataset=ds, mean_color=MEAN)
    assert (proj / PROJECT_FILE).is_file()
    assert m1["document_root"] == m2["document_root"] == str(proj.resolve())
    for n, m in ((1, m1), (2, m2)):
        rnd = proj / "rounds" / f"round-{n}"
        tasks = json.loads((rnd / "label_studio" / "tasks.json").read_text())
        for t in tasks:
            url = t["data"]["image"]
            prefix = "/data/local-files/?d="
            assert url.startswith(prefix)
            # what Label Studio serves: <document root>/<d>
            assert (proj / url[len(prefix) :]).is_file()
            assert url[len(prefix) :].startswith(f"rounds/round-{n}/crops/")
        assert len(tasks) == len(m["tasks"])

    # one Label Studio project, exported once with every round's tasks
    pool_dir = tmp_path / "pool"
    data = _ls_of(proj / "rounds" / "round-1", ds) + _ls_of(proj / "rounds" / "round-2", ds)
    f = tmp_path / "ls_all.json"
    f.write_text(json.dumps(data))
    rep = import_annotations(f, proj, pool_dir)
    assert rep["added"] == len(data)
    cycles = {e["task_id"]: e["cycle"] for e in rep["tasks"]}
    assert {cycles[r["task_id"]] for r in two_rounds["sel1"]["regions"]} == {1}
    assert {cycles[r["task_id"]] for r in two_rounds["sel2"]["regions"]} == {2}
    pool = LabeledPool.load(pool_dir, ds)
    assert sorted({r.cycle for r in pool.regions}) == [1, 2]
    # again: every task skipped
    rep = import_annotations(f, proj, pool_dir)
    assert rep["skipped"] == len(data) and not rep["changed"]


def test_cli_export_and_import_with_project(two_rounds, tmp_path: Path, capsys) -> None:
    ds, proj = two_rounds["ds"], tmp_path / "proj"
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps(two_rounds["sel1"]))
    common = ["--dataset", str(ds.path), "--images", str(ds.image_root), "--mean-color", "0,0,0"]
    assert main(["export", str(sel), "--project", str(proj), *common]) == 0
    out = capsys.readouterr().out
    assert str(proj / "rounds" / "round-1") in out and str(proj.resolve()) in out
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(_ls_of(proj / "rounds" / "round-1", ds)))
    assert main(["import", str(f), "--tasks", str(proj), "--pool", str(tmp_path / "pool")]) == 0
    assert "regions added" in capsys.readouterr().out


def test_export_never_writes_outside_out(two_rounds, tmp_path: Path) -> None:
    """A task id holding '../' used to write its crop outside --out. The selection
    document now derives task ids from the region, and the exporter checks every id is a
    safe file name before writing."""
    sel = copy.deepcopy(two_rounds["sel1"])
    sel["regions"][0]["task_id"] = "../../escaped"
    out = tmp_path / "a" / "out"
    export_tasks(sel, out, dataset=two_rounds["ds"], mean_color=MEAN)
    written = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert written and all(out in p.parents for p in written)
    for bad in ("../../escaped", "/abs/path", "a/b", ".hidden", "x..y"):
        with pytest.raises(DataError, match="not a safe file name"):
            check_task_id(bad, "selection.json: regions[0]")
    assert check_task_id("img3_s0_x0_y0", "here") == "img3_s0_x0_y0"


@pytest.mark.parametrize(
    "window", [[0, 0, 3000, 3000], [-5, 0, 55, 40], [40, 0, 100, 40], [0, 0, 60.5, 40]]
)
def test_export_refuses_a_bad_window(two_rounds, tmp_path: Path, window) -> None:
    sel = copy.deepcopy(two_rounds["sel1"])
    sel["regions"][0]["window"] = window
    with pytest.raises(DataError, match=r"window|regions\[0\]"):
        export_tasks(sel, tmp_path / "out", dataset=two_rounds["ds"], mean_color=MEAN)
    assert not (tmp_path / "out").exists()


def test_export_does_not_overwrite_without_force(two_rounds, tmp_path: Path) -> None:
    ds, out = two_rounds["ds"], tmp_path / "out"
    export_tasks(two_rounds["sel1"], out, dataset=ds, mean_color=MEAN)
    before = (out / "manifest.json").read_bytes()
    export_tasks(two_rounds["sel1"], out, dataset=ds, mean_color=MEAN)  # same: resumes
    with pytest.raises(DataError, match=r"holds another export.*--force"):
        export_tasks(two_rounds["sel2"], out, dataset=ds, mean_color=MEAN)
    assert (out / "manifest.json").read_bytes() == before
    export_tasks(two_rounds["sel2"], out, dataset=ds, mean_color=MEAN, force=True)
    assert json.loads((out / "manifest.json").read_text())["cycle"] == 2
    # a non-empty folder that is not an export folder
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="not a mural export folder"):
        export_tasks(two_rounds["sel1"], other, dataset=ds, mean_color=MEAN)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    # --project on a folder that is not a project
    with pytest.raises(DataError, match="not a mural project folder"):
        export_tasks(two_rounds["sel1"], project=other, dataset=ds, mean_color=MEAN)
    with pytest.raises(ConfigError, match=r"export folder \(--out\)"):
        export_tasks(two_rounds["sel1"], dataset=ds, mean_color=MEAN)


def test_manifest_crop_and_task_id_are_checked(two_rounds, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_tasks(two_rounds["sel1"], out, dataset=two_rounds["ds"], mean_color=MEAN)
    doc = json.loads((out / "manifest.json").read_text())
    for field, value in (("crop", "../../etc/passwd"), ("crop", "/etc/x.png"), ("task_id", "../x")):
        bad = copy.deepcopy(doc)
        bad["tasks"][0][field] = value
        (out / "manifest.json").write_text(json.dumps(bad))
        with pytest.raises(DataError, match=f"field '{field}'"):
            load_tasks(out)


@pytest.mark.parametrize("name", ["../outside.png", "/etc/passwd", "a/../../b.png", "C:\\x.png"])
def test_coco_file_name_may_not_leave_the_image_folder(tmp_path: Path, name: str) -> None:
    d = {
        "images": [{"id": 1, "file_name": name, "height": 4, "width": 4}],
        "annotations": [],
        "categories": [{"id": 1, "name": "a"}],
    }
    (tmp_path / "d.json").write_text(json.dumps(d))
    with pytest.raises(DataError, match=r"file_name.*leaves the image folder"):
        CocoDataset.load(tmp_path / "d.json", tmp_path, check_images=False)


def test_select_and_export_into_a_project(tmp_path: Path, capsys) -> None:
    """mural select --project writes the round's selection into the project, --export the
    tasks beside it; round 2 lands in rounds/round-2 under the same document root."""
    data = write_dataset(tmp_path, with_gt=False)
    proj = tmp_path / "proj"
    argv = ["select", "--dataset", str(data), "--images", str(tmp_path / "images")]
    argv += ["--budget", "3", "--project", str(proj), "--export", "label-studio"]
    argv += ["--mean-color", "0,0,0"]
    for p, s, c in write_predictions(tmp_path):
        argv += ["--predictions", str(p), "--scale", f"{s[0]},{s[1]}", "--coords", c]
    assert main(argv) == 0
    r1 = proj / "rounds" / "round-1"
    assert (r1 / "selection.json").is_file() and (r1 / "manifest.json").is_file()
    tasks = json.loads((r1 / "label_studio" / "tasks.json").read_text())
    assert all(
        t["data"]["image"].startswith("/data/local-files/?d=rounds/round-1/crops/") for t in tasks
    )
    # the same command again: the same selection, the export resumes
    assert main(argv) == 0
    gt = CocoDataset.load(write_dataset(tmp_path / "gt"), tmp_path / "gt" / "images")
    f = tmp_path / "ls.json"
    f.write_text(json.dumps(_ls_of(r1, gt)))
    assert main(["import", str(f), "--tasks", str(proj), "--pool", str(tmp_path / "pool")]) == 0
    assert main([*argv, "--pool", str(tmp_path / "pool")]) == 0
    assert (proj / "rounds" / "round-2" / "manifest.json").is_file()
    capsys.readouterr()
