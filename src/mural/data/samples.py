"""Training samples from a labelled pool (paper §4.5; contract §5, §7), as a torch Dataset.

One sample per fully labelled image, per labelled region, per partly labelled image:

- **full**: the original image and all its GT objects;
- **region**: the window cut from the original image resized to the region's scale (PIL
  bilinear; size ``(H, W)`` of the original image; mean-colour padding where the window
  passes the scaled image's edge), its labelled boxes in window pixels and its ignore
  areas (objects partly in the window) filled with the mean colour
  (``region_ignore="paint"``, the contract) or handed to the loss
  (``region_ignore="loss"``: ``target["ignore_boxes"]``, nothing painted);
- **partial**: the original image, its labelled GT objects as boxes and its not yet
  labelled objects as ``target["ignore_boxes"]`` (nothing painted: the detector treats
  anchors and proposals on them as neither positive nor negative).

**Training scale.** With ``train_scale=(min_size, max_size)`` (the detector's scale; the
loop passes it) every sample then goes through that resize, as torchvision and detectron2
do before the model: a sample of size ``(H, W)`` (full image or region alike) becomes
``scaled_size((H, W), train_scale)`` with its boxes multiplied by
``scale_factor((H, W), train_scale)``, so the detector trains at the resolution it is
evaluated and scored at. A full image is resized from the original in one step (the
pixels ``predict`` sees); a region's part that lies on the scaled image is resized to
its place (``int(w * f + 0.5)`` pixels wide) on a mean-colour canvas. ``None`` keeps
every sample at its own size.

Painted ignore areas are rounded outward to whole pixels in the model's frame; pixels
of a labelled box (rounded outward too) are never painted. Every box of the target is
in the pixel frame of the returned image tensor. Choices are written down in
``docs/pool.md``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from ..core import RegionFrame, scaled_size
from ..errors import DataError
from .coco import CocoDataset
from .images import dataset_mean_color, read_rgb, resize, scaled_crop, to_tensor
from .pool import LabeledPool

__all__ = [
    "REGION_IGNORE_MODES",
    "MultiScaleImages",
    "SampleRef",
    "TrainingSamples",
    "collate",
    "dataset_mean_color",
    "describe",
    "scaled_crop",
]

#: How a region's ignore areas reach training: filled with the mean colour (contract §5) or
#: as ``target["ignore_boxes"]`` for the loss.
REGION_IGNORE_MODES = ("paint", "loss")

#: ``(kind, key)``: ``("full", image_id)``, ``("region", index)``, ``("partial", image_id)``.
SampleRef = tuple[str, int]


def _outward(boxes: NDArray[np.float64], w: int, h: int) -> NDArray[np.int64]:
    """Boxes rounded outward to whole pixels and clipped to ``[0, w] x [0, h]``."""
    out = np.concatenate([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])], axis=1)
    return np.asarray(np.clip(out, 0, [w, h, w, h]), dtype=np.int64)


def _paint(
    img: torch.Tensor,
    areas: NDArray[np.float64],
    keep: NDArray[np.float64],
    mean: torch.Tensor,
) -> None:
    """Fill ``areas`` (rounded outward) of ``img`` ``(3, H, W)`` with ``mean``, except the
    pixels of the ``keep`` boxes (rounded outward): a labelled object is never hidden."""
    h, w = img.shape[1], img.shape[2]
    fill = _outward(areas, w, h)
    if not fill.shape[0]:
        return
    mask = torch.zeros((h, w), dtype=torch.bool)
    for x0, y0, x1, y1 in fill.tolist():
        mask[y0:y1, x0:x1] = True
    for x0, y0, x1, y1 in _outward(keep, w, h).tolist():
        mask[y0:y1, x0:x1] = False
    img[:, mask] = mean[:, None]


def _valid(boxes: NDArray[np.float64]) -> NDArray[np.float64]:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]


class TrainingSamples(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The training samples of a :class:`LabeledPool` (a snapshot taken at construction).

    Args:
        pool: the labelled pool; its dataset must have an image root.
        mean_color: RGB in ``[0, 1]`` (or ``0..255`` when any value is > 1) used for
            padding and ignore areas; by default :func:`dataset_mean_color` of the pool's
            dataset, computed once here.
        hflip_prob: probability of a horizontal flip per sample draw (boxes and ignore
            areas flipped with it; provenance unchanged, ``target["flipped"]`` says so).
        seed: seeds the flips; the draw for sample ``i`` depends on ``(seed, epoch, i)`` only,
            so it is the same in any DataLoader worker (see :meth:`set_epoch`).
        cache_size: decoded original images kept (LRU) per process.
        train_scale: ``(min_size, max_size)`` every sample is resized at before the model
            (the detector's scale; see the module docstring); ``None``: no resize.
        region_ignore: ``"paint"`` (contract §5: a region's ignore areas are filled with the
            mean colour) or ``"loss"`` (they become ``target["ignore_boxes"]``).

    Targets: ``boxes`` ``(N, 4)`` float32 and ``labels`` ``(N,)`` int64 (class + 1) of the
    labelled objects, ``ignore_boxes`` ``(M, 4)`` float32 for the loss to ignore (``(0, 4)``
    when none), ``ignore`` ``(K, 4)`` every ignore area (painted or not), all ``xyxy`` in
    the pixels of the returned image; ``ann_ids``, ``image_id``, ``kind``,
    ``scale_index``, ``window``, ``flipped`` say where the sample comes from.

    Order: full images (in the order labelled), then regions (in ``pool.regions`` order),
    then partly labelled images that are not also full images.
    """

    def __init__(
        self,
        pool: LabeledPool,
        *,
        mean_color: Sequence[float] | None = None,
        hflip_prob: float = 0.0,
        seed: int = 0,
        cache_size: int = 8,
        train_scale: Sequence[int] | None = None,
        region_ignore: str = "paint",
    ) -> None:
        self.pool = pool
        self.dataset = pool.dataset
        if mean_color is None:
            mean_color = dataset_mean_color(self.dataset)
        mc = np.asarray(mean_color, dtype=np.float64).reshape(-1)
        if mc.shape != (3,) or not np.isfinite(mc).all() or (mc < 0).any():
            raise DataError(f"mean_color must be 3 non-negative numbers (RGB), got {mean_color!r}")
        if (mc > 1).any():
            mc = mc / 255.0
        self.mean_color: tuple[float, float, float] = (float(mc[0]), float(mc[1]), float(mc[2]))
        self._mean = torch.tensor(self.mean_color, dtype=torch.float32)
        if not 0.0 <= float(hflip_prob) <= 1.0:
            raise DataError(f"hflip_prob must lie in [0, 1], got {hflip_prob!r}")
        self.hflip_prob = float(hflip_prob)
        self.seed = int(seed)
        self.epoch = 0
        self.cache_size = max(0, int(cache_size))
        if train_scale is None:
            self.train_scale: tuple[int, int] | None = None
        else:
            ts = tuple(int(v) for v in train_scale)
            if len(ts) != 2 or not 0 < ts[0] <= ts[1]:
                raise DataError(
                    f"train_scale must be (min_size, max_size) with 0 < min_size <= max_size, "
                    f"got {train_scale!r}"
                )
            self.train_scale = (ts[0], ts[1])
        if region_ignore not in REGION_IGNORE_MODES:
            raise DataError(
                f"region_ignore must be one of {', '.join(REGION_IGNORE_MODES)}, "
                f"got {region_ignore!r}"
            )
        self.region_ignore = region_ignore
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()
        refs: list[SampleRef] = [("full", i) for i in pool.full_images]
        refs += [("region", k) for k in range(len(pool.regions))]
        refs += [("partial", i) for i in pool.partial if i not in pool.full_images]
        self.refs = refs

    def __len__(self) -> int:
        return len(self.refs)

    def set_epoch(self, epoch: int) -> None:
        """Change the flip draws (call once per epoch)."""
        self.epoch = int(epoch)

    # ------------------------------------------------------------------ images
    def _original(self, image_id: int) -> Image.Image:
        img = self._cache.get(image_id)
        if img is not None:
            self._cache.move_to_end(image_id)
            return img
        info = self.dataset.image(image_id)
        img = read_rgb(self.dataset.image_path(image_id), (info.height, info.width))
        if self.cache_size:
            self._cache[image_id] = img
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return img

    # ----------------------------------------------------------------- samples
    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range (0..{len(self) - 1})")
        kind, key = self.refs[i]
        if kind == "region":
            img, target = self._region(key)
        else:
            img, target = self._whole(key, kind)
        target["flipped"] = False
        if self.hflip_prob > 0:
            rng = np.random.default_rng([self.seed, self.epoch, i % len(self)])
            if rng.random() < self.hflip_prob:
                img, target = _hflip(img, target)
        return img, target

    def _model_size(self, h: int, w: int) -> tuple[tuple[int, int], float]:
        """A sample of size ``(h, w)`` at the training scale: its size and factor."""
        if self.train_scale is None:
            return (h, w), 1.0
        frame = RegionFrame.at((h, w), self.train_scale)
        return frame.scaled_size, frame.factor

    def _target(
        self,
        boxes: NDArray[np.float64],
        labels: NDArray[np.int64],
        ann_ids: Sequence[int | None],
        ignore: NDArray[np.float64],
        ignore_boxes: NDArray[np.float64],
        image_id: int,
        kind: str,
        scale_index: int,
        window: tuple[int, int, int, int] | None,
    ) -> dict[str, Any]:
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        aid = np.array([-1 if a is None else int(a) for a in ann_ids], dtype=np.int64)
        return {
            "boxes": torch.as_tensor(boxes[keep], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(labels[keep] + 1, dtype=torch.int64).reshape(-1),
            "ignore_boxes": torch.as_tensor(ignore_boxes, dtype=torch.float32).reshape(-1, 4),
            "ignore": torch.as_tensor(ignore, dtype=torch.float32).reshape(-1, 4),
            "ann_ids": torch.as_tensor(aid.reshape(-1)[keep], dtype=torch.int64),
            "image_id": int(image_id),
            "kind": kind,
            "scale_index": int(scale_index),
            "window": window,
        }

    def _whole(self, image_id: int, kind: str) -> tuple[torch.Tensor, dict[str, Any]]:
        boxes, labels, ids = self.pool.oracle.reveal(image_id)
        if kind == "full":
            lab = np.ones(ids.shape[0], dtype=bool)
        else:
            lab = np.isin(ids, self.pool.labelled_ann_ids(image_id))
        orig = self._original(image_id)
        size, f = self._model_size(orig.height, orig.width)
        img = to_tensor(resize(orig, size))
        # The not yet labelled objects go to the loss as ignore boxes; nothing is painted.
        ignore = _valid(boxes[~lab]) * f
        target = self._target(
            boxes[lab] * f, labels[lab], ids[lab].tolist(), ignore, ignore, image_id, kind, -1, None
        )
        return img, target

    def _region(self, k: int) -> tuple[torch.Tensor, dict[str, Any]]:
        r = self.pool.regions[k]
        info = self.dataset.image(r.image_id)
        h, w = info.height, info.width
        frame = RegionFrame.at((h, w), r.scale, r.window)
        hs, ws = frame.scaled_size
        (ht, wt), f = self._model_size(h, w)
        orig = self._original(r.image_id)
        # The part of the window on the scaled image; the rest is padding.
        x0, y0, cx1, cy1 = frame.window_on_image()
        out = self._mean[:, None, None].expand(3, ht, wt).clone()
        if cx1 > x0 and cy1 > y0:
            part = scaled_crop(orig, (hs, ws), (x0, y0, cx1, cy1))
            ph = min(ht, int((cy1 - y0) * f + 0.5))
            pw = min(wt, int((cx1 - x0) * f + 0.5))
            if ph > 0 and pw > 0:
                out[:, :ph, :pw] = to_tensor(resize(part, (ph, pw)))
        ignore = _valid(np.asarray(r.ignore, dtype=np.float64)) * f
        boxes = np.asarray(r.boxes, dtype=np.float64).reshape(-1, 4) * f
        if self.region_ignore == "paint":
            _paint(out, ignore, _valid(boxes), self._mean)
            loss_ignore = np.zeros((0, 4), dtype=np.float64)
        else:
            loss_ignore = ignore
        labels = np.array([self.dataset.label_of(c) for c in r.category_ids], dtype=np.int64)
        target = self._target(
            boxes,
            labels,
            r.ann_ids,
            ignore,
            loss_ignore,
            r.image_id,
            "region",
            r.scale_index,
            r.window,
        )
        return out, target


def _hflip(img: torch.Tensor, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
    w = img.shape[2]
    img = img.flip(-1)
    for key in ("boxes", "ignore", "ignore_boxes"):
        b = target[key]
        if b.numel():
            b = b[:, [2, 1, 0, 3]].clone()
            b[:, 0] = w - b[:, 0]
            b[:, 2] = w - b[:, 2]
        target[key] = b
    target["flipped"] = True
    return img, target


class MultiScaleImages(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """What the detector sees in inference: item ``i`` is ``(image_id, [image at scale 0,
    image at scale 1, ...])``.

    Each image is decoded once; its copy at scale ``s`` is ``(3, H_s, W_s)`` with
    ``(H_s, W_s) = scaled_size((H, W), s)`` exactly (contract §1; it can differ by one
    pixel from torchvision's own rounding), resized by :mod:`mural.data.images` as the
    training samples are, so training and inference see the same pixels.
    """

    def __init__(
        self, dataset: CocoDataset, image_ids: Sequence[int], scales: Sequence[Sequence[int]]
    ) -> None:
        self.dataset = dataset
        self.image_ids = [int(i) for i in image_ids]
        self.scales = [(int(a), int(b)) for a, b in scales]

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, i: int) -> tuple[int, list[torch.Tensor]]:
        image_id = self.image_ids[i]
        info = self.dataset.image(image_id)
        size = (info.height, info.width)
        img = read_rgb(self.dataset.image_path(image_id), expect=size)
        return image_id, [to_tensor(resize(img, scaled_size(size, s))) for s in self.scales]


def collate(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """Batch samples as lists (detectors take images of different sizes)."""
    images = [b[0] for b in batch]
    targets = [b[1] for b in batch]
    return images, targets


def describe(target: dict[str, Any]) -> str:
    """A one-line provenance of a sample: kind, image, scale and window."""
    if target["kind"] == "region":
        x0, y0, x1, y1 = target["window"]
        s = f"img {target['image_id']} region s{target['scale_index']} [{x0},{y0},{x1},{y1}]"
    else:
        s = f"img {target['image_id']} {target['kind']}"
    return s + (" flipped" if target.get("flipped") else "")
