"""Scaled sizes and the region <-> original-pixel mapping (contract §1)."""

from __future__ import annotations

import numpy as np
import pytest

from mural import scaled_size
from mural.core import region_to_original, scale_factor


@pytest.mark.parametrize(
    ("image", "scale", "expected"),
    [
        # COCO 480x640 at the paper's scales: f = min(480/480, 512/640) = 0.8 -> 384x512.
        ((480, 640), (480, 512), (384, 512)),
        ((480, 640), (800, 1280), (800, 1067)),  # 640 * 5/3 = 1066.67 -> 1067
        ((480, 640), (1400, 2000), (1400, 1867)),  # f = 1400/480, 640f = 1866.67
        # Cityscapes 1024x2048: (2400, 3200) -> f = 1.5625; (600, 1200) -> f = 0.5859375.
        ((1024, 2048), (2400, 3200), (1600, 3200)),
        ((1024, 2048), (1024, 2048), (1024, 2048)),
        ((1024, 2048), (600, 1200), (600, 1200)),
        ((3, 5), (2, 100), (2, 3)),  # 5 * 2/3 = 3.33 -> 3
        ((4, 2), (3, 100), (6, 3)),  # portrait: f = 3/2
    ],
)
def test_scaled_size(image, scale, expected):
    assert scaled_size(image, scale) == expected


def test_half_rounds_up():
    # f = 1.5 exactly: 3 * 1.5 = 4.5 -> int(4.5 + 0.5) = 5.
    assert scaled_size((2, 3), (3, 100)) == (3, 5)


def test_region_to_original():
    f = scale_factor((480, 640), (800, 1280))
    assert region_to_original((0, 0, 640, 480), f) == pytest.approx((0, 0, 384, 288))


@pytest.mark.parametrize(
    ("image", "scale"),
    [((0, 10), (1, 1)), ((10, -1), (1, 1)), ((10, 10), (0, 5)), ((10, 10), (5, float("nan")))],
)
def test_bad_sizes(image, scale):
    with pytest.raises(ValueError, match=r"non-positive|finite"):
        scaled_size(image, scale)


# --- RegionFrame: hand-computed conversions ------------------------------------------


def test_region_frame_hand_case() -> None:
    from mural.core.geometry import RegionFrame

    # 100x200 image at (50, 1000): f = min(50/100, 1000/200) = 0.5, scaled (50, 100).
    fr = RegionFrame.at((100, 200), (50, 1000), window=(10, 4, 210, 104))
    assert fr.factor == 0.5
    assert fr.scaled_size == (50, 100)
    box = [20.0, 10.0, 60.0, 30.0]  # original pixels
    np.testing.assert_allclose(fr.original_to_scaled(box), [[10, 5, 30, 15]])
    np.testing.assert_allclose(fr.original_to_window(box), [[0, 1, 20, 11]])
    np.testing.assert_allclose(fr.window_to_original([[0, 1, 20, 11]]), [box])
    assert fr.window_in_original() == (20.0, 8.0, 420.0, 208.0)
    np.testing.assert_allclose(fr.clip_to_window([[-5, 3, 250, 120]]), [[0, 3, 200, 100]])
    np.testing.assert_allclose(fr.clip_to_image([[-1, 3, 200.2, 99]]), [[0, 3, 200, 99]])


def test_region_frame_default_window_and_empty() -> None:
    from mural.core.geometry import RegionFrame

    fr = RegionFrame.at((480, 640), (800, 1280))
    assert fr.window == (0, 0, 640, 480)
    assert fr.scaled_size == scaled_size((480, 640), (800, 1280))
    assert fr.original_to_window(np.zeros((0, 4))).shape == (0, 4)
    with pytest.raises(ValueError, match="inverted"):
        RegionFrame.at((10, 10), (5, 5), window=(5, 0, 5, 10))
    with pytest.raises(ValueError, match="shape"):
        fr.original_to_scaled([[1, 2, 3]])


def test_region_frame_round_trip_random(rng: np.random.Generator) -> None:
    from mural.core.geometry import RegionFrame

    for _ in range(20):
        h, w = (int(v) for v in rng.integers(5, 500, size=2))
        fr = RegionFrame.at((h, w), (int(rng.integers(5, 900)), 2000), window=(3, 7, 3 + w, 7 + h))
        b = np.sort(rng.uniform(0, 400, size=(6, 4)), axis=1)
        np.testing.assert_allclose(fr.window_to_original(fr.original_to_window(b)), b)


# --- vectorised helpers: equal, bit for bit, to the per-image scalar path --------------


def test_scale_factors_match_scalar(rng: np.random.Generator) -> None:
    from mural.core.geometry import scale_factors

    sizes = rng.integers(1, 3000, size=(200, 2))
    for scale in [(800, 1333), (480, 800), (1, 1), (600.5, 1000)]:
        got = scale_factors(sizes, scale)
        want = np.array([scale_factor(tuple(s), scale) for s in sizes])
        assert got.shape == (200,)
        assert np.array_equal(got, want)
    assert scale_factors(np.zeros((0, 2), np.int64), (800, 1333)).shape == (0,)
    with pytest.raises(ValueError, match="non-positive"):
        scale_factors([[10, 0]], (800, 1333))
    with pytest.raises(ValueError, match="non-positive"):
        scale_factors([[10, 10]], (0, 1333))


def test_many_images_match_region_frame(rng: np.random.Generator) -> None:
    from mural.core.geometry import (
        RegionFrame,
        original_to_scaled_many,
        scale_factors,
        scaled_to_original_many,
    )

    scale = (512, 900)
    sizes = rng.integers(20, 1500, size=(6, 2))
    counts = np.array([3, 0, 5, 1, 0, 2])  # images with no boxes included
    offsets = np.concatenate([[0], np.cumsum(counts)])
    xy = rng.uniform(0, 400, size=(int(counts.sum()), 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 50, size=xy.shape)], axis=1)
    f = scale_factors(sizes, scale)
    orig = scaled_to_original_many(boxes, offsets, f)
    back = original_to_scaled_many(orig, offsets, f)
    for j in range(6):
        fr = RegionFrame.at(tuple(sizes[j]), scale)
        rows = slice(offsets[j], offsets[j + 1])
        assert np.array_equal(orig[rows], fr.scaled_to_original(boxes[rows]))
        assert np.array_equal(back[rows], fr.original_to_scaled(orig[rows]))
    empty = scaled_to_original_many(np.zeros((0, 4)), [0, 0], f[:1])
    assert empty.shape == (0, 4)
    with pytest.raises(ValueError, match="offsets"):
        scaled_to_original_many(boxes, offsets[:-1], f)


def test_window_on_image() -> None:
    from mural.core.geometry import RegionFrame

    # 100 x 200 at (50, 1000): f = 0.5, scaled 50 x 100; a 100 x 200 window at (10, 4)
    fr = RegionFrame.at((100, 200), (50, 1000), window=(10, 4, 210, 104))
    assert fr.window_on_image() == (10, 4, 100, 50)
    # a window inside the scaled image is all image
    fr = RegionFrame.at((100, 200), (200, 1000), window=(0, 0, 200, 100))
    assert fr.window_on_image() == (0, 0, 200, 100)


def test_window_problem_hand_checked() -> None:
    """A 480x640 (HxW) image at (800, 1280): f = 5/3, scaled 800x1067; a region is a
    640x480 window with its corner in x 0..427, y 0..320. At a scale smaller than the
    image the only position is (0, 0) (the window then holds padding)."""
    from mural.core import RegionFrame

    def problem(scale: tuple[int, int], window: tuple[int, int, int, int]) -> str | None:
        return RegionFrame.at((480, 640), scale, window).window_problem()

    assert problem((800, 1280), (0, 0, 640, 480)) is None
    assert problem((800, 1280), (427, 320, 1067, 800)) is None
    bad = problem((800, 1280), (428, 0, 1068, 480))
    assert bad is not None and "left in 0..427, top in 0..320" in bad
    assert "800x1067" in bad
    assert problem((800, 1280), (0, 321, 640, 801)) is not None
    size = problem((800, 1280), (0, 0, 640, 481))
    assert size is not None and "(W, H) = (640, 480)" in size
    assert problem((240, 320), (0, 0, 640, 480)) is None
    assert problem((240, 320), (1, 0, 641, 480)) is not None
