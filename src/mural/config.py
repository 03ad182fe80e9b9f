"""Typed run configurations: YAML files, dotted ``key=value`` overrides, validation.

A run is described by :class:`RunConfig` (see ``docs/loop.md`` for every key). Load one
with :func:`load_config`, which reads the YAML file, applies overrides such as
``strategy.options.reduce=max`` or ``budget=500`` (values parsed as YAML scalars, so
``scales=[[480,512],[800,1280]]`` works) and validates every key and value. Mistakes raise
:class:`mural.errors.ConfigError` naming the key, and listing the keys accepted at that
level (unknown key) or the value and what is accepted (bad value).

Only the standard library and PyYAML are imported here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union

import yaml

from .detections import DEFAULT_SCORE_THRESHOLD
from .errors import ConfigError

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "DatasetConfig",
    "DetectorConfig",
    "InitialConfig",
    "RunConfig",
    "SelectionConfig",
    "StrategyConfig",
    "SyntheticConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "convert_value",
    "load_config",
    "load_config_sections",
    "packaged_config",
    "packaged_configs",
]


@dataclass
class SyntheticConfig:
    """A generated dataset (``mural.data.synthetic.make_synthetic``)."""

    seed: int = 0
    n_train: int = 60
    n_val: int = 20
    size: int = 128


@dataclass
class DatasetConfig:
    """COCO annotation files and image folders, or a synthetic dataset.

    Relative paths are relative to the current directory (``mural run`` resolves them
    before writing ``config.yaml``). A synthetic dataset is generated under the run folder
    (``RUN_DIR/data``) unless ``synthetic_dir`` is given.
    """

    train: str | None = None
    train_images: str | None = None
    val: str | None = None
    val_images: str | None = None
    synthetic: SyntheticConfig | None = None
    synthetic_dir: str | None = None
    visible_threshold: float = 0.7


@dataclass
class InitialConfig:
    """Initial ``D_L``: a seeded random set of fully labelled images (fraction or count)."""

    fraction: float | None = None
    count: int | None = None
    seed: int = 0


@dataclass
class DetectorConfig:
    """The detector and its training; ``options`` go to ``build_detector`` as they are,
    ``train_options`` to its training loop."""

    name: str = "faster_rcnn"
    backbone: str = "resnet50_fpn"
    backbone_weights: str = "imagenet"
    epochs: int = 20
    lr: float = 2.5e-3
    batch_size: int = 4
    min_size: int = 800
    max_size: int = 1333
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    hflip_prob: float = 0.5
    #: a region's ignore areas: ``paint`` (filled with the mean colour, contract §5) or
    #: ``loss`` (anchors and proposals on them are neither positive nor negative)
    region_ignore: str = "paint"
    #: later cycles start from the previous cycle's model instead of the backbone's weights
    warm_start: bool = False
    #: cycle 0's epochs (``null``: ``epochs``); with ``warm_start``, later cycles fine-tune
    #: for ``epochs`` while cycle 0 trains from the backbone's weights for these
    initial_epochs: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: training options (``mural.detector.training.TrainOptions``) other keys do not set:
    #: optimizer (sgd|adamw), schedule (step|cosine), warmup_iters, milestones, gamma,
    #: momentum, weight_decay, grad_clip, max_iters.
    train_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class StrategyConfig:
    """The selection strategy: ``mural.strategies.build_strategy(name, **options)``."""

    name: str = "mural"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SelectionConfig:
    """What each cycle scores, whatever the strategy.

    ``pool_subset``: score only this many images of ``D_U`` per cycle (``null``: all of
    them). The subset is a seeded random one derived from the run seed and the cycle only,
    so every strategy of a seed scores the same images wherever their pools agree
    (:func:`mural.loop.pool_subset`). Inference on ``D_U`` runs on the subset alone, and
    the strategy picks from it. CALD's reference scores 10,000 COCO images per cycle.
    """

    pool_subset: int | None = None


@dataclass
class RunConfig:
    """One active-learning run (contract §8). ``cycles`` counts acquisition rounds: a run trains
    ``cycles + 1`` detectors (the initial one and one after each acquisition)."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    initial: InitialConfig = field(default_factory=InitialConfig)
    budget: int = 500
    cycles: int = 6
    scales: list[tuple[int, int]] = field(
        default_factory=lambda: [(480, 512), (800, 1280), (1400, 2000)]
    )
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    seeds: list[int] = field(default_factory=lambda: [0])
    workers: int = 0
    device: str = "cpu"
    name: str | None = None

    @property
    def seed(self) -> int:
        """The run seed (the first of ``seeds``; a multi-seed config runs once per seed)."""
        return self.seeds[0]

    @property
    def label(self) -> str:
        """What reports call this run: ``name`` or else the strategy name."""
        return self.name or self.strategy.name


# ----------------------------------------------------------------------------- helpers


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _describe(tp: Any) -> str:
    inner, optional = _unwrap_optional(tp)
    if dataclasses.is_dataclass(inner):
        s = f"a mapping with keys {', '.join(_keys(inner))}"  # type: ignore[arg-type]
    elif inner is bool:
        s = "true or false"
    elif inner is int:
        s = "an integer"
    elif inner is float:
        s = "a number"
    elif inner is str:
        s = "a string"
    elif typing.get_origin(inner) is dict:
        s = "a mapping"
    elif typing.get_origin(inner) is list:
        (arg,) = typing.get_args(inner)
        if typing.get_origin(arg) is tuple:
            s = f"a list of [a, b] pairs of integers ({len(typing.get_args(arg))} each)"
        else:
            s = f"a list of {_describe(arg).removeprefix('a ').removeprefix('an ')}s"
    else:
        s = str(inner)
    return f"{s} or null" if optional else s


def _bad(key: str, value: Any, what: str) -> ConfigError:
    return ConfigError(f"config key '{key}': bad value {value!r}; expected {what}")


def _convert(tp: Any, value: Any, key: str) -> Any:
    """Convert a YAML value to type ``tp`` (checking it); ``key`` names it in errors."""
    inner, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise _bad(key, value, _describe(tp))
    if dataclasses.is_dataclass(inner):
        if not isinstance(value, dict):
            raise _bad(key, value, _describe(inner))
        return _build(inner, value, key)  # type: ignore[arg-type]
    if inner is bool:
        if isinstance(value, bool):
            return value
        raise _bad(key, value, "true or false")
    if inner is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _bad(key, value, "an integer")
    if inner is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _bad(key, value, "a number")
    if inner is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise _bad(key, value, "a string")
    origin = typing.get_origin(inner)
    if origin is dict:
        if not isinstance(value, dict):
            raise _bad(key, value, "a mapping")
        return dict(value)
    if origin is list:
        (arg,) = typing.get_args(inner)
        if not isinstance(value, (list, tuple)):
            raise _bad(key, value, _describe(inner))
        return [_convert(arg, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = typing.get_args(inner)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise _bad(key, value, f"a list of {len(args)} values")
        return tuple(
            _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    raise _bad(key, value, str(inner))  # pragma: no cover - no such field types


def convert_value(tp: Any, value: Any, key: str) -> Any:
    """Convert ``value`` (plain data, as YAML gives it) to type ``tp`` and check it, as for a
    config field (``bool``, ``int``, ``float``, ``str``, lists, tuples, ``X | None``,
    dataclasses); a bad value raises :class:`ConfigError` naming ``key``. Strategy
    options (:mod:`mural.strategies.options`) are typed through this."""
    return _convert(tp, value, key)


def _unknown(key: str, name: str, cls: type) -> ConfigError:
    where = f"'{key}'" if key else "the top level"
    return ConfigError(
        f"config: unknown key '{name}' in {where}; accepted keys: {', '.join(_keys(cls))}"
    )


def _build(cls: type, data: dict[str, Any], key: str) -> Any:
    hints = _hints(cls)
    names = _keys(cls)
    kwargs: dict[str, Any] = {}
    for k, v in data.items():
        if k not in names:
            raise _unknown(key, str(k), cls)
        kwargs[k] = _convert(hints[k], v, f"{key}.{k}" if key else k)
    return cls(**kwargs)


def _check(cfg: RunConfig) -> None:
    """Value checks beyond types."""

    def need(ok: bool, key: str, value: Any, what: str) -> None:
        if not ok:
            raise _bad(key, value, what)

    d = cfg.dataset
    if d.synthetic is None:
        for split in ("train", "val"):
            need(
                getattr(d, split) is not None,
                f"dataset.{split}",
                getattr(d, split),
                "a COCO annotation file (or set dataset.synthetic)",
            )
    else:
        s = d.synthetic
        need(s.n_train >= 1, "dataset.synthetic.n_train", s.n_train, "an integer >= 1")
        need(s.n_val >= 1, "dataset.synthetic.n_val", s.n_val, "an integer >= 1")
        need(s.size >= 16, "dataset.synthetic.size", s.size, "an integer >= 16")
        need(s.seed >= 0, "dataset.synthetic.seed", s.seed, "an integer >= 0")
    need(
        0.0 < d.visible_threshold < 1.0,
        "dataset.visible_threshold",
        d.visible_threshold,
        "a number in (0, 1)",
    )
    i = cfg.initial
    if (i.fraction is None) == (i.count is None):
        raise ConfigError(
            f"config key 'initial': bad value fraction={i.fraction!r}, count={i.count!r}; "
            "expected exactly one of initial.fraction (in (0, 1]) or initial.count (>= 1)"
        )
    if i.fraction is not None:
        need(0.0 < i.fraction <= 1.0, "initial.fraction", i.fraction, "a number in (0, 1]")
    if i.count is not None:
        need(i.count >= 1, "initial.count", i.count, "an integer >= 1")
    need(i.seed >= 0, "initial.seed", i.seed, "an integer >= 0")
    need(cfg.budget > 0, "budget", cfg.budget, "an integer > 0 (objects per cycle)")
    need(cfg.cycles >= 0, "cycles", cfg.cycles, "an integer >= 0")
    need(len(cfg.scales) >= 1, "scales", cfg.scales, "at least one (min_size, max_size) pair")
    for k, (a, b) in enumerate(cfg.scales):
        need(0 < a <= b, f"scales[{k}]", [a, b], "a pair 0 < min_size <= max_size")
    det = cfg.detector
    need(det.epochs >= 1, "detector.epochs", det.epochs, "an integer >= 1")
    if det.initial_epochs is not None:
        need(
            det.initial_epochs >= 1,
            "detector.initial_epochs",
            det.initial_epochs,
            "an integer >= 1, or null for detector.epochs",
        )
    need(math.isfinite(det.lr) and det.lr > 0, "detector.lr", det.lr, "a finite number > 0")
    need(det.batch_size >= 1, "detector.batch_size", det.batch_size, "an integer >= 1")
    need(
        0 < det.min_size <= det.max_size,
        "detector.min_size",
        det.min_size,
        "an integer with 0 < min_size <= detector.max_size",
    )
    need(
        0.0 <= det.score_threshold < 1.0,
        "detector.score_threshold",
        det.score_threshold,
        "a number in [0, 1)",
    )
    need(0.0 <= det.hflip_prob <= 1.0, "detector.hflip_prob", det.hflip_prob, "a number in [0, 1]")
    need(
        det.region_ignore in ("paint", "loss"),
        "detector.region_ignore",
        det.region_ignore,
        "paint or loss",
    )
    sub = cfg.selection.pool_subset
    need(
        sub is None or sub >= 1,
        "selection.pool_subset",
        sub,
        "an integer >= 1 (images of D_U scored per cycle) or null (all)",
    )
    need(len(cfg.seeds) >= 1, "seeds", cfg.seeds, "a non-empty list of integers")
    need(len(set(cfg.seeds)) == len(cfg.seeds), "seeds", cfg.seeds, "distinct integers")
    for k, sd in enumerate(cfg.seeds):
        need(0 <= sd < 2**63, f"seeds[{k}]", sd, "an integer in [0, 2**63)")
    need(cfg.workers >= 0, "workers", cfg.workers, "an integer >= 0")
    dev = cfg.device
    ok = dev in ("cpu", "cuda", "auto") or (dev.startswith("cuda:") and dev[5:].isdigit())
    need(ok, "device", dev, "cpu, cuda, cuda:N or auto")
    need(bool(cfg.strategy.name), "strategy.name", cfg.strategy.name, "a strategy name")


# ----------------------------------------------------------------------------- public


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a :class:`RunConfig` from plain data (as YAML gives it)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {data!r}")
    cfg: RunConfig = _build(RunConfig, data, "")
    _check(cfg)
    return cfg


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain data (lists, not tuples) that :func:`config_from_dict` reads back equal."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return typing.cast(dict[str, Any], plain(dataclasses.asdict(cfg)))


def _parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE (e.g. budget=500)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc})") from None
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys) to plain config data; returns a copy.

    Keys are checked against the schema as they are walked, so a misspelt key raises
    :class:`ConfigError` listing the keys accepted at that level. Below a free mapping
    (``strategy.options``, ``detector.options``) any key is accepted.
    """
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        parts, value = _parse_override(text)
        node: dict[str, Any] = out
        cls: type | None = RunConfig
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            prefix = ".".join(parts[:depth])
            if cls is not None:
                if part not in _keys(cls):
                    raise _unknown(prefix, part, cls)
                tp, _ = _unwrap_optional(_hints(cls)[part])
                cls = tp if isinstance(tp, type) and dataclasses.is_dataclass(tp) else None
                free = typing.get_origin(tp) is dict
            else:
                free = True
            if last:
                node[part] = value
                break
            if cls is None and not free:
                sub = ".".join(parts[: depth + 1])
                raise ConfigError(f"override {text!r}: '{sub}' has no sub-keys")
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
    return out


def packaged_configs() -> list[str]:
    """Names of the configurations shipped with mural (``demo``, ``paper_coco`` …)."""
    root = resources.files("mural") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def packaged_config(name: str) -> Path:
    """Path of a shipped configuration by name (``demo`` or ``demo.yaml``)."""
    stem = name[:-5] if name.endswith(".yaml") else name
    path = Path(str(resources.files("mural") / "configs" / f"{stem}.yaml"))
    if not path.is_file():
        raise ConfigError(
            f"config {name!r}: no such file and no shipped config of that name; "
            f"shipped: {', '.join(packaged_configs())}"
        )
    return path


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML config (a file, or the name of a shipped one), apply overrides, validate.

    Relative dataset paths are resolved against the current directory. A top-level
    ``compare`` section (``mural compare``'s strategies and seeds) is left aside.
    """
    return load_config_sections(path, overrides, ("compare",))[0]


def load_config_sections(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), sections: Sequence[str] = ()
) -> tuple[RunConfig, dict[str, Any]]:
    """:func:`load_config`, with the top-level keys named in ``sections`` (e.g. ``compare``)
    taken out of the file before validation and returned as they are, by key."""
    p = Path(path)
    if not p.is_file():
        p = packaged_config(str(path))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    aside = {k: data.pop(k) for k in sections if k in data}
    try:
        cfg = config_from_dict(apply_overrides(data, overrides))
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    d = cfg.dataset
    for k in ("train", "train_images", "val", "val_images", "synthetic_dir"):
        v = getattr(d, k)
        if v is not None:
            setattr(d, k, str(Path(v).expanduser().resolve()))
    return cfg, aside
