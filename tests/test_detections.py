"""ScaleDetections: subset (rows kept per image, offsets recounted, images all kept) and
from_images (per-image arrays into the flat format, hand-checked)."""

from __future__ import annotations

import numpy as np
import pytest

from mural.detections import ScaleDetections


def _scale(per_image: list[int]) -> ScaleDetections:
    n, m = len(per_image), sum(per_image)
    return ScaleDetections(
        scale=(100, 200),
        image_ids=np.arange(10, 10 + n, dtype=np.int64),
        image_sizes=np.full((n, 2), 50, np.int64),
        scaled_sizes=np.full((n, 2), 100, np.int64),
        offsets=np.concatenate([[0], np.cumsum(per_image)]).astype(np.int64),
        boxes=np.arange(4 * m, dtype=np.float32).reshape(m, 4),
        scores=np.arange(m, dtype=np.float32),
        labels=np.arange(m, dtype=np.int64) % 3,
        probs=np.zeros((m, 4), np.float16),
    )


@pytest.mark.parametrize(
    ("per_image", "keep"),
    [
        ([2, 0, 3], [True, False, True, True, False]),
        ([0, 2, 0, 0], [False, True]),  # images without boxes at both ends
        ([3, 0], [False, False, False]),
        ([0, 0], []),
        ([], []),
    ],
)
def test_subset_recounts_offsets(per_image: list[int], keep: list[bool]) -> None:
    d = _scale(per_image)
    mask = np.array(keep, dtype=bool)
    sub = d.subset(mask)
    assert sub.offsets.dtype == np.int64
    assert sub.num_images == d.num_images
    for j in range(d.num_images):
        assert sub.rows(j).stop - sub.rows(j).start == int(mask[d.rows(j)].sum())
        assert np.array_equal(sub.scores[sub.rows(j)], d.scores[d.rows(j)][mask[d.rows(j)]])
    assert np.array_equal(sub.boxes, d.boxes[mask])
    assert sub.probs is not None and sub.probs.shape == (int(mask.sum()), 4)


def test_from_images_hand_checked() -> None:
    """Image 7 (40x60) has two detections, image 9 (30x30) none. At scale (60, 90) the
    factors are min(60/40, 90/60) = 1.5 and min(60/30, 90/30) = 2, so the scaled sizes are
    60x90 and 60x60; the rows are stored as float32 / int64 / float16."""
    boxes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float64)
    probs = np.array([[0.25, 0.5, 0.25], [0.1, 0.1, 0.8]], np.float32)
    per = [
        (boxes, np.array([0.9, 0.4]), np.array([1, 0]), probs),
        (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 3))),
    ]
    d = ScaleDetections.from_images((60, 90), [7, 9], [(40, 60), (30, 30)], per, num_classes=2)
    assert d.scale == (60, 90) and d.image_ids.tolist() == [7, 9]
    assert d.scaled_sizes.tolist() == [[60, 90], [60, 60]]
    assert d.offsets.tolist() == [0, 2, 2]
    assert (d.boxes.dtype, d.scores.dtype, d.labels.dtype) == (np.float32, np.float32, np.int64)
    np.testing.assert_array_equal(d.boxes, boxes.astype(np.float32))
    assert d.labels.tolist() == [1, 0]
    assert d.probs is not None and d.probs.dtype == np.float16
    np.testing.assert_array_equal(d.probs, probs.astype(np.float16))
    # no image at all, and no class probabilities asked for
    e = ScaleDetections.from_images((60, 90), [], [], [])
    assert e.offsets.tolist() == [0] and e.boxes.shape == (0, 4) and e.probs is None
    assert (e.scores.dtype, e.labels.dtype, e.scaled_sizes.shape) == (np.float32, np.int64, (0, 2))


def test_damaged_offsets_are_refused_naming_the_file(tmp_path) -> None:
    """A detections file whose offsets run backwards, or do not end at the box count,
    would give an image the wrong rows: loading it fails naming the file."""
    from mural.detections import Detections
    from mural.errors import DataError

    Detections(num_classes=3, per_scale=[_scale([2, 0, 1])]).save(tmp_path / "ok.npz")
    assert Detections.load(tmp_path / "ok.npz").per_scale[0].offsets.tolist() == [0, 2, 2, 3]
    for name, offsets in [("backwards", [0, 3, 2, 3]), ("short", [0, 1, 1, 2])]:
        z = dict(np.load(tmp_path / "ok.npz"))
        z["s0_offsets"] = np.array(offsets, np.int64)
        np.savez(tmp_path / f"{name}.npz", **z)
        with pytest.raises(DataError, match=f"{name}.npz: .*non-decreasing"):
            Detections.load(tmp_path / f"{name}.npz")
    # no image at all: only [0] is a valid offsets array
    with pytest.raises(DataError, match="offsets"):
        ScaleDetections(
            scale=(1, 1),
            image_ids=np.zeros(0, np.int64),
            image_sizes=np.zeros((0, 2), np.int64),
            scaled_sizes=np.zeros((0, 2), np.int64),
            offsets=np.array([3], np.int64),
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            labels=np.zeros(0, np.int64),
        )
