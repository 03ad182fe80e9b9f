"""The strategy interface (contract §7) and the model access a few baselines use.

A :class:`Strategy` turns a :class:`~mural.strategies.context.SelectionContext` (the
dataset, the labelled pool ``D_L``, the detector's detections on ``D_U`` at every
configured scale, the budget ``B`` in objects, a seeded generator and, for a few
baselines, model access) into a :class:`~mural.selection.SelectionResult`: images,
regions or boxes (:class:`~mural.selection.Granularity`), in the order taken.

Budget rule (contract §7), shared by all strategies: items are taken in score order until
``cost >= B``; an object already labelled costs nothing again; selection also stops when
``D_U`` (or the strategy's list of items) is exhausted. ``cost`` is the budget consumed:
newly labelled objects for images and regions, *queries* for boxes (each box query costs
1, even one that matches no ground truth). ``spent`` is always the number of objects the
selection newly labels, which :meth:`mural.data.pool.LabeledPool.acquire` reproduces.

The package is split by concern: options (:mod:`.options`), the context
(:mod:`.context`), the registry (:mod:`.registry`), the result
(:mod:`mural.selection`) and this interface. Strategies are built by name:
``build_strategy("mural", reduce="max")``; options are validated on construction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

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
from ..view_transforms import check_view_transform
from .context import SelectionContext
from .options import (
    DETECTION_OPTIONS,
    Option,
    opt_bool,
    opt_choice,
    opt_float,
    opt_int,
    opt_int_list,
    opt_str_list,
    parse_options,
)
from .registry import build_strategy, list_strategies, register_strategy, strategy_class

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "DETECTION_OPTIONS",
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
    "check_transform",
    "list_strategies",
    "opt_bool",
    "opt_choice",
    "opt_float",
    "opt_int",
    "opt_int_list",
    "opt_str_list",
    "register_strategy",
    "strategy_class",
]

GRANULARITIES = tuple(g.value for g in Granularity)


# -------------------------------------------------------------------- model access
class ViewPrediction(dict):  # type: ignore[type-arg]
    """One image's predictions on one view, mapped back to the *original* image.

    Keys: ``boxes`` ``(K, 4)`` float64 xyxy original pixels; ``scores`` ``(K,)``;
    ``labels`` ``(K,)`` int64 ``0..C-1``; ``probs`` ``(K, C + 1)`` softmax class
    probabilities, background last; ``proposals`` ``(K, 4)`` the RPN proposal each box was
    regressed from (original pixels); ``view_boxes`` ``(K, 4)`` the boxes in the view's
    pixels; with ``reference`` boxes given, ``reference_view`` ``(R, 4)``: those mapped
    into the view.
    """


class ModelAccess(Protocol):
    """Extra forward passes for the baselines that need them (CALD, LS+C, LT/C).

    Implemented over a :class:`mural.detector.Detector` (its ``predict_views``) by
    :class:`mural.strategies.model_based.DetectorViews`.
    """

    num_classes: int

    def predict_views(
        self,
        image_ids: Sequence[int],
        transform: str,
        *,
        seed: int = 0,
        reference: Sequence[NDArray[Any]] | None = None,
    ) -> list[dict[str, NDArray[Any]]]:
        """Predictions (see :class:`ViewPrediction`) per image on a transformed view.

        ``transform``: ``"none"``, ``"hflip"``, ``"color:<factor>"`` (brightness and
        contrast times ``factor``), ``"noise:<sigma>"`` (Gaussian pixel noise, ``sigma`` on
        the 0..255 scale, drawn from ``seed``), ``"resize:<factor>"``, ``"cutout:<n>"``,
        ``"rotate:<degrees>"`` (see :mod:`mural.detector.views`). ``boxes`` always come
        back in the original image's pixels, ``view_boxes`` in the view's. ``reference``
        (per image ``(R, 4)`` original-pixel boxes; CALD only) places ``cutout``'s patches
        and adds ``reference_view``: those boxes mapped into the view.
        """
        ...


check_transform = check_view_transform
"""Whether ``t`` is a transform name :class:`ModelAccess` understands."""


# ------------------------------------------------------------------------ strategy
class Strategy(ABC):
    """A selection strategy, built from an options dict (validated here).

    Subclasses set ``granularity`` and ``OPTIONS`` and implement :meth:`select`; the
    registry sets ``name``. ``needs_model`` marks strategies that use ``ctx.model``,
    ``needs_detections`` those that read ``ctx.detections``.
    """

    name: ClassVar[str] = ""
    granularity: ClassVar[Granularity] = Granularity.IMAGE
    needs_model: ClassVar[bool] = False
    needs_detections: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, options: Mapping[str, Any] | None = None, **kw: Any) -> None:
        given = {**dict(options or {}), **kw}
        self.options: dict[str, Any] = parse_options(self.name, self.OPTIONS, given)

    @property
    def kind(self) -> str:
        return self.granularity.kind

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
        """Select under ``ctx.budget`` (contract §7); does not change ``ctx.pool``."""
        self.check_context(ctx)
        return self._select(ctx)

    @abstractmethod
    def _select(self, ctx: SelectionContext) -> SelectionResult: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"
