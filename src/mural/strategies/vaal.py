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


def _build(size: int, latent: int, seed: int) -> tuple[Any, Any]:
    import torch
    from torch import nn

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = 32
            self.enc = nn.Sequential(
                nn.Conv2d(3, c, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(2 * c, 4 * c, 4, 2, 1), nn.ReLU(),
                nn.Flatten(),
            )  # fmt: skip
            s = size // 8
            self.s, self.c = s, c
            self.mu = nn.Linear(4 * c * s * s, latent)
            self.logvar = nn.Linear(4 * c * s * s, latent)
            self.fc = nn.Linear(latent, 4 * c * s * s)
            self.dec = nn.Sequential(
                nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(c, 3, 4, 2, 1), nn.Sigmoid(),
            )  # fmt: skip

        def forward(self, x: Any, gen: Any) -> tuple[Any, Any, Any]:
            h = self.enc(x)
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
            rec = self.dec(self.fc(z).view(-1, 4 * self.c, self.s, self.s))
            return rec, mu, logvar

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = VAE()
        disc = nn.Sequential(
            nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
        )
    return vae, disc


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
        import torch
        import torch.nn.functional as F

        o = self.options
        size = (o["image_size"] // 8) * 8
        du = ctx.pool.unlabelled_images()
        if not du or ctx.budget <= 0:
            return self.new_result(ctx)
        du_set = set(du)
        lab = [i for i in ctx.pool.labelled_images() if i not in du_set] or [
            i for i in ctx.pool.labelled_images()
        ]

        def load(ids: list[int]) -> Any:
            if not ids:
                return torch.zeros((0, 3, size, size))
            arr = np.stack([_thumbnail(ctx.dataset.image_path(i), size) for i in ids])
            return torch.from_numpy(arr).float() / 255.0

        xu, xl = load(du), load(lab)
        seed = int(ctx.rng.integers(2**31))
        gen = torch.Generator().manual_seed(seed)
        vae, disc = _build(size, o["latent_dim"], seed)
        opt_v = torch.optim.Adam(vae.parameters(), lr=o["lr"])
        opt_d = torch.optim.Adam(disc.parameters(), lr=o["lr"])
        bs = o["batch_size"]

        def batch(x: Any) -> Any:
            if x.shape[0] == 0:
                return x
            return x[torch.randint(0, x.shape[0], (min(bs, x.shape[0]),), generator=gen)]

        def vae_loss(x: Any) -> tuple[Any, Any]:
            rec, mu, logvar = vae(x, gen)
            kld = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
            return F.mse_loss(rec, x) + o["beta"] * kld, mu

        vae.train()
        disc.train()
        for _ in range(o["iterations"]):
            bu, bl = batch(xu), batch(xl)
            # VAE step: reconstruct both, fool the discriminator (all codes "labelled")
            loss_u, mu_u = vae_loss(bu)
            loss = loss_u
            codes = [mu_u]
            if bl.shape[0]:
                loss_l, mu_l = vae_loss(bl)
                loss = loss + loss_l
                codes.append(mu_l)
            mu_all = torch.cat(codes)
            adv = F.binary_cross_entropy_with_logits(
                disc(mu_all).squeeze(1), torch.ones(mu_all.shape[0])
            )
            opt_v.zero_grad()
            (loss + o["adversary_weight"] * adv).backward()
            opt_v.step()
            # discriminator step: labelled -> 1, unlabelled -> 0
            with torch.no_grad():
                _, mu_u, _ = vae(bu, gen)
                mu_l = vae(bl, gen)[1] if bl.shape[0] else torch.zeros((0, mu_u.shape[1]))
            logits = disc(torch.cat([mu_l, mu_u])).squeeze(1)
            target = torch.cat([torch.ones(mu_l.shape[0]), torch.zeros(mu_u.shape[0])])
            d_loss = F.binary_cross_entropy_with_logits(logits, target)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        vae.eval()
        disc.eval()
        with torch.no_grad():
            mus = torch.cat([vae.mu(vae.enc(xu[k : k + 256])) for k in range(0, len(du), 256)])
            p_lab = torch.sigmoid(disc(mus).squeeze(1)).double().numpy()
        score = 1.0 - p_lab
        order = np.argsort(-score, kind="stable")
        return take_images(self.new_result(ctx), ctx, [du[i] for i in order], score[order].tolist())
