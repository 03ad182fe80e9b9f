"""VAAL: variational adversarial active learning.

Sinha, Ebrahimi & Darrell, "Variational Adversarial Active Learning", ICCV 2019. A
variational auto-encoder learns a latent space of labelled and unlabelled images; a
discriminator learns to tell their latent codes apart while the VAE learns to fool it
(its adversarial term labels every code "labelled"). The unlabelled images the
discriminator deems least likely labelled are taken first (score ``1 - D(mu)``), whole,
under the budget rule (SPEC §7).

Kept tiny and CPU-fast: images are thumbnails of ``image_size`` pixels, the encoder and
decoder have three convolutions each, the discriminator is a 3-layer MLP, training runs
``iterations`` steps of Adam. All randomness (initial weights, batches, the
reparameterisation noise) comes from one ``torch.Generator`` seeded from the context's
generator; the global torch RNG is restored after weight initialisation.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DataError
from ._common import take_images
from .base import (
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_float,
    opt_int,
    register_strategy,
)

__all__ = ["Vaal"]


def _thumbnail(path: Any, size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size * 2, size * 2))
            arr = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))
    except OSError as exc:
        raise DataError(f"{path}: cannot read image for VAAL ({exc})") from None
    return arr.transpose(2, 0, 1).copy()


@register_strategy("vaal")
class Vaal(Strategy):
    """VAAL (options: ``image_size``, ``latent_dim``, ``iterations``, ``batch_size``,
    ``lr``, ``beta``, ``adversary_weight``)."""

    granularity = "image"
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "image_size": opt_int(32, 8),
        "latent_dim": opt_int(16, 1),
        "iterations": opt_int(100, 1),
        "batch_size": opt_int(32, 1),
        "lr": opt_float(5e-4, 0.0),
        "beta": opt_float(1.0, 0.0),
        "adversary_weight": opt_float(1.0, 0.0),
    }

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        o = self.options
        size = (o["image_size"] // 8) * 8
        du = ctx.pool.unlabelled_images()
        if not du or ctx.budget <= 0:
            return self.new_result(ctx)
        du_set = set(du)
        lab = [i for i in ctx.pool.labelled_images() if i not in du_set] or [
            i for i in ctx.pool.labelled_images()
        ]

        def load(ids: list[int]) -> np.ndarray:
            if not ids:
                return np.zeros((0, 3, size, size), np.uint8)
            return np.stack([_thumbnail(ctx.dataset.image_path(i), size) for i in ids])

        xu, xl = load(du), load(lab)
        seed = int(ctx.rng.integers(2**31))
        from ..detector.vaal import vaal_labelled_probability

        p_lab = vaal_labelled_probability(
            xu,
            xl,
            latent_dim=o["latent_dim"],
            iterations=o["iterations"],
            batch_size=o["batch_size"],
            lr=o["lr"],
            beta=o["beta"],
            adversary_weight=o["adversary_weight"],
            seed=seed,
        )
        score = 1.0 - p_lab
        order = np.argsort(-score, kind="stable")
        return take_images(self.new_result(ctx), ctx, [du[i] for i in order], score[order].tolist())
