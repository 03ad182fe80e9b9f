"""Selection from predictions: estimated cost, cross-scale objects, known boxes, Eq. 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.errors import ConfigError
from mural.human.predictions import PredictionFile, load_predictions
from mural.human.select import COST_ESTIMATED, select_from_predictions

from .fixtures import write_dataset


@pytest.fixture
def ds(tmp_path: Path) -> CocoDataset:  # the same images, no ground truth
    return CocoDataset.load(write_dataset(tmp_path, with_gt=False), tmp_path / "images")


def _dets(ds, tmp_path: Path, per_scale: list[tuple[tuple[int, int], list[dict]]]):
    files = []
    for k, (scale, entries) in enumerate(per_scale):
        p = tmp_path / f"r{k}.json"
        p.write_text(json.dumps(entries))
        files.append(PredictionFile(p, scale))
    return load_predictions(files, ds)


def e(iid: int, cid: int, bbox: list[float], score: float) -> dict:
    return {"image_id": iid, "category_id": cid, "bbox": bbox, "score": score}


def test_estimated_cost_counts_predicted_objects(ds, tmp_path: Path) -> None:
    # One scale with f = 1: the only window of a 40x60 image is the whole image.
    dets = _dets(
        ds,
        tmp_path,
        [
            (
                (40, 60),
                [
                    e(1, 3, [1, 1, 5, 5], 0.9),
                    e(1, 7, [20, 5, 5, 5], 0.8),
                    e(1, 9, [40, 20, 8, 8], 0.6),
                    e(1, 9, [10, 20, 8, 8], 0.3),
                ],
            )
        ],
    )
    sel = select_from_predictions(ds, dets, budget=1, score_threshold=0.5)
    assert sel["cost"] == COST_ESTIMATED
    assert len(sel["regions"]) == 1
    r = sel["regions"][0]
    assert r["window"] == [0, 0, 60, 40] and r["window_original"] == [0.0, 0.0, 60.0, 40.0]
    assert r["estimated_cost"] == 3 and sel["spent"] == 3  # the 0.3 one is below threshold
    assert "cost" not in r
    # Eq. 4 with an empty pool: all counts 0 -> P(o) = 1 -> mean(1 - p)
    assert r["score"] == pytest.approx(((1 - 0.9) + (1 - 0.8) + (1 - 0.6)) / 3)
    assert len(r["predictions"]) == 3
    # the default threshold is the detector's own (0.05), as in the loop: all four count
    sel = select_from_predictions(ds, dets, budget=1)
    assert sel["score_threshold"] == 0.05 and sel["spent"] == 4


def test_an_object_predicted_at_two_scales_costs_once(ds, tmp_path: Path) -> None:
    dets = _dets(
        ds,
        tmp_path,
        [
            ((40, 60), [e(2, 3, [10, 10, 10, 10], 0.7)]),
            ((80, 120), [e(2, 3, [10.5, 10, 10, 10], 0.6)]),
        ],  # f = 2
    )
    sel = select_from_predictions(ds, dets, budget=10)
    assert [r["scale_index"] for r in sel["regions"]] == [0, 1]
    assert [r["estimated_cost"] for r in sel["regions"]] == [1, 0]
    assert sel["spent"] == 1
    # scale 1: a 60x40 window on the 120x80 image holding the box [21, 20, 41, 40]
    x0, y0, x1, y1 = sel["regions"][1]["window"]
    assert (x1 - x0, y1 - y0) == (60, 40) and x0 <= 21 and x1 >= 41 and y0 <= 20 and y1 >= 40


def test_known_detections_take_no_part(ds, tmp_path: Path) -> None:
    dets = _dets(ds, tmp_path, [((40, 60), [e(3, 9, [20, 10, 9, 9], 0.6)])])
    pool = LabeledPool(ds)
    # a human already labelled this object in a region of image 3 (no GT id)
    pool.add_region_labels(3, (40, 60), 0, (0, 0, 60, 40), 1, [[20, 10, 29, 19]], [9])
    assert select_from_predictions(ds, dets, 10, pool=pool)["regions"] == []
    sel = select_from_predictions(ds, dets, 10)
    assert len(sel["regions"]) == 1
    assert select_from_predictions(ds, dets, 10, pool=pool)["cycle"] == 2


def test_class_weighting_prefers_rare_classes(ds, tmp_path: Path) -> None:
    dets = _dets(
        ds,
        tmp_path,
        [((40, 60), [e(1, 3, [5, 5, 10, 10], 0.7), e(2, 7, [5, 5, 10, 10], 0.7)])],
    )
    pool = LabeledPool(ds)  # many 'cat' (id 3) labelled, no 'dog' (id 7)
    pool.add_region_labels(5, (40, 60), 0, (0, 0, 60, 40), 1, [[0, 0, 5, 5]] * 4, [3] * 4)
    with_w = select_from_predictions(ds, dets, 1, pool=pool)
    assert [r["image_id"] for r in with_w["regions"]] == [2]
    # Eq. 4: (1 - 0.7) / P(dog) with P(dog) = max(0, 1) / 4
    assert with_w["regions"][0]["score"] == pytest.approx(0.3 * 4)
    without = select_from_predictions(ds, dets, 1, pool=pool, class_weighting=False)
    assert [r["image_id"] for r in without["regions"]] == [1]  # tie: first image


def test_ground_truth_cost_needs_ground_truth(ds, tmp_path: Path) -> None:
    dets = _dets(ds, tmp_path, [((40, 60), [])])
    with pytest.raises(ConfigError, match="--cost predictions"):
        select_from_predictions(ds, dets, 1, cost="ground-truth")
    assert select_from_predictions(ds, dets, 1)["regions"] == []


@pytest.mark.parametrize(
    "options",
    [{}, {"reduce": "max"}, {"reduce": "random"}, {"scale_aware": False}, {"scales": None}],
)
@pytest.mark.parametrize("budget", [1, 4, 1000])
def test_loop_and_cli_select_identically(tmp_path: Path, options: dict, budget: int) -> None:
    # The loop's `mural` strategy and `mural select` run one implementation: on the same
    # dataset, pool, detections, threshold and seed they pick the same regions.
    import numpy as np

    from mural.strategies import SelectionContext, build_strategy

    from ..strategies.helpers import make_dataset, make_detections, make_pool

    gt_ds = make_dataset(tmp_path)
    dets = make_detections(gt_ds)
    thr, seed = 0.3, 5
    ctx = SelectionContext(
        dataset=gt_ds,
        pool=make_pool(gt_ds),
        detections=dets,
        budget=budget,
        cycle=1,
        rng=np.random.default_rng(seed),
        score_threshold=thr,
    )
    loop = build_strategy("mural", **options).select(ctx).to_json()
    cli_opts = {
        "reduce": options.get("reduce", "mean"),
        "scale_aware": options.get("scale_aware", True),
    }
    cli = select_from_predictions(
        gt_ds,
        dets,
        budget,
        pool=make_pool(gt_ds),
        score_threshold=thr,
        cost="ground-truth",
        seed=seed,
        **cli_opts,
    )
    keys = ("image_id", "scale_index", "scale", "window", "score", "new_objects", "task_id")
    assert loop["regions"], "the case must select something"
    assert [{k: r[k] for k in keys} for r in loop["regions"]] == [
        {k: r[k] for k in keys} for r in cli["regions"]
    ]
    assert loop["spent"] == cli["spent"] and loop["cost"] == cli["cost"] == "ground truth"
    assert loop["score_threshold"] == cli["score_threshold"] == thr
