"""The selection document: one typed, versioned file, read and written in one place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mural.errors import DataError
from mural.selection import (
    COST_ESTIMATED,
    SELECTION_FORMAT,
    BoxPick,
    ImagePick,
    RegionPick,
    SelectionResult,
    read_selection,
    write_selection,
)


def _regions() -> SelectionResult:
    return SelectionResult(
        kind="regions",
        strategy="mural",
        cycle=2,
        budget=5.0,
        items=[
            RegionPick(
                7,
                1,
                (80, 120),
                (10, 0, 130, 80),
                0.25,
                image_size=(40, 60),
                scaled_size=(80, 120),
                file_name="a.png",
                estimated_cost=2,
                predictions=[{"category_id": 3, "box": [1.0, 2.0, 3.0, 4.0], "score": 0.5}],
            )
        ],
        spent=2,
        cost=2,
        options={"reduce": "mean"},
        cost_source=COST_ESTIMATED,
        score_threshold=0.05,
        scales=[(40, 60), (80, 120)],
        seed=3,
        visible_threshold=0.7,
        estimated_spent=2,
        dataset={"annotations": "x.json", "images": None},
        categories=[{"id": 3, "name": "cat"}],
        inputs={"pool": None},
    )


def test_round_trip_and_recorded_parameters(tmp_path: Path) -> None:
    boxes = SelectionResult(
        "boxes", "box_random", 1, 3, [BoxPick(1, None, (0, 0, 2, 2), 0.1, 0, 0.3, 0.0)], 0, 1
    )
    images = SelectionResult("images", "random", 1, 3, [ImagePick(4, 0.0, [(4, 9)], [2])], 1, 1)
    for sel in (_regions(), boxes, images):
        p = tmp_path / f"{sel.kind}.json"
        write_selection(p, sel)
        doc = json.loads(p.read_text())
        assert doc["format"] == SELECTION_FORMAT and doc["kind"] == sel.kind
        assert isinstance(doc[sel.kind], list) and "items" not in doc
        for key in ("strategy", "options", "score_threshold", "scales", "budget", "seed"):
            assert key in doc
        assert read_selection(p) == sel
    doc = _regions().to_json()
    r = doc["regions"][0]
    # f = 2: the window in original pixels, and the task id
    assert r["window_original"] == [5.0, 0.0, 65.0, 40.0] and r["task_id"] == "img7_s1_x10_y0"
    assert "cost" not in r  # estimated cost: no ground-truth cost per region


def test_an_unversioned_loop_document_is_still_read(tmp_path: Path) -> None:
    p = tmp_path / "selection.json"
    old = {
        "kind": "images",
        "strategy": "random",
        "cycle": 1,
        "budget": 3,
        "spent": 1,
        "cost": 1,
        "options": {},
        "category_distribution": {"2": 1},
        "category_names": {"2": "dog"},
        "items": [{"image_id": 4, "score": 0.0, "new_objects": [[4, 9]], "categories": [2]}],
    }
    p.write_text(json.dumps(old))
    sel = read_selection(p)
    assert sel.items == [ImagePick(4, 0.0, [(4, 9)], [2])] and sel.category_names() == {2: "dog"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(format="mural-selection"), "'format'"),
        (lambda d: d.update(format="something-else/9"), "'format'"),
        (lambda d: d.update(kind="pixels"), "kind"),
        (lambda d: d.pop("budget"), "'budget'"),
        (lambda d: d.update(cycle="two"), "'cycle'"),
        (lambda d: d.update(cost="cheap"), "'cost'"),
        (lambda d: d["regions"][0].pop("window"), "'regions[0]'"),
        (lambda d: d["regions"][0].update(window=[0, 0, 1]), "'regions[0]'"),
        (lambda d: d.update(regions={}), "'regions'"),
        (lambda d: d.update(scales=[[1]]), "'scales'"),
    ],
)
def test_a_damaged_or_foreign_file_is_one_line_naming_file_and_field(
    tmp_path: Path, change, field: str
) -> None:
    doc = _regions().to_json()
    change(doc)
    p = tmp_path / "selection.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(DataError) as exc:
        read_selection(p)
    msg = str(exc.value)
    assert msg.startswith(str(p)) and field in msg and "\n" not in msg


@pytest.mark.parametrize("text", ["[1, 2]", '"x"', "{", ""])
def test_not_an_object(tmp_path: Path, text: str) -> None:
    p = tmp_path / "selection.json"
    p.write_text(text)
    with pytest.raises(DataError, match=str(p)):
        read_selection(p)


def test_export_refuses_a_damaged_selection_with_exit_2(tmp_path: Path, capsys) -> None:
    from mural.cli import main

    p = tmp_path / "selection.json"
    doc = _regions().to_json()
    doc["regions"][0]["scale"] = "big"
    p.write_text(json.dumps(doc))
    assert main(["export", str(p), "--out", str(tmp_path / "tasks")]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "'regions[0]'" in err and "Traceback" not in err
    assert not (tmp_path / "tasks").exists()


def test_pool_acquire_refuses_an_estimated_selection(tmp_path: Path) -> None:
    # estimated costs come from predictions, not from ground truth: nothing to acquire
    from mural.data.pool import LabeledPool

    from .strategies.helpers import make_dataset

    ds = make_dataset(tmp_path)
    pool = LabeledPool(ds)
    sel = _regions()
    sel.items = [RegionPick(1, 0, (40, 60), (0, 0, 60, 40), 0.5)]
    with pytest.raises(DataError, match="mural import"):
        pool.acquire(sel, 1)
    assert pool.num_labelled() == 0
    sel.cost_source = "ground truth"
    assert pool.acquire(sel, 1) == 3 == pool.num_labelled()  # image 1's three objects
