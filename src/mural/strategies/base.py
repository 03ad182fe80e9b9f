"""What every selection strategy shares: options, registry, context, result (SPEC §7).

A :class:`Strategy` turns a :class:`SelectionContext` (the dataset, the labelled pool
``D_L``, the detector's detections on ``D_U`` at every configured scale, the budget ``B``
in objects, a seeded generator and, for a few baselines, model access) into a
:class:`SelectionResult`: images, regions or boxes, in the order taken.

Budget rule (SPEC §7), shared by all strategies: items are taken in score order until
``cost >= B``; an object already labelled costs nothing again; selection also stops when
``D_U`` (or the strategy's list of items) is exhausted. ``cost`` is the budget consumed:
newly labelled objects for images and regions, *queries* for boxes (each box query costs
1, even one that matches no ground truth). ``spent`` is always the number of objects the
selection newly labels, which :meth:`SelectionResult.apply` reproduces exactly.

Strategies are built by name: ``build_strategy("mural", reduce="max")``. Options are
validated on construction; an unknown option or a bad value raises
:class:`~mural.errors.ConfigError` naming the option and what it accepts.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..config import DEFAULT_SCORE_THRESHOLD
from ..errors import ConfigError
from ..selection import (
    COST_GT,
    BoxPick,
    Granularity,
    ImagePick,
    RegionPick,
    SelectionResult,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool
    from ..detections import Detections
    from ..detector import Detector

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "GRANULARITIES",
    "BoxPick",
    "Granularity",
    "ImagePick",
    "ModelAccess",
    "Option",
    "RegionPick",
    "SelectionContext",
    "SelectionResult",
    "Strategy",
    "ViewPrediction",
    "build_strategy",
    "list_strategies",
    "register_strategy",
    "strategy_class",
]

GRANULARITIES = tuple(g.value for g in Granularity)


# ----------------------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """One strategy option: its default, a parser, and what it accepts (for messages).

    ``parse(value)`` returns the normalised value or raises ``ValueError``/``TypeError``.
    """

    default: Any
    parse: Callable[[Any], Any]
    accepts: str


def _bool(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    raise ValueError(v)


def opt_bool(default: bool) -> Option:
    return Option(default, _bool, "true or false")


def opt_choice(default: str, choices: Sequence[str]) -> Option:
    def parse(v: Any) -> str:
        if not isinstance(v, str) or v not in choices:
            raise ValueError(v)
        return v

    return Option(default, parse, "one of " + ", ".join(repr(c) for c in choices))


def opt_float(
    default: float | None, lo: float | None = None, hi: float | None = None, *, optional=False
) -> Option:
    def parse(v: Any) -> float | None:
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(v)
        x = float(v)
        if not math.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
            raise ValueError(v)
        return x

    rng = (
        f" in [{lo}, {hi}]"
        if lo is not None and hi is not None
        else (f" >= {lo}" if lo is not None else "")
    )
    return Option(default, parse, f"a number{rng}" + (" or null" if optional else ""))


def opt_int(default: int | None, lo: int | None = None, *, optional: bool = False) -> Option:
    def parse(v: Any) -> int | None:
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(v)
        if lo is not None and int(v) < lo:
            raise ValueError(v)
        return int(v)

    what = "an integer" + (f" >= {lo}" if lo is not None else "")
    return Option(default, parse, what + (" or null" if optional else ""))


def opt_int_list(default: list[int] | None, lo: int = 0) -> Option:
    def parse(v: Any) -> list[int] | None:
        if v is None:
            return None
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            raise ValueError(v)
        out = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or int(x) < lo:
                raise ValueError(v)
            out.append(int(x))
        if len(set(out)) != len(out):
            raise ValueError(v)
        return out

    return Option(default, parse, f"null or a non-empty list of distinct integers >= {lo}")


def opt_str_list(default: list[str], check: Callable[[str], bool], what: str) -> Option:
    def parse(v: Any) -> list[str]:
        if isinstance(v, str) or not isinstance(v, Sequence) or len(v) == 0:
            raise ValueError(v)
        if not all(isinstance(x, str) and check(x) for x in v):
            raise ValueError(v)
        return list(v)

    return Option(default, parse, what)


#: Options shared by the strategies that read detections at one scale.
DETECTION_OPTIONS: dict[str, Option] = {
    "scale_index": opt_int(None, 0, optional=True),
    "score_threshold": opt_float(None, 0.0, 1.0, optional=True),
}


# -------------------------------------------------------------------- model access
class ViewPrediction(dict):  # type: ignore[type-arg]
    """One image's predictions on one view, mapped back to the *original* image.

    Keys: ``boxes`` ``(K, 4)`` float64 xyxy original pixels; ``scores`` ``(K,)``;
    ``labels`` ``(K,)`` int64 ``0..C-1``; ``probs`` ``(K, C + 1)`` softmax class
    probabilities, background last; ``proposals`` ``(K, 4)`` the RPN proposal each box was
    regressed from (original pixels).
    """


class ModelAccess(Protocol):
    """Extra forward passes for the baselines that need them (CALD, LS+C, LT/C).

    Implemented over a :class:`mural.detector.Detector` (its ``predict_views``) by
    :class:`mural.strategies.model_based.DetectorViews`.
    """

    num_classes: int

    def predict_views(
        self, image_ids: Sequence[int], transform: str, *, seed: int = 0
    ) -> list[dict[str, NDArray[Any]]]:
        """Predictions (see :class:`ViewPrediction`) per image on a transformed view.

        ``transform``: ``"none"``, ``"hflip"``, ``"color:<factor>"`` (brightness and
        contrast times ``factor``), ``"noise:<sigma>"`` (Gaussian pixel noise, ``sigma`` on
        the 0..255 scale, drawn from ``seed``), ``"resize:<factor>"``. Boxes always come
        back in the original image's pixels.
        """
        ...


def check_transform(t: str) -> bool:
    """Whether ``t`` is a transform name :class:`ModelAccess` understands."""
    if t in ("none", "hflip"):
        return True
    name, _, arg = t.partition(":")
    if name not in ("color", "noise", "resize") or not arg:
        return False
    try:
        v = float(arg)
    except ValueError:
        return False
    return math.isfinite(v) and (v >= 0 if name == "noise" else v > 0)


# ------------------------------------------------------------------------- context
@dataclass
class SelectionContext:
    """Everything a strategy may read to select under budget.

    Attributes:
        dataset: the training pool (``CocoDataset``).
        pool: the labelled pool ``D_L`` (``LabeledPool``); not modified by ``select``.
        detections: the detector's detections on the images of ``D_U`` at every configured
            scale (``mural.detections.Detections``); ``None`` for strategies that need none.
        budget: ``B`` in objects (box queries for the fine-grained baselines).
        cycle: the active-learning cycle being selected for.
        rng: the seeded generator every random choice draws from.
        score_threshold: detections below it take no part: the run's one setting,
            ``detector.score_threshold`` (default the detector's own, 0.05). A
            strategy's ``score_threshold`` option wins only when set explicitly.
        model: model access for CALD, LS+C and LT/C (:class:`ModelAccess`), or ``None``
            (then views of ``detector`` are used).
        detector: the trained :class:`mural.detector.Detector`, or ``None``; CALD, LS+C
            and LT/C read its ``predict_views`` at ``train_scale`` when ``model`` is unset.
        train_scale: ``(min_size, max_size)`` the detector was trained at; the default
            ``scale_index`` of single-scale strategies is the configured scale whose
            ``min_size`` is closest to it (scale 0 when ``None``).
        seed: the seed ``rng`` was made from (recorded in the selection document).
    """

    dataset: CocoDataset
    pool: LabeledPool
    detections: Detections | None
    budget: int
    cycle: int
    rng: np.random.Generator
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    model: ModelAccess | None = None
    train_scale: tuple[int, int] | None = None
    detector: Detector | None = None
    seed: int | None = None


# ------------------------------------------------------------------------ strategy
class Strategy(ABC):
    """A selection strategy, built from an options dict (validated here).

    Subclasses set ``granularity`` and ``OPTIONS`` and implement :meth:`select`; the
    registry sets ``name``. ``needs_model`` marks strategies that use ``ctx.model``,
    ``needs_detections`` those that read ``ctx.detections``.
    """

    name: ClassVar[str] = ""
    granularity: ClassVar[str] = "image"
    needs_model: ClassVar[bool] = False
    needs_detections: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, options: Mapping[str, Any] | None = None, **kw: Any) -> None:
        given = {**dict(options or {}), **kw}
        unknown = sorted(set(given) - set(self.OPTIONS))
        if unknown:
            known = ", ".join(sorted(self.OPTIONS)) or "none"
            raise ConfigError(
                f"strategy {self.name!r}: unknown option {unknown[0]!r} (known options: {known})"
            )
        self.options: dict[str, Any] = {}
        for key, spec in self.OPTIONS.items():
            value = given.get(key, spec.default)
            try:
                self.options[key] = spec.parse(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"strategy {self.name!r}: option {key!r} must be {spec.accepts}, got {value!r}"
                ) from None

    @property
    def kind(self) -> str:
        return Granularity(self.granularity).kind

    def new_result(self, ctx: SelectionContext) -> SelectionResult:
        """An empty result recording the parameters this selection runs with."""
        ds = ctx.dataset
        path, root = getattr(ds, "path", None), getattr(ds, "image_root", None)
        return SelectionResult(
            kind=self.kind,
            strategy=self.name,
            cycle=int(ctx.cycle),
            budget=int(ctx.budget),
            options=dict(self.options),
            cost_source=COST_GT,
            score_threshold=float(self.threshold(ctx)) if self.needs_detections else None,
            scales=[] if ctx.detections is None else list(ctx.detections.scales),
            seed=ctx.seed,
            visible_threshold=float(ctx.pool.visible_threshold),
            dataset={
                "annotations": str(path.resolve()) if path else None,
                "images": str(root.resolve()) if root else None,
            },
            categories=[{"id": int(c.id), "name": str(c.name)} for c in ds.categories],
        )

    def check_context(self, ctx: SelectionContext) -> None:
        """Raise :class:`ConfigError` when the context lacks what the strategy needs."""
        b = ctx.budget
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0:
            raise ConfigError(f"strategy {self.name!r}: budget must be an integer >= 0, got {b!r}")
        if self.needs_detections and ctx.detections is None:
            raise ConfigError(
                f"strategy {self.name!r} needs the detector's detections on D_U "
                "(context.detections is None)"
            )
        if self.needs_model and ctx.model is None and ctx.detector is None:
            raise ConfigError(
                f"strategy {self.name!r} needs model access (context.detector and "
                "context.model are None; pass the trained Detector as detector=)"
            )

    def threshold(self, ctx: SelectionContext) -> float:
        """The effective detection score threshold (option, else the context's)."""
        t = self.options.get("score_threshold")
        return float(ctx.score_threshold if t is None else t)

    def scale_index(self, ctx: SelectionContext) -> int:
        """The scale a single-scale strategy reads (option ``scale_index``; see
        :class:`SelectionContext` for the default)."""
        assert ctx.detections is not None
        return self._pick_scale(ctx.detections.scales, ctx.train_scale)

    def needed_scales(
        self, scales: Sequence[tuple[int, int]], train_scale: tuple[int, int] | None
    ) -> list[int]:
        """Indices of the configured ``scales`` whose detections :meth:`select` reads.

        The loop runs inference only at these (the others are left empty): every scale
        for region strategies, the one of :meth:`scale_index` for the others, none when
        ``needs_detections`` is false.
        """
        if not self.needs_detections:
            return []
        if self.granularity == Granularity.REGION:
            return list(range(len(scales)))
        return [self._pick_scale(scales, train_scale)]

    def _pick_scale(
        self, scales: Sequence[tuple[int, int]], train_scale: tuple[int, int] | None
    ) -> int:
        n = len(scales)
        if n == 0:
            raise ConfigError(f"strategy {self.name!r}: the detections hold no scale")
        s = self.options.get("scale_index")
        if s is None:
            if train_scale is None:
                return 0
            mins = [abs(sc[0] - train_scale[0]) for sc in scales]
            return int(np.argmin(mins))
        if s >= n:
            raise ConfigError(
                f"strategy {self.name!r}: option 'scale_index' must be in 0..{n - 1} "
                f"(the detections have {n} scales), got {s}"
            )
        return int(s)

    def select(self, ctx: SelectionContext) -> SelectionResult:
        """Select under ``ctx.budget`` (SPEC §7); does not change ``ctx.pool``."""
        self.check_context(ctx)
        return self._select(ctx)

    @abstractmethod
    def _select(self, ctx: SelectionContext) -> SelectionResult: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"


# ------------------------------------------------------------------------ registry
_REGISTRY: dict[str, type[Strategy]] = {}
S = TypeVar("S", bound=type[Strategy])


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`Strategy` subclass under ``name``."""

    def deco(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"strategy {name!r} is registered twice")
        if cls.granularity not in GRANULARITIES:
            raise ValueError(f"strategy {name!r}: granularity must be one of {GRANULARITIES}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered under ``name``; unknown names raise :class:`ConfigError`."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown strategy {name!r}; known strategies: {', '.join(list_strategies())}"
        ) from None


def build_strategy(name: str, **options: Any) -> Strategy:
    """Build the strategy registered under ``name`` with ``options``."""
    return strategy_class(name)(options)
