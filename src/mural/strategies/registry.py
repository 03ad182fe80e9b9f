"""The strategy registry: strategies are registered and built by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError
from ..selection import Granularity

if TYPE_CHECKING:  # pragma: no cover
    from .base import Strategy

__all__ = ["build_strategy", "list_strategies", "register_strategy", "strategy_class"]

_REGISTRY: dict[str, type[Strategy]] = {}
S = TypeVar("S", bound="type[Strategy]")


def register_strategy(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`Strategy` subclass under ``name``."""

    def deco(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"strategy {name!r} is registered twice")
        try:  # a subclass may spell it as the enum's value
            cls.granularity = Granularity(cls.granularity)  # a plain string in a plug-in
        except ValueError:
            raise ValueError(
                f"strategy {name!r}: granularity must be one of "
                f"{', '.join(g.value for g in Granularity)}"
            ) from None
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
