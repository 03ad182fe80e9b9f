"""The contract every registered strategy keeps (contract §7), on a tiny pool."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mural.core import generate_candidates_batch
from mural.errors import ConfigError
from mural.strategies import (
    SelectionResult,
    build_strategy,
    list_strategies,
    strategy_class,
    torchvision_access,
)

from .helpers import make_context, make_dataset, make_detections, make_pool, tiny_model

# CPU-fast settings; model strategies score every detection of the random-init model
FAST: dict[str, dict[str, Any]] = {
    "vaal": {"preset": "small", "iterations": 3, "channels": 4, "batch_size": 4},
    "cald": {"score_threshold": 0.0},
    "ls_c": {"score_threshold": 0.0, "noise_levels": [8, 24]},
    "lt_c": {"score_threshold": 0.0},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = Path(tmp_path_factory.mktemp("strategies"))
    ds = make_dataset(root)
    return {"dataset": ds, "detections": make_detections(ds), "model": tiny_model()}


def test_registry_lists_every_baseline() -> None:
    assert list_strategies() == [
        "box_random",
        "box_uncertainty",
        "cald",
        "ls_c",
        "lt_c",
        "mural",
        "none",
        "random",
        "uncertainty",
        "vaal",
    ]
    for name in list_strategies():
        cls = strategy_class(name)
        assert cls.name == name
        assert cls.granularity in ("image", "region", "box")
        assert cls.__module__.startswith("mural.strategies.")
        doc = __import__(cls.__module__, fromlist=["x"]).__doc__
        assert doc and any(ch.isdigit() for ch in doc)  # cites a paper (year/section)


def test_unknown_name_and_options_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="known strategies: box_random"):
        build_strategy("nope")
    with pytest.raises(ConfigError, match=r"unknown option 'foo'.*reduce"):
        build_strategy("mural", foo=1)
    with pytest.raises(ConfigError, match="option 'reduce' must be one of 'mean'"):
        build_strategy("mural", reduce="median")
    with pytest.raises(ConfigError, match="option 'score_threshold' must be a number in"):
        build_strategy("uncertainty", score_threshold=1.5)
    with pytest.raises(ConfigError, match="option 'scales'"):
        build_strategy("mural", scales=[0, 0])
    with pytest.raises(ConfigError, match="option 'augmentations'"):
        build_strategy("cald", augmentations=["shear:5"])
    with pytest.raises(ConfigError, match="option 'category_weighting' must be true or false"):
        build_strategy("mural", category_weighting="yes")


def _item_cost(res: SelectionResult, item: Any) -> int:
    return 1 if res.kind == "boxes" else len(item.new_objects)


def _run(world: dict[str, Any], name: str, budget: int, seed: int = 7) -> tuple[Any, Any, Any]:
    ds = world["dataset"]
    pool = make_pool(ds)
    ctx = make_context(ds, pool, world["detections"], budget, seed=seed, model=None)
    strat = build_strategy(name, **FAST.get(name, {}))
    if strat.needs_model:
        ctx.model = torchvision_access(world["model"], ds)
    return strat, ctx, strat.select(ctx)


def _exhausted(strat: Any, ctx: Any, res: SelectionResult) -> bool:
    """Whether the strategy ran out of items (what 'D_U exhausted' means for it)."""
    if res.kind == "images":
        return {it.image_id for it in res.items} == set(ctx.pool.unlabelled_images())
    if res.kind == "regions":
        _, _, inputs = strat.scale_inputs(ctx)
        total = sum(
            len(generate_candidates_batch(i.boxes, i.offsets, i.scaled_sizes, i.region_sizes))
            for i in inputs
        )
        return len(res.items) == total
    from mural.strategies._common import filter_detections

    fd = filter_detections(
        ctx.detections.per_scale[strat.scale_index(ctx)],
        ctx.pool,
        ctx.pool.unlabelled_images(),
        strat.threshold(ctx),
    )
    return len(res.items) == fd.scores.shape[0]


@pytest.mark.parametrize("name", list_strategies())
@pytest.mark.parametrize("budget", [0, 1, 4, 1000])
def test_contract(world: dict[str, Any], name: str, budget: int) -> None:
    strat, ctx, res = _run(world, name, budget)
    pool = ctx.pool
    before_keys = pool.labelled_keys()
    assert res.kind == strat.kind and res.strategy == name and res.budget == budget

    # budget: stop as soon as cost >= budget; overshoot only by the last item
    costs = [_item_cost(res, it) for it in res.items]
    assert res.cost == sum(costs)
    if name == "none":  # the no-acquisition control is no §7 baseline: it takes nothing
        assert res.items == [] and res.spent == res.cost == 0
    elif budget == 0:
        assert res.items == [] and res.spent == 0
    elif res.cost >= budget:
        assert res.cost - costs[-1] < budget
    else:
        assert _exhausted(strat, ctx, res), "under budget without exhausting D_U"
    if budget == 1000 and name != "none":
        assert _exhausted(strat, ctx, res)

    # spent = newly labelled objects; none of them labelled before; distinct
    new = res.new_objects()
    assert res.spent == len(new) == len(set(new))
    assert not (set(new) & before_keys)
    assert res.kind != "images" or len(res.image_ids()) == len(res.items)

    # category distribution sums to the selected objects, per the dataset's own GT
    truth = Counter(
        next(a.category_id for a in ctx.dataset.annotations_of(i) if a.id == aid) for i, aid in new
    )
    assert res.category_distribution() == dict(sorted(truth.items()))
    assert sum(res.category_distribution().values()) == res.spent

    # JSON round trip (through real JSON text)
    back = SelectionResult.from_json(json.loads(json.dumps(res.to_json())))
    assert back == res
    assert back.to_json() == res.to_json()

    # the pool acquires exactly `spent` new objects, and exactly those
    n0 = pool.num_labelled()
    assert pool.acquire(res, cycle=1) == res.spent
    assert pool.num_labelled() == n0 + res.spent
    assert pool.labelled_keys() - before_keys == set(new)


@pytest.mark.parametrize("name", list_strategies())
def test_deterministic_with_same_seed(world: dict[str, Any], name: str) -> None:
    a = _run(world, name, 5, seed=3)[2].to_json()
    b = _run(world, name, 5, seed=3)[2].to_json()
    assert a == b


@pytest.mark.parametrize("name", ["random", "box_random", "vaal"])
def test_seed_changes_random_choices(world: dict[str, Any], name: str) -> None:
    runs = {json.dumps(_run(world, name, 3, seed=s)[2].to_json()) for s in range(6)}
    assert len(runs) > 1


def test_select_does_not_change_pool(world: dict[str, Any]) -> None:
    for name in list_strategies():
        _, ctx, _ = _run(world, name, 4)
        assert ctx.pool.labelled_keys() == make_pool(world["dataset"]).labelled_keys()


def test_missing_inputs_raise_config_error(world: dict[str, Any]) -> None:
    ds = world["dataset"]
    ctx = make_context(ds, make_pool(ds), None, 3)
    with pytest.raises(ConfigError, match="needs the detector's detections"):
        build_strategy("mural").select(ctx)
    with pytest.raises(ConfigError, match="needs model access"):
        build_strategy("cald").select(ctx)
    ctx = make_context(ds, make_pool(ds), world["detections"], 3)
    with pytest.raises(ConfigError, match=r"'scale_index' must be in 0\.\.1"):
        build_strategy("uncertainty", scale_index=2).select(ctx)
    with pytest.raises(ConfigError, match=r"'scales' must hold scale indices in 0\.\.1"):
        build_strategy("mural", scales=[0, 5]).select(ctx)


def test_from_json_rejects_malformed() -> None:
    with pytest.raises(ConfigError, match="kind must be"):
        SelectionResult.from_json({"kind": "pixels"})
    with pytest.raises(ConfigError, match="malformed"):
        SelectionResult.from_json({"kind": "images", "items": []})


def test_default_scale_index_follows_train_scale(world: dict[str, Any]) -> None:
    ds = world["dataset"]
    s = build_strategy("uncertainty")
    ctx = make_context(ds, make_pool(ds), world["detections"], 3)
    assert s.scale_index(ctx) == 0
    ctx.train_scale = (70, 1000)
    assert s.scale_index(ctx) == 1
    assert build_strategy("uncertainty", scale_index=0).scale_index(ctx) == 0
    # the default threshold is the detector's own (issue 10: one protocol)
    assert s.threshold(ctx) == 0.05


@pytest.mark.parametrize("name", list_strategies())
def test_every_strategy_reads_the_context_threshold(world: dict[str, Any], name: str) -> None:
    # One setting for every strategy: no strategy has a hidden default of its own; an
    # explicit option still wins, and the selection document records the one it used.
    ds = world["dataset"]
    ctx = make_context(ds, make_pool(ds), world["detections"], 3)
    ctx.score_threshold = 0.9
    s = build_strategy(name)
    assert s.threshold(ctx) == 0.9
    if "score_threshold" in s.OPTIONS:
        assert build_strategy(name, score_threshold=0.4).threshold(ctx) == 0.4
    if s.needs_detections and not s.needs_model:
        assert s.select(ctx).to_json()["score_threshold"] == 0.9


def test_import_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mural.strategies as s; s.build_strategy('mural'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
