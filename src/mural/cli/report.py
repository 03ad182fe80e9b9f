"""``mural report RUN_DIR... --out DIR``: figures and an HTML page comparing runs."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="compare runs: mAP against objects, per-class AP, categories, regions (HTML)",
        description=(
            "Read run folders (each with metrics.jsonl, or holding such folders, e.g. "
            "seed_*/), group them by label (config name, else strategy) and write PNG "
            "figures and a self-contained index.html into DIR."
        ),
    )
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="run folders")
    p.add_argument("--out", metavar="DIR", required=True, help="report folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import find_runs, group_runs, text_table, write_report

    index = write_report(args.runs, args.out)
    print(text_table(group_runs(find_runs(args.runs))))
    print(f"report: {index}")
    return 0
