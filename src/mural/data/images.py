"""Images, in one place: read, convert, resize, crop, mean colour, to tensor.

Every part of mural that touches pixels goes through these functions, so training samples,
predictions, human-loop crops and reports see the same pixels:

- :func:`read_rgb` decodes a file to 8-bit RGB. EXIF orientation is ignored (as COCO and
  the usual annotation tools do: boxes refer to the stored pixel grid); every mode
  (palette, grey, RGBA, 16-bit grey scaled to 8 bits, ...) is converted by
  :func:`to_rgb8`.
- :func:`read_size` reads ``(W, H)`` from the header only.
- :func:`resize` and :func:`scaled_crop` resample with PIL's bilinear filter (antialiased
  when shrinking), to exactly the sizes of :func:`mural.core.scaled_size`.
- :func:`to_tensor` gives the float32 ``(3, H, W)`` tensor in ``[0, 1]`` the detector takes
  (torch is imported only there; the rest needs NumPy and Pillow only).
- :func:`dataset_mean_color` is the padding / ignore colour of a dataset.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

if TYPE_CHECKING:
    import torch

    from .coco import CocoDataset

__all__ = [
    "MEAN_COLOR_IMAGES",
    "dataset_mean_color",
    "read_rgb",
    "read_size",
    "resize",
    "scaled_crop",
    "to_array",
    "to_rgb8",
    "to_tensor",
]

#: Images averaged by :func:`dataset_mean_color` (evenly spaced in file order).
MEAN_COLOR_IMAGES = 64


def to_rgb8(img: Image.Image, where: object = "image") -> Image.Image:
    """``img`` as an 8-bit RGB image, its values scaled, not clipped.

    16-bit greyscale (modes ``I;16``, ``I;16L``, ``I;16B``, ``I;16N``; and ``I``, the mode
    older Pillow gives 16-bit PNGs, with values in ``[0, 65535]``) is scaled to 8 bits
    (``round(v * 255 / 65535)``): ``convert("RGB")`` would saturate it to white. Modes
    Pillow converts faithfully (``1``, ``L``, ``P``, ``RGB``, ``RGBA``, ``CMYK``,
    ``YCbCr``, ``LA`` ...) are converted. Other images (32-bit ``F``, ``I`` beyond 16 bits)
    raise :class:`~mural.errors.DataError` naming ``where`` and the fix.
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img)
        if a.ndim != 2 or (a.size and (int(a.min()) < 0 or int(a.max()) > 65535)):
            raise DataError(
                f"{where}: {mode} image with values outside 0..65535 is not supported (fix: "
                "save it as 8-bit RGB or greyscale)"
            )
        v = (a.astype(np.uint32) * 255 + 32767) // 65535
        return Image.fromarray(v.astype(np.uint8), mode="L").convert("RGB")
    if mode in ("F",) or mode.startswith(("I;32", "F;")):
        raise DataError(
            f"{where}: {mode} (floating-point or 32-bit) images are not supported (fix: save "
            "it as 8-bit RGB or greyscale)"
        )
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise DataError(
            f"{where}: cannot convert a {mode} image to RGB ({exc}) (fix: save it as 8-bit RGB)"
        ) from None


def read_rgb(
    path: str | os.PathLike[str],
    expect: Sequence[int] | None = None,
    *,
    draft: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode an image file to 8-bit RGB (EXIF orientation ignored); ``expect`` = ``(H, W)``
    checks its size against the annotations. Errors are :class:`DataError` naming the file.

    ``draft`` = ``(W, H)`` lets a JPEG decode at a reduced size no smaller than that (PIL's
    ``Image.draft``; for thumbnails; do not combine with ``expect``).
    """
    p = Path(path)
    try:
        with Image.open(p) as im:
            if draft is not None:
                im.draft("RGB", (int(draft[0]), int(draft[1])))
            im.load()
            img = to_rgb8(im, p)
            if img is im:
                img = im.copy()
    except FileNotFoundError:
        raise DataError(f"{p}: image file not found") from None
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{p}: image too large to decode safely ({exc}) (fix: replace it or split it)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{p}: cannot decode image ({exc})") from None
    if expect is not None and (img.height, img.width) != (int(expect[0]), int(expect[1])):
        raise DataError(
            f"{p}: image is {img.height}x{img.width} (HxW) but the dataset says "
            f"{int(expect[0])}x{int(expect[1])} (fix: correct 'height'/'width' in the "
            "annotations)"
        )
    return img


def read_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(W, H)`` from the image header (no decoding); :class:`DataError` when unreadable."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise DataError(f"{p}: image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{p}: unreadable image ({exc})") from None


def resize(img: Image.Image, size: Sequence[int]) -> Image.Image:
    """``img`` resized to ``size`` = ``(H_s, W_s)`` (bilinear; the same object at equal size)."""
    h, w = int(size[0]), int(size[1])
    if (img.height, img.width) == (h, w):
        return img
    return img.resize((w, h), Image.Resampling.BILINEAR)


def scaled_crop(img: Image.Image, scaled: Sequence[int], box: Sequence[int]) -> Image.Image:
    """``resize(img, scaled).crop(box)``, computing only the cropped pixels.

    ``scaled`` = ``(H_s, W_s)``; ``box`` = ``(x0, y0, x1, y1)`` on the resized image. PIL's
    ``resize(size, box=...)`` samples the source at the same positions as the full resize
    when the box is the crop mapped back with the full resize's ratio ``(W / W_s, H / H_s)``,
    and clips its filter to the whole source image as the full resize does, so the pixels
    are those of resize-then-crop (checked in the tests).
    """
    hs, ws = int(scaled[0]), int(scaled[1])
    x0, y0, x1, y1 = (int(v) for v in box)
    if (hs, ws) == (img.height, img.width):
        return img.crop((x0, y0, x1, y1))
    rx, ry = img.width / ws, img.height / hs
    return img.resize(
        (x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=(x0 * rx, y0 * ry, x1 * rx, y1 * ry)
    )


def to_array(img: Image.Image) -> NDArray[np.uint8]:
    """``(H, W, 3)`` uint8 array (a writable copy) of an RGB image."""
    return np.array(to_rgb8(img), dtype=np.uint8)


def to_tensor(img: Image.Image | NDArray[np.uint8]) -> torch.Tensor:
    """float32 ``(3, H, W)`` tensor in ``[0, 1]`` of an RGB image or ``(H, W, 3)`` uint8 array."""
    import torch

    arr = to_array(img) if isinstance(img, Image.Image) else np.array(img, dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).to(torch.float32).div_(255.0)


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
        arr = np.asarray(read_rgb(dataset.image_path(iid), (info.height, info.width)))
        total += arr.reshape(-1, 3).sum(axis=0, dtype=np.float64)
        count += arr.shape[0] * arr.shape[1]
    mean = total / (255.0 * count)
    return (float(mean[0]), float(mean[1]), float(mean[2]))
