"""VAAL: variational adversarial active learning.

Sinha, Ebrahimi & Darrell, "Variational Adversarial Active Learning", ICCV 2019; reference
code github.com/sinhasam/vaal. A variational auto-encoder learns a latent space of
labelled and unlabelled images; a discriminator learns to tell their latent codes apart
while the VAE learns to fool it. The unlabelled images the discriminator deems least likely
labelled are taken first (score ``1 - D(mu)``, descending; ties keep ``D_U`` order), whole,
under the budget rule (contract §7) -- the reference's ``AdversarySampler.sample`` takes the
``budget`` lowest ``D(mu)``, an image budget; mural's budget counts objects.

Networks and training: :mod:`mural.detector.vaal`. Option values come from ``preset``:

- ``reference`` (the default): the reference's ``arguments.py``, ``model.py`` and
  ``solver.py`` -- 32×32 inputs, latent 32, encoder widths 128..1024, batch 128, 100
  epochs (``iterations = N × epochs // batch`` with ``N`` the images of ``D_L ∪ D_U``, as
  ``Solver.train`` with ``num_images``), 2 VAE steps and 1 adversary step per iteration,
  Adam 5e-4 for both, ``beta`` 1, adversary weight 1.
- ``small``: the same rule at a CPU-demo size -- encoder widths 16..128, batch 32,
  20 epochs (about 1/64 of the reference's work per image and 1/5 of its epochs; see
  docs/strategies.md for the counts).

Any option set explicitly wins over the preset. Whole images are resized (aspect not
kept) to ``image_size`` squared thumbnails, as CALD's detection port of VAAL does.
All randomness comes from one seed drawn from the context's generator.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..selection import Granularity
from ._common import take_images
from .base import (
    Option,
    SelectionContext,
    SelectionResult,
    Strategy,
    opt_choice,
    opt_float,
    opt_int,
    register_strategy,
)

__all__ = ["Vaal"]


def _thumbnail(path: Any, size: int) -> np.ndarray:
    from ..data.images import read_rgb, resize, to_array

    img = read_rgb(path, draft=(size * 2, size * 2))
    return to_array(resize(img, (size, size))).transpose(2, 0, 1).copy()


#: Option values of each preset (see the module docstring).
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {
        "image_size": 32,
        "latent_dim": 32,
        "channels": 128,
        "batch_size": 128,
        "epochs": 100,
        "vae_steps": 2,
        "adversary_steps": 1,
        "lr": 5e-4,
        "beta": 1.0,
        "adversary_weight": 1.0,
    },
}
PRESETS["small"] = {**PRESETS["reference"], "channels": 16, "batch_size": 32, "epochs": 20}


def training_iterations(n_images: int, epochs: int, batch_size: int) -> int:
    """The reference's ``train_iterations = num_images * train_epochs // batch_size``
    (at least 1)."""
    return max(1, (int(n_images) * int(epochs)) // int(batch_size))


def rank_unlabelled(p_labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, scores)``: ``D_U`` positions by descending ``1 - D(mu)`` (the
    discriminator's least-labelled first; ties keep ``D_U`` order) and those scores."""
    score = 1.0 - np.asarray(p_labelled, dtype=np.float64)
    order = np.argsort(-score, kind="stable")
    return order, score[order]


@register_strategy("vaal")
class Vaal(Strategy):
    """VAAL (options: ``preset`` (``reference``|``small``), and, each ``null`` = the
    preset's: ``image_size`` (multiple of 16, >= 32; rounded down to one), ``latent_dim``,
    ``channels``, ``batch_size``, ``epochs``, ``iterations`` (``null``: from ``epochs``),
    ``vae_steps``, ``adversary_steps``, ``lr``, ``beta``, ``adversary_weight``)."""

    granularity = Granularity.IMAGE
    needs_detections = False
    OPTIONS: ClassVar[dict[str, Option]] = {
        "preset": opt_choice("reference", sorted(PRESETS)),
        "image_size": opt_int(None, 32, optional=True),
        "latent_dim": opt_int(None, 1, optional=True),
        "channels": opt_int(None, 1, optional=True),
        "batch_size": opt_int(None, 2, optional=True),
        "epochs": opt_int(None, 1, optional=True),
        "iterations": opt_int(None, 1, optional=True),
        "vae_steps": opt_int(None, 1, optional=True),
        "adversary_steps": opt_int(None, 1, optional=True),
        "lr": opt_float(None, 0.0, optional=True),
        "beta": opt_float(None, 0.0, optional=True),
        "adversary_weight": opt_float(None, 0.0, optional=True),
    }

    def settings(self, n_images: int) -> dict[str, Any]:
        """The values training uses for ``n_images`` images in ``D_L ∪ D_U``: the preset's,
        overridden by every option set, with ``iterations`` derived when unset."""
        out = dict(PRESETS[self.options["preset"]])
        out.update({k: v for k, v in self.options.items() if k != "preset" and v is not None})
        out["image_size"] = (int(out["image_size"]) // 16) * 16
        if out.get("iterations") is None:
            out["iterations"] = training_iterations(n_images, out["epochs"], out["batch_size"])
        return out

    def _select(self, ctx: SelectionContext) -> SelectionResult:
        du = ctx.unlabelled_images()
        if not du or ctx.budget <= 0:
            return self.new_result(ctx)
        du_set = set(ctx.pool.unlabelled_images())  # all of D_U, even outside the subset
        labelled = ctx.pool.labelled_images()
        lab = [i for i in labelled if i not in du_set] or list(labelled)
        o = self.settings(len(du) + len(lab))
        size = o["image_size"]

        def load(ids: list[int]) -> np.ndarray:
            if not ids:
                return np.zeros((0, 3, size, size), np.uint8)
            return np.stack([_thumbnail(ctx.dataset.image_path(i), size) for i in ids])

        xu, xl = load(du), load(lab)
        seed = int(ctx.rng.integers(2**31))
        from ..detector import vaal as nets

        p_lab = nets.vaal_labelled_probability(
            xu,
            xl,
            latent_dim=o["latent_dim"],
            channels=o["channels"],
            iterations=o["iterations"],
            batch_size=o["batch_size"],
            vae_steps=o["vae_steps"],
            adversary_steps=o["adversary_steps"],
            lr=o["lr"],
            beta=o["beta"],
            adversary_weight=o["adversary_weight"],
            seed=seed,
        )
        order, scores = rank_unlabelled(p_lab)
        return take_images(self.new_result(ctx), ctx, [du[i] for i in order], scores.tolist())
