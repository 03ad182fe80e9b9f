"""Decode an image once and resize it to every scale (contract §1 sizes, exactly).

The pixels come from :mod:`mural.data.images` (PIL bilinear, antialiased when shrinking),
the functions :mod:`mural.data.samples` builds the training samples with, so the detector
sees the same pixels in training and inference; the target size is
:func:`mural.core.scaled_size` (``int(H*f + 0.5)``), which can differ by one pixel from
torchvision's own rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..core.geometry import scaled_size
from ..data.images import read_rgb, resize, to_tensor

if TYPE_CHECKING:
    from ..data.coco import CocoDataset

__all__ = ["MultiScaleImages", "list_collate"]


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
        img = read_rgb(self.dataset.image_path(image_id), expect=size)
        return image_id, [to_tensor(resize(img, scaled_size(size, s))) for s in self.scales]


def list_collate(batch: list[Any]) -> list[Any]:
    return list(batch)
