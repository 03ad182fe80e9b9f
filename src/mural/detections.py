"""Detections of many images at several scales: the one format every stage shares.

A :class:`ScaleDetections` holds one scale's detections of ``n`` images in flat (CSR)
arrays; :class:`Detections` holds one per configured scale. Files are NumPy ``.npz``
(written atomically), documented in ``docs/formats.md``:

===========================  ==================  ==========================================
key                          shape, dtype        meaning
===========================  ==================  ==========================================
``scales``                   (S, 2) int64        ``(min_size, max_size)`` per scale
``num_classes``              () int64            ``C``
``s{i}_image_ids``           (n,) int64          COCO image ids
``s{i}_image_sizes``         (n, 2) int64        original ``(H, W)``
``s{i}_scaled_sizes``        (n, 2) int64        scaled ``(H_s, W_s)`` (contract §1)
``s{i}_offsets``             (n + 1,) int64      image ``j`` owns rows ``offsets[j]:offsets[j+1]``
``s{i}_boxes``               (M, 4) float32      ``xyxy`` in *scaled* pixels
``s{i}_scores``              (M,) float32        confidence of the predicted class
``s{i}_labels``              (M,) int64          class index ``0..C-1``
``s{i}_probs``               (M, C + 1) float16  full class probabilities, background last
                                                 (absent when the detector gives none)
===========================  ==================  ==========================================

Boxes in original pixels are ``boxes / f`` with ``f`` the image's scale factor; use
:meth:`ScaleDetections.boxes_original`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import DataError
from .io import atomic_open

__all__ = ["DEFAULT_SCORE_THRESHOLD", "Detections", "ScaleDetections"]

#: The detection score threshold's default: the detector's own (torchvision's
#: ``box_score_thresh``). The one setting is ``detector.score_threshold`` of a run config:
#: detections below it are neither evaluated nor read by any strategy.
DEFAULT_SCORE_THRESHOLD = 0.05


@dataclass
class ScaleDetections:
    """One scale's detections of ``n`` images (see the module docstring for shapes)."""

    scale: tuple[int, int]
    image_ids: NDArray[np.int64]
    image_sizes: NDArray[np.int64]
    scaled_sizes: NDArray[np.int64]
    offsets: NDArray[np.int64]
    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    labels: NDArray[np.int64]
    probs: NDArray[np.float16] | None = None

    def __post_init__(self) -> None:
        n = self.image_ids.shape[0]
        m = self.boxes.shape[0]
        off = self.offsets
        if off.shape != (n + 1,) or off[0] != 0 or off[-1] != m or (np.diff(off) < 0).any():
            raise DataError(
                "detections: offsets must have n + 1 non-decreasing entries from 0 to the box count"
            )
        if self.boxes.shape != (m, 4) or self.scores.shape != (m,) or self.labels.shape != (m,):
            raise DataError("detections: boxes (M, 4), scores (M,) and labels (M,) must agree")
        if self.probs is not None and self.probs.shape[0] != m:
            raise DataError("detections: probs must have one row per box")

    @classmethod
    def empty(cls, scale: tuple[int, int]) -> ScaleDetections:
        """No images at ``scale`` (a scale the strategy does not read)."""
        z = np.zeros((0, 2), np.int64)
        return cls(
            scale=(int(scale[0]), int(scale[1])),
            image_ids=np.zeros(0, np.int64),
            image_sizes=z,
            scaled_sizes=z.copy(),
            offsets=np.zeros(1, np.int64),
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros(0, np.float32),
            labels=np.zeros(0, np.int64),
        )

    @classmethod
    def from_images(
        cls,
        scale: Sequence[int],
        image_ids: Sequence[int],
        image_sizes: Any,
        per_image: Sequence[Sequence[Any]],
        num_classes: int | None = None,
    ) -> ScaleDetections:
        """One scale's detections from each image's own arrays, in ``image_ids`` order.

        ``image_sizes``: ``(n, 2)`` original ``(H, W)``; ``per_image[j]``: ``(boxes
        (K_j, 4) scaled pixels, scores (K_j,), labels (K_j,))``, and ``probs (K_j, C + 1)``
        when ``num_classes`` (``C``) is given. The arrays are stored in this format's dtypes.
        """
        from .core.geometry import scaled_size

        sc = (int(scale[0]), int(scale[1]))
        sizes = np.asarray(image_sizes, dtype=np.int64).reshape(-1, 2)

        def cat(k: int, width: int | None, dtype: Any) -> NDArray[Any]:
            tail = () if width is None else (width,)  # a zero-row array first: n may be 0
            parts = [np.asarray(p[k]).reshape(-1, *tail) for p in per_image]
            return np.concatenate([np.zeros((0, *tail)), *parts]).astype(dtype)

        return cls(
            scale=sc,
            image_ids=np.asarray(image_ids, dtype=np.int64).reshape(-1),
            image_sizes=sizes,
            scaled_sizes=np.array([scaled_size(hw, sc) for hw in sizes.tolist()], np.int64).reshape(
                -1, 2
            ),
            offsets=np.cumsum([0, *(len(p[0]) for p in per_image)], dtype=np.int64),
            boxes=cat(0, 4, np.float32),
            scores=cat(1, None, np.float32),
            labels=cat(2, None, np.int64),
            probs=None if num_classes is None else cat(3, num_classes + 1, np.float16),
        )

    @property
    def num_images(self) -> int:
        return int(self.image_ids.shape[0])

    def rows(self, j: int) -> slice:
        """Rows of image ``j`` (its position in this object, not its COCO id)."""
        return slice(int(self.offsets[j]), int(self.offsets[j + 1]))

    def factors(self) -> NDArray[np.float64]:
        """Per image, the scale factor ``f`` (scaled / original), shape ``(n,)``."""
        from .core.geometry import scale_factors

        return scale_factors(self.image_sizes, self.scale)

    def boxes_original(self) -> NDArray[np.float64]:
        """All boxes in original-image pixels, shape ``(M, 4)``."""
        from .core.geometry import scaled_to_original_many

        return scaled_to_original_many(self.boxes, self.offsets, self.factors())

    def subset(self, mask: NDArray[np.bool_]) -> ScaleDetections:
        """Keep the boxes where ``mask`` (shape ``(M,)``) is true; images are all kept."""
        keep = np.asarray(mask, dtype=bool)
        # image j's rows start after the kept rows before its old start
        kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        return ScaleDetections(
            scale=self.scale,
            image_ids=self.image_ids,
            image_sizes=self.image_sizes,
            scaled_sizes=self.scaled_sizes,
            offsets=kept_before[self.offsets],
            boxes=self.boxes[keep],
            scores=self.scores[keep],
            labels=self.labels[keep],
            probs=None if self.probs is None else self.probs[keep],
        )


@dataclass
class Detections:
    """Detections at every configured scale, ``scales[i]`` with ``per_scale[i]``."""

    num_classes: int
    per_scale: list[ScaleDetections] = field(default_factory=list)

    @property
    def scales(self) -> list[tuple[int, int]]:
        return [d.scale for d in self.per_scale]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a compressed ``.npz`` atomically."""
        arrays: dict[str, Any] = {
            "scales": np.array(self.scales, dtype=np.int64).reshape(-1, 2),
            "num_classes": np.int64(self.num_classes),
        }
        for i, d in enumerate(self.per_scale):
            arrays[f"s{i}_image_ids"] = d.image_ids.astype(np.int64)
            arrays[f"s{i}_image_sizes"] = d.image_sizes.astype(np.int64)
            arrays[f"s{i}_scaled_sizes"] = d.scaled_sizes.astype(np.int64)
            arrays[f"s{i}_offsets"] = d.offsets.astype(np.int64)
            arrays[f"s{i}_boxes"] = d.boxes.astype(np.float32)
            arrays[f"s{i}_scores"] = d.scores.astype(np.float32)
            arrays[f"s{i}_labels"] = d.labels.astype(np.int64)
            if d.probs is not None:
                arrays[f"s{i}_probs"] = d.probs.astype(np.float16)
        with atomic_open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Detections:
        """Read a file written by :meth:`save`; a bad file raises :class:`DataError`."""
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                scales = z["scales"]
                out = cls(num_classes=int(z["num_classes"]))
                for i, sc in enumerate(scales):
                    probs = z[f"s{i}_probs"] if f"s{i}_probs" in z.files else None
                    out.per_scale.append(
                        ScaleDetections(
                            scale=(int(sc[0]), int(sc[1])),
                            image_ids=z[f"s{i}_image_ids"],
                            image_sizes=z[f"s{i}_image_sizes"],
                            scaled_sizes=z[f"s{i}_scaled_sizes"],
                            offsets=z[f"s{i}_offsets"],
                            boxes=z[f"s{i}_boxes"],
                            scores=z[f"s{i}_scores"],
                            labels=z[f"s{i}_labels"],
                            probs=probs,
                        )
                    )
        except FileNotFoundError:
            raise DataError(f"{p}: file not found") from None
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"{p}: not a mural detections file ({exc})") from None
        return out
