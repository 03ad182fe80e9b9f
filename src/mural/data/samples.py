"""Training samples from a labelled pool (paper §4.5; SPEC §5, §7), as a torch Dataset.

One sample per fully labelled image, per labelled region, per partly labelled image:

- **full**: the original image and all its GT objects (original pixels);
- **region**: the original image resized to the region's scale (PIL bilinear), the window
  cut out (size ``(H, W)`` of the original image; mean-colour padding where the window
  passes the scaled image's edge), ignore areas filled with the mean colour, the labelled
  boxes in window pixels;
- **partial**: the original image, its labelled GT objects as boxes and its not yet
  labelled objects as ignore areas (filled with the mean colour).

Ignore areas are rounded outward to whole pixels before filling. Choices are written down
in ``docs/pool.md``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from ..core import RegionFrame
from ..errors import DataError
from .coco import CocoDataset
from .pixels import to_rgb8
from .pool import LabeledPool

__all__ = [
    "SampleRef",
    "TrainingSamples",
    "collate",
    "dataset_mean_color",
    "describe",
    "load_rgb",
    "scaled_crop",
]

#: Images averaged by :func:`dataset_mean_color` (evenly spaced in file order).
MEAN_COLOR_IMAGES = 64


def load_rgb(path: str | Path, expect: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image file to RGB; ``expect`` = ``(H, W)`` checks its size."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            img = to_rgb8(im, p)
    except FileNotFoundError:
        raise DataError(f"{p}: image file not found") from None
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{p}: image too large to decode safely ({exc}) (fix: replace it or split it)"
        ) from None
    except OSError as exc:
        raise DataError(f"{p}: cannot decode image ({exc})") from None
    if expect is not None and (img.height, img.width) != tuple(expect):
        raise DataError(
            f"{p}: image is {img.height}x{img.width} (HxW) but the dataset says "
            f"{expect[0]}x{expect[1]} (fix: correct 'height'/'width' in the annotations)"
        )
    return img


def dataset_mean_color(
    dataset: CocoDataset, max_images: int = MEAN_COLOR_IMAGES
) -> tuple[float, float, float]:
    """Mean RGB colour in ``[0, 1]`` over up to ``max_images`` images of the dataset.

    The images are taken evenly spaced in file order (deterministic) and averaged per
    pixel (each image weighted by its pixel count). An empty dataset gives mid-grey.
    """
    ids = dataset.image_ids()
    if not ids:
        return (0.5, 0.5, 0.5)
    n = min(len(ids), max(1, int(max_images)))
    pick = [ids[int(k)] for k in np.linspace(0, len(ids) - 1, n).round().astype(int)]
    total = np.zeros(3, dtype=np.float64)
    count = 0
    for iid in dict.fromkeys(pick):
        info = dataset.image(iid)
        arr = np.asarray(load_rgb(dataset.image_path(iid), (info.height, info.width)))
        total += arr.reshape(-1, 3).sum(axis=0, dtype=np.float64)
        count += arr.shape[0] * arr.shape[1]
    mean = total / (255.0 * count)
    return (float(mean[0]), float(mean[1]), float(mean[2]))


#: ``(kind, key)``: ``("full", image_id)``, ``("region", index)``, ``("partial", image_id)``.
SampleRef = tuple[str, int]


def _outward(boxes: NDArray[np.float64], w: int, h: int) -> NDArray[np.int64]:
    """Boxes rounded outward to whole pixels and clipped to ``[0, w] x [0, h]``."""
    if boxes.shape[0] == 0:
        return np.zeros((0, 4), dtype=np.int64)
    out = np.empty(boxes.shape, dtype=np.int64)
    out[:, 0] = np.clip(np.floor(boxes[:, 0]), 0, w)
    out[:, 1] = np.clip(np.floor(boxes[:, 1]), 0, h)
    out[:, 2] = np.clip(np.ceil(boxes[:, 2]), 0, w)
    out[:, 3] = np.clip(np.ceil(boxes[:, 3]), 0, h)
    return out


def _fill(img: torch.Tensor, areas: NDArray[np.int64], mean: torch.Tensor) -> None:
    for x0, y0, x1, y1 in areas.tolist():
        if x1 > x0 and y1 > y0:
            img[:, y0:y1, x0:x1] = mean[:, None, None]


def _to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.array(img, dtype=np.uint8)  # a writable copy
    return torch.from_numpy(arr).permute(2, 0, 1).to(torch.float32).div_(255.0)


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
        img = load_rgb(self.dataset.image_path(image_id), (info.height, info.width))
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

    def _target(
        self,
        boxes: NDArray[np.float64],
        labels: NDArray[np.int64],
        ann_ids: Sequence[int | None],
        ignore: NDArray[np.float64],
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
            have = set(self.pool.labelled_ann_ids(image_id).tolist())
            lab = np.fromiter((a in have for a in ids.tolist()), dtype=bool, count=ids.shape[0])
        img = _to_tensor(self._original(image_id))
        h, w = img.shape[1], img.shape[2]
        ignore = boxes[~lab]
        ignore = ignore[(ignore[:, 2] > ignore[:, 0]) & (ignore[:, 3] > ignore[:, 1])]
        _fill(img, _outward(ignore, w, h), self._mean)
        target = self._target(
            boxes[lab], labels[lab], ids[lab].tolist(), ignore, image_id, kind, -1, None
        )
        return img, target

    def _region(self, k: int) -> tuple[torch.Tensor, dict[str, Any]]:
        r = self.pool.regions[k]
        info = self.dataset.image(r.image_id)
        h, w = info.height, info.width
        frame = RegionFrame.at((h, w), r.scale, r.window)
        hs, ws = frame.scaled_size
        orig = self._original(r.image_id)
        # The part of the window on the scaled image; the rest is padding.
        x0, y0, cx1, cy1 = frame.window_on_image()
        out = self._mean[:, None, None].expand(3, h, w).clone()
        if cx1 > x0 and cy1 > y0:
            out[:, : cy1 - y0, : cx1 - x0] = _to_tensor(
                scaled_crop(orig, (hs, ws), (x0, y0, cx1, cy1))
            )
        ignore = np.asarray(r.ignore, dtype=np.float64).reshape(-1, 4)
        _fill(out, _outward(ignore, w, h), self._mean)
        boxes = np.asarray(r.boxes, dtype=np.float64).reshape(-1, 4)
        labels = np.array([self.dataset.label_of(c) for c in r.category_ids], dtype=np.int64)
        target = self._target(
            boxes, labels, r.ann_ids, ignore, r.image_id, "region", r.scale_index, r.window
        )
        return out, target


def scaled_crop(
    img: Image.Image, scaled: tuple[int, int], box: tuple[int, int, int, int]
) -> Image.Image:
    """``img.resize((W_s, H_s), BILINEAR).crop(box)``, computing only the cropped pixels.

    PIL's ``resize(size, box=...)`` samples the source at the same positions as the full
    resize when the box is the crop mapped back with the full resize's ratio
    ``(W / W_s, H / H_s)``, and clips its filter to the whole source image as the full
    resize does, so the pixels are those of resize-then-crop (checked in the tests).
    """
    hs, ws = scaled
    if (hs, ws) == (img.height, img.width):
        return img.crop(box)
    x0, y0, x1, y1 = box
    rx, ry = img.width / ws, img.height / hs
    return img.resize(
        (x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=(x0 * rx, y0 * ry, x1 * rx, y1 * ry)
    )


def _hflip(img: torch.Tensor, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
    w = img.shape[2]
    img = img.flip(-1)
    for key in ("boxes", "ignore"):
        b = target[key]
        if b.numel():
            b = b[:, [2, 1, 0, 3]].clone()
            b[:, 0] = w - b[:, 0]
            b[:, 2] = w - b[:, 2]
        target[key] = b
    target["flipped"] = True
    return img, target


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
