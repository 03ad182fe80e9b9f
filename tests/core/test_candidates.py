"""Algorithm 1 (contract §2): the fast generator equals the literal scan over every position."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mural import generate_candidates
from mural.core import generate_candidates_batch

from .literal import literal_algorithm1, literal_algorithm1_vectorised


def _as_tuples(cands):
    return [(c.window, c.objects) for c in cands]


@st.composite
def cases(draw):
    hs = draw(st.integers(1, 14))
    ws = draw(st.integers(1, 14))
    hr = draw(st.integers(1, 10))
    wr = draw(st.integers(1, 10))
    n = draw(st.integers(0, 9))
    # Coordinates on a quarter-pixel grid, so boxes often sit exactly on integer edges.
    coord = st.integers(0, 4 * 16).map(lambda v: v / 4)
    boxes = []
    for _ in range(n):
        x0, y0 = draw(coord), draw(coord)
        w = draw(st.integers(1, 4 * 12).map(lambda v: v / 4))
        h = draw(st.integers(1, 4 * 12).map(lambda v: v / 4))
        boxes.append((x0, y0, x0 + w, y0 + h))
    if boxes and draw(st.booleans()):
        boxes.append(boxes[draw(st.integers(0, len(boxes) - 1))])  # a duplicate box
    return boxes, (hs, ws), (hr, wr)


@settings(max_examples=400, deadline=None)
@given(cases())
def test_equals_literal_algorithm1(case):
    boxes, image_size, region_size = case
    fast = _as_tuples(generate_candidates(np.array(boxes).reshape(-1, 4), image_size, region_size))
    assert fast == literal_algorithm1(boxes, image_size, region_size)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_vectorised_literal_equals_literal(case):
    boxes, image_size, region_size = case
    assert literal_algorithm1_vectorised(boxes, image_size, region_size) == literal_algorithm1(
        boxes, image_size, region_size
    )


def test_random_float_boxes_against_literal(rng):
    for _ in range(60):
        hs, ws = rng.integers(8, 30, size=2)
        hr, wr = rng.integers(4, 16, size=2)
        n = int(rng.integers(0, 12))
        xy = rng.uniform(0, max(hs, ws), size=(n, 2))
        wh = rng.uniform(0.3, 10, size=(n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        fast = _as_tuples(generate_candidates(boxes, (hs, ws), (hr, wr)))
        assert fast == literal_algorithm1(boxes, (int(hs), int(ws)), (int(hr), int(wr)))


def test_hand_computed_greedy_and_tie_rule():
    # Two clusters; the right one holds more objects and is taken first.
    boxes = [[1, 1, 3, 3], [12, 2, 14, 4], [13, 5, 15, 7], [16, 1, 17, 2]]
    cands = generate_candidates(boxes, (10, 20), (8, 8))
    assert cands[0].objects == (1, 2, 3)
    # The first position holding all three: left = ceil(17) - 8 = 9, top = ceil(7) - 8 -> 0.
    assert cands[0].window == (9, 0, 17, 8)
    assert cands[1].objects == (0,) and cands[1].window == (0, 0, 8, 8)


def test_box_on_integer_edges_fits_exactly():
    # A box exactly the region's size fits at exactly one position.
    cands = generate_candidates([[3, 2, 11, 7]], (20, 20), (5, 8))
    assert [(c.window, c.objects) for c in cands] == [((3, 2, 11, 7), (0,))]


def test_box_larger_than_region_takes_no_part():
    cands = generate_candidates([[0, 0, 9, 3], [1, 1, 2, 2]], (10, 10), (4, 4))
    assert [(c.window, c.objects) for c in cands] == [((0, 0, 4, 4), (1,))]
    assert generate_candidates([[0, 0, 9, 9]], (10, 10), (4, 4)) == []


def test_image_smaller_than_region_has_one_position():
    cands = generate_candidates([[0.5, 0.5, 3, 3], [2, 1, 5, 4]], (4, 5), (6, 8))
    assert [(c.window, c.objects) for c in cands] == [((0, 0, 8, 6), (0, 1))]
    # A box past the region (it can only come from bad detections) fits nowhere.
    assert generate_candidates([[0, 0, 9, 3]], (4, 5), (6, 8)) == []


def test_no_boxes_and_duplicates():
    assert generate_candidates(np.zeros((0, 4)), (10, 10), (4, 4)) == []
    assert generate_candidates([], (10, 10), (4, 4)) == []
    cands = generate_candidates([[1, 1, 2, 2]] * 3, (10, 10), (4, 4))
    assert [(c.window, c.objects) for c in cands] == [((0, 0, 4, 4), (0, 1, 2))]


def test_batch_equals_per_image(rng):
    per_image, sizes, regions = [], [], []
    for i in range(25):
        n = 0 if i in (3, 7) else int(rng.integers(1, 10))  # images with no detections
        hs, ws = (int(v) for v in rng.integers(10, 40, size=2))
        xy = rng.uniform(0, [ws, hs], size=(n, 2))
        wh = rng.uniform(1, 12, size=(n, 2))
        per_image.append(np.concatenate([xy, xy + wh], axis=1))
        sizes.append((hs, ws))
        regions.append(tuple(int(v) for v in rng.integers(5, 20, size=2)))
    offsets = np.concatenate([[0], np.cumsum([b.shape[0] for b in per_image])])
    cs = generate_candidates_batch(np.concatenate(per_image), offsets, sizes, regions)
    got = {}
    for k in range(len(cs)):
        got.setdefault(int(cs.image[k]), []).append(cs.candidate(k))
    for i, b in enumerate(per_image):
        assert got.get(i, []) == generate_candidates(b, sizes[i], regions[i])
    assert 3 not in got and 7 not in got


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([[0, 0, float("nan"), 1]], "not finite"),
        ([[0, 0, float("inf"), 1]], "not finite"),
        ([[-1, 0, 2, 2]], "negative"),
        ([[3, 0, 2, 2]], "inverted or empty"),
        ([[2, 0, 2, 2]], "inverted or empty"),
        ([[0, 0, 1]], "shape"),
    ],
)
def test_bad_boxes_raise(boxes, message):
    with pytest.raises(ValueError, match=message):
        generate_candidates(boxes, (10, 10), (4, 4))


@pytest.mark.parametrize(
    ("image_size", "region_size", "message"),
    [
        ((0, 10), (4, 4), "non-positive"),
        ((10, 10), (4, -1), "non-positive"),
        ((10,), (4, 4), "pair"),
    ],
)
def test_bad_sizes_raise(image_size, region_size, message):
    with pytest.raises(ValueError, match=message):
        generate_candidates([[1, 1, 2, 2]], image_size, region_size)
