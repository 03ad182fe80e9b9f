"""``mural run CONFIG [key=value ...] --out RUN_DIR``: run or resume an active-learning loop."""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run (or resume) the active-learning loop of a config",
        description=(
            "Run the active-learning cycle (train, evaluate, infer, select, acquire) of "
            "CONFIG into RUN_DIR; rerunning the same command after an interruption resumes "
            "at the first unfinished stage. CONFIG is a YAML file or the name of a shipped "
            "config (demo, paper_coco, paper_cityscapes, bccd, vehicles). Overrides use "
            "dotted keys and YAML values: budget=500 strategy.options.reduce=max "
            "scales=[[480,512],[800,1280]]. With several seeds, each runs in RUN_DIR/seed_<s>. "
            "Several processes or GPUs: torchrun --nproc_per_node N -m mural run ... "
            "(every rank trains and predicts its share, rank 0 writes)."
        ),
    )
    p.add_argument("config", metavar="CONFIG", help="YAML config file or shipped config name")
    p.add_argument("overrides", metavar="KEY=VALUE", nargs="*", help="config overrides")
    p.add_argument("--out", metavar="RUN_DIR", required=True, help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..loop import run_config
    from .args import require_torch

    cfg = load_config(args.config, args.overrides)
    require_torch()
    try:
        results = run_config(cfg, args.out, progress=not args.quiet)
    finally:
        _leave_process_group()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 reports
    for seed, records in results.items():
        if records:
            last = records[-1]
            print(
                f"{cfg.label} seed {seed}: {len(records)} cycles, "
                f"{last['added_objects']} objects added, mAP {_pct(last['mAP'])}"
            )
    print(f"results in {args.out} (metrics.jsonl); report: mural report {args.out} --out REPORT")
    return 0


def _leave_process_group() -> None:
    """Under ``torchrun``, leave the process group the loop joined."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from ..detector.distributed import close_distributed

        close_distributed()


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * float(v):.1f}"
