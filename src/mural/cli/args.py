"""Argument types of the ``mural`` commands: every value checked when it is parsed.

Each factory returns an ``argparse`` type function; a bad value becomes one line
``mural CMD: error: argument --budget: -5: expected a finite number > 0 (...)`` with exit
code 2, before the command reads or writes anything.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["integer", "number", "require_torch"]


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    what: str = "",
) -> Callable[[str], float]:
    """A finite float in ``[low, high]`` (``low_open``/``high_open``: exclusive ends)."""
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    if low is not None and high is not None:
        rng = f"in {lo}, {hi}"
    elif low is not None:
        rng = f"{'>' if low_open else '>='} {low:g}"
    elif high is not None:
        rng = f"{'<' if high_open else '<='} {high:g}"
    else:
        rng = ""
    expect = f"a finite number {rng}".strip() + (f" ({what})" if what else "")

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expect}") from None
        bad = not math.isfinite(v)
        bad = bad or (low is not None and (v <= low if low_open else v < low))
        bad = bad or (high is not None and (v >= high if high_open else v > high))
        if bad:
            raise argparse.ArgumentTypeError(f"{text}: expected {expect}")
        return v

    return parse


def integer(
    low: int | None = None, high: int | None = None, what: str = ""
) -> Callable[[str], int]:
    """An integer in ``[low, high]``."""
    if low is not None and high is not None:
        rng = f"in [{low}, {high}]"
    elif low is not None:
        rng = f">= {low}"
    elif high is not None:
        rng = f"<= {high}"
    else:
        rng = ""
    expect = f"an integer {rng}".strip() + (f" ({what})" if what else "")

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expect}") from None
        if (low is not None and v < low) or (high is not None and v > high):
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
