"""Comparisons: every strategy × seed under one protocol (``mural compare``, ``mural demo``).

A comparison lives in one folder::

    OUT/comparison.yaml            the protocol: base config, strategies, seeds (rewritten)
    OUT/data/                      the generated dataset (synthetic configs only)
    OUT/shared/seed_<s>/           seed s's cycle 0: initial pool, detector, evaluation
    OUT/runs/<label>/seed_<s>/     one run per (strategy, seed), ``mural run``'s layout
    OUT/report/                    the report: index.html, figures, compare.json

Each seed's cycle 0 does not depend on the strategy (the initial set and the detector's
seeds derive from the run seed only), so it is trained once in ``shared/seed_<s>`` (a
``cycles = 0`` run) and its ``initial_pool/``, ``cycle_00/model.pt`` and
``cycle_00/metrics.json`` are linked (or copied) into every run of that seed, which then
skips those stages. Every run resumes like ``mural run``: rerunning the same comparison
after an interruption (even ``kill -9``) continues each run at its first unfinished stage.

Two engines run the work: ``sequential`` (one process, seed by seed) and ``ray`` (each
seed's cycle 0 and each run as Ray tasks, local or on a cluster; ``pip install
'mural[ray]'``). Their results are the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .config import RunConfig, StrategyConfig, config_from_dict, config_to_dict
from .errors import ConfigError, MuralError
from .io import atomic_write_json, atomic_write_text
from .rundir import STAGES, RunDir

__all__ = [
    "ENGINES",
    "Comparison",
    "StrategySpec",
    "comparison_timings",
    "format_timings",
    "parse_strategy",
    "plan_comparison",
    "read_timings",
    "run_comparison",
    "share_initial_cycle",
    "strategy_specs",
]

ENGINES = ("sequential", "ray")


@dataclass
class StrategySpec:
    """One entry of a comparison: a strategy, its options and the label reports use."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""


def _yaml_value(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: value {text!r} is not valid YAML ({exc})") from None


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets (``a=1,b=[1,2]`` -> ``['a=1', 'b=[1,2]']``)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_strategy(text: str) -> StrategySpec:
    """``NAME[:KEY=VALUE,...]`` (values as YAML: ``mural:reduce=max``,
    ``mural:scales=[[96,96],[192,192]]``) as a spec without a label yet."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise ConfigError(f"--strategy {text!r}: expected NAME or NAME:KEY=VALUE,...")
    options: dict[str, Any] = {}
    for part in _split_top(rest):
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--strategy {text!r}: option {part!r} is not KEY=VALUE (e.g. mural:reduce=max)"
            )
        options[key.strip()] = _yaml_value(raw, f"--strategy {text!r}, option {key.strip()!r}")
    return StrategySpec(name, options)


def default_label(name: str, options: Mapping[str, Any]) -> str:
    """``name`` without options, else ``name[k=v,...]`` (keys sorted; a value that is not
    a string as compact JSON): ``mural[reduce=max]``, ``mural[scales=[[96,96]]]``."""
    if not options:
        return name

    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    return f"{name}[{','.join(f'{k}={text(options[k])}' for k in sorted(options))}]"


def strategy_specs(
    entries: Sequence[str | Mapping[str, Any] | StrategySpec],
    config_strategy: StrategyConfig | None = None,
) -> list[StrategySpec]:
    """Specs with their labels from ``entries``: strings (``parse_strategy``), mappings
    ``{name, options, label}`` (a config's ``compare.strategies`` list) or specs.

    A bare name equal to ``config_strategy.name`` takes that config's options (so a
    config's ``strategy.options`` hold for it). Labels default to :func:`default_label`;
    two entries with the same label are refused.
    """
    specs: list[StrategySpec] = []
    for i, e in enumerate(entries):
        if isinstance(e, StrategySpec):
            spec = replace(e, options=dict(e.options))
        elif isinstance(e, str):
            spec = parse_strategy(e)
        elif isinstance(e, Mapping):
            where = f"config key 'compare.strategies[{i}]'"
            unknown = set(e) - {"name", "options", "label"}
            if unknown or not isinstance(e.get("name"), str) or not e["name"]:
                raise ConfigError(
                    f"{where}: bad value {dict(e)!r}; expected a strategy name or a mapping "
                    "with keys name, options, label"
                )
            opts = e.get("options") or {}
            if not isinstance(opts, Mapping):
                raise ConfigError(f"{where}.options: bad value {opts!r}; expected a mapping")
            spec = StrategySpec(str(e["name"]), dict(opts), str(e.get("label") or ""))
        else:
            raise ConfigError(f"strategy entry {e!r}: expected a name or a mapping")
        inherited = False
        if not spec.options and config_strategy is not None and spec.name == config_strategy.name:
            spec.options, inherited = dict(config_strategy.options), True
        if not spec.label:
            spec.label = spec.name if inherited else default_label(spec.name, spec.options)
        specs.append(spec)
    seen: dict[str, str] = {}
    for s in specs:
        slug = _slug(s.label)
        if slug in seen:
            raise ConfigError(
                f"strategies: {s.label!r} and {seen[slug]!r} would share a run folder "
                "(fix: give them distinct labels)"
            )
        seen[slug] = s.label
    if not specs:
        raise ConfigError("strategies: none given (fix: --strategies mural,random,...)")
    return specs


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.=[]," else "_" for ch in s)


# ------------------------------------------------------------------------- the plan


@dataclass
class Comparison:
    """The resolved comparison: its folder, base config, strategies and seeds."""

    out: Path
    base: RunConfig
    strategies: list[StrategySpec]
    seeds: list[int]

    def shared_dir(self, seed: int) -> Path:
        return self.out / "shared" / f"seed_{seed}"

    def run_dir(self, spec: StrategySpec, seed: int) -> Path:
        return self.out / "runs" / _slug(spec.label) / f"seed_{seed}"

    def report_dir(self) -> Path:
        return self.out / "report"

    def shared_config(self, seed: int) -> RunConfig:
        """Seed ``seed``'s cycle 0 alone (the strategy is never used: ``cycles = 0``)."""
        return replace(
            self.base,
            seeds=[seed],
            cycles=0,
            strategy=StrategyConfig("random", {}),
            name="shared-cycle-0",
        )

    def run_config(self, spec: StrategySpec, seed: int) -> RunConfig:
        return replace(
            self.base,
            seeds=[seed],
            strategy=StrategyConfig(spec.name, dict(spec.options)),
            name=spec.label,
        )

    def run_dirs(self) -> list[Path]:
        return [self.run_dir(s, seed) for s in self.strategies for seed in self.seeds]

    def to_dict(self) -> dict[str, Any]:
        base = config_to_dict(self.base)
        base.pop("seeds", None)
        base.pop("name", None)
        return {
            "base": base,
            "strategies": [
                {"label": s.label, "name": s.name, "options": s.options} for s in self.strategies
            ],
            "seeds": list(self.seeds),
        }


def _check_folder(path: Path, cfg: RunConfig) -> None:
    """Refuse, before any work, a run folder that holds another configuration (or a
    damaged ``config.yaml``)."""
    from .loop import check_same_config

    check_same_config(cfg, path, resume="the same config, strategies and overrides")


def plan_comparison(
    cfg: RunConfig,
    strategies: Sequence[str | Mapping[str, Any] | StrategySpec],
    seeds: Sequence[int] | None,
    out: str | os.PathLike[str],
) -> Comparison:
    """Resolve and check a comparison without writing anything.

    ``seeds`` defaults to the config's; a synthetic dataset is generated once in
    ``OUT/data`` (unless the config names ``dataset.synthetic_dir``). Every run's config
    is checked (strategy names and options, detector, training options) and every
    existing run folder must hold the same configuration.
    """
    from .loop import check_config

    root = Path(out).resolve()
    base = replace(cfg, dataset=replace(cfg.dataset))
    if base.dataset.synthetic is not None and not base.dataset.synthetic_dir:
        base.dataset.synthetic_dir = str(root / "data")
    raw = list(seeds if seeds is not None else cfg.seeds)
    if (
        not raw
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in raw)
        or len(set(raw)) != len(raw)
    ):
        raise ConfigError(f"seeds: bad value {raw!r}; expected distinct integers")
    seed_list = [int(s) for s in raw]
    comp = Comparison(root, base, strategy_specs(strategies, cfg.strategy), seed_list)
    for seed in seed_list:
        shared = comp.shared_config(seed)
        check_config(shared)
        _check_folder(comp.shared_dir(seed), shared)
        for spec in comp.strategies:
            rc = comp.run_config(spec, seed)
            try:
                check_config(rc)
            except ConfigError as exc:
                raise ConfigError(f"strategy {spec.label!r}: {exc}") from None
            _check_folder(comp.run_dir(spec, seed), rc)
    return comp


# ------------------------------------------------------------------------- the work


def share_initial_cycle(src: Path, dst: Path) -> None:
    """Give ``dst`` the initial pool, cycle-0 model and metrics already made in ``src``.

    Hard links where the file system allows (the loop replaces files, never rewrites
    them in place), copies otherwise. Nothing is put over existing files; each item
    appears whole (staged under a temporary name, then renamed).
    """
    a, b = RunDir(src), RunDir(dst)
    for s, d in (
        (a.initial_pool, b.initial_pool),
        (a.model(0), b.model(0)),
        (a.metrics(0), b.metrics(0)),
    ):
        if not s.exists() or d.exists():
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = d.with_name(f".{d.name}.partial")
        if tmp.is_dir():
            shutil.rmtree(tmp)
        elif tmp.exists():
            tmp.unlink()
        if s.is_dir():
            shutil.copytree(s, tmp, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(s), str(tmp))
        tmp.replace(d)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _import_all(modules: Sequence[str]) -> None:
    import importlib

    for m in modules:
        importlib.import_module(m)


def run_shared(
    cfg_data: dict[str, Any], path: str, imports: Sequence[str] = (), progress: bool = False
) -> str:
    """One seed's cycle 0 (a Ray task too: plain arguments); returns ``path``."""
    from .loop import run_loop

    _import_all(imports)
    run_loop(config_from_dict(cfg_data), path, progress=progress)
    return path


def run_one(
    cfg_data: dict[str, Any],
    path: str,
    shared: str,
    imports: Sequence[str] = (),
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One (strategy, seed) run from its seed's shared cycle 0 (a Ray task too)."""
    from .io import claim_folder
    from .loop import is_run_folder, run_loop

    _import_all(imports)
    cfg = config_from_dict(cfg_data)
    dst = Path(path)
    _check_folder(dst, cfg)
    claim_folder(dst, "run", legacy=is_run_folder)  # mark it mural's before sharing into it
    share_initial_cycle(Path(shared), dst)
    return run_loop(cfg, dst, progress=progress)


def _sequential(
    comp: Comparison, progress: bool, log: Callable[[str], None], imports: Sequence[str]
) -> None:
    for seed in comp.seeds:
        t0 = time.monotonic()
        shared = comp.shared_dir(seed)
        run_shared(config_to_dict(comp.shared_config(seed)), str(shared), imports, progress)
        log(f"seed {seed}, cycle 0 (shared): {time.monotonic() - t0:.0f} s")
        for spec in comp.strategies:
            t0 = time.monotonic()
            cfg = config_to_dict(comp.run_config(spec, seed))
            run_one(cfg, str(comp.run_dir(spec, seed)), str(shared), imports, progress)
            log(f"{spec.label} seed {seed}: {time.monotonic() - t0:.0f} s")


def _ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise MuralError(
            "--engine ray needs Ray, which is not installed (fix: pip install 'mural[ray]', "
            "or use --engine sequential)"
        ) from None
    return ray


def _ray(
    comp: Comparison,
    log: Callable[[str], None],
    imports: Sequence[str],
    address: str | None,
    num_cpus: int,
    cpus_per_run: float,
    gpus_per_run: float,
) -> None:
    ray = _ray_module()
    started = False
    if not ray.is_initialized():
        import logging

        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if address:
            ray.init(address=address, **kwargs)
        else:  # the workers import the same mural (and test modules) as this process,
            # with its thread settings and MURAL_* variables
            env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            env |= {
                k: v
                for k, v in os.environ.items()
                if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") or k.startswith("MURAL_")
            }
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                runtime_env={"env_vars": env},
                **kwargs,
            )
        started = True
    try:
        need = {"num_cpus": cpus_per_run, "num_gpus": gpus_per_run, "max_retries": 3}
        shared_task = ray.remote(run_shared).options(**need)
        run_task = ray.remote(run_one).options(**need)
        shared = {
            seed: shared_task.remote(
                config_to_dict(comp.shared_config(seed)), str(comp.shared_dir(seed)), imports
            )
            for seed in comp.seeds
        }
        refs = {}
        for seed in comp.seeds:
            for spec in comp.strategies:
                cfg = config_to_dict(comp.run_config(spec, seed))
                # the shared task's result (its folder) is an argument: Ray waits for it
                ref = run_task.remote(cfg, str(comp.run_dir(spec, seed)), shared[seed], imports)
                refs[ref] = f"{spec.label} seed {seed}"
        t0 = time.monotonic()
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the task's own error, as it was
                if isinstance(exc.cause, MuralError):
                    raise exc.cause from None
                raise
            log(f"{refs[done[0]]}: done after {time.monotonic() - t0:.0f} s")
    finally:
        if started:
            ray.shutdown()


def run_comparison(
    cfg: RunConfig,
    strategies: Sequence[str | Mapping[str, Any] | StrategySpec],
    seeds: Sequence[int] | None,
    out: str | os.PathLike[str],
    *,
    engine: str = "sequential",
    address: str | None = None,
    num_cpus: int = 2,
    cpus_per_run: float = 1.0,
    gpus_per_run: float | None = None,
    imports: Sequence[str] = (),
    report: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Run (or resume) every strategy × seed of a comparison in ``out``, then the report.

    Args:
        cfg: the protocol every run shares (its ``seeds`` are the default seeds).
        strategies: names, ``NAME:KEY=VALUE,...`` strings, ``{name, options, label}``
            mappings or :class:`StrategySpec` (see :func:`strategy_specs`).
        seeds: the seeds (``None``: the config's).
        engine: ``sequential`` or ``ray``.
        address: the Ray cluster (``None``: start a local Ray with ``num_cpus`` CPUs and
            stop it at the end).
        cpus_per_run, gpus_per_run: each Ray task's needs (GPUs default to 1 for a CUDA
            device, else 0).
        imports: modules every worker imports first (e.g. one registering a detector).
        report: write ``OUT/report`` (figures, index.html, compare.json) at the end.
        log: receives one line per finished piece of work (e.g. ``print``).

    Returns:
        The resolved :class:`Comparison`.
    """
    if engine not in ENGINES:
        raise ConfigError(f"--engine: unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if engine == "ray":
        _ray_module()  # before any work
    comp = plan_comparison(cfg, strategies, seeds, out)
    comp.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(comp.out / "comparison.yaml", yaml.safe_dump(comp.to_dict(), sort_keys=False))
    say = log or (lambda _: None)
    _import_all(imports)
    if engine == "sequential":
        _sequential(comp, progress, say, imports)
    else:
        gpus = gpus_per_run
        if gpus is None:
            gpus = 1.0 if comp.base.device.startswith("cuda") else 0.0
        _ray(comp, say, imports, address, num_cpus, cpus_per_run, gpus)
    if report:
        from .report import write_report

        write_report(comp.run_dirs(), comp.report_dir())
    timings = comparison_timings(comp)
    atomic_write_json(comp.out / "timings.json", timings)
    for line in format_timings(timings):
        say(line)
    return comp


def read_timings(run_dir: str | os.PathLike[str]) -> dict[str, float]:
    """Wall seconds per stage summed over a run folder's ``timings.jsonl`` (every cycle
    and every attempt that ran a stage; ``{}`` when the folder has none)."""
    totals: dict[str, float] = {}
    path = RunDir(run_dir).timings
    if not path.is_file():
        return totals
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
            stage, seconds = str(rec["stage"]), float(rec["seconds"])
            totals[stage] = totals.get(stage, 0.0) + seconds
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill: a log, not a result
    return totals


def comparison_timings(comp: Comparison) -> dict[str, Any]:
    """Where a comparison's wall time went: per stage, summed over seeds, for each
    seed's shared cycle 0 (``"cycle 0 (shared)"``) and for each strategy; ``total`` per
    row and ``seeds`` (how many seeds' folders were read)."""
    rows: dict[str, dict[str, Any]] = {}

    def add(label: str, run_dir: Path) -> None:
        row = rows.setdefault(label, {"stages": {}, "total": 0.0, "seeds": 0})
        got = read_timings(run_dir)
        row["seeds"] += 1 if got else 0
        for stage, sec in got.items():
            row["stages"][stage] = round(row["stages"].get(stage, 0.0) + sec, 3)
            row["total"] = round(row["total"] + sec, 3)

    for seed in comp.seeds:
        add("cycle 0 (shared)", comp.shared_dir(seed))
    for spec in comp.strategies:
        for seed in comp.seeds:
            add(spec.label, comp.run_dir(spec, seed))
    total = round(sum(r["total"] for r in rows.values()), 3)
    return {"unit": "seconds (wall, summed over seeds)", "rows": rows, "total": total}


def format_timings(timings: Mapping[str, Any]) -> list[str]:
    """:func:`comparison_timings` as text lines, one row per strategy."""
    stages = ("initial", *STAGES)
    lines = ["where the time went (wall seconds, summed over seeds):"]
    lines.append(f"  {'':24s}" + "".join(f"{s:>10s}" for s in (*stages, "total")))
    for label, row in timings["rows"].items():
        cells = "".join(f"{row['stages'].get(s, 0.0):10.0f}" for s in stages)
        lines.append(f"  {label:24s}{cells}{row['total']:10.0f}")
    lines.append(f"  {'all':24s}{'':{10 * len(stages)}s}{timings['total']:10.0f}")
    return lines
