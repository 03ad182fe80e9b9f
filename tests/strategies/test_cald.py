"""CALD against hand-made cases and a literal transcription of its reference's stage 2
(github.com/we1pingyu/CALD, ``cald_train.py``: ``get_uncertainty``, ``cls_kldiv``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mural.data.coco import CocoDataset
from mural.data.pool import LabeledPool
from mural.strategies import build_strategy
from mural.strategies.cald import (
    REFERENCE_AUGMENTATIONS,
    class_vector,
    reference_subset,
    stage2_order,
    view_consistency,
)

from .helpers import make_context


def test_default_augmentations_are_the_references() -> None:
    # cald_train.py: -a FCDR -> flip, cut_out (cutout(..., 2)), smaller_resize (0.8), rotation (5)
    assert REFERENCE_AUGMENTATIONS == ["hflip", "cutout:2", "resize:0.8", "rotate:5"]
    s = build_strategy("cald")
    assert s.options["augmentations"] == REFERENCE_AUGMENTATIONS
    assert s.options["beta"] == 1.3 and s.options["candidate_factor"] == 1.2


def test_view_consistency_by_hand() -> None:
    ref = np.array([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    ref_p = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3]])  # (C + 1), background last
    # box 0: best view box IoU 0.8, same probs: 0.8 + ½(1 - 0)(0.8 + 0.8) - 1.3 = 0.3
    # box 1: the same box, same probs: 1 + ½(0.5 + 0.5) - 1.3 = 0.2 -> min 0.2
    view = np.array([[0.0, 0, 10, 8], [20, 20, 30, 30], [50, 50, 60, 60]])
    view_p = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    assert math.isclose(view_consistency(ref, ref_p, view, view_p, 1.3), 0.2, abs_tol=1e-12)
    # disjoint class probabilities: JS = ln 2; 1 + ½(1 - ln 2)(1 + 1) - 1.3 = 0.7 - ln 2
    v = view_consistency(ref[:1], np.array([[1.0, 0, 0]]), ref[:1], np.array([[0.0, 1, 0]]), 1.3)
    assert math.isclose(v, abs(0.7 - math.log(2)), abs_tol=1e-12)
    # s is the largest *foreground* probability (prob_max), not the background
    v = view_consistency(
        ref[:1], np.array([[0.3, 0.0, 0.7]]), ref[:1], np.array([[0.3, 0.0, 0.7]]), 1.3
    )
    assert math.isclose(v, 0.0, abs_tol=1e-12)  # 1 + ½ (0.3 + 0.3) - 1.3
    # capped at 1; a view with no detection gives 0
    assert view_consistency(ref[:1], ref_p[:1], view[2:], view_p[2:], 3.0) == 1.0
    assert view_consistency(ref, ref_p, np.zeros((0, 4)), np.zeros((0, 3)), 1.3) == 0.0


def test_reference_box_subset() -> None:
    s = np.linspace(1.0, 0.1, 45)
    assert sorted(set(reference_subset(s).tolist())) == list(range(45))  # <= 50: all
    s = np.random.default_rng(0).random(100)
    keep = reference_subset(s)
    by_score = np.argsort(-s, kind="stable")
    assert keep.shape == (50,)
    assert keep[0] == by_score[0] and keep[-1] == by_score[-1]
    np.testing.assert_array_equal(keep, by_score[np.round(np.linspace(0, 99, 50)).astype(int)])
    assert reference_subset(s[:40]).shape == (40,)


def test_class_vector() -> None:
    np.testing.assert_array_equal(
        class_vector(np.array([0, 2, 0]), np.array([0.3, 0.9, 0.6]), 3), [0.6, 0.0, 0.9]
    )
    np.testing.assert_array_equal(class_vector(np.zeros(0), np.zeros(0), 2), [0.0, 0.0])


def test_stage2_order_on_a_hand_made_table() -> None:
    # positions 0..4 in stage-1 (ascending consistency) order 2, 0, 3, 1, 4
    stage1 = np.array([2, 0, 3, 1, 4])
    new = np.array([2, 1, 3, 0, 5])  # not-yet-labelled objects per position
    vec = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    lab_mean = np.array([2.0, 0.0])  # softmax -> (0.88, 0.12)
    # B = 5, candidate_factor 1.2 -> want 6; objects along stage 1: 3, 5, 5, 6 -> 4 candidates
    order, n = stage2_order(stage1, new, vec, lab_mean, 6.0)
    assert n == 4
    # pos 0: all-zero vector first; then farthest from (0.88, 0.12): pos 3 (0.27, 0.73), then
    # pos 1 (0.5, 0.5), then pos 2 (0.73, 0.27); then the rest in stage-1 order (pos 4)
    assert order.tolist() == [0, 3, 1, 2, 4]
    # candidates never reach the target: all are candidates; pos 4 (1, 1) has pos 1's
    # softmax (0.5, 0.5): a tie, kept in stage-1 order (pos 1 before pos 4)
    order, n = stage2_order(stage1, new, vec, lab_mean, 100.0)
    assert n == 5 and order.tolist() == [0, 3, 1, 4, 2]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _literal_cls_kldiv(labelled: list[list[int]], cls_corrs: np.ndarray, budget: int) -> list:
    """``cald_train.cls_kldiv`` (non-uniform branch), transcribed line by line in NumPy."""
    cls_inds: list[int] = []
    result = labelled
    for a in list(np.where(np.sum(cls_corrs, axis=1) == 0)[0]):
        cls_inds.append(int(a))
    while len(cls_inds) < budget:
        _result = np.mean(np.array(result, dtype=np.float64), axis=0)[None, :]
        p = _softmax(_result)
        q = _softmax(cls_corrs)
        log_mean = np.log((p + q) / 2)
        # KLDivLoss(log_mean, p) = p * (log p - log_mean), summed over classes
        jsdiv = (
            np.sum(p * (np.log(p) - log_mean), 1) / 2 + np.sum(q * (np.log(q) - log_mean), 1) / 2
        )
        jsdiv[cls_inds] = -1
        cls_inds.append(int(np.argmax(jsdiv)))
    return cls_inds


def test_stage2_matches_the_reference_with_one_object_per_image() -> None:
    rng = np.random.default_rng(5)
    for trial in range(20):
        n, c, b = 30, 4, 5
        consistency = rng.random(n)
        arg = np.argsort(consistency, kind="stable")
        vec = rng.random((n, c)) * (rng.random((n, 1)) < 0.8)  # some all-zero vectors
        labelled = rng.integers(0, 4, size=(7, c)).tolist()
        # the reference: candidates arg[:int(mr * budget)], picks into that list
        cand = arg[: int(1.2 * b)]
        picks = _literal_cls_kldiv(labelled, vec[cand], b)
        want = [int(cand[i]) for i in picks]
        # mural, with every image worth one object: the same first picks
        order, _ = stage2_order(arg, np.ones(n), vec, np.mean(labelled, axis=0), 1.2 * b)
        assert order[: len(want)].tolist() == want, trial


class FakeModel:
    """Views as the reference sees them: every augmentation returns the given outputs."""

    num_classes = 2

    def __init__(self, outputs: dict[int, dict[str, Any]]) -> None:
        self.outputs = outputs
        self.calls: list[tuple[str, Any]] = []

    def predict_views(
        self, ids: Any, transform: str, *, seed: int = 0, reference: Any = None
    ) -> list[dict[str, Any]]:
        self.calls.append((transform, reference))
        out = []
        for k, i in enumerate(ids):
            o = {key: np.asarray(v) for key, v in self.outputs[i].items()}
            o["view_boxes"] = o["boxes"]
            if reference is not None:
                o["reference_view"] = np.asarray(reference[k])
            out.append(o)
        return out


def _dataset(objs: dict[int, list[tuple[list[float], int]]]) -> CocoDataset:
    images, anns, aid = [], [], 1
    for iid, lst in objs.items():
        images.append({"id": iid, "file_name": f"{iid}.png", "height": 40, "width": 60})
        for (x0, y0, x1, y1), cat in lst:
            anns.append(
                {"id": aid, "image_id": iid, "category_id": cat, "iscrowd": 0,
                 "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)}
            )  # fmt: skip
            aid += 1
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    return CocoDataset.from_dict({"images": images, "annotations": anns, "categories": cats})


def _det(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict[str, Any]:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    p = np.zeros((len(s), 3))
    p[np.arange(len(s)), lab] = s
    p[:, 2] = 1 - s
    return {"boxes": b, "scores": s, "labels": lab, "probs": p, "proposals": b}


def test_cald_select_on_hand_made_images() -> None:
    ds = _dataset(
        {
            1: [([0, 0, 10, 10], 1)],  # detected at 0.9: consistency |1 + 0.9 - 1.3| = 0.6
            2: [([0, 0, 10, 10], 2)],  # detected at 0.5: |1 + 0.5 - 1.3| = 0.2
            3: [([0, 0, 9, 9], 1)],  # an image with no detections: 0 (most informative)
            4: [],  # an image with no objects, detected at 0.45: |1 + 0.45 - 1.3| = 0.15
        }
    )
    model = FakeModel(
        {
            1: _det([[0, 0, 10, 10]], [0.9], [0]),
            2: _det([[0, 0, 10, 10]], [0.5], [1]),
            3: _det([], [], []),
            4: _det([[5, 5, 15, 15]], [0.45], [0]),
        }
    )
    ctx = make_context(ds, LabeledPool(ds), None, 10, model=model)
    res = build_strategy("cald", score_threshold=0.0).select(ctx)
    # no labelled image: the labelled mean is zero -> JS against uniform; image 3 (zero
    # vector) first; then by JS of softmax(vector) from uniform: image 1 (0.9, 0), image 2
    # (0, 0.5), image 4 (0.45, 0)
    assert [it.image_id for it in res.items] == [3, 1, 2, 4]
    scores = {it.image_id: it.score for it in res.items}
    assert math.isclose(scores[3], 0.0)
    assert math.isclose(scores[1], 0.6) and math.isclose(scores[2], 0.2)
    assert math.isclose(scores[4], 0.15)
    # every augmentation asked once, with the reference boxes (image 3: none)
    assert [t for t, _ in model.calls] == ["none", *REFERENCE_AUGMENTATIONS]
    for _, ref in model.calls[1:]:
        assert [r.shape[0] for r in ref] == [1, 1, 0, 1]
