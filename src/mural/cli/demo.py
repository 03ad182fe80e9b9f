"""``mural demo [--out DIR]``: the main job on the embedded synthetic dataset.

Generates the dataset (``DIR/data``), runs MuRAL, random and uncertainty with the shipped
``demo.yaml`` (``DIR/runs/<strategy>``), prints mAP against labelled objects per strategy
and writes the report (``DIR/report/index.html``). Rerunning resumes where it stopped.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

DEFAULT_STRATEGIES = ("mural", "random", "uncertainty")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run MuRAL, random and uncertainty on a generated dataset; print and report",
        description=(
            "The main job on the embedded default: generate the synthetic dataset, run the "
            "active-learning loop of demo.yaml for MuRAL, random and uncertainty (small "
            "detector, CPU), print mAP against labelled objects and write an HTML report. "
            "About 10 minutes on 2 CPU cores; rerun the same command to resume."
        ),
    )
    p.add_argument("--out", metavar="DIR", default="mural-demo", help="output folder")
    p.add_argument(
        "--strategies",
        default=",".join(DEFAULT_STRATEGIES),
        metavar="A,B,...",
        help="comma-separated strategies to compare (default: mural,random,uncertainty)",
    )
    p.add_argument(
        "overrides",
        metavar="KEY=VALUE",
        nargs="*",
        help="overrides of demo.yaml (e.g. cycles=4 detector.epochs=2)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def share_initial_cycle(src: Any, dst: Any) -> None:
    """Give ``dst`` the initial pool, cycle-0 model and metrics already made in ``src``.

    Every strategy of the demo starts from the same seeded initial set and trains its
    cycle-0 detector with the same derived seeds, so these files would be identical
    (the loop is deterministic on the CPU); copying them saves two trainings. The loop
    then skips those finished stages. Nothing is copied over existing files.
    """
    import shutil

    from ..rundir import RunDir

    a, b = RunDir(src), RunDir(dst)
    for s, d in [
        (a.initial_pool, b.initial_pool),
        (a.model(0), b.model(0)),
        (a.metrics(0), b.metrics(0)),
    ]:
        if not s.exists() or d.exists():
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.with_name(f".{d.name}.partial")
        if s.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(s, tmp)
        else:
            shutil.copyfile(s, tmp)
        tmp.replace(d)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from ..config import StrategyConfig, load_config
    from ..loop import run_config
    from ..report import find_runs, group_runs, text_table, write_report
    from ..strategies import build_strategy

    out = Path(args.out).resolve()
    cfg = load_config("demo", args.overrides)
    cfg.dataset.synthetic_dir = str(out / "data")
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    for name in names:  # fail early on a bad name
        build_strategy(name)
    start = time.monotonic()
    runs: list[Path] = []
    for name in names:
        options = cfg.strategy.options if name == cfg.strategy.name else {}
        run_cfg = replace(cfg, strategy=StrategyConfig(name, dict(options)), name=name)
        t0 = time.monotonic()
        print(f"== {name} ==", flush=True)
        if runs:
            share_initial_cycle(runs[0], out / "runs" / name)
        run_config(run_cfg, out / "runs" / name, progress=not args.quiet)
        print(f"{name}: {time.monotonic() - t0:.0f} s", flush=True)
        runs.append(out / "runs" / name)
    print()
    print("mAP (%) against objects labelled after the initial set")
    print(text_table(group_runs(find_runs(runs))))
    index = write_report(runs, out / "report")
    print(f"\nreport: {index}")
    print(f"total: {time.monotonic() - start:.0f} s")
    return 0
