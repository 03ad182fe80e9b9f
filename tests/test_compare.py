"""``mural compare``: strategies × seeds sharing cycle 0, resume after kill -9, Ray engine.

Runs use the instant FAKE detector of ``tests/test_loop.py`` on a tiny synthetic dataset.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from mural.compare import (
    parse_strategy,
    plan_comparison,
    run_comparison,
    strategy_specs,
)
from mural.config import StrategyConfig, load_config
from mural.errors import ConfigError
from mural.rundir import STAGES
from tests.test_loop import ROOT, config_file, outputs, run_cli

# the fixture the loop tests use (importing it registers the fake detector too)
from tests.test_loop import data_dir as data_dir


def tree(root: Path) -> dict[str, bytes]:
    """Every run's comparable files (``outputs``) and the report's figures and statistics."""
    out = {f"runs/{k}": v for k, v in outputs(root / "runs").items()}
    out |= {f"shared/{k}": v for k, v in outputs(root / "shared").items()}
    for p in sorted((root / "report").glob("*")):
        if p.suffix == ".png" or p.name == "compare.json":
            out[f"report/{p.name}"] = p.read_bytes()
    out["comparison.yaml"] = (root / "comparison.yaml").read_bytes()
    return out


def test_strategy_specs_and_labels() -> None:
    s = parse_strategy("mural:reduce=max,scales=[[48,48],[96,96]]")
    assert s.name == "mural" and s.options == {"reduce": "max", "scales": [[48, 48], [96, 96]]}
    specs = strategy_specs(
        [
            "mural",
            "random",
            "mural:reduce=max",
            {"name": "mural", "options": {"reduce": "mean"}, "label": "mean"},
        ],
        StrategyConfig("mural", {"alpha": 1}),
    )
    assert [p.label for p in specs] == ["mural", "random", "mural[reduce=max]", "mean"]
    assert specs[0].options == {"alpha": 1}  # a bare name takes the config's options
    assert specs[1].options == {}
    with pytest.raises(ConfigError, match="distinct labels"):
        strategy_specs(["random", "random"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_strategy("mural:reduce")
    with pytest.raises(ConfigError, match=r"compare\.strategies"):
        strategy_specs([{"nmae": "mural"}])


def test_comparison_shares_cycle_0_and_equals_single_runs(data_dir: Path, tmp_path: Path) -> None:
    from mural.loop import run_loop

    cfg = load_config(config_file(data_dir, tmp_path))
    out = tmp_path / "cmp"
    comp = run_comparison(cfg, ["mural", "random", "mural:reduce=max"], [1, 2], out, progress=False)
    assert [s.label for s in comp.strategies] == ["mural", "random", "mural[reduce=max]"]
    for seed in (1, 2):
        shared = out / "shared" / f"seed_{seed}"
        assert (shared / "cycle_00" / "model.pt").is_file()
        assert not (shared / "cycle_00" / "selection.json").exists()  # cycle 0 only
        for label in ("mural", "random", "mural[reduce=max]"):
            run = out / "runs" / label / f"seed_{seed}"
            assert (run / "cycle_02" / "metrics.json").is_file()
            assert (run / "cycle_00" / "model.pt").samefile(shared / "cycle_00" / "model.pt")
    # sharing cycle 0 changes nothing: each run equals the same run made alone
    spec = comp.strategies[2]
    alone = tmp_path / "alone"
    run_loop(comp.run_config(spec, 2), alone, progress=False)
    assert outputs(alone) == outputs(out / "runs" / "mural[reduce=max]" / "seed_2")
    sel = json.loads((alone / "cycle_00" / "selection.json").read_text())
    assert sel["kind"] == "regions"
    # the report and its statistics
    stats = json.loads((out / "report" / "compare.json").read_text())
    assert list(stats["labels"]) == ["mural", "random", "mural[reduce=max]"]
    assert stats["labels"]["random"]["seeds"] == [1, 2]
    assert len(stats["paired"]) == 6  # 3 pairs x (AUC, mAP at equal cost)
    assert all(p["n"] == 2 for p in stats["paired"])
    page = (out / "report" / "index.html").read_text()
    assert "normalised AUC" in page and "interpolated at equal cost" in page
    assert (out / "report" / "class_objects_vs_ap.png").is_file()  # Fig. 3
    protocol = yaml.safe_load((out / "comparison.yaml").read_text())
    assert protocol["seeds"] == [1, 2] and protocol["base"]["budget"] == 25
    # where the time went: cycle 0 once per seed, the later stages per strategy
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings["rows"]) == ["cycle 0 (shared)", "mural", "random", "mural[reduce=max]"]
    shared_row = timings["rows"]["cycle 0 (shared)"]
    assert shared_row["seeds"] == 2
    assert set(shared_row["stages"]) == {"initial", "train", "evaluate"}
    assert set(timings["rows"]["random"]["stages"]) == set(STAGES)  # cycles 1, 2 train
    assert timings["total"] == pytest.approx(sum(r["total"] for r in timings["rows"].values()))
    # a second call changes nothing
    before = tree(out)
    run_comparison(cfg, ["mural", "random", "mural:reduce=max"], [1, 2], out, progress=False)
    assert tree(out) == before


def test_kill_9_then_resume_gives_identical_figures(data_dir: Path, tmp_path: Path) -> None:
    cfg_path = config_file(data_dir, tmp_path)
    args = ["--strategies", "mural,random", "--seeds", "0,1", "--quiet", "cycles=1"]
    ref = tmp_path / "ref"
    assert run_cli("compare", str(cfg_path), "--out", str(ref), *args) == 0
    out = tmp_path / "killed"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tests.test_loop; "
        "from mural.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    env = dict(os.environ, MURAL_FAKE_SLEEP="0.2", PYTHONPATH=str(ROOT / "src"))
    cmd = [sys.executable, "-c", script, str(ROOT), "compare", str(cfg_path), "--out", str(out)]
    proc = subprocess.Popen([*cmd, *args], env=env)
    deadline = time.monotonic() + 60
    while not (out / "shared" / "seed_0" / "initial_pool").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(random.Random(os.getpid()).uniform(0.2, 3.0))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    assert not (out / "report" / "compare.json").exists()  # it really was cut short
    assert run_cli("compare", str(cfg_path), "--out", str(out), *args) == 0
    assert tree(out) == tree(ref)


def test_config_list_cli_errors_and_nothing_written(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(data_dir, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["compare"] = {"strategies": ["random", {"name": "random", "label": "r2"}], "seeds": [3]}
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "c"
    assert run_cli("compare", str(path), "--out", str(out), "--quiet", "cycles=0") == 0
    assert (out / "runs" / "r2" / "seed_3" / "cycle_00" / "metrics.json").is_file()
    assert "report:" in capsys.readouterr().out
    # an unknown strategy: one line, exit 2, nothing written
    bad = tmp_path / "bad"
    assert run_cli("compare", str(path), "--out", str(bad), "--strategies", "mural,nope") == 2
    err = capsys.readouterr().err
    assert "nope" in err and "known strategies" in err and "Traceback" not in err
    assert not bad.exists()
    assert run_cli("compare", str(path), "--out", str(bad), "--strategy", "mural:reduce=x") == 2
    assert "'reduce'" in capsys.readouterr().err and not bad.exists()
    # the same folder with another protocol is refused before any work
    with pytest.raises(ConfigError, match="different configuration"):
        plan_comparison(load_config(path, ["cycles=0", "budget=3"]), ["random"], [3], out)
    # a damaged config.yaml in it: one line naming the file, exit 2, nothing else touched
    damaged = out / "runs" / "r2" / "seed_3" / "config.yaml"
    damaged.write_text("detector: [unclosed\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert run_cli("compare", str(path), "--out", str(out), "--quiet", "cycles=0") == 2
    err = capsys.readouterr().err
    assert str(damaged) in err and "not valid YAML" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_engine_ray_without_ray_is_one_line(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    path = config_file(data_dir, tmp_path)
    out = tmp_path / "c"
    assert (
        run_cli(
            "compare", str(path), "--out", str(out), "--strategies", "random", "--engine", "ray"
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mural[ray]" in err
    assert not out.exists()


def test_ray_engine_equals_sequential(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray not installed (pip install 'mural[ray]')")
    import ray

    cfg = load_config(config_file(data_dir, tmp_path), ["cycles=1"])
    strategies, seeds = ["mural", "random"], [0, 1]
    seq = tmp_path / "seq"
    run_comparison(cfg, strategies, seeds, seq, progress=False)
    par = tmp_path / "ray"
    run_comparison(
        cfg, strategies, seeds, par, engine="ray", imports=["tests.test_loop"], progress=False
    )
    assert not ray.is_initialized()  # the local Ray it started is stopped
    assert tree(par) == tree(seq)
    assert (par / "runs" / "mural" / "seed_1" / "cycle_00" / "selection.json").is_file()


def test_ray_lost_worker_resumes_its_run(data_dir: Path, tmp_path: Path) -> None:
    """A Ray worker killed (SIGKILL) in the middle of a run: Ray retries the task in a new
    worker, which continues at the run's first unfinished stage (the stages before the
    kill are not run again) and the comparison equals the sequential one."""
    pytest.importorskip("ray", reason="Ray not installed (pip install 'mural[ray]')")
    import logging
    import sys

    import ray

    cfg = load_config(config_file(data_dir, tmp_path), ["cycles=2"])
    strategies, seeds = ["mural", "random"], [0]
    seq = tmp_path / "seq"
    run_comparison(cfg, strategies, seeds, seq, progress=False)
    marker = tmp_path / "died"
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "MURAL_FAKE_DIE": str(marker)}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    try:
        par = tmp_path / "ray"
        run_comparison(
            cfg, strategies, seeds, par, engine="ray", imports=["tests.test_loop"], progress=False
        )
    finally:
        ray.shutdown()
    assert marker.is_file()  # a worker really died, in cycle 1's training of this run:
    died = Path(marker.read_text()).parents[1]
    assert died.parent.parent == par / "runs"
    assert tree(par) == tree(seq)
    stages = [json.loads(x) for x in (died / "timings.jsonl").read_text().splitlines()]
    ran = [(t["stage"], t["cycle"]) for t in stages]
    assert ran.count(("infer", 0)) == 1 and ran.count(("select", 0)) == 1  # not redone
    assert ran.count(("train", 1)) == 1 and ("evaluate", 2) in ran  # finished after the kill
