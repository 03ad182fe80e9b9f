"""The parts mural hands torchvision's Faster R-CNN (subclasses of torchvision's own).

- :class:`ProposalAwareTransform`: torchvision's transform whose ``postprocess`` also maps
  each detection's ``proposals`` back to the input image's pixels.
- :class:`NoResizeTransform`: normalise and pad to a multiple of 32, never resize.
- :class:`PaddedRoIAlign`: ``MultiScaleRoIAlign`` whose level scales come from each batch's
  padded size (torchvision caches them from the first batch's largest unpadded image,
  which rounds to the wrong power of two for small images).
- :class:`IgnoreAwareRPN` and :class:`IgnoreAwareRoIHeads`: training targets may carry
  ``ignore_boxes`` (see :func:`ignore_negatives`); anchors and proposals that would be
  negatives but lie mostly inside an ignore box are neither positive nor negative.
- :class:`ProbRoIHeads`: eval output also holds each detection's softmax row ``probs``
  (background last), its ``proposal_index`` and its ``proposals`` box.

All are built through their constructors (``from_*`` class methods copy the settings of
a part torchvision built), never by changing an object's class.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops import boxes as box_ops
from torchvision.ops.poolers import (
    MultiScaleRoIAlign,
    _filter_input,
    _multiscale_roi_align,
    _setup_scales,
)

__all__ = [
    "IGNORE_IOA",
    "SIZE_DIVISIBLE",
    "IgnoreAwareRPN",
    "IgnoreAwareRoIHeads",
    "NoResizeTransform",
    "PaddedRoIAlign",
    "ProbRoIHeads",
    "ProposalAwareTransform",
    "ignore_negatives",
]

SIZE_DIVISIBLE = 32  # GeneralizedRCNNTransform pads batches to a multiple of this

#: An anchor or proposal whose area lies at least this much inside one ignore box
#: (intersection over the anchor's own area) is not used as a negative.
IGNORE_IOA = 0.5


# ------------------------------------------------------------------------ transforms
class ProposalAwareTransform(GeneralizedRCNNTransform):  # type: ignore[misc]
    """torchvision's transform; ``postprocess`` also rescales ``proposals`` (if present)."""

    @classmethod
    def from_transform(cls, t: GeneralizedRCNNTransform) -> ProposalAwareTransform:
        """A transform with the settings of ``t``."""
        return cls(
            t.min_size,
            t.max_size,
            t.image_mean,
            t.image_std,
            size_divisible=t.size_divisible,
            fixed_size=t.fixed_size,
        )

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        result = super().postprocess(result, image_shapes, original_image_sizes)
        if self.training:
            return result
        for r, im_s, o_s in zip(result, image_shapes, original_image_sizes, strict=True):
            if "proposals" in r:
                r["proposals"] = resize_boxes(r["proposals"], list(im_s), list(o_s))
        return result


class NoResizeTransform(ProposalAwareTransform):
    """Normalise and batch (pad to a multiple of 32) but never resize."""

    def resize(
        self, image: Tensor, target: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor] | None]:
        return image, target


# ------------------------------------------------------------------------- RoIAlign
class PaddedRoIAlign(MultiScaleRoIAlign):  # type: ignore[misc]
    """``MultiScaleRoIAlign`` whose level scales come from each batch's padded size."""

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        feats = _filter_input(x, self.featmap_names)
        d = SIZE_DIVISIBLE
        h = max(int(s[0]) for s in image_shapes)
        w = max(int(s[1]) for s in image_shapes)
        padded = [((h + d - 1) // d * d, (w + d - 1) // d * d)]
        self.scales, self.map_levels = _setup_scales(
            feats, padded, self.canonical_scale, self.canonical_level
        )
        out: Tensor = _multiscale_roi_align(
            feats, boxes, self.output_size, self.sampling_ratio, self.scales, self.map_levels
        )
        return out


# ---------------------------------------------------------------------- ignore boxes
def ignore_negatives(
    labels: Tensor, boxes: Tensor, ignore_boxes: Tensor | None, ioa: float = IGNORE_IOA
) -> Tensor:
    """Relabel as ``-1`` (neither positive nor negative) the negatives inside ignore boxes.

    Args:
        labels: ``(N,)`` matcher labels of ``boxes``: ``>= 1`` positive, ``0`` negative,
            ``-1`` already discarded (float for the RPN, int64 for the RoI heads).
        boxes: ``(N, 4)`` anchors or proposals, xyxy, in the image tensor's pixels.
        ignore_boxes: ``(M, 4)`` xyxy in the same frame, or ``None``.
        ioa: an entry ``i`` with ``labels[i] == 0`` becomes ``-1`` when, for some ignore
            box ``g``, ``area(boxes[i] ∩ g) / area(boxes[i]) >= ioa``.

    Returns ``labels`` itself when nothing is to be ignored, else a relabelled copy.
    Positives stay positive; zero-area boxes are never ignored.
    """
    if ignore_boxes is None or ignore_boxes.numel() == 0 or boxes.shape[0] == 0:
        return labels
    ign = ignore_boxes.reshape(-1, 4).to(device=boxes.device, dtype=boxes.dtype)
    lt = torch.max(boxes[:, None, :2], ign[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], ign[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)  # (N, M)
    area = box_ops.box_area(boxes)
    hit = ((inter >= ioa * area[:, None]) & (area[:, None] > 0)).any(dim=1)
    out = labels.clone()
    out[(labels == 0) & hit] = -1
    return out


class IgnoreAwareRPN(RegionProposalNetwork):  # type: ignore[misc]
    """torchvision's RPN; anchors labelled negative inside an ``ignore_boxes`` box of the
    target (:func:`ignore_negatives`) become ``-1``, which the RPN's sampler skips."""

    ignore_ioa: float = IGNORE_IOA

    @classmethod
    def from_rpn(cls, rpn: RegionProposalNetwork) -> IgnoreAwareRPN:
        """An RPN with the parts (anchor generator, head) and settings of ``rpn``."""
        m, s = rpn.proposal_matcher, rpn.fg_bg_sampler
        out = cls(
            rpn.anchor_generator,
            rpn.head,
            m.high_threshold,
            m.low_threshold,
            s.batch_size_per_image,
            s.positive_fraction,
            dict(rpn._pre_nms_top_n),
            dict(rpn._post_nms_top_n),
            rpn.nms_thresh,
            rpn.score_thresh,
        )
        out.min_size = rpn.min_size
        return out

    def assign_targets_to_anchors(
        self, anchors: list[Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        labels, matched = super().assign_targets_to_anchors(anchors, targets)
        labels = [
            ignore_negatives(lab, a, t.get("ignore_boxes"), self.ignore_ioa)
            for lab, a, t in zip(labels, anchors, targets, strict=True)
        ]
        return labels, matched


class IgnoreAwareRoIHeads(RoIHeads):  # type: ignore[misc]
    """torchvision's ``RoIHeads``; proposals labelled background inside an
    ``ignore_boxes`` box of the target (:func:`ignore_negatives`) become ``-1``, which the
    box sampler skips."""

    ignore_ioa: float = IGNORE_IOA
    _ignore: list[Tensor | None]

    @classmethod
    def from_heads(cls, heads: RoIHeads, **kw: Any) -> Any:
        """Heads with the parts (pooler, box head, predictor) and settings of ``heads``."""
        m, s = heads.proposal_matcher, heads.fg_bg_sampler
        return cls(
            heads.box_roi_pool,
            heads.box_head,
            heads.box_predictor,
            m.high_threshold,
            m.low_threshold,
            s.batch_size_per_image,
            s.positive_fraction,
            heads.box_coder.weights,
            heads.score_thresh,
            heads.nms_thresh,
            heads.detections_per_img,
            **kw,
        )

    def select_training_samples(
        self, proposals: list[Tensor], targets: list[dict[str, Tensor]] | None
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        # torchvision hands assign_targets_to_proposals only the boxes and labels; keep
        # the ignore boxes of this call at hand for it.
        self._ignore = [t.get("ignore_boxes") for t in targets] if targets is not None else []
        try:
            out: tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]
            out = super().select_training_samples(proposals, targets)
            return out
        finally:
            self._ignore = []

    def assign_targets_to_proposals(
        self, proposals: list[Tensor], gt_boxes: list[Tensor], gt_labels: list[Tensor]
    ) -> tuple[list[Tensor], list[Tensor]]:
        matched, labels = super().assign_targets_to_proposals(proposals, gt_boxes, gt_labels)
        ignore = getattr(self, "_ignore", [])
        if ignore:
            labels = [
                ignore_negatives(lab, p, ig, self.ignore_ioa)
                for lab, p, ig in zip(labels, proposals, ignore, strict=True)
            ]
        return matched, labels


class ProbRoIHeads(IgnoreAwareRoIHeads):
    """RoI heads whose eval output also holds, per detection, ``probs`` ``(M, C + 1)``
    (the softmax row of its proposal, background last), ``proposal_index`` ``(M,)`` (its
    proposal's row in the proposals of the image) and ``proposals`` ``(M, 4)``.

    ``multi_label=False`` (mural's default): each proposal gives at most one detection,
    its most probable foreground class, so ``label == argmax(probs[:C])`` and
    ``score == probs[label]``. ``multi_label=True`` is torchvision's rule (one detection
    per class above the threshold).
    """

    def __init__(self, *args: Any, multi_label: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.multi_label = bool(multi_label)
        self._extra: list[tuple[Tensor, Tensor]] = []

    def postprocess_detections(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        device = class_logits.device
        n_cls = class_logits.shape[-1]
        per_image = [p.shape[0] for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals)
        pred_scores = F.softmax(class_logits.float(), -1)
        all_boxes, all_scores, all_labels = [], [], []
        self._extra = []
        for boxes, scores, shape in zip(
            torch.split(pred_boxes, per_image, 0),
            torch.split(pred_scores, per_image, 0),
            image_shapes,
            strict=True,
        ):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            n = scores.shape[0]
            if self.multi_label:
                labels = torch.arange(1, n_cls, device=device).view(1, -1).expand(n, -1)
                prop = torch.arange(n, device=device).view(-1, 1).expand(n, n_cls - 1)
                b = boxes[:, 1:].reshape(-1, 4)
                s = scores[:, 1:].reshape(-1)
                lab = labels.reshape(-1)
                prop = prop.reshape(-1)
            else:
                s, lab = scores[:, 1:].max(dim=1)
                lab = lab + 1
                prop = torch.arange(n, device=device)
                b = boxes[prop, lab]
            keep = torch.where(s > self.score_thresh)[0]
            b, s, lab, prop = b[keep], s[keep], lab[keep], prop[keep]
            keep = box_ops.remove_small_boxes(b, min_size=1e-2)
            b, s, lab, prop = b[keep], s[keep], lab[keep], prop[keep]
            keep = box_ops.batched_nms(b, s, lab, self.nms_thresh)[: self.detections_per_img]
            b, s, lab, prop = b[keep], s[keep], lab[keep], prop[keep]
            p = scores[prop]
            all_boxes.append(b)
            all_scores.append(s)
            all_labels.append(lab)
            self._extra.append((torch.cat([p[:, 1:], p[:, :1]], dim=1), prop))
        return all_boxes, all_scores, all_labels

    def forward(self, features, proposals, image_shapes, targets=None):  # type: ignore[no-untyped-def]
        result, losses = super().forward(features, proposals, image_shapes, targets)
        if not self.training:
            for r, (p, idx), props in zip(result, self._extra, proposals, strict=True):
                r["probs"] = p
                r["proposal_index"] = idx
                r["proposals"] = props[idx]
        self._extra = []
        return result, losses
