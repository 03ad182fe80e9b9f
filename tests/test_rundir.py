"""The run-folder layout: one object names every path the loop, reports and the demo use."""

from __future__ import annotations

from pathlib import Path

from mural.rundir import STAGE_FILES, STAGES, RunDir


def test_layout(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    assert rd.config == tmp_path / "config.yaml"
    assert rd.metrics_log == tmp_path / "metrics.jsonl"
    assert rd.initial_pool == tmp_path / "initial_pool"
    assert rd.data == tmp_path / "data"
    assert rd.cycle(3) == tmp_path / "cycle_03"
    assert [rd.stage(12, s).relative_to(tmp_path).as_posix() for s in STAGES] == [
        "cycle_12/model.pt",
        "cycle_12/metrics.json",
        "cycle_12/detections.npz",
        "cycle_12/selection.json",
        "cycle_12/pool",
    ]
    assert set(STAGE_FILES) == set(STAGES)
    assert rd.train_dir(0) == tmp_path / "cycle_00" / "train"
    # cycle c trains on the initial pool (c = 0), else on what cycle c - 1 acquired
    assert rd.pool(0) == rd.initial_pool
    assert rd.pool(2) == rd.acquired_pool(1) == tmp_path / "cycle_01" / "pool"
    assert rd.seed(7).root == tmp_path / "seed_7"


def test_cycles_and_finished(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    assert rd.cycles() == [] and not rd.is_run()
    for name in ("cycle_00", "cycle_10", "cycle_02", "cycle_x", "cycles"):
        (tmp_path / name).mkdir()
    (tmp_path / "cycle_03").write_text("a file, not a cycle")
    assert rd.cycles() == [0, 2, 10]
    assert not rd.finished(0, 2)
    rd.acquired_pool(0).mkdir()
    assert rd.finished(0, 2)
    rd.metrics(2).parent.mkdir(exist_ok=True)
    assert not rd.finished(2, 2)
    rd.metrics(2).write_text("{}")
    assert rd.finished(2, 2)
    rd.metrics_log.write_text("")
    assert rd.is_run()
