"""The names of the image views the model-based baselines ask a detector for (no torch).

A view transform is ``"none"``, ``"hflip"``, ``"color:<factor>"``, ``"noise:<sigma>"``,
``"resize:<factor>"``, ``"cutout:<n>"`` or ``"rotate:<degrees>"``; what each does to the
pixels and the boxes is in :mod:`mural.detector.views`. Strategies validate their options
with :func:`check_view_transform` without importing the detector (and so torch).
"""

from __future__ import annotations

import math

__all__ = ["check_view_transform"]


def check_view_transform(t: str) -> bool:
    """Whether ``t`` is a view transform of the mini-language above."""
    if t in ("none", "hflip"):
        return True
    name, _, arg = t.partition(":")
    if name not in ("color", "noise", "resize", "cutout", "rotate") or not arg:
        return False
    try:
        v = float(arg)
    except ValueError:
        return False
    if not math.isfinite(v):
        return False
    if name == "cutout":
        return v >= 1 and v == int(v)
    if name == "rotate":
        return abs(v) < 90
    return v >= 0 if name == "noise" else v > 0
