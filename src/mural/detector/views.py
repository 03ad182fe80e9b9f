"""Predictions on transformed views of images, mapped back to the original pixels.

What the model-based baselines (CALD, LS+C, LT/C) read from a detector: per image and
view, every detection with its full class-probability row and the RPN proposal it was
regressed from. The detections are the model's own output (``ProbRoIHeads`` returns each
detection's ``probs`` and ``proposals``); this module only makes the views and maps boxes
back.

View transforms (a small mini-language, also checked by the strategies' options):
``"none"``, ``"hflip"``, ``"color:<f>"`` (brightness and contrast times ``f``),
``"noise:<sigma>"`` (Gaussian pixel noise, ``sigma`` on the 0..255 scale, drawn from the
seed) and ``"resize:<f>"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.transforms import functional as TF

from ..core.geometry import scaled_size
from ..errors import ConfigError, DataError
from .parts import ProbRoIHeads, ProposalAwareTransform

__all__ = ["ViewPredictor", "check_view_transform", "prob_model"]

Unmap = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def check_view_transform(t: str) -> bool:
    """Whether ``t`` is a view transform of the mini-language above."""
    if t in ("none", "hflip"):
        return True
    name, _, arg = t.partition(":")
    if name not in ("color", "noise", "resize") or not arg:
        return False
    try:
        v = float(arg)
    except ValueError:
        return False
    return math.isfinite(v) and (v >= 0 if name == "noise" else v > 0)


def prob_model(model: Any) -> nn.Module:
    """``model`` (a torchvision two-stage detector) with mural's output: each detection's
    ``probs``, ``proposal_index`` and ``proposals`` (shares ``model``'s weights).

    A model whose RoI heads are :class:`ProbRoIHeads` and whose transform maps proposals
    back is returned as it is; otherwise a ``GeneralizedRCNN`` is built from its backbone
    and RPN, :class:`ProbRoIHeads` with the heads' parts and settings (torchvision's
    one-detection-per-class rule) and a :class:`ProposalAwareTransform` like its own.
    """
    heads, tr = model.roi_heads, model.transform
    if isinstance(heads, ProbRoIHeads) and isinstance(tr, ProposalAwareTransform):
        return model  # type: ignore[no-any-return]
    if not isinstance(heads, ProbRoIHeads):
        if not isinstance(heads, RoIHeads):
            raise ConfigError(f"view predictions need torchvision RoIHeads, not {type(heads)}")
        heads = ProbRoIHeads.from_heads(heads, multi_label=True)
    if not isinstance(tr, ProposalAwareTransform):
        tr = ProposalAwareTransform.from_transform(tr)
    out = GeneralizedRCNN(model.backbone, model.rpn, heads, tr)
    out.train(model.training)
    return out


def _apply(img: torch.Tensor, transform: str, gen: torch.Generator) -> tuple[torch.Tensor, Unmap]:
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


class ViewPredictor:
    """Predictions of a model on transformed views of a dataset's images.

    Args:
        model: a torchvision two-stage detector (see :func:`prob_model`).
        dataset: the ``CocoDataset`` whose images are read (``image_path``).
        device: where the model is; views are moved there.
        batch_size: images per forward pass.
        scale: ``(min_size, max_size)``; each view is resized to exactly
            :func:`mural.core.scaled_size` of it before the model; ``None`` feeds views at
            their size (the model's own transform may still resize).

    Detections are kept above ``score_threshold`` (``None``: the RoI heads' own
    ``score_thresh``), as torchvision's heads keep them (``score > threshold``).
    """

    def __init__(
        self,
        model: Any,
        dataset: Any,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 2,
        scale: Sequence[int] | None = None,
        score_threshold: float | None = None,
    ) -> None:
        self.model = prob_model(model)
        self.score_threshold = None if score_threshold is None else float(score_threshold)
        self.dataset = dataset
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self.scale = None if scale is None else (int(scale[0]), int(scale[1]))
        self.num_classes = int(dataset.num_classes)

    def _load(self, image_id: int) -> torch.Tensor:
        from PIL import Image

        path = self.dataset.image_path(image_id)
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        except OSError as exc:
            raise DataError(f"{path}: image {image_id} cannot be read ({exc})") from None
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous()

    def _rescale(self, img: torch.Tensor) -> tuple[torch.Tensor, Unmap]:
        if self.scale is None:
            return img, lambda b: b
        h, w = int(img.shape[-2]), int(img.shape[-1])
        hs, ws = scaled_size((h, w), self.scale)
        if (hs, ws) == (h, w):
            return img, lambda b: b
        out = F.interpolate(img[None], size=(hs, ws), mode="bilinear", align_corners=False)[0]
        k = np.array([w / ws, h / hs, w / ws, h / hs])
        return out, lambda b: b * k

    def predict_views(
        self, image_ids: Sequence[int], transform: str, *, seed: int = 0
    ) -> list[dict[str, NDArray[Any]]]:
        """Per image of ``image_ids``: ``boxes`` ``(K, 4)`` float64 xyxy original pixels,
        ``scores`` ``(K,)``, ``labels`` ``(K,)`` int64 ``0..C-1``, ``probs`` ``(K, C + 1)``
        (background last), ``proposals`` ``(K, 4)`` original pixels, for the view
        ``transform`` (noise drawn from ``seed``)."""
        if not check_view_transform(transform):
            raise ConfigError(
                f"unknown view transform {transform!r}; known: 'none', 'hflip', "
                "'color:<f>', 'noise:<sigma>', 'resize:<f>'"
            )
        model = self.model
        heads = model.roi_heads
        was_training, old_thresh = model.training, heads.score_thresh
        model.eval()
        if self.score_threshold is not None:
            heads.score_thresh = self.score_threshold
        gen = torch.Generator().manual_seed(int(seed))
        results: list[dict[str, NDArray[Any]]] = []
        try:
            ids = [int(i) for i in image_ids]
            for k in range(0, len(ids), self.batch_size):
                views, unmaps = [], []
                for iid in ids[k : k + self.batch_size]:
                    v, u = _apply(self._load(iid), transform, gen)
                    v, u2 = self._rescale(v)
                    views.append(v.to(self.device))
                    unmaps.append(lambda b, u=u, u2=u2: u(u2(b)))
                with torch.no_grad():
                    out = model(views)
                for o, u in zip(out, unmaps, strict=True):
                    p = o["probs"].cpu().double().numpy()
                    results.append(
                        {
                            "boxes": u(o["boxes"].cpu().double().numpy()).reshape(-1, 4),
                            "scores": o["scores"].cpu().double().numpy(),
                            "labels": o["labels"].cpu().numpy().astype(np.int64) - 1,
                            "probs": p,
                            "proposals": u(o["proposals"].cpu().double().numpy()).reshape(-1, 4),
                        }
                    )
        finally:
            model.train(was_training)
            heads.score_thresh = old_thresh
        return results
