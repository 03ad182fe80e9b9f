"""Region label acquisition (contract §5) at and around the 0.7 threshold."""

from __future__ import annotations

import numpy as np
import pytest

from mural import acquire_region
from mural.core import known_detections


def _box_with_visible(frac):
    # Window (0, 0, 10, 10); a 10x10 box shifted right so `frac` of it is inside.
    x0 = 10 - 10 * frac
    return [x0, 0, x0 + 10, 10]


@pytest.mark.parametrize(
    ("frac", "state"),
    [
        (1.0, "labelled"),
        (0.71, "labelled"),
        (0.7, "ignored"),
        (0.69, "ignored"),
        (0.05, "ignored"),
        (0.0, "none"),
    ],
)
def test_threshold(frac, state):
    lab, clipped, ign = acquire_region([_box_with_visible(frac)], (0, 0, 10, 10))
    assert (0 in lab) == (state == "labelled")
    assert (0 in ign) == (state == "ignored")
    if state == "labelled":
        np.testing.assert_allclose(clipped[0], [10 - 10 * frac, 0, 10, 10])


def test_clipped_in_window_pixels_and_threshold_configurable():
    gt = [[12, 22, 18, 28], [8, 20, 13, 25], [40, 40, 50, 50], [19, 29, 31, 31]]
    lab, clipped, ign = acquire_region(gt, (10, 20, 30, 30))
    # box 0 fully in; box 1 3/5 in -> ignore; box 2 out; box 3: (11*1)/(12*2) -> ignore.
    assert lab.tolist() == [0] and ign.tolist() == [1, 3]
    np.testing.assert_allclose(clipped, [[2, 2, 8, 8]])
    lab, clipped, ign = acquire_region(gt, (10, 20, 30, 30), visible_threshold=0.5)
    assert lab.tolist() == [0, 1] and ign.tolist() == [3]
    np.testing.assert_allclose(clipped[1], [0, 0, 3, 5])


def test_no_gt_boxes():
    lab, clipped, ign = acquire_region(np.zeros((0, 4)), (0, 0, 5, 5))
    assert lab.shape == (0,) and clipped.shape == (0, 4) and ign.shape == (0,)


@pytest.mark.parametrize(
    ("gt", "window", "thr", "message"),
    [
        ([[0, 0, float("nan"), 1]], (0, 0, 5, 5), 0.7, "not finite"),
        ([[2, 2, 1, 3]], (0, 0, 5, 5), 0.7, "inverted or empty"),
        ([[1, 1, 2, 2]], (5, 0, 5, 5), 0.7, "window is inverted or empty"),
        ([[1, 1, 2, 2]], (0, 0, 5, 5), 1.5, "visible_threshold"),
    ],
)
def test_bad_input(gt, window, thr, message):
    with pytest.raises(ValueError, match=message):
        acquire_region(gt, window, thr)


def test_known_detections_iou_half():
    labelled = [[0, 0, 10, 10]]
    dets = [[0, 0, 10, 10], [0, 0, 10, 20], [0, 0, 10, 21], [50, 50, 60, 60]]
    # IoUs: 1.0, 0.5 (known, >= 0.5), 100/210 < 0.5, 0.
    assert known_detections(dets, labelled).tolist() == [True, True, False, False]
    assert known_detections(dets, np.zeros((0, 4))).tolist() == [False] * 4
    assert known_detections(np.zeros((0, 4)), labelled).shape == (0,)
