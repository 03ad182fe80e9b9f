"""Decode an image once and resize it to every scale (SPEC §1 sizes, exactly).

Resizing is PIL's bilinear filter (antialiased when shrinking), the operation the training
samples of :mod:`mural.data.samples` use for regions, so the detector sees the same kind of
pixels in training and inference; the target size is :func:`mural.core.scaled_size`
(``int(H*f + 0.5)``), which can differ by one pixel from torchvision's own rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ..core.geometry import scaled_size
from ..data.pixels import to_rgb8
from ..errors import DataError

if TYPE_CHECKING:
    from ..data.coco import CocoDataset

__all__ = ["MultiScaleImages", "list_collate", "load_pil", "pil_to_tensor", "resize_pil"]


def load_pil(path: Any, expect: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image file to RGB (EXIF orientation ignored, as COCO does).

    ``expect`` = ``(H, W)`` checks the size against the annotation file.
    """
    try:
        with Image.open(path) as im:
            img = to_rgb8(im, path)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{path}: image too large to decode safely ({exc}) (fix: replace it or split it)"
        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None
    if expect is not None and (img.height, img.width) != tuple(expect):
        raise DataError(
            f"{path}: image is {img.height}x{img.width} (HxW) but the annotation file says "
            f"{expect[0]}x{expect[1]} (fix: correct 'height'/'width')"
        )
    return img


def resize_pil(img: Image.Image, size: Sequence[int]) -> Image.Image:
    """``img`` resized to ``size`` = ``(H_s, W_s)`` (bilinear; a no-op at equal size)."""
    h, w = int(size[0]), int(size[1])
    if (img.height, img.width) == (h, w):
        return img
    return img.resize((w, h), Image.BILINEAR)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """float32 ``(3, H, W)`` in ``[0, 1]``."""
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)


class MultiScaleImages(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Item ``i``: ``(image_id, [image at scale 0, image at scale 1, ...])``.

    Each image is decoded once; its copy at scale ``s`` is ``(3, H_s, W_s)`` with
    ``(H_s, W_s) = scaled_size((H, W), s)`` exactly.
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
        img = load_pil(self.dataset.image_path(image_id), expect=size)
        return image_id, [pil_to_tensor(resize_pil(img, scaled_size(size, s))) for s in self.scales]


def list_collate(batch: list[Any]) -> list[Any]:
    return list(batch)
