"""Scaled sizes and the region <-> original-pixel mapping (SPEC §1)."""

from __future__ import annotations

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
