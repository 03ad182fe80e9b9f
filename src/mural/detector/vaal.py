"""VAAL's networks and training, as in its reference code.

Sinha, Ebrahimi & Darrell, "Variational Adversarial Active Learning", ICCV 2019; reference
code github.com/sinhasam/vaal: ``model.py`` (``VAE``, ``Discriminator``, ``kaiming_init``),
``solver.py`` (``Solver.train``, ``Solver.vae_loss``), ``sampler.py``
(``AdversarySampler.sample``) and ``arguments.py`` (the defaults). The strategy
(:mod:`mural.strategies.vaal`) hands thumbnails in and reads one probability per
unlabelled image back; everything torch lives here.

- **VAE** (``model.VAE``): encoder of four ``Conv2d(k=4, s=2, p=1, bias=False)`` +
  ``BatchNorm2d`` + ``ReLU`` with ``c, 2c, 4c, 8c`` channels (reference ``c = 128``), flat
  ``8c × (S/16)²`` features, linear ``mu`` and ``logvar`` of ``latent_dim``; decoder: linear
  to ``8c × (S/8)²``, three ``ConvTranspose2d(k=4, s=2, p=1, bias=False)`` + BN + ReLU
  (``4c, 2c, c``) and a final ``ConvTranspose2d(c, 3, 1)`` (no output activation). The
  reference is written for ``S = 32`` (CIFAR); ``S`` here is any multiple of 16 from 32 (so
  BatchNorm always sees more than one value per channel).
- **Discriminator** (``model.Discriminator``): ``latent → 512 → 512 → 1`` with ReLUs and a
  sigmoid.
- **Initialisation** (``kaiming_init``): Kaiming-normal weights and zero biases for the
  ``Conv2d`` and ``Linear`` layers inside the encoder, decoder and discriminator (the
  reference's loop reaches neither ``fc_mu``/``fc_logvar`` nor the transposed
  convolutions, which keep PyTorch's default), BN weight 1, bias 0.
- **Inputs**: ``[0, 1]`` pixels normalised to ``[-1, 1]`` (``main.cifar_transformer``).
- **Training** (``Solver.train``): ``iterations`` steps; each step ``vae_steps`` VAE
  updates (a fresh pair of labelled/unlabelled batches after the first) on
  ``vae_loss(l) + vae_loss(u) + adversary_weight · (BCE(D(mu_l), 1) + BCE(D(mu_u), 1))``
  with ``vae_loss = MSE(recon, x) + beta · KLD``, ``KLD = -½ Σ (1 + logvar - mu² -
  exp(logvar))`` summed over batch and latent (as the reference); then ``adversary_steps``
  discriminator updates on ``BCE(D(mu_l), 1) + BCE(D(mu_u), 0)`` with ``mu`` from the VAE
  (train mode, no gradient). Adam, ``lr`` 5e-4, for both. Batches are drawn by walking
  seeded permutations of each set (the reference's shuffling ``DataLoader`` read in a loop).
- **Scores** (``AdversarySampler.sample``): ``D(mu)`` of each unlabelled image; the
  reference takes the ``budget`` lowest. Here ``mu`` is computed in eval mode (BatchNorm's
  running statistics) so an image's score does not depend on the batch it falls in (the
  reference leaves the VAE in train mode).

All randomness (initial weights, batches, the reparameterisation noise) comes from
``seed``; the global torch RNG is restored after weight initialisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

__all__ = ["build_vaal", "vaal_forward_macs", "vaal_labelled_probability"]


class _VAE(nn.Module):
    def __init__(self, size: int, latent: int, c: int) -> None:
        super().__init__()
        if size % 16 or size < 32:
            raise ValueError(f"VAAL image size must be a multiple of 16 and >= 32, got {size}")
        e, d = size // 16, size // 8
        self.c, self.d = c, d
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
            nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(True),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * c), nn.ReLU(True),
            nn.Conv2d(4 * c, 8 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(8 * c), nn.ReLU(True),
            nn.Flatten(),
        )  # fmt: skip
        self.fc_mu = nn.Linear(8 * c * e * e, latent)
        self.fc_logvar = nn.Linear(8 * c * e * e, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, 8 * c * d * d),
            nn.Unflatten(1, (8 * c, d, d)),
            nn.ConvTranspose2d(8 * c, 4 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * c),
            nn.ReLU(True),
            nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
            nn.ConvTranspose2d(c, 3, 1),
        )  # fmt: skip
        self.encoder.apply(_kaiming)
        self.decoder.apply(_kaiming)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def forward(
        self, x: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=gen)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


def _kaiming(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_normal_(m.weight)
        if m.bias is not None:
            m.bias.data.fill_(0)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        m.weight.data.fill_(1)
        m.bias.data.fill_(0)


def build_vaal(
    image_size: int, latent_dim: int, channels: int, seed: int
) -> tuple[_VAE, nn.Module]:
    """``(vae, discriminator)`` initialised from ``seed`` (global RNG restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = _VAE(image_size, latent_dim, channels)
        disc = nn.Sequential(
            nn.Linear(latent_dim, 512), nn.ReLU(True), nn.Linear(512, 512), nn.ReLU(True),
            nn.Linear(512, 1), nn.Sigmoid(),
        )  # fmt: skip
        disc.apply(_kaiming)
    return vae, disc


def vaal_forward_macs(image_size: int, latent_dim: int, channels: int) -> dict[str, int]:
    """Multiply-accumulates of one image's forward pass, counted layer by layer (not timed).

    Returns ``{"vae": ..., "discriminator": ...}``: every ``Conv2d``, ``ConvTranspose2d``
    and ``Linear`` counted as ``input positions × in × out × kernel area`` (transposed) or
    ``output positions × in × out × kernel area`` (convolution), ``in × out`` (linear).
    """
    vae, disc = build_vaal(image_size, latent_dim, channels, 0)
    total = {"vae": 0, "discriminator": 0}
    key = "vae"

    def hook(m: nn.Module, inp: Any, out: Any) -> None:
        if isinstance(m, nn.Linear):
            n = m.in_features * m.out_features
        else:
            assert isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
            pos = inp[0] if isinstance(m, nn.ConvTranspose2d) else out
            k = m.kernel_size[0] * m.kernel_size[1]
            n = int(pos.shape[-1] * pos.shape[-2]) * m.in_channels * m.out_channels * k
        total[key] += n

    hooks = [
        m.register_forward_hook(hook)
        for net in (vae, disc)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    vae.eval()
    with torch.no_grad():
        _, mu, _ = vae(torch.zeros(1, 3, image_size, image_size), torch.Generator())
        key = "discriminator"
        disc(mu)
    for h in hooks:
        h.remove()
    return total


def _batches(n: int, bs: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Indices of ``min(bs, n)`` items at a time, walking seeded permutations (drop last)."""
    bs = min(bs, n)
    while True:
        perm = torch.randperm(n, generator=gen)
        for k in range(0, n - bs + 1, bs):
            yield perm[k : k + bs]


def vaal_labelled_probability(
    unlabelled: NDArray[np.uint8],
    labelled: NDArray[np.uint8],
    *,
    latent_dim: int = 32,
    channels: int = 128,
    iterations: int = 100,
    batch_size: int = 128,
    vae_steps: int = 2,
    adversary_steps: int = 1,
    lr: float = 5e-4,
    beta: float = 1.0,
    adversary_weight: float = 1.0,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Train VAAL's VAE and discriminator; return ``D(mu)`` for each unlabelled image.

    Args:
        unlabelled: ``(N, 3, S, S)`` uint8 thumbnails of ``D_U`` (``S`` a multiple of 16,
            ``>= 32``).
        labelled: ``(L, 3, S, S)`` uint8 thumbnails of ``D_L`` (``L`` may be 0: then the
            labelled terms are left out).
        latent_dim, channels, iterations, batch_size, vae_steps, adversary_steps, lr, beta,
            adversary_weight: see the module docstring (reference values are the defaults
            except ``iterations``, which the reference derives from its epochs).
        seed: seeds weights, batches and noise.

    Returns ``(N,)`` float64: the discriminator's probability that each unlabelled image
    is labelled.
    """
    size = int(unlabelled.shape[-1])
    if unlabelled.shape[0] == 0:
        return np.zeros(0)
    xu = torch.from_numpy(np.ascontiguousarray(unlabelled)).float() / 127.5 - 1.0
    xl = torch.from_numpy(np.ascontiguousarray(labelled)).float() / 127.5 - 1.0
    gen = torch.Generator().manual_seed(seed)
    vae, disc = build_vaal(size, latent_dim, channels, seed)
    opt_v = torch.optim.Adam(vae.parameters(), lr=lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr)
    it_u = _batches(xu.shape[0], batch_size, gen)
    it_l = _batches(xl.shape[0], batch_size, gen) if xl.shape[0] else None

    def draw() -> tuple[torch.Tensor, torch.Tensor | None]:
        bu = xu[next(it_u)]
        bl = xl[next(it_l)] if it_l is not None else None
        return bu, bl

    def vae_loss(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rec, mu, logvar = vae(x, gen)
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return F.mse_loss(rec, x) + beta * kld, mu

    def bce(p: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy(p.squeeze(1), torch.full((p.shape[0],), target))

    vae.train()
    disc.train()
    for _ in range(iterations):
        bu, bl = draw()
        for step in range(vae_steps):
            if step:
                bu, bl = draw()
            loss_u, mu_u = vae_loss(bu)
            loss, adv = loss_u, bce(disc(mu_u), 1.0)
            if bl is not None:
                loss_l, mu_l = vae_loss(bl)
                loss, adv = loss + loss_l, adv + bce(disc(mu_l), 1.0)
            opt_v.zero_grad()
            (loss + adversary_weight * adv).backward()  # type: ignore[no-untyped-call]
            opt_v.step()
        for step in range(adversary_steps):
            if step:
                bu, bl = draw()
            with torch.no_grad():
                code_u = vae(bu, gen)[1]
                code_l = vae(bl, gen)[1] if bl is not None else None
            d_loss = bce(disc(code_u), 0.0)
            if code_l is not None:
                d_loss = d_loss + bce(disc(code_l), 1.0)
            opt_d.zero_grad()
            d_loss.backward()  # type: ignore[no-untyped-call]
            opt_d.step()
    vae.eval()
    disc.eval()
    with torch.no_grad():
        mus = torch.cat([vae.encode(xu[k : k + 256])[0] for k in range(0, xu.shape[0], 256)])
        p_lab = disc(mus).squeeze(1).double().numpy()
    out: NDArray[np.float64] = p_lab
    return out
