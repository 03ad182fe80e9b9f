"""VAAL's networks: a small VAE and a latent discriminator, trained adversarially.

Sinha, Ebrahimi & Darrell, "Variational Adversarial Active Learning", ICCV 2019. The
strategy (:mod:`mural.strategies.vaal`) hands thumbnails in and reads one probability per
unlabelled image back; everything torch lives here. All randomness (initial weights,
batches, the reparameterisation noise) comes from ``seed``; the global torch RNG is
restored after weight initialisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

__all__ = ["vaal_labelled_probability"]


def _build(size: int, latent: int, seed: int) -> tuple[Any, Any]:
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


def vaal_labelled_probability(
    unlabelled: NDArray[np.uint8],
    labelled: NDArray[np.uint8],
    *,
    latent_dim: int = 16,
    iterations: int = 100,
    batch_size: int = 32,
    lr: float = 5e-4,
    beta: float = 1.0,
    adversary_weight: float = 1.0,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Train VAAL's VAE and discriminator; return ``D(mu)`` for each unlabelled image.

    Args:
        unlabelled: ``(N, 3, S, S)`` uint8 thumbnails of ``D_U`` (``S`` a multiple of 8).
        labelled: ``(L, 3, S, S)`` uint8 thumbnails of ``D_L`` (``L`` may be 0).
        latent_dim, iterations, batch_size, lr, beta, adversary_weight: see
            :class:`mural.strategies.vaal.Vaal`.
        seed: seeds weights, batches and noise.

    Returns ``(N,)`` float64: the discriminator's probability that each unlabelled image
    is labelled (``iterations`` Adam steps of the VAE, then of the discriminator).
    """
    size = int(unlabelled.shape[-1])
    xu = torch.from_numpy(np.ascontiguousarray(unlabelled)).float() / 255.0
    xl = torch.from_numpy(np.ascontiguousarray(labelled)).float() / 255.0
    if xu.shape[0] == 0:
        return np.zeros(0)
    gen = torch.Generator().manual_seed(seed)
    vae, disc = _build(size, latent_dim, seed)
    opt_v = torch.optim.Adam(vae.parameters(), lr=lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr)
    bs = batch_size

    def batch(x: Any) -> Any:
        if x.shape[0] == 0:
            return x
        return x[torch.randint(0, x.shape[0], (min(bs, x.shape[0]),), generator=gen)]

    def vae_loss(x: Any) -> tuple[Any, Any]:
        rec, mu, logvar = vae(x, gen)
        kld = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
        return F.mse_loss(rec, x) + beta * kld, mu

    vae.train()
    disc.train()
    for _ in range(iterations):
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
        (loss + adversary_weight * adv).backward()
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
        mus = torch.cat([vae.mu(vae.enc(xu[k : k + 256])) for k in range(0, xu.shape[0], 256)])
        p_lab = torch.sigmoid(disc(mus).squeeze(1)).double().numpy()
    out: NDArray[np.float64] = p_lab
    return out
