"""``mural compare CONFIG --strategies A,B --seeds 0,1,2 --out DIR``: every strategy × seed."""

from __future__ import annotations

import argparse
from typing import Any

from .args import integer, number


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="run every strategy x seed of a config under one protocol, then the report",
        description=(
            "Run the active-learning loop of CONFIG for every strategy and seed into DIR "
            "(DIR/runs/<label>/seed_<s>), training each seed's cycle 0 once for all "
            "strategies (DIR/shared/seed_<s>), then write the report with the statistics "
            "over seeds (DIR/report: index.html, compare.json). Rerunning the same command "
            "resumes every run where it stopped. Strategies come from --strategies, "
            "--strategy (repeatable, with options: --strategy mural:reduce=max) or the "
            "config's compare.strategies list; seeds from --seeds or the config."
        ),
    )
    p.add_argument("config", metavar="CONFIG", help="YAML config file or shipped config name")
    p.add_argument("overrides", metavar="KEY=VALUE", nargs="*", help="config overrides")
    p.add_argument("--out", metavar="DIR", required=True, help="comparison folder")
    p.add_argument(
        "--strategies", metavar="A,B,...", help="comma-separated strategy names (no options)"
    )
    p.add_argument(
        "--strategy",
        metavar="NAME[:K=V,...]",
        action="append",
        default=[],
        help="one strategy with options, e.g. mural:reduce=max (repeatable)",
    )
    p.add_argument("--seeds", metavar="S,S,...", help="comma-separated seeds (default: config)")
    p.add_argument(
        "--engine",
        choices=("sequential", "ray"),
        default="sequential",
        help="run one after another here (default) or as Ray tasks",
    )
    p.add_argument("--address", metavar="ADDR", help="Ray cluster address (default: local Ray)")
    p.add_argument(
        "--num-cpus",
        type=integer(1),
        default=2,
        metavar="N",
        help="CPUs of a local Ray (default 2)",
    )
    p.add_argument(
        "--cpus-per-run",
        type=number(0, low_open=True),
        default=1.0,
        metavar="N",
        help="CPUs per Ray task",
    )
    p.add_argument(
        "--gpus-per-run",
        type=number(0),
        default=None,
        metavar="N",
        help="GPUs per Ray task (default: 1 for a cuda device, else 0)",
    )
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module to import first in every worker (e.g. one registering a strategy)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _seeds(text: str) -> list[int]:
    from ..errors import ConfigError

    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers") from None


def run(args: argparse.Namespace) -> int:
    from ..compare import run_comparison
    from ..config import load_config_sections
    from ..errors import ConfigError
    from ..report import find_runs, group_runs, text_table

    cfg, aside = load_config_sections(args.config, args.overrides, ("compare",))
    section = aside.get("compare") or {}
    if not isinstance(section, dict) or set(section) - {"strategies", "seeds"}:
        raise ConfigError(
            f"{args.config}: config key 'compare': bad value {section!r}; expected a mapping "
            "with keys strategies, seeds"
        )
    strategies: list[Any] = [s.strip() for s in (args.strategies or "").split(",") if s.strip()]
    strategies += args.strategy
    if not strategies:
        strategies = list(section.get("strategies") or [])
    if not strategies:
        raise ConfigError(
            "no strategies (fix: --strategies mural,random,uncertainty, --strategy "
            "NAME:KEY=VALUE, or compare.strategies in the config)"
        )
    seeds = _seeds(args.seeds) if args.seeds else section.get("seeds")
    comp = run_comparison(
        cfg,
        strategies,
        seeds,
        args.out,
        engine=args.engine,
        address=args.address,
        num_cpus=args.num_cpus,
        cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run,
        imports=args.imports,
        progress=not args.quiet,
        log=lambda line: print(line, flush=True),
    )
    print()
    print("mAP (%) against objects labelled after the initial set")
    print(text_table(group_runs(find_runs(comp.run_dirs()))))
    print(f"\nreport: {comp.report_dir() / 'index.html'} (statistics: compare.json)")
    return 0
