"""``mural demo [--out DIR]``: the main job on the embedded synthetic dataset.

A comparison (:func:`mural.compare.run_comparison`, the same as ``mural compare demo``):
generates the dataset (``DIR/data``), trains cycle 0 once (``DIR/shared``), runs MuRAL,
random and uncertainty with the shipped ``demo.yaml`` (``DIR/runs/<strategy>/seed_0``),
prints mAP against labelled objects per strategy and writes the report
(``DIR/report/index.html``). Rerunning resumes where it stopped.
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
            "At most about 5 minutes on 2 CPU cores; rerun the same command to resume."
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


def run(args: argparse.Namespace) -> int:
    from .args import require_torch

    require_torch()  # before anything is written

    from ..compare import run_comparison
    from ..config import load_config
    from ..report import find_runs, group_runs, text_table

    cfg = load_config("demo", args.overrides)
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    start = time.monotonic()
    comp = run_comparison(
        cfg,
        names,
        None,
        args.out,
        progress=not args.quiet,
        log=lambda line: print(line, flush=True),
    )
    print()
    print("mAP (%) against objects labelled after the initial set")
    print(text_table(group_runs(find_runs(comp.run_dirs()))))
    print(f"\nreport: {comp.report_dir() / 'index.html'}")
    print(f"total: {time.monotonic() - start:.0f} s")
    return 0
