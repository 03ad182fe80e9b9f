"""mural's torchvision parts: loss-level ignore boxes, built by constructor."""

from __future__ import annotations

import copy

import pytest
import torch
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork

from mural.detector.parts import (
    IgnoreAwareRoIHeads,
    IgnoreAwareRPN,
    PaddedRoIAlign,
    ProbRoIHeads,
    ignore_negatives,
)
from mural.detector.training import targets_for_model

from .helpers import tiny_detector

IGN = torch.tensor([[0.0, 0.0, 10.0, 10.0]])


def test_ignore_negatives_rule_by_hand() -> None:
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # inside the ignore box: ignored
            [0.0, 0.0, 20.0, 10.0],  # half inside (IoA 0.5): ignored
            [0.0, 0.0, 30.0, 10.0],  # a third inside: stays negative
            [50.0, 50.0, 60.0, 60.0],  # outside: stays negative
            [2.0, 2.0, 8.0, 8.0],  # inside but positive: stays positive
            [3.0, 3.0, 3.0, 9.0],  # zero area inside: stays negative
            [1.0, 1.0, 9.0, 9.0],  # inside, already discarded: stays -1
        ]
    )
    labels = torch.tensor([0, 0, 0, 0, 1, 0, -1])
    got = ignore_negatives(labels, boxes, IGN)
    assert got.tolist() == [-1, -1, 0, 0, 1, 0, -1]
    assert labels.tolist() == [0, 0, 0, 0, 1, 0, -1]  # input untouched
    # float labels (the RPN's) and no / empty ignore boxes
    assert ignore_negatives(labels.float(), boxes, IGN).tolist()[:3] == [-1.0, -1.0, 0.0]
    assert ignore_negatives(labels, boxes, None) is labels
    assert ignore_negatives(labels, boxes, torch.zeros((0, 4))) is labels


def _rpn(cls: type) -> RegionProposalNetwork:
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.rpn import RPNHead

    return cls(  # type: ignore[no-any-return]
        AnchorGenerator(((8,),), ((1.0,),)),
        RPNHead(4, 1),
        0.7,
        0.3,
        256,
        0.5,
        {"training": 100, "testing": 100},
        {"training": 100, "testing": 100},
        0.7,
    )


# anchors of one image: a GT match, one covering only the ignore box, plain background
ANCHORS = torch.tensor(
    [
        [40.0, 40.0, 60.0, 60.0],  # the GT box: positive
        [0.0, 0.0, 10.0, 10.0],  # only the ignore box
        [1.0, 1.0, 9.0, 11.0],  # mostly inside the ignore box
        [70.0, 0.0, 80.0, 10.0],  # background
        [0.0, 70.0, 10.0, 80.0],  # background
    ]
)
GT = {"boxes": torch.tensor([[40.0, 40.0, 60.0, 60.0]]), "labels": torch.tensor([1])}


def test_rpn_anchor_on_ignore_box_is_not_a_sampled_negative() -> None:
    rpn = _rpn(IgnoreAwareRPN)
    labels, _ = rpn.assign_targets_to_anchors([ANCHORS], [{**GT, "ignore_boxes": IGN}])
    assert labels[0].tolist() == [1.0, -1.0, -1.0, 0.0, 0.0]
    pos, neg = rpn.fg_bg_sampler(labels)
    assert torch.where(neg[0])[0].tolist() == [3, 4]
    assert torch.where(pos[0])[0].tolist() == [0]
    # without ignore boxes (absent or (0, 4)) it is torchvision's RPN
    ref = _rpn(RegionProposalNetwork)
    want, want_m = ref.assign_targets_to_anchors([ANCHORS], [GT])
    assert want[0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    for t in (GT, {**GT, "ignore_boxes": torch.zeros((0, 4))}):
        got, got_m = rpn.assign_targets_to_anchors([ANCHORS], [t])
        assert torch.equal(got[0], want[0]) and torch.equal(got_m[0], want_m[0])
    # an image with no objects: every anchor negative except the ignored ones
    empty = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)}
    labels, _ = rpn.assign_targets_to_anchors([ANCHORS], [{**empty, "ignore_boxes": IGN}])
    assert labels[0].tolist() == [0.0, -1.0, -1.0, 0.0, 0.0]


def _heads(cls: type) -> RoIHeads:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    return cls(  # type: ignore[no-any-return]
        PaddedRoIAlign(["0"], 7, 2),
        TwoMLPHead(4 * 49, 8),
        FastRCNNPredictor(8, 3),
        0.5,
        0.5,
        512,
        0.25,
        None,
        0.05,
        0.5,
        100,
    )


def test_roi_heads_proposal_on_ignore_box_is_not_a_sampled_negative() -> None:
    heads = _heads(IgnoreAwareRoIHeads)
    props = [ANCHORS.clone()]
    torch.manual_seed(0)
    sampled, _, labels, _ = heads.select_training_samples(props, [{**GT, "ignore_boxes": IGN}])
    rows = {tuple(r) for r in sampled[0].tolist()}
    assert (0.0, 0.0, 10.0, 10.0) not in rows and (1.0, 1.0, 9.0, 11.0) not in rows
    assert (70.0, 0.0, 80.0, 10.0) in rows and (0.0, 70.0, 10.0, 80.0) in rows
    assert sorted(labels[0].tolist()) == [0, 0, 1, 1]  # 2 negatives; the GT box + its copy
    # without ignore boxes: torchvision's RoIHeads, draw for draw
    ref = _heads(RoIHeads)
    for t in (GT, {**GT, "ignore_boxes": torch.zeros((0, 4))}):
        torch.manual_seed(0)
        want = ref.select_training_samples([ANCHORS.clone()], [GT])
        torch.manual_seed(0)
        got = heads.select_training_samples([ANCHORS.clone()], [t])
        for a, b in zip(got, want, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # the ignore boxes of one call do not leak into the next
    assert heads._ignore == []


def test_parts_are_built_by_constructor_and_keep_settings() -> None:
    det = tiny_detector()
    m = det.model
    assert type(m.rpn) is IgnoreAwareRPN and type(m.roi_heads) is ProbRoIHeads
    assert type(m.roi_heads.box_roi_pool) is PaddedRoIAlign
    assert m.rpn._pre_nms_top_n == {"training": 2000, "testing": 1000}
    assert m.roi_heads.fg_bg_sampler.batch_size_per_image == 512
    assert m.roi_heads.proposal_matcher.high_threshold == 0.5
    assert m.rpn.proposal_matcher.allow_low_quality_matches


@pytest.mark.parametrize("with_empty", [False, True])
def test_training_losses_equal_torchvisions_without_ignore_boxes(with_empty: bool) -> None:
    det = tiny_detector(seed=4)
    model = det.model
    rpn, heads = model.rpn, model.roi_heads
    plain_rpn = RegionProposalNetwork(
        rpn.anchor_generator,
        rpn.head,
        0.7,
        0.3,
        256,
        0.5,
        dict(rpn._pre_nms_top_n),
        dict(rpn._post_nms_top_n),
        0.7,
    )
    plain_heads = RoIHeads(
        heads.box_roi_pool, heads.box_head, heads.box_predictor, 0.5, 0.5, 512, 0.25, None,
        0.05, 0.5, 100,
    )  # fmt: skip
    ref = GeneralizedRCNN(model.backbone, plain_rpn, plain_heads, model.transform)
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 64, 64, generator=g), torch.rand(3, 48, 64, generator=g)]
    targets = [
        {"boxes": torch.tensor([[5.0, 5.0, 30.0, 40.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)},
    ]
    if with_empty:
        targets = [{**t, "ignore_boxes": torch.zeros((0, 4))} for t in targets]
    model.train()
    ref.train()
    torch.manual_seed(1)
    got = model(images, copy.deepcopy(targets))
    torch.manual_seed(1)
    want = ref(images, copy.deepcopy(targets))
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    # with an ignore box over the only object-free corner of image 1 the losses change
    targets[1]["ignore_boxes"] = torch.tensor([[0.0, 0.0, 64.0, 24.0]])
    torch.manual_seed(1)
    other = model(images, copy.deepcopy(targets))
    assert not torch.equal(other["loss_objectness"], want["loss_objectness"])


def test_targets_for_model_passes_ignore_boxes() -> None:
    t = targets_for_model(
        {"boxes": [[0, 0, 5, 5], [3, 3, 3, 8]], "labels": [1, 2], "ignore_boxes": [[1, 2, 3, 4]]},
        torch.device("cpu"),
    )
    assert t["boxes"].tolist() == [[0.0, 0.0, 5.0, 5.0]] and t["labels"].tolist() == [1]
    assert t["ignore_boxes"].dtype == torch.float32 and t["ignore_boxes"].shape == (1, 4)
    assert "ignore_boxes" not in targets_for_model({"boxes": [], "labels": []}, torch.device("cpu"))
