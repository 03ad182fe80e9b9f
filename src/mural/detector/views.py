"""Predictions on transformed views of images, mapped back to the original pixels.

What the model-based baselines (CALD, LS+C, LT/C) read from a detector: per image and
view, every detection with its full class-probability row and the RPN proposal it was
regressed from. The detections are the model's own output (``ProbRoIHeads`` returns each
detection's ``probs`` and ``proposals``); this module only makes the views and maps boxes
back.

View transforms (a small mini-language, also checked by the strategies' options):
``"none"``, ``"hflip"``, ``"color:<f>"`` (brightness and contrast times ``f``),
``"noise:<sigma>"`` (Gaussian pixel noise, ``sigma`` on the 0..255 scale, drawn from the
seed), ``"resize:<f>"``, ``"cutout:<n>"`` and ``"rotate:<degrees>"``. ``hflip``,
``cutout``, ``resize`` and ``rotate`` are CALD's reference augmentations (Yu et al., CVPR-W
2022, github.com/we1pingyu/CALD, ``cald/cald_helper.py``: ``HorizontalFlip``, ``cutout``,
``resize``, ``rotate``), made the same way with the same parameters:

- ``hflip``: mirror; a box ``(x0, y0, x1, y1)`` maps to ``(W - x1, y0, W - x0, y1)`` (its own
  inverse).
- ``resize:<f>``: the image resized (PIL, bilinear) to ``(int(W f), int(H f))``; boxes times
  ``f`` into the view, divided by ``f`` back (as the reference, which scales boxes by ``f``).
- ``cutout:<n>``: up to ``n`` black patches of ``uniform(0.05, 0.2)`` of the image's height
  and width at a uniform position, each kept only if the largest fraction of a *reference
  box* it covers is in ``[0.1, 0.4]`` (50 tries); boxes unchanged. The reference boxes are
  the caller's (``reference``); with none, no patch is placed.
- ``rotate:<a>``: PIL ``rotate(a, expand=True)`` (counter-clockwise, black corners), then
  resized back to ``(W, H)``. A box maps into the view as the bounding box of its four
  rotated corners, divided by the expansion ``(W'/W, H'/H)`` and clipped to the image (the
  reference's ``rotate``); a view box maps back by the inverse rotation of its corners
  (bounding box, clipped). See :func:`rotation_maps`.

Randomness (``noise``, ``cutout``) comes only from the call's ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.transforms import functional as TF

from ..core.geometry import scaled_size
from ..data.images import read_rgb, to_tensor
from ..errors import ConfigError
from ..view_transforms import check_view_transform
from .parts import ProbRoIHeads, ProposalAwareTransform

__all__ = [
    "ViewPredictor",
    "check_view_transform",
    "cutout_patches",
    "prob_model",
    "rotation_maps",
    "view_box_maps",
]

Unmap = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _corners_bbox(boxes: NDArray[np.float64], m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bounding boxes ``(K, 4)`` of the four corners of ``boxes`` under the affine ``m``
    ``(2, 3)``."""
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    xs = np.stack([x0, x1, x0, x1], axis=1)
    ys = np.stack([y0, y0, y1, y1], axis=1)
    tx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    ty = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], axis=1)


def rotation_maps(
    size: tuple[int, int], angle: float, expanded: tuple[int, int]
) -> tuple[Unmap, Unmap]:
    """``(to_view, to_original)`` box maps of the ``rotate:<angle>`` view.

    Args:
        size: the original image's ``(H, W)``.
        angle: degrees, counter-clockwise (PIL's ``rotate``).
        expanded: ``(H', W')`` of PIL's ``rotate(angle, expand=True)`` output, which is then
            resized back to ``(W, H)``.

    ``to_view`` is the reference's box rotation (``cald_helper.rotate``): the affine
    ``[[c, s, (1 - c) cx - s cy + nW/2 - cx], [-s, c, s cx + (1 - c) cy + nH/2 - cy]]`` with
    ``c = cos a``, ``s = sin a``, ``(cx, cy) = (W/2, H/2)``, ``nW = int(H s + W c)``,
    ``nH = int(H c + W s)`` on the box's four corners, their bounding box divided by
    ``(W'/W, H'/H)``, clipped to ``[0, W] x [0, H]``. ``to_original`` undoes it for a box of
    the view: times ``(W'/W, H'/H)``, the inverse affine on its corners, bounding box,
    clipped. Both take and return ``(K, 4)`` float64 xyxy.
    """
    h, w = int(size[0]), int(size[1])
    eh, ew = int(expanded[0]), int(expanded[1])
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    cx, cy = w / 2.0, h / 2.0
    nw = int(h * abs(s) + w * abs(c))
    nh = int(h * abs(c) + w * abs(s))
    fwd = np.array(
        [
            [c, s, (1 - c) * cx - s * cy + nw / 2 - cx],
            [-s, c, s * cx + (1 - c) * cy + nh / 2 - cy],
        ]
    )
    lin_inv = np.array([[c, -s], [s, c]])  # inverse of [[c, s], [-s, c]]
    inv = np.concatenate([lin_inv, -(lin_inv @ fwd[:, 2:])], axis=1)
    k = np.array([ew / w, eh / h, ew / w, eh / h])
    hi = np.array([w, h, w, h], dtype=np.float64)

    def to_view(b: NDArray[np.float64]) -> NDArray[np.float64]:
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        out: NDArray[np.float64] = np.clip(_corners_bbox(b, fwd) / k, 0.0, hi)
        return out

    def to_original(b: NDArray[np.float64]) -> NDArray[np.float64]:
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        return np.clip(_corners_bbox(b * k, inv), 0.0, hi)

    return to_view, to_original


def view_box_maps(
    transform: str, size: tuple[int, int], expanded: tuple[int, int] | None = None
) -> tuple[Unmap, Unmap]:
    """``(to_view, to_original)`` box maps of ``transform`` for an image of ``(H, W)``
    ``size`` (``expanded``: PIL's expanded ``(H', W')`` for ``rotate``; computed when
    ``None``). Pixel-only transforms (``none``, ``color``, ``noise``, ``cutout``) map boxes
    to themselves."""
    h, w = int(size[0]), int(size[1])

    def ident(b: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(b, dtype=np.float64).reshape(-1, 4)

    if transform == "hflip":

        def flip(b: NDArray[np.float64]) -> NDArray[np.float64]:
            b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
            out = b.copy()
            out[:, 0] = w - b[:, 2]
            out[:, 2] = w - b[:, 0]
            return out

        return flip, flip
    name, _, arg = transform.partition(":")
    if name == "resize":
        f = float(arg)
        return (lambda b: ident(b) * f), (lambda b: ident(b) / f)
    if name == "rotate":
        if expanded is None:
            from PIL import Image

            ew, eh = Image.new("L", (w, h)).rotate(float(arg), expand=True).size
            expanded = (eh, ew)
        return rotation_maps((h, w), float(arg), expanded)
    return ident, ident


def cutout_patches(
    size: tuple[int, int],
    boxes: NDArray[np.float64],
    n: int,
    rng: np.random.Generator,
    *,
    tries: int = 50,
    low: float = 0.05,
    high: float = 0.2,
    min_cover: float = 0.1,
    max_cover: float = 0.4,
) -> list[tuple[int, int, int, int]]:
    """The reference's cutout patches (``cald_helper.cutout``) as ``(x0, y0, x1, y1)`` ints.

    Up to ``tries`` draws of a patch of ``uniform(low, high)`` times the image's ``(H, W)``
    at a uniform position; a patch is kept when the largest fraction of one of ``boxes``
    ``(K, 4)`` it covers is in ``[min_cover, max_cover]``; stops after ``n`` kept. No box:
    no patch. Corners are truncated to ints before the coverage test (as the reference).
    """
    h, w = int(size[0]), int(size[1])
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out: list[tuple[int, int, int, int]] = []
    if boxes.shape[0] == 0:
        return out
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for _ in range(tries):
        ch = rng.uniform(low * h, high * h)
        cw = rng.uniform(low * w, high * w)
        left = rng.uniform(0, w - cw)
        top = rng.uniform(0, h - ch)
        x0, y0, x1, y1 = int(left), int(top), int(left + cw), int(top + ch)
        iw = np.clip(np.minimum(x1, boxes[:, 2]) - np.maximum(x0, boxes[:, 0]), 0, None)
        ih = np.clip(np.minimum(y1, boxes[:, 3]) - np.maximum(y0, boxes[:, 1]), 0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(area > 0, iw * ih / area, 0.0)
        r = float(ratio.max())
        if r > max_cover or r < min_cover:
            continue
        out.append((x0, y0, x1, y1))
        if len(out) >= n:
            break
    return out


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
    out: nn.Module = GeneralizedRCNN(model.backbone, model.rpn, heads, tr)
    out.train(model.training)
    return out


def _to_pil(img: torch.Tensor) -> Any:
    from PIL import Image

    arr = (img.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(arr))


def _from_pil(im: Any) -> torch.Tensor:
    return to_tensor(im).contiguous()


def _apply(
    img: torch.Tensor,
    transform: str,
    gen: torch.Generator,
    rng: np.random.Generator,
    reference: NDArray[np.float64] | None = None,
) -> tuple[torch.Tensor, Unmap, Unmap]:
    """``(view, to_view, to_original)``: the transformed image and its box maps."""
    h, w = int(img.shape[-2]), int(img.shape[-1])
    name, _, arg = transform.partition(":")
    if name == "rotate":
        rot = _to_pil(img).rotate(float(arg), expand=True)
        ew, eh = rot.size
        to_view, to_orig = view_box_maps(transform, (h, w), expanded=(eh, ew))
        return _from_pil(rot.resize((w, h))), to_view, to_orig
    to_view, to_orig = view_box_maps(transform, (h, w))
    if name in ("none", "hflip"):
        return (img if name == "none" else img.flip(-1)), to_view, to_orig
    v = float(arg)
    if name == "color":
        out = TF.adjust_contrast(TF.adjust_brightness(img, v), v)
        return out.clamp(0.0, 1.0), to_view, to_orig
    if name == "noise":
        noise = torch.randn(img.shape, generator=gen) * (v / 255.0)
        return (img + noise).clamp(0.0, 1.0), to_view, to_orig
    if name == "resize":
        from PIL import Image

        nw, nh = max(1, int(w * v)), max(1, int(h * v))
        return _from_pil(_to_pil(img).resize((nw, nh), Image.Resampling.BILINEAR)), to_view, to_orig
    if name == "cutout":
        ref = np.zeros((0, 4)) if reference is None else reference
        out = img.clone()
        for x0, y0, x1, y1 in cutout_patches((h, w), ref, int(v), rng):
            out[:, y0:y1, x0:x1] = 0.0
        return out, to_view, to_orig
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
        return to_tensor(read_rgb(self.dataset.image_path(image_id)))

    def _rescale(self, img: torch.Tensor) -> tuple[torch.Tensor, Unmap]:
        h, w = int(img.shape[-2]), int(img.shape[-1])
        hs, ws = (h, w) if self.scale is None else scaled_size((h, w), self.scale)
        if (hs, ws) == (h, w):
            return img, lambda b: b
        out = F.interpolate(img[None], size=(hs, ws), mode="bilinear", align_corners=False)[0]
        k = np.array([w / ws, h / hs, w / ws, h / hs])
        return out, lambda b: b * k

    def predict_views(
        self,
        image_ids: Sequence[int],
        transform: str,
        *,
        seed: int = 0,
        reference: Sequence[NDArray[Any]] | None = None,
    ) -> list[dict[str, NDArray[Any]]]:
        """Per image of ``image_ids``: ``boxes`` ``(K, 4)`` float64 xyxy original pixels,
        ``scores`` ``(K,)``, ``labels`` ``(K,)`` int64 ``0..C-1``, ``probs`` ``(K, C + 1)``
        (background last), ``proposals`` ``(K, 4)`` original pixels, ``view_boxes``
        ``(K, 4)`` the same detections in the *view's* pixels (before mapping back), for
        the view ``transform`` (noise and cutout drawn from ``seed``).

        ``reference``: per image, ``(R, 4)`` boxes in original pixels (CALD's reference
        detections): ``cutout`` places its patches against them, and each result gets
        ``reference_view`` ``(R, 4)``, those boxes mapped into the view's pixels (the
        reference code compares boxes there).
        """
        if not check_view_transform(transform):
            raise ConfigError(
                f"unknown view transform {transform!r}; known: 'none', 'hflip', "
                "'color:<f>', 'noise:<sigma>', 'resize:<f>', 'cutout:<n>', 'rotate:<deg>'"
            )
        ids = [int(i) for i in image_ids]
        if reference is not None and len(reference) != len(ids):
            raise ValueError(f"reference has {len(reference)} entries for {len(ids)} images")
        model = self.model
        heads = cast(ProbRoIHeads, model.roi_heads)  # prob_model made it one
        was_training, old_thresh = model.training, heads.score_thresh
        model.eval()
        if self.score_threshold is not None:
            heads.score_thresh = self.score_threshold
        gen = torch.Generator().manual_seed(int(seed))
        rng = np.random.default_rng(int(seed))
        results: list[dict[str, NDArray[Any]]] = []
        try:
            for k in range(0, len(ids), self.batch_size):
                views, maps = [], []
                for j, iid in enumerate(ids[k : k + self.batch_size]):
                    ref = None
                    if reference is not None:
                        ref = np.asarray(reference[k + j], dtype=np.float64).reshape(-1, 4)
                    v, to_view, to_orig = _apply(self._load(iid), transform, gen, rng, ref)
                    v, u2 = self._rescale(v)
                    views.append(v.to(self.device))
                    maps.append((to_view, to_orig, u2, ref))
                with torch.no_grad():
                    out = model(views)
                for o, (to_view, to_orig, u2, ref) in zip(out, maps, strict=True):
                    vb = u2(o["boxes"].cpu().double().numpy()).reshape(-1, 4)
                    vp = u2(o["proposals"].cpu().double().numpy()).reshape(-1, 4)
                    r: dict[str, NDArray[Any]] = {
                        "boxes": to_orig(vb),
                        "scores": o["scores"].cpu().double().numpy(),
                        "labels": o["labels"].cpu().numpy().astype(np.int64) - 1,
                        "probs": o["probs"].cpu().double().numpy(),
                        "proposals": to_orig(vp),
                        "view_boxes": vb,
                    }
                    if ref is not None:
                        r["reference_view"] = to_view(ref)
                    results.append(r)
        finally:
            model.train(was_training)
            heads.score_thresh = old_thresh
        return results
