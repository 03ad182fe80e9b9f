"""CALD's reference augmentations (``mural.detector.views``): box maps on hand-computed cases,
the pixels they produce, and the cutout rule of ``cald_helper.cutout``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mural.detector.views import (  # noqa: E402
    _apply,
    check_view_transform,
    cutout_patches,
    rotation_maps,
    view_box_maps,
)

BOX = np.array([[10.0, 5.0, 20.0, 15.0]])


def _maps(t: str, size: tuple[int, int] = (40, 60)) -> Any:
    return view_box_maps(t, size)


def test_hflip_maps_boxes_by_hand() -> None:
    to_view, to_orig = _maps("hflip")
    np.testing.assert_allclose(to_view(BOX), [[40, 5, 50, 15]])  # W = 60: x -> 60 - x
    np.testing.assert_allclose(to_orig(np.array([[40.0, 5, 50, 15]])), BOX)


def test_resize_maps_boxes_by_hand() -> None:
    to_view, to_orig = _maps("resize:0.8")
    np.testing.assert_allclose(to_view(BOX), [[8, 4, 16, 12]])
    np.testing.assert_allclose(to_orig(np.array([[8.0, 4, 16, 12]])), BOX)


def test_pixel_transforms_keep_boxes() -> None:
    for t in ("none", "cutout:2", "color:1.5", "noise:16"):
        to_view, to_orig = _maps(t)
        np.testing.assert_array_equal(to_view(BOX), BOX)
        np.testing.assert_array_equal(to_orig(BOX), BOX)


def test_rotation_90_degrees_by_hand() -> None:
    # H = 10, W = 20, a = 90: c = 0, s = 1, (cx, cy) = (10, 5), nW = int(10) = 10,
    # nH = int(20) = 20; x' = y + (10 - 5 + 5 - 10) = y, y' = -x + (10 + 5 + 10 - 5) = 20 - x.
    # Box (2, 1, 6, 3): x' in {1, 3}, y' in {18, 14} -> (1, 14, 3, 18) in the 10 x 20
    # (W' x H') rotated image; resized back to 20 x 10: divide by (10/20, 20/10) = (0.5, 2)
    to_view, to_orig = rotation_maps((10, 20), 90.0, (20, 10))
    np.testing.assert_allclose(to_view(np.array([[2.0, 1, 6, 3]])), [[2, 7, 6, 9]], atol=1e-9)
    np.testing.assert_allclose(to_orig(np.array([[2.0, 7, 6, 9]])), [[2, 1, 6, 3]], atol=1e-9)
    # clipped to the image
    np.testing.assert_allclose(
        to_view(np.array([[-5.0, 0, 6, 3]])), [[0, 7, 6, 10]], atol=1e-9
    )  # y' = 20 - (-5) = 25 -> 12.5 -> clipped to H = 10


def test_rotation_expanded_size_is_pils() -> None:
    from PIL import Image

    for h, w, a in [(40, 60, 5.0), (10, 20, 90.0), (33, 17, -5.0)]:
        ew, eh = Image.new("L", (w, h)).rotate(a, expand=True).size
        mine = view_box_maps(f"rotate:{a:g}", (h, w))
        ref = rotation_maps((h, w), a, (eh, ew))
        b = np.array([[3.0, 4.0, 12.0, 9.0]])
        np.testing.assert_allclose(mine[0](b), ref[0](b))
        np.testing.assert_allclose(mine[1](b), ref[1](b))


def _bright_bbox(img: Any, thr: float = 0.5) -> np.ndarray:
    m = img.max(0).values.numpy() > thr
    ys, xs = np.nonzero(m)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


@pytest.mark.parametrize("t", ["hflip", "resize:0.8", "rotate:5", "rotate:-5", "rotate:90"])
def test_box_maps_follow_the_pixels(t: str) -> None:
    """A white rectangle on black: its box mapped into the view is where its pixels went,
    and the view's bright pixels mapped back contain the original box."""
    h, w = 60, 80
    img = torch.zeros(3, h, w)
    x0, y0, x1, y1 = 20, 15, 50, 35
    img[:, y0:y1, x0:x1] = 1.0
    gen = torch.Generator().manual_seed(0)
    view, to_view, to_orig = _apply(img, t, gen, np.random.default_rng(0))
    seen = _bright_bbox(view)
    want = to_view(np.array([[x0, y0, x1, y1]], dtype=np.float64))[0]
    np.testing.assert_allclose(seen, want, atol=2.0)
    back = to_orig(seen[None])[0]
    # the view's box mapped back holds the object (rotation adds the corners' slack)
    assert back[0] <= x0 + 2 and back[1] <= y0 + 2 and back[2] >= x1 - 2 and back[3] >= y1 - 2


def test_cutout_rule_by_hand() -> None:
    rng = np.random.default_rng(0)
    # no reference box (an image with no detections): no patch at all
    assert cutout_patches((100, 100), np.zeros((0, 4)), 2, rng) == []
    # a box the size of the image: a patch of at most 0.2 x 0.2 covers <= 4 % < 10 %
    assert cutout_patches((100, 100), np.array([[0.0, 0, 100, 100]]), 2, rng) == []
    # a 20 x 20 box: kept patches cover 10 %..40 % of it and are 5..20 px a side
    box = np.array([[40.0, 40, 60, 60]])
    for seed in range(20):
        patches = cutout_patches((100, 100), box, 2, np.random.default_rng(seed))
        assert len(patches) <= 2
        for px0, py0, px1, py1 in patches:
            assert 4 <= px1 - px0 <= 21 and 4 <= py1 - py0 <= 21
            iw = max(0, min(px1, 60) - max(px0, 40))
            ih = max(0, min(py1, 60) - max(py0, 40))
            assert 0.1 <= iw * ih / 400 <= 0.4
    n = [len(cutout_patches((100, 100), box, 2, np.random.default_rng(s))) for s in range(20)]
    assert max(n) == 2  # two patches, as the reference's cutout:2, when the draws allow


def test_cutout_blacks_out_only_its_patches() -> None:
    img = torch.full((3, 100, 100), 0.5)
    ref = np.array([[40.0, 40, 60, 60]])
    view, _, _ = _apply(img, "cutout:2", torch.Generator(), np.random.default_rng(3), ref)
    patches = cutout_patches((100, 100), ref, 2, np.random.default_rng(3))
    assert patches
    mask = np.zeros((100, 100), bool)
    for x0, y0, x1, y1 in patches:
        mask[y0:y1, x0:x1] = True
    v = view[0].numpy()
    assert (v[mask] == 0).all() and (v[~mask] == 0.5).all()
    # without reference boxes the view is the image
    same, _, _ = _apply(img, "cutout:2", torch.Generator(), np.random.default_rng(3), None)
    assert torch.equal(same, img)


def test_transform_language() -> None:
    for t in ("hflip", "cutout:2", "resize:0.8", "rotate:5", "rotate:-5", "noise:0"):
        assert check_view_transform(t), t
    for t in ("cutout:0", "cutout:1.5", "rotate:90", "rotate:nan", "shear:5", "resize:0"):
        assert not check_view_transform(t), t


def test_predict_views_reports_both_frames(tmp_path: Path) -> None:
    from mural.strategies import torchvision_access
    from tests.strategies.helpers import make_dataset, tiny_model

    ds = make_dataset(tmp_path)
    acc: Any = torchvision_access(tiny_model(), ds)
    ref = [np.array([[5.0, 5, 25, 25]]), np.zeros((0, 4))]  # image 4: no reference box
    for t in ("hflip", "cutout:2", "resize:0.8", "rotate:5"):
        out = acc.predict_views([1, 4], t, seed=1, reference=ref)
        to_view, to_orig = view_box_maps(t, (40, 60))
        for p, r in zip(out, ref, strict=True):
            np.testing.assert_allclose(p["boxes"], to_orig(p["view_boxes"]), atol=1e-9)
            np.testing.assert_allclose(p["reference_view"], to_view(r), atol=1e-9)
        again = acc.predict_views([1, 4], t, seed=1, reference=ref)
        for p, q in zip(out, again, strict=True):  # seeded: the same views
            np.testing.assert_array_equal(p["scores"], q["scores"])
    assert "reference_view" not in acc.predict_views([1], "hflip")[0]
