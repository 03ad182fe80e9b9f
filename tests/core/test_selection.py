"""Scale-aware selection (contract §4, Algorithm 2) and the union ablation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mural import select_scale_aware, select_union
from mural.core import select_lazy

from .literal import literal_algorithm2


def test_round_robin_hand_computed():
    per_scale = [
        [(0.2, ["a"]), (0.9, ["b", "c"])],  # sorted: 1 (0.9), 0 (0.2)
        [(0.5, ["d"]), (0.7, ["e", "f", "g"])],  # sorted: 1 (0.7), 0 (0.5)
        [(0.1, ["h"])],
    ]
    # Round 1: (0,1) +2, (1,1) +3 -> 5, (2,0) +1 -> 6. Round 2: (0,0) +1 -> 7 >= 7: stop.
    assert select_scale_aware(per_scale, 7) == [(0, 1), (1, 1), (2, 0), (0, 0)]


def test_overshoot_on_last_region():
    per_scale = [[(0.9, ["a", "b", "c", "d", "e"])], [(0.8, ["f"])]]
    # The first region alone overshoots B = 3: selection stops right after it.
    assert select_scale_aware(per_scale, 3) == [(0, 0)]


def test_exhausted_scales_are_skipped_and_everything_taken_when_budget_too_large():
    per_scale = [[(0.9, ["a"])], [(0.8, ["b"]), (0.7, ["c"]), (0.6, ["d"])], []]
    assert select_scale_aware(per_scale, 100) == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert select_scale_aware([[], []], 5) == []


def test_objects_shared_between_scales_count_once():
    per_scale = [[(0.9, ["a", "b"])], [(0.8, ["a", "b"]), (0.1, ["c"])]]
    # (0,0) +2; (1,0) shares both -> +0 but is still taken; (1,1) +1 -> 3.
    assert select_scale_aware(per_scale, 3) == [(0, 0), (1, 0), (1, 1)]
    sel = select_lazy([[0.9], [0.8, 0.1]], lambda s, k: per_scale[s][k][1], 3)
    assert sel.spent == 3 and sel.new_objects == [["a", "b"], [], ["c"]]


def test_already_labelled_cost_nothing_and_ties_keep_generation_order():
    sel = select_lazy([[0.5, 0.5, 0.5]], lambda s, k: [["x"], ["y"], ["z"]][k], 1, labelled={"x"})
    assert sel.picks == [(0, 0), (0, 1)] and sel.spent == 1


def test_union_ablation():
    per_scale = [[(0.2, ["a"]), (0.9, ["b"])], [(0.95, ["c"]), (0.9, ["d"])]]
    # Union sorted: (1,0) 0.95, then ties at 0.9: scale 0 before scale 1.
    assert select_union(per_scale, 3) == [(1, 0), (0, 1), (1, 1)]


def test_zero_budget_and_bad_input():
    assert select_scale_aware([[(0.9, ["a"])]], 0) == []
    with pytest.raises(ValueError, match="non-negative"):
        select_scale_aware([[(0.9, ["a"])]], -1)
    with pytest.raises(ValueError, match="finite"):
        select_scale_aware([[(float("nan"), ["a"])]], 1)
    with pytest.raises(ValueError, match="pair"):
        select_scale_aware([[0.5]], 1)


@st.composite
def pools(draw):
    n_scales = draw(st.integers(1, 4))
    objects = st.lists(st.integers(0, 12), max_size=5)
    score = st.integers(0, 5).map(lambda v: v / 5)  # coarse scores: many ties
    per_scale = [draw(st.lists(st.tuples(score, objects), max_size=7)) for _ in range(n_scales)]
    return per_scale, draw(st.integers(0, 15))


@settings(max_examples=300, deadline=None)
@given(pools())
def test_equals_literal_algorithm2(case):
    per_scale, budget = case
    assert select_scale_aware(per_scale, budget) == literal_algorithm2(per_scale, budget)
    assert select_union(per_scale, budget) == literal_algorithm2(per_scale, budget, False)


def test_lazy_annotates_only_popped_regions():
    calls = []
    scores = [np.array([0.3, 0.9, 0.1]), np.array([0.5])]

    def annotate(s, k):
        calls.append((s, k))
        return [(s, k)]

    sel = select_lazy(scores, annotate, 2)
    assert calls == sel.picks == [(0, 1), (1, 0)]
