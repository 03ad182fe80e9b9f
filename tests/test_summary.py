"""``summarise``: the comparison statistics of hand-made runs, computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mural.report import RunData
from mural.summary import summarise


def run(label: str, seed: int, x: list[int], maps: list[float], spent: list[int]) -> RunData:
    records = [
        {
            "cycle": c,
            "added_objects": x[c],
            "mAP": maps[c],
            "AP50": 2 * maps[c],
            "selected_objects": spent[c],
        }
        for c in range(len(x))
    ]
    return RunData(Path(label), label, seed, records, {"budget": 10, "cycles": 2})


@pytest.fixture
def groups() -> dict[str, list[RunData]]:
    return {
        "a": [  # spends the budget exactly
            run("a", 0, [0, 10, 20], [0.1, 0.3, 0.5], [10, 10, 0]),
            run("a", 1, [0, 10, 20], [0.2, 0.4, 0.4], [10, 10, 0]),
        ],
        "b": [  # overshoots: 15 and 12 objects per cycle
            run("b", 0, [0, 15, 30], [0.1, 0.2, 0.6], [15, 15, 0]),
            run("b", 1, [0, 12, 24], [0.2, 0.2, 0.2], [12, 12, 0]),
        ],
    }


def test_cost_range_auc_and_equal_cost(groups: dict[str, list[RunData]]) -> None:
    s = summarise(groups)
    assert s["cost_range"] == [0.0, 20.0]  # the smallest last cost: a's 20
    assert s["equal_cost_grid"] == [0.0, 10.0, 20.0]
    a, b = s["labels"]["a"], s["labels"]["b"]
    # a0: (10 * (0.1 + 0.3) / 2 + 10 * (0.3 + 0.5) / 2) / 20 = 0.3; a1: (3 + 4) / 20 = 0.35
    assert a["auc"]["per_seed"]["0"] == pytest.approx(0.3)
    assert a["auc"]["per_seed"]["1"] == pytest.approx(0.35)
    assert a["auc"]["mean"] == pytest.approx(0.325) and a["auc"]["n"] == 2
    # b0 at 20 objects: 0.2 + 0.4 * 5/15 = 1/3; area 15 * 0.15 + 5 * (0.2 + 1/3) / 2
    b0 = (15 * 0.15 + 5 * (0.2 + 1 / 3) / 2) / 20
    assert b["auc"]["per_seed"]["0"] == pytest.approx(b0)
    assert b["auc"]["per_seed"]["1"] == pytest.approx((12 * 0.2 + 8 * 0.2) / 20)
    # equal cost: b0 at 10 objects is 0.1 + 0.1 * 10/15, b1 stays at 0.2
    assert b["equal_cost"]["mean"][1] == pytest.approx(((0.1 + 0.1 * 10 / 15) + 0.2) / 2)
    assert b["equal_cost"]["mean"][2] == pytest.approx((1 / 3 + 0.2) / 2)
    assert a["equal_cost"]["mean"] == pytest.approx([0.15, 0.35, 0.45])
    # overshoot and spent per cycle: b spends 13.5 on average, +35 % over the budget
    assert a["overshoot"] == pytest.approx(0.0) and b["overshoot"] == pytest.approx(0.35)
    assert b["cycles"][0]["spent"]["mean"] == pytest.approx(13.5)
    assert b["cycles"][0]["spent"]["std"] == pytest.approx(math.sqrt(4.5))
    assert "spent" not in b["cycles"][2]  # the last cycle selects nothing
    assert b["cycles"][1]["added_objects"]["mean"] == pytest.approx(13.5)
    assert a["cycles"][2]["mAP"] == {
        "mean": pytest.approx(0.45),
        "std": pytest.approx(math.sqrt(0.005)),
        "n": 2,
    }


def test_paired_differences(groups: dict[str, list[RunData]]) -> None:
    s = summarise(groups)
    by = {p["metric"]: p for p in s["paired"]}
    assert set(by) == {"auc", "mAP@equal_cost"}
    auc = by["auc"]
    assert (auc["a"], auc["b"], auc["n"]) == ("a", "b", 2)
    d0 = 0.3 - (15 * 0.15 + 5 * (0.2 + 1 / 3) / 2) / 20
    d1 = 0.35 - 0.2
    assert auc["per_seed"]["0"] == pytest.approx(d0) and auc["per_seed"]["1"] == pytest.approx(d1)
    mean, std = (d0 + d1) / 2, abs(d0 - d1) / math.sqrt(2)
    half = 12.706205 * std / math.sqrt(2)  # t_{0.975, 1}
    assert auc["mean"] == pytest.approx(mean)
    assert auc["low"] == pytest.approx(mean - half, abs=1e-6)
    assert auc["high"] == pytest.approx(mean + half, abs=1e-6)
    fin = by["mAP@equal_cost"]
    assert fin["cost"] == 20.0
    assert fin["per_seed"] == {"0": pytest.approx(0.5 - 1 / 3), "1": pytest.approx(0.2)}


def test_unpaired_seeds_and_single_cycle() -> None:
    groups = {
        "a": [run("a", 0, [0, 10, 20], [0.1, 0.3, 0.5], [10, 10, 0])],
        "b": [run("b", 1, [0, 10, 20], [0.1, 0.3, 0.5], [10, 10, 0])],
    }
    assert summarise(groups)["paired"] == []  # no common seed: nothing to pair
    only0 = {"a": [run("a", 0, [0], [0.1], [0])]}
    s = summarise(only0)
    assert s["labels"]["a"]["auc"]["mean"] is None  # no cost range yet


def test_a_no_acquisition_control_leaves_the_others_range(
    groups: dict[str, list[RunData]],
) -> None:
    """A control that adds no object (strategy ``none``) beside a and b: a and b keep
    their cost range, AUCs and differences; the control's AUC and its differences are
    NaN (no cost range of its own), its per-cycle mAP is reported as usual."""
    alone = summarise(groups)
    with_control = {
        **groups,
        "none": [run("none", 0, [0, 0, 0], [0.1, 0.15, 0.2], [0, 0, 0])],
    }
    s = summarise(with_control)
    assert s["cost_range"] == alone["cost_range"] == [0.0, 20.0]
    for label in ("a", "b"):
        assert s["labels"][label]["auc"] == alone["labels"][label]["auc"]
    none = s["labels"]["none"]
    assert none["auc"]["per_seed"] == {"0": None} and none["auc"]["mean"] is None
    assert [c["mAP"]["mean"] for c in none["cycles"]] == pytest.approx([0.1, 0.15, 0.2])
    assert [p for p in s["paired"] if "none" not in (p["a"], p["b"])] == alone["paired"]
    vs_none = [p for p in s["paired"] if p["b"] == "none"]
    assert [(p["a"], p["metric"], p["mean"]) for p in vs_none] == [
        ("a", "auc", None),
        ("b", "auc", None),
    ]  # and no mAP at equal cost: the control has no value at a cost
    assert none["equal_cost"]["n"] == [0, 0, 0]
    # only the control: no range at all
    only = summarise({"none": with_control["none"]})
    assert only["cost_range"] == [0.0, 0.0] and only["labels"]["none"]["auc"]["mean"] is None
