"""Argument types of the ``mural`` commands: every value checked when it is parsed.

Each factory returns an ``argparse`` type function; a bad value becomes one line
``mural CMD: error: argument --budget: -5: expected a finite number > 0 (...)`` with exit
code 2, before the command reads or writes anything.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

__all__ = ["integer", "mean_color", "number", "require_torch"]


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    what: str = "",
) -> Callable[[str], float]:
    """A finite float in ``[low, high]`` (``low_open``/``high_open``: exclusive ends)."""
    return _ranged(float, "a finite number", "g", low, high, low_open, high_open, what)


def integer(
    low: int | None = None, high: int | None = None, what: str = ""
) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""
    return _ranged(int, "an integer", "d", low, high, False, False, what)


_N = TypeVar("_N", int, float)


def _ranged(
    convert: Callable[[str], _N],
    noun: str,
    fmt: str,
    low: _N | None,
    high: _N | None,
    low_open: bool,
    high_open: bool,
    what: str,
) -> Callable[[str], _N]:
    """``convert`` the text, then refuse a value outside the range (or, a float, not finite)."""
    if low is not None and high is not None:
        rng = f"in {'(' if low_open else '['}{low:{fmt}}, {high:{fmt}}{')' if high_open else ']'}"
    elif low is not None:
        rng = f"{'>' if low_open else '>='} {low:{fmt}}"
    elif high is not None:
        rng = f"{'<' if high_open else '<='} {high:{fmt}}"
    else:
        rng = ""
    expect = f"{noun} {rng}".strip() + (f" ({what})" if what else "")

    def parse(text: str) -> _N:
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expect}") from None
        bad = isinstance(v, float) and not math.isfinite(v)
        bad = bad or (low is not None and (v <= low if low_open else v < low))
        bad = bad or (high is not None and (v >= high if high_open else v > high))
        if bad:
            raise argparse.ArgumentTypeError(f"{text}: expected {expect}")
        return v

    return parse


#: Seeds: what NumPy's SeedSequence accepts and the JSON files hold exactly.
seed = integer(0, 2**63 - 1, "a seed")


def require_torch() -> None:
    """Refuse, before anything is written, a command that trains or predicts without torch."""
    import importlib

    from ..errors import ConfigError

    for mod in ("torch", "torchvision"):
        try:
            importlib.import_module(mod)
        except ImportError:
            raise ConfigError(
                f"this command trains or runs a detector, which needs {mod}, and {mod} is "
                "not installed (fix: pip install 'mural[torch]')"
            ) from None


def mean_color(text: str) -> list[float]:
    """``--mean-color R,G,B`` checked by the export's own rule
    (:func:`mural.human.export.check_mean_color`) before a command writes anything; a bad
    value raises :class:`ConfigError` naming the option."""
    from ..errors import ConfigError
    from ..human.export import check_mean_color

    try:
        mc = [float(v) for v in text.split(",")]
        check_mean_color(mc)
    except ValueError:  # ConfigError is one too
        raise ConfigError(
            f"--mean-color: expected R,G,B (3 numbers in 0..255, or all in 0..1), got {text!r}"
        ) from None
    return mc
