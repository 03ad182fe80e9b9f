"""The image module: read (any mode, EXIF ignored), size, resize, crop, tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mural.data.images import read_rgb, read_size, resize, scaled_crop, to_array, to_tensor
from mural.errors import DataError


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.array([[0, 256, 65535], [32768, 511, 255]], dtype=np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(arr).save(p)
    with Image.open(p) as im:
        assert im.mode.startswith("I")  # PIL decodes 16-bit PNGs as I;16 or I
    got = to_array(read_rgb(p))
    want = np.array([[0, 1, 255], [128, 2, 1]], dtype=np.uint8)  # round(v * 255 / 65535)
    assert got.shape == (2, 3, 3)
    for c in range(3):
        np.testing.assert_array_equal(got[:, :, c], want)


def test_modes_to_rgb(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 10  # alpha is dropped, not blended
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(to_array(read_rgb(tmp_path / "a.png"))[..., 0], 200)
    grey = np.array([[7, 250]], dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "l.png")
    np.testing.assert_array_equal(to_array(read_rgb(tmp_path / "l.png"))[0, :, 2], [7, 250])
    pal = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), "P")
    pal.putpalette([10, 20, 30, 40, 50, 60])
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(
        to_array(read_rgb(tmp_path / "p.png")), [[[10, 20, 30], [40, 50, 60]]]
    )


def test_exif_orientation_is_ignored(tmp_path: Path) -> None:
    arr = np.zeros((2, 4, 3), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW" when displayed
    p = tmp_path / "rot.png"
    Image.fromarray(arr).save(p, exif=exif)
    img = read_rgb(p, expect=(2, 4))  # the stored grid, as COCO boxes refer to it
    np.testing.assert_array_equal(to_array(img), arr)
    assert read_size(p) == (4, 2)


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_rgb(tmp_path / "none.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"bad\.png: cannot decode"):
        read_rgb(bad)
    with pytest.raises(DataError, match=r"bad\.png: unreadable"):
        read_size(bad)
    Image.new("RGB", (5, 3)).save(tmp_path / "ok.png")
    with pytest.raises(DataError, match=r"3x5 \(HxW\) but the dataset says 5x3"):
        read_rgb(tmp_path / "ok.png", expect=(5, 3))


def test_resize_crop_tensor() -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8)
    img = Image.fromarray(arr)
    assert resize(img, (6, 8)) is img
    np.testing.assert_array_equal(
        np.asarray(resize(img, (3, 4))), np.asarray(img.resize((4, 3), Image.BILINEAR))
    )
    np.testing.assert_array_equal(np.asarray(scaled_crop(img, (6, 8), (1, 2, 5, 6))), arr[2:6, 1:5])
    t = to_tensor(img)
    assert t.dtype.is_floating_point and tuple(t.shape) == (3, 6, 8)
    np.testing.assert_allclose(t.numpy(), arr.transpose(2, 0, 1) / 255.0, atol=1e-7)
    np.testing.assert_allclose(to_tensor(arr).numpy(), t.numpy())
