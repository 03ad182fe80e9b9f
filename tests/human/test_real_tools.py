"""Files made by the real tools, imported: Label Studio 1.23.2's JSON exports of two rounds
and datumaro's CVAT for images 1.1 and COCO files (``tests/integration/real_tools.py``
made them; see ``data/real_tools/README.md``).

The boxes the "person" drew there are the ground truth of the tests' fixture dataset
(``perfect_annotator``), so what comes back is checked against the dataset, not against
the files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.human.importer import import_annotations
from mural.human.tasks import PROJECT_FILE

from .fixtures import write_dataset
from .test_roundtrip import perfect_annotator

DATA = Path(__file__).parent / "data" / "real_tools"


@pytest.fixture
def project(tmp_path: Path) -> tuple[CocoDataset, Path, dict[str, dict[str, Any]]]:
    ds = CocoDataset.load(write_dataset(tmp_path / "ds"), tmp_path / "ds" / "images")
    proj = tmp_path / "proj"
    tasks: dict[str, dict[str, Any]] = {}
    for n in (1, 2):
        rnd = proj / "rounds" / f"round-{n}"
        rnd.mkdir(parents=True)
        shutil.copy(DATA / f"manifest_round{n}.json", rnd / "manifest.json")
        for t in json.loads((rnd / "manifest.json").read_text())["tasks"]:
            tasks[t["task_id"]] = t
    (proj / PROJECT_FILE).write_text('{"format": "mural-project", "version": 1}')
    return ds, proj, tasks


def _submitted(export: list[dict[str, Any]]) -> set[str]:
    return {
        t["data"]["mural_task"]
        for t in export
        if any(not a["was_cancelled"] for a in t["annotations"])
    }


def _region(pool: LabeledPool, task: dict[str, Any]) -> Any:
    key = (task["image_id"], tuple(task["scale"]), tuple(task["window"]))
    return next(r for r in pool.regions if (r.image_id, r.scale, r.window) == key)


def _check_boxes(ds: CocoDataset, pool: LabeledPool, task: dict[str, Any], atol: float) -> None:
    drawn = perfect_annotator(ds, task)
    r = _region(pool, task)
    names = {c.id: c.name for c in ds.categories}
    want = sorted((n, *b) for n, b in drawn if n != "ignore")
    got = sorted((names[c], *b) for c, b in zip(r.category_ids, r.boxes, strict=True))
    assert [w[0] for w in want] == [g[0] for g in got]
    np.testing.assert_allclose(
        [w[1:] for w in want] or np.zeros((0, 4)),
        [g[1:] for g in got] or np.zeros((0, 4)),
        atol=atol,
    )
    want_i = sorted(tuple(b) for n, b in drawn if n == "ignore")
    np.testing.assert_allclose(
        want_i or np.zeros((0, 4)), sorted(map(tuple, r.ignore)) or np.zeros((0, 4)), atol=atol
    )


def test_label_studio_two_rounds(project, tmp_path: Path) -> None:
    ds, proj, tasks = project
    pool_dir = tmp_path / "pool"
    ex1 = json.loads((DATA / "label_studio_round1.json").read_text())
    round1 = json.loads((DATA / "manifest_round1.json").read_text())["tasks"]
    # Label Studio's JSON export leaves out the tasks nobody annotated
    assert len(ex1) < len(round1)
    rep = import_annotations(DATA / "label_studio_round1.json", proj, pool_dir, dataset=ds)
    done1 = _submitted(ex1)
    assert {e["task_id"] for e in rep["tasks"]} == done1 and rep["added"] == len(done1)
    round2 = {
        t["task_id"] for t in json.loads((DATA / "manifest_round2.json").read_text())["tasks"]
    }
    # pending: every task not finished (round 2's tasks are in the project already)
    assert set(rep["pending"]) == set(tasks) - done1
    pool = LabeledPool.load(pool_dir, ds)
    for tid in done1:
        _check_boxes(ds, pool, tasks[tid], 1e-6)

    ex2 = json.loads((DATA / "label_studio_round2.json").read_text())
    rep = import_annotations(DATA / "label_studio_round2.json", proj, pool_dir, dataset=ds)
    done2 = _submitted(ex2)
    status = {e["task_id"]: e["status"] for e in rep["tasks"]}
    assert {t for t, s in status.items() if s == "added"} == done2 - done1
    replaced = [t for t, s in status.items() if s == "replaced"]
    assert len(replaced) == 1 and replaced[0] in done1  # the corrected round-1 annotation
    assert set(rep["pending"]) == set(tasks) - done2
    pool = LabeledPool.load(pool_dir, ds)
    for tid in done2 - set(replaced):
        _check_boxes(ds, pool, tasks[tid], 1e-6)
    # the correction: the first box drawn half as wide, the rest as before
    r = _region(pool, tasks[replaced[0]])
    drawn = perfect_annotator(ds, tasks[replaced[0]])
    _, (a, b, c, d) = drawn[0]
    fixed = [a, b, (a + c) / 2, d]
    assert any(np.allclose(x, fixed, atol=1e-6) for x in r.boxes + r.ignore)
    # each region recorded with its round's cycle (a region selected again: the later)
    for t in done2:
        assert _region(pool, tasks[t]).cycle == (2 if t in round2 else 1)


@pytest.mark.parametrize(
    ("name", "atol"), [("datumaro_cvat.xml", 0.006), ("datumaro_coco.json", 1e-6)]
)
def test_datumaro_cvat_and_coco(project, tmp_path: Path, name: str, atol: float) -> None:
    """datumaro wrote every frame; the first one nobody reviewed (it still holds mural's
    pre-annotations): without --done nothing comes in, with --done the named frames."""
    ds, proj, _ = project
    rnd = proj / "rounds" / "round-1"
    round1 = json.loads((rnd / "manifest.json").read_text())["tasks"]
    f = DATA / name
    rep = import_annotations(f, rnd, tmp_path / "pool", dataset=ds)
    assert rep["added"] == 0 and not (tmp_path / "pool").exists()
    assert rep["pending"] == sorted(t["task_id"] for t in round1)
    done = [t["task_id"] for t in round1[1:]]
    rep = import_annotations(f, rnd, tmp_path / "pool", dataset=ds, done=done)
    assert rep["added"] == len(done) and rep["pending"] == [round1[0]["task_id"]]
    pool = LabeledPool.load(tmp_path / "pool", ds)
    for t in round1[1:]:
        _check_boxes(ds, pool, t, atol)
