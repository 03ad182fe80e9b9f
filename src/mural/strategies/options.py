"""Strategy options: typed specifications, checked by the config machinery.

Every strategy declares ``OPTIONS``, a mapping from option name to :class:`Option`: the
option's type (converted and checked by :func:`mural.config.convert_value`, the function
that types every value of a run config), a further check of its value and the words that
say what it accepts. :func:`parse_options` fills in the defaults and refuses unknown
names (listing the known ones) and bad values (naming the option and what it accepts)
with :class:`~mural.errors.ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import convert_value
from ..errors import ConfigError

__all__ = [
    "DETECTION_OPTIONS",
    "Option",
    "opt_bool",
    "opt_choice",
    "opt_float",
    "opt_int",
    "opt_int_list",
    "opt_str_list",
    "parse_options",
]


def _any(_: Any) -> bool:
    return True


@dataclass(frozen=True)
class Option:
    """One strategy option: its default, its type, a check of its value, and what it
    accepts (for messages).

    ``type`` is any type a run config's fields may have (``bool``, ``int``, ``float``,
    ``str``, ``list[int]``, ``X | None`` …); ``check`` gets the converted value (not
    called for ``None``).
    """

    default: Any
    type: Any
    accepts: str
    check: Callable[[Any], bool] = _any

    def parse(self, value: Any) -> Any:
        """The converted value; ``ValueError`` when it is not what the option accepts."""
        try:
            out = convert_value(self.type, value, "option")
        except ConfigError:
            raise ValueError(value) from None
        if out is not None and not self.check(out):
            raise ValueError(value)
        return out


def parse_options(
    strategy: str, spec: Mapping[str, Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """``given`` options checked against ``spec``, defaults filled in, in ``spec`` order."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise ConfigError(
            f"strategy {strategy!r}: unknown option {unknown[0]!r} (known options: {known})"
        )
    out: dict[str, Any] = {}
    for key, opt in spec.items():
        value = given.get(key, opt.default)
        try:
            out[key] = opt.parse(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"strategy {strategy!r}: option {key!r} must be {opt.accepts}, got {value!r}"
            ) from None
    return out


def opt_bool(default: bool) -> Option:
    return Option(default, bool, "true or false")


def opt_choice(default: str, choices: Sequence[str]) -> Option:
    return Option(
        default,
        str,
        "one of " + ", ".join(repr(c) for c in choices),
        lambda v: v in choices,
    )


def opt_float(
    default: float | None,
    lo: float | None = None,
    hi: float | None = None,
    *,
    optional: bool = False,
) -> Option:
    def check(x: float) -> bool:
        return math.isfinite(x) and (lo is None or x >= lo) and (hi is None or x <= hi)

    rng = (
        f" in [{lo}, {hi}]"
        if lo is not None and hi is not None
        else (f" >= {lo}" if lo is not None else "")
    )
    return Option(
        default,
        float | None if optional else float,
        f"a number{rng}" + (" or null" if optional else ""),
        check,
    )


def opt_int(default: int | None, lo: int | None = None, *, optional: bool = False) -> Option:
    what = "an integer" + (f" >= {lo}" if lo is not None else "")
    return Option(
        default,
        int | None if optional else int,
        what + (" or null" if optional else ""),
        lambda v: lo is None or v >= lo,
    )


def opt_int_list(default: list[int] | None, lo: int = 0) -> Option:
    return Option(
        default,
        list[int] | None,
        f"null or a non-empty list of distinct integers >= {lo}",
        lambda v: len(v) > 0 and len(set(v)) == len(v) and all(x >= lo for x in v),
    )


def opt_str_list(default: list[str], check: Callable[[str], bool], what: str) -> Option:
    return Option(default, list[str], what, lambda v: len(v) > 0 and all(check(x) for x in v))


#: Options shared by the strategies that read detections at one scale.
DETECTION_OPTIONS: dict[str, Option] = {
    "scale_index": opt_int(None, 0, optional=True),
    "score_threshold": opt_float(None, 0.0, 1.0, optional=True),
}
