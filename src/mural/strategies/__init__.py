"""Selection strategies: MuRAL and the paper's baselines, registered by name.

>>> from mural.strategies import build_strategy, list_strategies
>>> list_strategies()  # doctest: +NORMALIZE_WHITESPACE
['box_random', 'box_uncertainty', 'cald', 'ls_c', 'lt_c', 'mural', 'none', 'random',
 'uncertainty', 'vaal']

Importing this package does not import torch: the model-based baselines reach the model
through the detector's interface (``Detector.predict_views``) and VAAL trains its networks
in :mod:`mural.detector.vaal`. See ``docs/strategies.md`` for each strategy's choices.
"""

from __future__ import annotations

from typing import Any

from . import (  # noqa: F401  (modules register their strategies on import)
    box_random,
    box_uncertainty,
    cald,
    ls_c,
    lt_c,
    mural,
    no_acquisition,
    random_images,
    uncertainty,
    vaal,
)
from .base import (
    DEFAULT_SCORE_THRESHOLD,
    BoxPick,
    ImagePick,
    ModelAccess,
    RegionPick,
    SelectionContext,
    SelectionResult,
    Strategy,
    build_strategy,
    list_strategies,
    register_strategy,
    strategy_class,
)

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "BoxPick",
    "ImagePick",
    "ModelAccess",
    "RegionPick",
    "SelectionContext",
    "SelectionResult",
    "Strategy",
    "build_strategy",
    "list_strategies",
    "register_strategy",
    "strategy_class",
    "torchvision_access",
]


def torchvision_access(model: Any, dataset: Any, **kw: Any) -> ModelAccess:
    """Model access (CALD, LS+C, LT/C) on a bare torchvision two-stage detector (one not
    wrapped in a :class:`mural.detector.Detector`); imports torch. ``kw``: ``device``,
    ``batch_size``, ``scale`` of :class:`mural.detector.views.ViewPredictor`."""
    from ..detector.views import ViewPredictor

    return ViewPredictor(model, dataset, **kw)
