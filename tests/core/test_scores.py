"""Informative score (contract §3, Eq. 2 and Eq. 4) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from mural import informative_score
from mural.core import class_weights, generate_candidates_batch, region_scores


def test_eq2_mean_max():
    assert informative_score([0.9, 0.5, 0.2]) == pytest.approx((0.1 + 0.5 + 0.8) / 3)
    assert informative_score([0.9, 0.5, 0.2], reduce="max") == pytest.approx(0.8)
    assert informative_score([1.0]) == 0.0


def test_eq4_hand_computed_with_unlabelled_class():
    # Labelled counts: class 0 has 6, class 1 has 2, class 2 none -> N = 8.
    # P(0) = 6/8, P(1) = 2/8, P(2) = max(0, 1)/8 = 1/8.
    counts = [6, 2, 0]
    conf = [0.5, 0.8, 0.9]
    labels = [0, 1, 2]
    terms = [0.5 / (6 / 8), 0.2 / (2 / 8), 0.1 / (1 / 8)]
    assert informative_score(conf, labels, counts) == pytest.approx(np.mean(terms))
    assert informative_score(conf, labels, counts, reduce="max") == pytest.approx(max(terms))
    np.testing.assert_allclose(class_weights(counts), [8 / 6, 8 / 2, 8 / 1])


def test_eq4_nothing_labelled_yet_weights_all_one():
    # N = 0: P(o) = 1 / 1 for every class, so Eq. 4 equals Eq. 2.
    assert informative_score([0.3, 0.6], [0, 1], [0, 0]) == pytest.approx(
        informative_score([0.3, 0.6])
    )


def test_random_reduction_uses_callers_generator():
    conf, labels = [0.1, 0.5, 0.9, 0.7], [0, 1, 0, 1]
    terms = {0.9, 0.5, 0.1, 0.3}
    a = [
        informative_score(conf, labels, reduce="random", rng=np.random.default_rng(7))
        for _ in range(3)
    ]
    assert len(set(a)) == 1  # same seed, same draw
    draws = {
        round(informative_score(conf, labels, reduce="random", rng=np.random.default_rng(s)), 9)
        for s in range(60)
    }
    assert draws == {round(t, 9) for t in terms}  # uniform over the detections


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidences": [0.5], "reduce": "median"}, "unknown reduction"),
        ({"confidences": [float("nan")]}, "finite"),
        ({"confidences": [1.5]}, r"\[0, 1\]"),
        ({"confidences": []}, "at least one"),
        ({"confidences": [0.5], "labels": [3], "class_counts": [1, 2]}, "labels must lie"),
        ({"confidences": [0.5], "labels": [0], "class_counts": [-1, 2]}, "non-negative"),
        ({"confidences": [0.5, 0.2], "labels": [0], "class_counts": [1, 2]}, "same length"),
    ],
)
def test_bad_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        informative_score(**kwargs)


def test_region_scores_use_every_detection_inside_not_only_assigned(rng):
    # A window often holds detections assigned to an earlier candidate too: the batch
    # scores must equal informative_score over *every* detection inside the window.
    boxes, sizes, regions, conf, labels = [], [], [], [], []
    offsets = [0]
    for i in range(30):
        n = 0 if i == 4 else int(rng.integers(1, 9))
        hs, ws = (int(v) for v in rng.integers(12, 40, size=2))
        xy = rng.uniform(0, [ws, hs], size=(n, 2))
        b = np.concatenate([xy, xy + rng.uniform(1, 10, size=(n, 2))], axis=1)
        boxes.append(b)
        conf.append(rng.uniform(0, 1, n))
        labels.append(rng.integers(0, 3, n))
        sizes.append((hs, ws))
        regions.append((int(rng.integers(6, 20)), int(rng.integers(6, 20))))
        offsets.append(offsets[-1] + n)
    B, P, L = np.concatenate(boxes), np.concatenate(conf), np.concatenate(labels)
    cs = generate_candidates_batch(B, offsets, sizes, regions)
    counts = [5, 0, 2]
    for reduce in ("mean", "max"):
        got = region_scores(cs, B, offsets, P, L, class_counts=counts, reduce=reduce)
        for k in range(len(cs)):
            i = int(cs.image[k])
            x0, y0, x1, y1 = cs.window[k]
            sl = slice(offsets[i], offsets[i + 1])
            bb = B[sl]
            inside = (bb[:, 0] >= x0) & (bb[:, 2] <= x1) & (bb[:, 1] >= y0) & (bb[:, 3] <= y1)
            assert inside[cs.assigned(k)].all()
            want = informative_score(P[sl][inside], L[sl][inside], counts, reduce=reduce)
            assert got[k] == pytest.approx(want)
    r1 = region_scores(cs, B, offsets, P, L, reduce="random", rng=np.random.default_rng(3))
    r2 = region_scores(cs, B, offsets, P, L, reduce="random", rng=np.random.default_rng(3))
    np.testing.assert_array_equal(r1, r2)
    for k in range(len(cs)):
        i = int(cs.image[k])
        x0, y0, x1, y1 = cs.window[k]
        sl = slice(offsets[i], offsets[i + 1])
        bb = B[sl]
        inside = (bb[:, 0] >= x0) & (bb[:, 2] <= x1) & (bb[:, 1] >= y0) & (bb[:, 3] <= y1)
        assert np.isclose(1 - P[sl][inside], r1[k]).any()
