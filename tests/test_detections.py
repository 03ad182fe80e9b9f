"""ScaleDetections.subset: rows kept per image, offsets recounted, images all kept."""

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
