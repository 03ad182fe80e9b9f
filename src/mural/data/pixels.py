"""Pixels as mural reads them: 8-bit RGB, whatever the file's mode."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_rgb8"]


def to_rgb8(img: Any, where: object = "image") -> Any:
    """``img`` (a ``PIL.Image``) as an 8-bit RGB image, its values scaled, not clipped.

    16-bit greyscale (modes ``I;16``, ``I;16L``, ``I;16B``, ``I;16N``; and ``I``, the mode
    older Pillow gives 16-bit PNGs, with values in ``[0, 65535]``) is scaled to 8 bits
    (``round(v * 255 / 65535)``): ``convert("RGB")`` would saturate it to white. Modes
    Pillow converts faithfully (``1``, ``L``, ``P``, ``RGB``, ``RGBA``, ``CMYK``,
    ``YCbCr``, ``LA`` …) are converted. Other images (32-bit ``F``, ``I`` beyond 16 bits)
    raise :class:`~mural.errors.DataError` naming ``where`` and the fix.
    """
    from PIL import Image

    from ..errors import DataError

    mode = img.mode
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
