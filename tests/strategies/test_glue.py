"""Hand-computed checks of the strategies' glue against literal computations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mural.core import known_detections
from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.detections import Detections, ScaleDetections
from mural.strategies import build_strategy, torchvision_access
from mural.strategies._common import filter_detections, image_reduce

from .helpers import make_context, make_dataset, make_detections, make_pool, tiny_model


def _dataset(objs: dict[int, list[tuple[list[float], int]]], h: int = 40, w: int = 60) -> Any:
    images = [{"id": i, "file_name": f"{i}.png", "height": h, "width": w} for i in objs]
    anns, aid = [], 1
    for i, lst in objs.items():
        for (x0, y0, x1, y1), c in lst:
            anns.append(
                {"id": aid, "image_id": i, "category_id": c, "bbox": [x0, y0, x1 - x0, y1 - y0]}
            )
            aid += 1
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return CocoDataset.from_dict({"images": images, "annotations": anns, "categories": cats})


def _dets(ds: Any, per: dict[int, list[tuple[list[float], float, int]]], scale: Any) -> Detections:
    from mural.core import scale_factor, scaled_size

    ids = ds.image_ids()
    rows = [per.get(i, []) for i in ids]
    sizes = np.array([[ds.image(i).height, ds.image(i).width] for i in ids])
    f = np.array([scale_factor(tuple(s), scale) for s in sizes])
    bx = [np.array(b, dtype=np.float64) * f[j] for j, r in enumerate(rows) for b, _, _ in r]
    return Detections(
        2,
        [
            ScaleDetections(
                scale=scale,
                image_ids=np.array(ids),
                image_sizes=sizes,
                scaled_sizes=np.array([scaled_size(tuple(s), scale) for s in sizes]),
                offsets=np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64),
                boxes=np.array(bx, dtype=np.float32).reshape(-1, 4),
                scores=np.array([s for r in rows for _, s, _ in r], dtype=np.float32),
                labels=np.array([c for r in rows for _, _, c in r], dtype=np.int64),
            )
        ],
    )


def test_threshold_and_known_filtering_by_hand() -> None:
    # image 1: GT a=[2,2,10,10] (labelled), b=[30,20,50,36]; image 2 fully labelled
    ds = _dataset({1: [([2, 2, 10, 10], 1), ([30, 20, 50, 36], 2)], 2: [([1, 1, 5, 5], 1)]})
    pool = LabeledPool(ds)
    pool.add_objects(1, [1], cycle=0)
    pool.add_full_images([2], cycle=0)
    dets = _dets(
        ds,
        {
            1: [
                ([2, 2, 10, 10], 0.9, 0),  # IoU 1 with labelled a -> known
                ([2, 2, 7, 7], 0.8, 0),  # IoU 25/64 < 0.5 with a -> kept
                ([30, 20, 50, 36], 0.2, 1),  # under the threshold -> dropped
                ([31, 21, 49, 35], 0.3, 1),  # exactly at the threshold -> kept
            ],
            2: [([1, 1, 5, 5], 0.5, 0)],  # image 2 is not in D_U
        },
        (80, 120),  # f = 2: compared in scaled pixels
    )
    fd = filter_detections(dets.per_scale[0], pool, pool.unlabelled_images(), 0.3)
    assert fd.image_ids.tolist() == [1]
    assert fd.offsets.tolist() == [0, 2]
    np.testing.assert_allclose(fd.boxes, [[4, 4, 14, 14], [62, 42, 98, 70]])
    np.testing.assert_allclose(fd.scores, [0.8, 0.3], rtol=1e-6)
    assert fd.labels.tolist() == [0, 1]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_vectorised_filter_equals_literal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(1, 6))
    objs = {}
    for i in range(1, n_img + 1):
        k = int(rng.integers(0, 5))
        lst = []
        for _ in range(k):
            x0, y0 = rng.uniform(0, 40), rng.uniform(0, 25)
            lst.append(([x0, y0, x0 + rng.uniform(2, 20), y0 + rng.uniform(2, 15)], 1))
        objs[i] = lst
    ds = _dataset(objs)
    pool = LabeledPool(ds)
    for i in ds.image_ids():
        ids = ds.ann_ids(i)
        if ids.size and rng.random() < 0.7:
            pool.add_objects(i, ids[rng.random(ids.size) < 0.5].tolist(), cycle=0)
    if rng.random() < 0.3:
        pool.add_full_images([1], cycle=0)
    per = {}
    for i in ds.image_ids():
        rows = []
        gt = ds.boxes_xyxy(i)
        for _ in range(int(rng.integers(0, 6))):
            if gt.shape[0] and rng.random() < 0.6:
                b = gt[rng.integers(gt.shape[0])] + rng.uniform(-2, 2, 4)
                b = np.clip(b, 0, [60, 40, 60, 40])
                if b[2] - b[0] < 1 or b[3] - b[1] < 1:
                    continue
            else:
                x0, y0 = rng.uniform(0, 40), rng.uniform(0, 25)
                b = np.array([x0, y0, x0 + 10, y0 + 10])
            rows.append((b.tolist(), float(rng.uniform(0, 1)), int(rng.integers(0, 2))))
        per[i] = rows
    scale = (60, 90)  # f = 1.5
    sd = _dets(ds, per, scale).per_scale[0]
    thr = float(rng.uniform(0, 0.6))
    du = pool.unlabelled_images()
    fd = filter_detections(sd, pool, du, thr)
    # literal: per image, per detection, with mural.core.known_detections
    want_boxes, want_ids = [], []
    for j, iid in enumerate(sd.image_ids.tolist()):
        if iid not in du:
            continue
        want_ids.append(iid)
        r = sd.rows(j)
        b = sd.boxes[r].astype(np.float64)
        s = sd.scores[r]
        known = known_detections(b, pool.labelled_boxes(iid) * 1.5, 0.5)
        for k in range(b.shape[0]):
            if s[k] >= thr and not known[k]:
                want_boxes.append(b[k])
    assert fd.image_ids.tolist() == want_ids
    np.testing.assert_allclose(fd.boxes, np.array(want_boxes).reshape(-1, 4))
    assert fd.offsets[-1] == len(want_boxes)


@pytest.mark.parametrize("weighting", [True, False])
def test_mural_eq4_score_by_hand(weighting: bool) -> None:
    # image 1 (40x60 at f=1: one window (0,0,60,40)) holds two detections;
    # image 2 is labelled: 3 objects of class 0 and 1 of class 1 -> N=4
    ds = _dataset(
        {
            1: [([2, 2, 10, 10], 1), ([30, 20, 50, 36], 2)],
            2: [([1, 1, 5, 5], 1), ([6, 6, 9, 9], 1), ([10, 10, 14, 14], 1), ([20, 1, 30, 9], 2)],
        }
    )
    pool = LabeledPool(ds)
    pool.add_full_images([2], cycle=0)
    assert pool.class_counts().tolist() == [3, 1]
    dets = _dets(ds, {1: [([2, 2, 10, 10], 0.8, 0), ([30, 20, 50, 36], 0.6, 1)]}, (40, 60))
    ctx = make_context(ds, pool, dets, 10)
    res = build_strategy("mural", category_weighting=weighting).select(ctx)
    assert len(res.items) == 1
    r = res.items[0]
    assert (r.image_id, r.scale_index, r.scale, r.window) == (1, 0, (40, 60), (0, 0, 60, 40))
    want = (0.2 * 4 / 3 + 0.4 * 4 / 1) / 2 if weighting else (0.2 + 0.4) / 2
    assert r.score == pytest.approx(want)
    assert r.new_objects == [(1, 1), (1, 2)] and r.categories == [1, 2]
    assert res.spent == res.cost == 2


def test_mural_scale_aware_round_robin_and_union(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    dets = make_detections(ds)
    for aware in (True, False):
        pool = make_pool(ds)
        res = build_strategy("mural", scale_aware=aware).select(make_context(ds, pool, dets, 1000))
        scales = [it.scale_index for it in res.items]
        assert set(scales) == {0, 1}
        if not aware:  # the union sorted by score
            s = [it.score for it in res.items]
            assert s == sorted(s, reverse=True)
    one = build_strategy("mural", scales=[1]).select(make_context(ds, make_pool(ds), dets, 1000))
    assert {it.scale_index for it in one.items} == {1}
    assert all(it.scale == (80, 120) for it in one.items)


def test_box_uncertainty_by_hand() -> None:
    ds = _dataset({1: [([0, 0, 10, 10], 1), ([5, 0, 15, 10], 2)]})
    pool = LabeledPool(ds)
    dets = _dets(
        ds,
        {
            1: [
                ([0, 0, 10, 9], 0.4, 0),  # IoU 0.9 with a, 4/15 with b -> labels a
                ([1, 0, 11, 10], 0.5, 0),  # best is a (taken), then b: IoU 6/14 < 0.5
                ([40, 30, 50, 38], 0.35, 1),  # matches nothing
            ]
        },
        (40, 60),
    )
    res = build_strategy("box_uncertainty").select(make_context(ds, pool, dets, 3))
    assert [b.ann_id for b in res.items] == [None, 1, None]  # order 0.65, 0.60, 0.50
    assert [round(b.score, 6) for b in res.items] == [0.65, 0.6, 0.5]
    assert res.cost == 3 and res.spent == 1
    res2 = build_strategy("box_uncertainty").select(make_context(ds, pool, dets, 2))
    assert res2.cost == 2 and [b.ann_id for b in res2.items] == [None, 1]


def test_uncertainty_image_scores_by_hand() -> None:
    ds = _dataset({1: [([0, 0, 10, 10], 1)], 2: [([0, 0, 10, 10], 1)], 3: [([0, 0, 9, 9], 1)]})
    pool = LabeledPool(ds)
    dets = _dets(
        ds, {1: [([0, 0, 10, 10], 0.9, 0), ([5, 5, 20, 20], 0.5, 0)], 2: [([0, 0, 9, 9], 0.4, 0)]},
        (40, 60),
    )  # fmt: skip
    for reduce, want in (
        ("mean", [(2, 0.6), (1, 0.3), (3, 0.0)]),
        ("max", [(2, 0.6), (1, 0.5), (3, 0.0)]),
    ):
        res = build_strategy("uncertainty", reduce=reduce).select(make_context(ds, pool, dets, 10))
        got = [(it.image_id, round(it.score, 6)) for it in res.items]
        assert got == want
    res = build_strategy("uncertainty", empty_score=1.0).select(make_context(ds, pool, dets, 10))
    assert [it.image_id for it in res.items] == [3, 2, 1]


def test_image_reduce_literal() -> None:
    vals = np.array([0.1, 0.5, 0.2, 0.9])
    off = np.array([0, 2, 2, 4])
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(image_reduce(vals, off, "mean", -1, rng), [0.3, -1, 0.55])
    np.testing.assert_allclose(image_reduce(vals, off, "max", -1, rng), [0.5, -1, 0.9])
    r = image_reduce(vals, off, "random", -1, np.random.default_rng(5))
    assert r[0] in (0.1, 0.5) and r[1] == -1 and r[2] in (0.2, 0.9)


def test_torchvision_access_matches_model_output(tmp_path: Path) -> None:
    import torch

    ds = make_dataset(tmp_path)
    model = tiny_model()
    acc = torchvision_access(model, ds, batch_size=2)
    preds = acc.predict_views([1, 3, 4], "none")
    for iid, p in zip([1, 3, 4], preds, strict=True):
        img = acc._load(iid)
        with torch.no_grad():
            ref = model([img])[0]
        np.testing.assert_allclose(p["boxes"], ref["boxes"].double().numpy(), atol=1e-4)
        np.testing.assert_allclose(p["scores"], ref["scores"].double().numpy(), atol=1e-6)
        assert p["labels"].tolist() == (ref["labels"] - 1).tolist()
        np.testing.assert_allclose(p["probs"].sum(1), 1.0, atol=1e-6)
        # the score is the probability of the label's class (background last)
        np.testing.assert_allclose(
            p["probs"][np.arange(len(p["labels"])), p["labels"]], p["scores"]
        )
    # hflip: the flipped view's boxes come back in original pixels, inside the image
    for p in acc.predict_views([1], "hflip") + acc.predict_views([1], "resize:0.8"):
        assert (p["boxes"][:, 0] >= -1e-6).all() and (p["boxes"][:, 2] <= 60 + 1e-4).all()
    a = acc.predict_views([1], "noise:16", seed=3)[0]["scores"]
    b = acc.predict_views([1], "noise:16", seed=3)[0]["scores"]
    np.testing.assert_array_equal(a, b)


def test_lt_c_score_by_hand() -> None:
    class Fake:
        num_classes = 2

        def predict_views(self, ids: Any, transform: str, *, seed: int = 0) -> Any:
            out = []
            for i in ids:
                if i == 1:  # T = 1, P = 0.9 -> J = 0.9; T = 0.5 (area 50 of 100), P = 0.6 -> 0.1
                    out.append(
                        {
                            "boxes": np.array([[0, 0, 10, 10], [0, 0, 10, 5]], float),
                            "proposals": np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float),
                            "scores": np.array([0.9, 0.6]),
                            "labels": np.array([0, 1]),
                            "probs": np.zeros((2, 3)),
                        }
                    )
                elif i == 2:  # J = |1 + 0.3 - 1| = 0.3
                    out.append(
                        {
                            "boxes": np.array([[0, 0, 10, 10]], float),
                            "proposals": np.array([[0, 0, 10, 10]], float),
                            "scores": np.array([0.3]),
                            "labels": np.array([0]),
                            "probs": np.zeros((1, 3)),
                        }
                    )
                else:
                    z = np.zeros((0, 4))
                    out.append({"boxes": z, "proposals": z, "scores": np.zeros(0),
                                "labels": np.zeros(0, int), "probs": np.zeros((0, 3))})  # fmt: skip
            return out

    ds = _dataset({1: [([0, 0, 10, 10], 1)], 2: [([0, 0, 10, 10], 1)], 3: [([0, 0, 9, 9], 1)]})
    ctx = make_context(ds, LabeledPool(ds), None, 10, model=Fake())
    res = build_strategy("lt_c", score_threshold=0.0).select(ctx)
    assert [(it.image_id, round(it.score, 6)) for it in res.items] == [(1, 0.1), (2, 0.3), (3, 1.0)]


def test_vaal_needs_no_torch_at_import_and_reads_images(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    pool = make_pool(ds)
    ctx = make_context(ds, pool, make_detections(ds), 3)
    res = build_strategy("vaal", preset="small", iterations=2, channels=4).select(ctx)
    assert res.kind == "images" and res.cost >= 3
