"""TrainingSamples: region/full/partial samples pixel by pixel; show-samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mural.data.samples as samples_mod
from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.data.samples import MultiScaleImages, TrainingSamples, collate, dataset_mean_color
from tests.data.test_pool import make_dict

MEAN = (0.5, 0.25, 1.0)


def _ds(tmp_path: Path, d: dict, arrays: dict[int, np.ndarray]) -> CocoDataset:
    root = tmp_path / "imgs"
    root.mkdir(exist_ok=True)
    for iid, arr in arrays.items():
        Image.fromarray(arr.astype(np.uint8), "RGB").save(root / f"{iid}.png")
    return CocoDataset.from_dict(d, image_root=root)


@pytest.fixture
def upscale_ds(tmp_path: Path) -> CocoDataset:
    """Image 1: 2x4 (H x W), rows identical, R = [0, 100, 200, 40], G = 10, B = 250."""
    arr = np.zeros((2, 4, 3), dtype=np.uint8)
    arr[:, :, 0] = [0, 100, 200, 40]
    arr[:, :, 1] = 10
    arr[:, :, 2] = 250
    d = make_dict(
        [(1, 2, 4)],
        [
            (1, 1, 3, [1.5, 0.5, 3.0, 1.5]),  # scaled (3, 1, 6, 3): inside the window
            (2, 1, 7, [3.0, 0.0, 4.0, 2.0]),  # scaled (6, 0, 8, 4): 0.25 visible -> ignore
            (3, 1, 7, [1.25, 0.5, 2.5, 1.5]),  # scaled (2.5, 1, 5, 3): 0.8 -> labelled, clipped
        ],
    )
    return _ds(tmp_path, d, {1: arr})


def test_region_sample_pixel_exact_upscale(upscale_ds: CocoDataset) -> None:
    # Scale (4, 8): f = 2, scaled 4x8; window (3, 1, 7, 3) (left 3, top 1, size 4x2).
    pool = LabeledPool(upscale_ds)
    r = pool.add_region(1, (4, 8), 2, (3, 1, 7, 3), cycle=1)
    assert r.ann_ids == [1, 3] and r.ignore == [[3.0, 0.0, 4.0, 2.0]]
    ts = TrainingSamples(pool, mean_color=MEAN)
    assert len(ts) == 1
    img, t = ts[0]
    # PIL bilinear upscaling by 2 of [0, 100, 200, 40] (triangle filter, edge renormalised):
    # [0, 25, 75, 125, 175, 160, 80, 40]; window columns 3..6 -> 125, 175, 160, (80 hidden).
    exp = np.empty((3, 2, 4), dtype=np.float32)
    exp[0] = np.array([125, 175, 160, 0], dtype=np.float32) / 255
    exp[1] = 10 / 255
    exp[2] = 250 / 255
    exp[:, :, 3] = np.array(MEAN, dtype=np.float32)[:, None]  # ignore area (column 3) filled
    assert img.dtype == torch.float32 and tuple(img.shape) == (3, 2, 4)
    np.testing.assert_allclose(img.numpy(), exp, atol=1e-7)
    # Boxes in window pixels: object 1 (3,1,6,3) -> (0,0,3,2); object 3 clipped -> (0,0,2,2).
    np.testing.assert_array_equal(t["boxes"].numpy(), [[0, 0, 3, 2], [0, 0, 2, 2]])
    assert t["labels"].tolist() == [1, 2]  # categories 3, 7 -> labels 0, 1 -> 1, 2
    np.testing.assert_array_equal(t["ignore"].numpy(), [[3, 0, 4, 2]])
    assert (t["image_id"], t["scale_index"], t["window"], t["kind"]) == (
        1,
        2,
        (3, 1, 7, 3),
        "region",
    )


def test_region_sample_padding_and_human_ignore(tmp_path: Path) -> None:
    # Image 1: 4x6 uniform colour; scale (2, 3): f = 0.5, scaled 2x3 < the 4x6 window.
    arr = np.empty((4, 6, 3), dtype=np.uint8)
    arr[:] = (200, 100, 50)
    d = make_dict([(1, 4, 6)], [(1, 1, 3, [0.0, 0.0, 4.0, 2.0]), (2, 1, 7, [2.0, 2.0, 6.0, 4.0])])
    ds = _ds(tmp_path, d, {1: arr})
    pool = LabeledPool(ds)
    r = pool.add_region(1, (2, 3), 0, (0, 0, 6, 4), cycle=1)
    assert r.boxes == [[0.0, 0.0, 2.0, 1.0], [1.0, 1.0, 3.0, 2.0]] and r.ignore == []
    # A human-annotated region with a fractional ignore area, rounded outward -> (3,0)-(5,2).
    pool.add_region_labels(1, (2, 3), 0, (0, 0, 6, 4), 2, [], [], ignore=[[3.5, 0.5, 4.2, 1.5]])
    ts = TrainingSamples(pool, mean_color=[127.5, 63.75, 255])  # 0..255 accepted
    assert ts.mean_color == MEAN
    img, t = ts[0]
    exp = np.empty((3, 4, 6), dtype=np.float32)
    exp[:] = np.array(MEAN, dtype=np.float32)[:, None, None]  # padding
    exp[:, :2, :3] = (np.array([200, 100, 50], dtype=np.float32) / 255)[:, None, None]
    np.testing.assert_allclose(img.numpy(), exp, atol=1e-7)
    assert t["labels"].tolist() == [1, 2]
    img2, t2 = ts[1]
    exp[:, 0:2, 3:5] = np.array(MEAN, dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(img2.numpy(), exp, atol=1e-7)
    assert tuple(t2["boxes"].shape) == (0, 4) and t2["labels"].dtype == torch.int64
    assert t2["ann_ids"].tolist() == []


def two_image_ds(tmp_path: Path) -> tuple[CocoDataset, np.ndarray]:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8)
    d = make_dict(
        [(1, 6, 8), (2, 3, 5)],  # image 2 has no objects
        [(10, 1, 7, [0.5, 0.5, 3.0, 2.5]), (11, 1, 3, [4.0, 2.2, 7.4, 5.0])],
    )
    ds = _ds(tmp_path, d, {1: arr, 2: np.zeros((3, 5, 3), dtype=np.uint8)})
    return ds, arr


def test_full_and_partial_samples(tmp_path: Path) -> None:
    ds, arr = two_image_ds(tmp_path)
    pool = LabeledPool(ds)
    pool.add_objects(1, [10], cycle=1)  # 11 stays unlabelled -> ignore area
    pool.add_full_images([2], cycle=0)  # no objects
    ts = TrainingSamples(pool, mean_color=MEAN)
    assert [ts.refs[i][0] for i in range(len(ts))] == ["full", "partial"]
    img, t = ts[0]  # full image 2: no objects, image as it is
    assert tuple(img.shape) == (3, 3, 5) and float(img.abs().sum()) == 0.0
    assert tuple(t["boxes"].shape) == (0, 4) and tuple(t["labels"].shape) == (0,)
    assert (t["scale_index"], t["window"], t["kind"]) == (-1, None, "full")
    assert tuple(t["ignore_boxes"].shape) == (0, 4) and t["ignore_boxes"].dtype == torch.float32
    img, t = ts[1]  # partial image 1: nothing painted, the unlabelled object goes to the loss
    exp = arr.astype(np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(img.numpy(), exp, atol=1e-7)
    np.testing.assert_allclose(t["boxes"].numpy(), [[0.5, 0.5, 3.0, 2.5]])
    assert t["labels"].tolist() == [2] and t["ann_ids"].tolist() == [10]
    assert t["ignore_boxes"].dtype == torch.float32
    np.testing.assert_allclose(t["ignore_boxes"].numpy(), [[4.0, 2.2, 7.4, 5.0]], rtol=1e-6)
    np.testing.assert_allclose(t["ignore"].numpy(), [[4.0, 2.2, 7.4, 5.0]], rtol=1e-6)
    # Once the image is full, it is a full sample only (no duplicate partial sample).
    pool.add_full_images([1], cycle=2)
    ts = TrainingSamples(pool, mean_color=MEAN)
    assert [r[0] for r in ts.refs] == ["full", "full"]
    img, t = ts[1]
    np.testing.assert_allclose(img.numpy(), arr.astype(np.float32).transpose(2, 0, 1) / 255)
    assert t["labels"].tolist() == [2, 1] and tuple(t["ignore"].shape) == (0, 4)
    assert tuple(t["ignore_boxes"].shape) == (0, 4)
    images, targets = collate([ts[0], ts[1]])
    assert len(images) == 2 and targets[1]["image_id"] == 1


def test_hflip_is_seeded_and_consistent(tmp_path: Path) -> None:
    ds, _ = two_image_ds(tmp_path)
    pool = LabeledPool(ds)
    pool.add_objects(1, [10], cycle=1)
    ts = TrainingSamples(pool, mean_color=MEAN, hflip_prob=1.0, seed=3)
    plain = TrainingSamples(pool, mean_color=MEAN)
    img, t = ts[0]
    img0, t0 = plain[0]
    assert t["flipped"] and not t0["flipped"]
    np.testing.assert_array_equal(img.numpy(), img0.flip(-1).numpy())
    np.testing.assert_allclose(t["boxes"].numpy(), [[8 - 3.0, 0.5, 8 - 0.5, 2.5]])
    np.testing.assert_allclose(t["ignore"].numpy(), [[8 - 7.4, 2.2, 8 - 4.0, 5.0]], rtol=1e-6)
    np.testing.assert_allclose(t["ignore_boxes"].numpy(), [[8 - 7.4, 2.2, 8 - 4.0, 5.0]], rtol=1e-6)
    half = TrainingSamples(pool, mean_color=MEAN, hflip_prob=0.5, seed=3)
    draws = []
    for epoch in range(20):
        half.set_epoch(epoch)
        draws.append(half[0][1]["flipped"])
    again = []
    for epoch in range(20):
        half.set_epoch(epoch)
        again.append(half[0][1]["flipped"])
    assert draws == again and any(draws) and not all(draws)


def test_each_image_decoded_once_per_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, _ = two_image_ds(tmp_path)
    pool = LabeledPool(ds)
    pool.add_region(1, (12, 16), 0, (0, 0, 8, 6), cycle=1)
    pool.add_region(1, (12, 16), 0, (8, 6, 16, 12), cycle=1)
    calls: list[Path] = []
    real = samples_mod.read_rgb

    def counting(path, expect=None):  # type: ignore[no-untyped-def]
        calls.append(Path(path))
        return real(path, expect)

    monkeypatch.setattr(samples_mod, "read_rgb", counting)
    ts = TrainingSamples(pool, mean_color=MEAN, cache_size=0)
    ts[0]
    ts[1]
    assert len(calls) == 2
    cached = TrainingSamples(pool, mean_color=MEAN)
    calls.clear()
    cached[0]
    cached[1]
    cached[0]
    assert len(calls) == 1


def test_dataset_mean_color(tmp_path: Path) -> None:
    red = np.zeros((2, 2, 3), dtype=np.uint8)
    red[..., 0] = 255
    blue = np.zeros((2, 4, 3), dtype=np.uint8)
    blue[..., 2] = 255
    d = make_dict([(1, 2, 2), (2, 2, 4)], [])
    ds = _ds(tmp_path, d, {1: red, 2: blue})
    np.testing.assert_allclose(dataset_mean_color(ds), (4 / 12, 0.0, 8 / 12))
    ts = TrainingSamples(LabeledPool(ds))
    np.testing.assert_allclose(ts.mean_color, (4 / 12, 0.0, 8 / 12))


def test_image_size_mismatch_is_a_data_error(tmp_path: Path) -> None:
    from mural.errors import DataError

    d = make_dict([(1, 5, 5)], [])
    ds = _ds(tmp_path, d, {1: np.zeros((4, 5, 3), dtype=np.uint8)})
    pool = LabeledPool(ds)
    pool.add_full_images([1], cycle=0)
    with pytest.raises(DataError, match=r"1\.png: image is 4x5"):
        TrainingSamples(pool, mean_color=MEAN)[0]


def test_show_samples_writes_png(tmp_path: Path) -> None:
    from mural.cli import main

    ds, _ = two_image_ds(tmp_path)
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(ds.to_dict()))
    ds = CocoDataset.load(ann, tmp_path / "imgs")
    pool = LabeledPool(ds)
    pool.add_full_images([2], cycle=0)
    pool.add_region(1, (12, 16), 0, (4, 3, 12, 9), cycle=1)
    pool.add_objects(1, [11], cycle=1)
    pool.save(tmp_path / "pool")
    out = tmp_path / "grid.png"
    assert main(["show-samples", str(tmp_path / "pool"), "--out", str(out), "--n", "5"]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100
    # An explicit dataset works too; a missing pool is a clean error (exit 2).
    out2 = tmp_path / "grid2.png"
    rc = main(["show-samples", str(tmp_path / "pool"), "--dataset", str(ann), "--out", str(out2)])
    assert rc == 0 and out2.exists()
    assert main(["show-samples", str(tmp_path / "nope"), "--out", str(out2)]) == 2


def test_scaled_crop_matches_resize_then_crop() -> None:
    # Reference: PIL's full bilinear resize, then the crop (the documented semantics).
    # Computing only the crop may differ by PIL's float rounding of filter coefficients
    # (seen: at most 2 grey levels, on a few percent of values for random noise).
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, size=(30, 40, 3)).astype(np.uint8), "RGB")
    for hs, ws in [(30, 40), (15, 20), (52, 69), (88, 117)]:
        full = np.asarray(img.resize((ws, hs), Image.BILINEAR)).astype(int)
        for x0, y0 in [(0, 0), (min(7, max(0, ws - 40)), min(5, max(0, hs - 30)))]:
            x1, y1 = min(x0 + 40, ws), min(y0 + 30, hs)
            got = np.asarray(samples_mod.scaled_crop(img, (hs, ws), (x0, y0, x1, y1))).astype(int)
            assert got.shape == (y1 - y0, x1 - x0, 3)
            diff = np.abs(got - full[y0:y1, x0:x1])
            assert diff.max() <= 2 and (diff > 0).mean() < 0.1, (hs, ws, x0, y0)


# --------------------------------------------------------------- training scale


def _chw(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255


def test_full_image_and_regions_at_the_training_scale(tmp_path: Path) -> None:
    """Image 1 is 6x8 (HxW). Training scale (9, 12): f = min(9/6, 12/8) = 1.5, so every
    sample of this image (full image or region, both 6x8 before) becomes 9x12 and its boxes
    are multiplied by 1.5."""
    ds, arr = two_image_ds(tmp_path)
    src = Image.fromarray(arr, "RGB")
    pool = LabeledPool(ds)
    pool.add_full_images([1], cycle=0)
    # Scale (12, 16): f = 2, scaled 12x16. Window (0, 0, 8, 6): object 10 -> (1, 1, 6, 5).
    r = pool.add_region(1, (12, 16), 0, (0, 0, 8, 6), cycle=1)
    assert r.boxes == [[1.0, 1.0, 6.0, 5.0]] and r.ignore == []
    # Scale (4, 6): f = min(4/6, 6/8) = 2/3, scaled int(6*2/3+.5) x int(8*2/3+.5) = 4x5; the
    # 8x6 window at (0, 0) holds a 5x4 part of it, the rest is padding.
    pool.add_region(1, (4, 6), 1, (0, 0, 8, 6), cycle=1)
    ts = TrainingSamples(pool, mean_color=MEAN, train_scale=(9, 12))
    assert [k for k, _ in ts.refs] == ["full", "region", "region"]

    img, t = ts[0]
    assert tuple(img.shape) == (3, 9, 12)
    np.testing.assert_allclose(
        t["boxes"].numpy(), [[0.75, 0.75, 4.5, 3.75], [6.0, 3.3, 11.1, 7.5]], rtol=1e-6
    )
    # exactly the pixels predict() feeds the detector at that scale
    _, (want,) = MultiScaleImages(ds, [1], [(9, 12)])[0]
    assert torch.equal(img, want)
    np.testing.assert_allclose(img.numpy(), _chw(src.resize((12, 9), Image.BILINEAR)))

    img, t = ts[1]
    assert tuple(img.shape) == (3, 9, 12)
    np.testing.assert_allclose(t["boxes"].numpy(), [[1.5, 1.5, 9.0, 7.5]])
    # the window of the scaled image, then the training-scale resize (PIL both times)
    window = src.resize((16, 12), Image.BILINEAR).crop((0, 0, 8, 6))
    exp = _chw(window.resize((12, 9), Image.BILINEAR))
    np.testing.assert_allclose(img.numpy(), exp, atol=3 / 255)

    img, t = ts[2]
    assert tuple(img.shape) == (3, 9, 12)
    # the 5x4 part -> int(5*1.5+.5) x int(4*1.5+.5) = 8x6 pixels; padding around it
    mean = np.array(MEAN, dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(img.numpy()[:, 6:, :], np.broadcast_to(mean, (3, 3, 12)))
    np.testing.assert_allclose(img.numpy()[:, :, 8:], np.broadcast_to(mean, (3, 9, 4)))
    part = src.resize((5, 4), Image.BILINEAR).resize((8, 6), Image.BILINEAR)
    np.testing.assert_allclose(img.numpy()[:, :6, :8], _chw(part), atol=3 / 255)

    # ... and that is what reaches the model in training (its transform never resizes)
    from tests.detector.helpers import tiny_detector

    det = tiny_detector()
    seen: list[tuple[tuple[int, ...], ...]] = []
    boxes: list[list[list[float]]] = []

    def grab(_m, args):  # type: ignore[no-untyped-def]
        images, targets = args[0], args[1]
        seen.append(tuple(tuple(i.shape) for i in images))
        boxes.extend(tt["boxes"].tolist() for tt in targets)

    det.model.register_forward_pre_hook(grab)
    det.fit(ts, epochs=1, batch_size=3, lr=1e-3, progress=False)
    assert seen == [((3, 9, 12),) * 3]
    # (in the sampler's shuffled order) each sample's boxes at the training scale
    want = [ts[i][1]["boxes"].tolist() for i in range(3)]
    assert sorted(boxes) == sorted(want) and [[1.5, 1.5, 9.0, 7.5]] in boxes
    sizes = det.model.transform([i.clone() for i, _ in (ts[0], ts[1])])[0].image_sizes
    assert sizes == [(9, 12), (9, 12)]


def _overlap_ds(tmp_path: Path) -> CocoDataset:
    arr = np.empty((4, 6, 3), dtype=np.uint8)
    arr[:] = (200, 100, 50)
    d = make_dict([(1, 4, 6)], [(1, 1, 3, [0.0, 0.0, 3.0, 2.0])])
    return _ds(tmp_path, d, {1: arr})


def test_paint_never_covers_a_labelled_box(tmp_path: Path) -> None:
    """A 4x6 image at scale (4, 6) (f = 1, window = the image): labelled box (0,0)-(3,2),
    ignore area (2,1)-(5,3) overlapping it. Painted: the ignore area less the box."""
    ds = _overlap_ds(tmp_path)
    pool = LabeledPool(ds)
    pool.add_region_labels(
        1, (4, 6), 0, (0, 0, 6, 4), 1, [[0, 0, 3, 2]], [3], ann_ids=[1], ignore=[[2, 1, 5, 3]]
    )
    colour = (np.array([200, 100, 50], dtype=np.float32) / 255)[:, None]
    mean = np.array(MEAN, dtype=np.float32)[:, None]
    painted = {(1, 3), (1, 4), (2, 2), (2, 3), (2, 4)}  # (y, x): row 1 keeps x = 2 (the box)
    exp = np.empty((3, 4, 6), dtype=np.float32)
    for y in range(4):
        for x in range(6):
            exp[:, y, x] = (mean if (y, x) in painted else colour)[:, 0]
    img, t = TrainingSamples(pool, mean_color=MEAN)[0]
    np.testing.assert_allclose(img.numpy(), exp, atol=1e-7)
    assert tuple(t["ignore_boxes"].shape) == (0, 4)
    np.testing.assert_array_equal(t["ignore"].numpy(), [[2, 1, 5, 3]])
    # the loss-level option paints nothing and hands the area to the loss
    img, t = TrainingSamples(pool, mean_color=MEAN, region_ignore="loss")[0]
    np.testing.assert_allclose(img.numpy(), np.broadcast_to(colour[:, :, None], (3, 4, 6)))
    np.testing.assert_array_equal(t["ignore_boxes"].numpy(), [[2, 1, 5, 3]])
    np.testing.assert_array_equal(t["boxes"].numpy(), [[0, 0, 3, 2]])
    # at a training scale the areas scale with the image: f = min(8/4, 12/6) = 2
    img, t = TrainingSamples(pool, mean_color=MEAN, region_ignore="loss", train_scale=(8, 12))[0]
    assert tuple(img.shape) == (3, 8, 12)
    np.testing.assert_array_equal(t["ignore_boxes"].numpy(), [[4, 2, 10, 6]])
    with pytest.raises(Exception, match="region_ignore"):
        TrainingSamples(pool, mean_color=MEAN, region_ignore="blur")
    with pytest.raises(Exception, match="train_scale"):
        TrainingSamples(pool, mean_color=MEAN, train_scale=(10, 5))
