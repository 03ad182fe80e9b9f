"""Strategy options are typed through the config machinery; granularity is one enum."""

from __future__ import annotations

import pytest

from mural.config import convert_value
from mural.errors import ConfigError
from mural.selection import Granularity
from mural.strategies import build_strategy, list_strategies, strategy_class
from mural.strategies.options import (
    Option,
    opt_bool,
    opt_choice,
    opt_float,
    opt_int,
    opt_int_list,
    parse_options,
)


def test_values_convert_as_config_values_do() -> None:
    # the same conversions as a run config's fields (convert_value): an int is a valid
    # float, an integral float a valid int, a bool neither
    assert opt_float(0.5, 0.0, 1.0).parse(1) == 1.0 and isinstance(opt_float(0.5).parse(1), float)
    assert opt_int(3, 1).parse(4.0) == 4 and convert_value(int, 4.0, "k") == 4
    for opt, bad in [
        (opt_float(0.5, 0.0, 1.0), True),
        (opt_float(0.5, 0.0, 1.0), float("nan")),
        (opt_float(0.5, 0.0, 1.0), 1.5),
        (opt_int(3, 1), 0),
        (opt_int(3, 1), 2.5),
        (opt_bool(True), "yes"),
        (opt_choice("mean", ("mean", "max")), "min"),
        (opt_int_list(None), [1, 1]),
        (opt_int_list(None), []),
        (opt_int_list(None), "01"),
    ]:
        with pytest.raises(ValueError):
            opt.parse(bad)
    assert opt_float(None, optional=True).parse(None) is None
    assert opt_int_list(None).parse((2, 0)) == [2, 0]


def test_parse_options_messages() -> None:
    spec = {"a": opt_int(1, 0), "b": Option("x", str, "a name", lambda v: v.isidentifier())}
    assert parse_options("s", spec, {}) == {"a": 1, "b": "x"}
    assert parse_options("s", spec, {"b": "y"}) == {"a": 1, "b": "y"}
    with pytest.raises(
        ConfigError, match=r"strategy 's': unknown option 'c' \(known options: a, b\)"
    ):
        parse_options("s", spec, {"c": 1})
    with pytest.raises(ConfigError, match=r"option 'b' must be a name, got '1x'"):
        parse_options("s", spec, {"b": "1x"})
    with pytest.raises(ConfigError, match=r"option 'a' must be an integer >= 0, got -1"):
        parse_options("s", spec, {"a": -1})


@pytest.mark.parametrize("name", list_strategies())
def test_every_strategy_has_one_granularity(name: str) -> None:
    cls = strategy_class(name)
    assert isinstance(cls.granularity, Granularity)
    assert build_strategy(name).kind == cls.granularity.kind
    assert Granularity.of_kind(cls.granularity.kind) is cls.granularity
    # every default passes its own option's check
    assert parse_options(name, cls.OPTIONS, {}) == build_strategy(name).options
