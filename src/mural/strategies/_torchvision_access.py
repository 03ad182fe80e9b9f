"""Model access for CALD, LS+C and LT/C on a torchvision Faster R-CNN (imports torch).

:class:`TorchvisionModelAccess` implements :class:`mural.strategies.base.ModelAccess`: it
runs the model's transform, backbone, RPN and box head itself so that, per detection, it
can return the full softmax class probabilities of ``roi_heads.box_predictor`` and the RPN
proposal the box was regressed from. Post-processing mirrors torchvision's
``RoIHeads.postprocess_detections`` (per-class boxes, ``score_thresh``, small-box removal,
per-class NMS, ``detections_per_img``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torchvision.ops import boxes as box_ops
from torchvision.transforms import functional as TF

from ..errors import ConfigError, DataError
from .base import check_transform

__all__ = ["TorchvisionModelAccess"]

Unmap = Callable[[NDArray[np.float64]], NDArray[np.float64]]


class TorchvisionModelAccess:
    """Extra forward passes of a torchvision ``FasterRCNN`` on images of a dataset.

    Args:
        model: a ``torchvision.models.detection.FasterRCNN`` (``detector.model``).
        dataset: the ``CocoDataset`` whose images are read (``image_path``).
        device: torch device for inference.
        batch_size: images per forward pass.
        scale: ``(min_size, max_size)``; each view is resized to exactly
            :func:`mural.core.scaled_size` of it before the model (whose own transform may
            not resize, as mural's detector); ``None`` feeds views at their size.

    Per-proposal rule: one detection per proposal (its best foreground class) when the
    RoI heads have ``multi_label = False`` (mural's ``ProbRoIHeads``), else torchvision's
    one per class above ``score_thresh``.
    """

    def __init__(
        self,
        model: Any,
        dataset: Any,
        *,
        device: str = "cpu",
        batch_size: int = 2,
        scale: tuple[int, int] | None = None,
    ) -> None:
        self.model = model
        self.scale = None if scale is None else (int(scale[0]), int(scale[1]))
        self.dataset = dataset
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.num_classes = int(dataset.num_classes)

    # ------------------------------------------------------------------ images
    def _load(self, image_id: int) -> torch.Tensor:
        from PIL import Image

        path = self.dataset.image_path(image_id)
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        except OSError as exc:
            raise DataError(f"{path}: image {image_id} cannot be read ({exc})") from None
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous()

    @staticmethod
    def _apply(
        img: torch.Tensor, transform: str, gen: torch.Generator
    ) -> tuple[torch.Tensor, Unmap]:
        h, w = int(img.shape[-2]), int(img.shape[-1])

        def ident(b: NDArray[np.float64]) -> NDArray[np.float64]:
            return b

        if transform == "none":
            return img, ident
        if transform == "hflip":

            def unflip(b: NDArray[np.float64]) -> NDArray[np.float64]:
                out = b.copy()
                out[:, 0] = w - b[:, 2]
                out[:, 2] = w - b[:, 0]
                return out

            return img.flip(-1), unflip
        name, _, arg = transform.partition(":")
        v = float(arg)
        if name == "color":
            out = TF.adjust_contrast(TF.adjust_brightness(img, v), v)
            return out.clamp(0.0, 1.0), ident
        if name == "noise":
            noise = torch.randn(img.shape, generator=gen) * (v / 255.0)
            return (img + noise).clamp(0.0, 1.0), ident
        if name == "resize":
            nh, nw = max(1, round(h * v)), max(1, round(w * v))
            out = F.interpolate(img[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
            sx, sy = w / nw, h / nh

            def unresize(b: NDArray[np.float64]) -> NDArray[np.float64]:
                return b * np.array([sx, sy, sx, sy])

            return out, unresize
        raise ConfigError(f"unknown view transform {transform!r}")  # pragma: no cover

    def _rescale(self, img: torch.Tensor) -> tuple[torch.Tensor, Unmap]:
        if self.scale is None:
            return img, lambda b: b
        from ..core.geometry import scaled_size

        h, w = int(img.shape[-2]), int(img.shape[-1])
        hs, ws = scaled_size((h, w), self.scale)
        if (hs, ws) == (h, w):
            return img, lambda b: b
        out = F.interpolate(img[None], size=(hs, ws), mode="bilinear", align_corners=False)[0]
        k = np.array([w / ws, h / hs, w / ws, h / hs])
        return out, lambda b: b * k

    # ----------------------------------------------------------------- forward
    @torch.no_grad()
    def _forward(self, imgs: list[torch.Tensor]) -> list[dict[str, NDArray[Any]]]:
        m = self.model
        rh = m.roi_heads
        sizes = [(int(t.shape[-2]), int(t.shape[-1])) for t in imgs]
        images, _ = m.transform([t.to(self.device) for t in imgs])
        features = m.backbone(images.tensors)
        if isinstance(features, torch.Tensor):
            features = OrderedDict([("0", features)])
        proposals, _ = m.rpn(images, features)
        bf = rh.box_head(rh.box_roi_pool(features, proposals, images.image_sizes))
        logits, reg = rh.box_predictor(bf)
        pred_boxes = rh.box_coder.decode(reg, proposals)
        probs = F.softmax(logits, -1)
        counts = [p.shape[0] for p in proposals]
        out = []
        for boxes, pr, props, rsize, osize in zip(
            pred_boxes.split(counts),
            probs.split(counts),
            proposals,
            images.image_sizes,
            sizes,
            strict=True,
        ):
            n_prop, ncls = pr.shape
            boxes = box_ops.clip_boxes_to_image(boxes, rsize)
            if getattr(rh, "multi_label", True):  # torchvision's rule: one per class
                cand = boxes[:, 1:].reshape(-1, 4)
                scores = pr[:, 1:].reshape(-1)
                labels = torch.arange(1, ncls, device=pr.device).repeat(n_prop)
                src = torch.arange(n_prop, device=pr.device).repeat_interleave(ncls - 1)
            else:  # mural's ProbRoIHeads default: the best foreground class per proposal
                scores, labels = pr[:, 1:].max(dim=1)
                labels = labels + 1
                src = torch.arange(n_prop, device=pr.device)
                cand = boxes[src, labels]
            keep = torch.where(scores > rh.score_thresh)[0]
            keep = keep[box_ops.remove_small_boxes(cand[keep], min_size=1e-2)]
            keep = keep[box_ops.batched_nms(cand[keep], scores[keep], labels[keep], rh.nms_thresh)]
            keep = keep[: rh.detections_per_img]
            ratio = np.array(
                [osize[1] / rsize[1], osize[0] / rsize[0], osize[1] / rsize[1], osize[0] / rsize[0]]
            )
            p = pr[src[keep]].cpu().double().numpy()
            out.append(
                {
                    "boxes": cand[keep].cpu().double().numpy() * ratio,
                    "scores": scores[keep].cpu().double().numpy(),
                    "labels": labels[keep].cpu().numpy().astype(np.int64) - 1,
                    "probs": np.concatenate([p[:, 1:], p[:, :1]], axis=1),
                    "proposals": props[src[keep]].cpu().double().numpy() * ratio,
                }
            )
        return out

    def predict_views(
        self, image_ids: Sequence[int], transform: str, *, seed: int = 0
    ) -> list[dict[str, NDArray[Any]]]:
        """See :meth:`mural.strategies.base.ModelAccess.predict_views`."""
        if not check_transform(transform):
            raise ConfigError(
                f"unknown view transform {transform!r}; known: 'none', 'hflip', "
                "'color:<f>', 'noise:<sigma>', 'resize:<f>'"
            )
        was_training = self.model.training
        self.model.eval()
        gen = torch.Generator().manual_seed(int(seed))
        results: list[dict[str, NDArray[Any]]] = []
        try:
            ids = [int(i) for i in image_ids]
            for k in range(0, len(ids), self.batch_size):
                views, unmaps = [], []
                for iid in ids[k : k + self.batch_size]:
                    v, u = self._apply(self._load(iid), transform, gen)
                    v, u2 = self._rescale(v)
                    views.append(v)
                    unmaps.append(lambda b, u=u, u2=u2: u(u2(b)))
                for pred, u in zip(self._forward(views), unmaps, strict=True):
                    pred["boxes"] = u(pred["boxes"]).reshape(-1, 4)
                    pred["proposals"] = u(pred["proposals"]).reshape(-1, 4)
                    results.append(pred)
        finally:
            self.model.train(was_training)
        return results
