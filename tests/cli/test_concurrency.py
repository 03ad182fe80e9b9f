"""One writer at a time, with real processes: ``mural import`` on one pool and
``mural run`` on one run folder; resume removes mural's stale temporary files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.human.export import export_tasks
from mural.human.predictions import PredictionFile, load_predictions
from mural.human.select import select_from_predictions
from mural.io import MARKER_FILE

from ..human.fixtures import write_dataset, write_predictions
from ..human.test_roundtrip import label_studio_export
from ..test_io import hold_lock, release

SRC = str(Path(__file__).resolve().parents[2] / "src")


def mural(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mural", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=600)
    return p.returncode, out, err


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An export of every region of the tiny dataset, and two Label Studio exports that
    annotate disjoint halves of its tasks."""
    root = tmp_path_factory.mktemp("conc")
    ds = CocoDataset.load(write_dataset(root), root / "images")
    files = [PredictionFile(p, s, c) for p, s, c in write_predictions(root)]
    sel = select_from_predictions(ds, load_predictions(files, ds), budget=1000)
    (root / "sel").mkdir()
    (root / "sel" / "selection.json").write_text(json.dumps(sel))
    man = export_tasks(root / "sel" / "selection.json", root / "tasks", mean_color=(0, 0, 0))
    tasks = json.loads((root / "tasks" / "label_studio" / "tasks.json").read_text())
    ls = label_studio_export(tasks, ds, man)
    assert len(ls) >= 4
    halves = []
    for k, part in enumerate((ls[0::2], ls[1::2])):
        path = root / f"half{k}.json"
        path.write_text(json.dumps(part))
        halves.append((path, {t["data"]["mural_task"] for t in part}))
    return {"root": root, "ds": ds, "man": man, "halves": halves}


def region_keys(pool_dir: Path, ds: CocoDataset) -> set[tuple[Any, ...]]:
    pool = LabeledPool.load(pool_dir, ds)
    return {(r.image_id, tuple(r.scale), tuple(r.window)) for r in pool.regions}


def task_keys(man: dict[str, Any], ids: set[str]) -> set[tuple[Any, ...]]:
    return {
        (t["image_id"], tuple(t["scale"]), tuple(t["window"]))
        for t in man["tasks"]
        if t["task_id"] in ids
    }


def test_two_imports_at_once_never_drop_regions(exported: dict[str, Any], tmp_path: Path) -> None:
    """Two ``mural import`` of disjoint tasks started together on one pool, 5 times: each
    either lands all its regions or is refused with exit 2 and one line; a process that
    says 'updated' always finds its regions in the pool."""
    (a, ids_a), (b, ids_b) = exported["halves"]
    tasks = str(exported["root"] / "tasks")
    refused = 0
    for trial in range(5):
        pool = tmp_path / f"pool{trial}"
        procs = [mural("import", str(f), "--tasks", tasks, "--pool", str(pool)) for f in (a, b)]
        results = [finish(p) for p in procs]
        have = region_keys(pool, exported["ds"])
        want: set[tuple[Any, ...]] = set()
        for (rc, out, err), ids in zip(results, (ids_a, ids_b), strict=True):
            if rc == 0:
                assert "updated" in out
                want |= task_keys(exported["man"], ids)
            else:
                refused += 1
                assert rc == 2, err
                assert len(err.strip().splitlines()) == 1 and "in use" in err, err
        assert have == want, f"trial {trial}: regions lost"
        assert not [p for p in pool.iterdir() if p.name.endswith(".tmp")]


def test_import_refused_while_another_holds_the_pool(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    (a, _), (b, ids_b) = exported["halves"]
    tasks = str(exported["root"] / "tasks")
    pool = tmp_path / "pool"
    assert finish(mural("import", str(a), "--tasks", tasks, "--pool", str(pool)))[0] == 0
    before = {p.name: p.read_bytes() for p in pool.iterdir()}
    holder = hold_lock(pool)
    try:
        rc, _, err = finish(mural("import", str(b), "--tasks", tasks, "--pool", str(pool)))
    finally:
        release(holder)
    assert rc == 2 and "pool folder is in use" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in pool.iterdir()} == before  # nothing changed
    rc, _, err = finish(mural("import", str(b), "--tasks", tasks, "--pool", str(pool)))
    assert rc == 0, err
    assert task_keys(exported["man"], ids_b) <= region_keys(pool, exported["ds"])


def test_run_refused_while_another_run_holds_the_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = hold_lock(run)
    try:
        rc, _, err = finish(mural("run", "demo", "--out", str(run), "--quiet"))
        assert list(run.iterdir()) == []  # no config, no data, no .partial folders
    finally:
        release(holder)
    assert rc == 2 and "run folder is in use" in err and len(err.strip().splitlines()) == 1
    assert not run.exists()  # the holder made it and wrote nothing: it took it away again


def test_resume_removes_stale_temporary_files_only(tmp_path: Path) -> None:
    """A run folder a killed run left: mural's temporary files go, the user's stay."""
    run = tmp_path / "run"
    (run / "cycle_00" / ".pool.partial").mkdir(parents=True)
    (run / MARKER_FILE).write_text('{"mural": ["run"]}')
    stale = [
        run / ".metrics.jsonl.mural-0123abcd.tmp",
        run / "cycle_00" / ".model.pt.partial",
        run / "cycle_00" / ".pool.partial" / "pool.json",
    ]
    keep = [run / "notes.tmp", run / ".my.draft.tmp", run / "cycle_00" / "model.pt.bak"]
    for p in stale + keep:
        p.write_text("x")
    # the dataset is missing: the run stops after taking the folder and cleaning it
    rc, _, err = finish(
        mural(
            "run",
            "demo",
            "dataset.synthetic=null",
            f"dataset.train={tmp_path / 'missing.json'}",
            f"dataset.val={tmp_path / 'missing.json'}",
            "--out",
            str(run),
        )
    )
    assert rc == 2 and "missing.json" in err and "Traceback" not in err
    assert not any(p.exists() for p in stale)
    assert not (run / "cycle_00" / ".pool.partial").exists()
    assert all(p.exists() for p in keep)
