"""The training loop: torchvision references' recipe, seeded, checkpointed, resumable.

SGD (momentum 0.9, weight decay 1e-4), linear warm-up over the first
``min(1000, iterations per epoch - 1)`` iterations from ``lr * 1e-3``, step decay by
``gamma`` at epochs ``round(f * epochs)`` for each fraction ``f`` of ``milestones``
(default ``16/26, 22/26``: torchvision's 26-epoch schedule, scaled), AMP on CUDA only.

For short runs from random initialisation (the CPU demo), ``optimizer="adamw"`` and
``schedule="cosine"`` (cosine decay to 0 over all iterations after the warm-up) learn
much faster than SGD with steps; the paper's configurations keep SGD.

Reproducibility: the sample order of epoch ``e`` comes from ``DistributedSampler(seed)``
with ``set_epoch(e)`` (a plain seeded permutation with one process), the dataset's own
``set_epoch(e)`` is called when it has one (workers are not persistent, so they see it),
and the global torch RNG
that torchvision's proposal sampling uses is forked and seeded with ``seed + e`` for the
epoch, so a run resumed from the checkpoint of epoch ``e - 1`` repeats a straight run.

Checkpoints: ``out_dir/checkpoint.pt`` after each epoch (written atomically, tensors and
plain types only, read back with ``torch.load(weights_only=True)``); ``keep_checkpoints``
also keeps ``epoch_NNN.pt``. With ``resume=True`` training continues after the last
complete epoch of a checkpoint whose training settings match.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConfigError, MuralError
from ..io import atomic_open
from . import distributed as mdist

if TYPE_CHECKING:
    from .faster_rcnn import FasterRCNNDetector

__all__ = ["lr_factor", "targets_for_model", "train"]

CHECKPOINT = "checkpoint.pt"


def lr_factor(
    epoch: int,
    it: int,
    *,
    epochs: int,
    warmup_iters: int,
    warmup_factor: float,
    milestones: Sequence[float],
    gamma: float,
    schedule: str = "step",
    iters_per_epoch: int = 1,
) -> float:
    """Learning-rate multiplier at iteration ``it`` of epoch ``epoch`` (both from 0)."""
    f = 1.0
    if epoch == 0 and it < warmup_iters:
        alpha = it / warmup_iters
        f = warmup_factor * (1 - alpha) + alpha
    if schedule == "cosine":
        total = max(1, epochs * iters_per_epoch - warmup_iters)
        done = max(0, epoch * iters_per_epoch + it - warmup_iters)
        return f * 0.5 * (1 + math.cos(math.pi * min(1.0, done / total)))
    steps = sum(1 for m in milestones if epoch >= round(m * epochs))
    return f * gamma**steps


def targets_for_model(target: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """Keep ``boxes`` ``(N, 4)`` float32 and ``labels`` ``(N,)`` int64 (degenerate boxes
    dropped) and, when present, ``ignore_boxes`` ``(M, 4)`` float32 (xyxy, pixels of the
    image tensor: anchors and proposals inside them are neither positive nor negative)."""
    boxes = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
    labels = torch.as_tensor(target["labels"], dtype=torch.int64).reshape(-1)
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    out = {"boxes": boxes[ok].to(device), "labels": labels[ok].to(device)}
    if target.get("ignore_boxes") is not None:
        ign = torch.as_tensor(target["ignore_boxes"], dtype=torch.float32).reshape(-1, 4)
        out["ignore_boxes"] = ign.to(device)
    return out


def _collate(batch: list[Any]) -> tuple[list[Any], list[Any]]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def train(
    det: FasterRCNNDetector,
    dataset: Any,
    *,
    epochs: int = 20,
    batch_size: int = 4,
    lr: float = 2.5e-3,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    warmup_iters: int | None = None,
    warmup_factor: float = 1e-3,
    milestones: Sequence[float] = (16 / 26, 22 / 26),
    gamma: float = 0.1,
    optimizer: str = "sgd",
    schedule: str = "step",
    grad_clip: float | None = None,
    workers: int = 0,
    seed: int = 0,
    amp: bool = True,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    keep_checkpoints: bool = False,
    progress: bool = True,
    max_iters: int | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``det.model`` on ``dataset`` (``(image, target)`` items, already at scale).

    ``max_iters`` caps the iterations per epoch (quick runs). ``on_epoch_end(epoch,
    record)`` is called after the epoch's checkpoint is written. Returns the records of the
    epochs run now: ``epoch``, ``loss`` (mean), ``lr`` (last), ``seconds``, ``images``.
    Under ``torchrun`` the model is wrapped in ``DistributedDataParallel`` and each rank
    reads its ``DistributedSampler`` share; only rank 0 writes checkpoints.
    """
    if epochs < 1:
        raise ConfigError(f"train: epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ConfigError(f"train: batch_size must be >= 1, got {batch_size}")
    if optimizer not in ("sgd", "adamw"):
        raise ConfigError(f"train: optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
    if schedule not in ("step", "cosine"):
        raise ConfigError(f"train: schedule must be 'step' or 'cosine', got {schedule!r}")
    if len(dataset) == 0:
        raise ConfigError("train: the training set is empty (label some images first)")
    info = mdist.get_info()
    device = det.device
    model = det.model
    use_amp = bool(amp) and device.type == "cuda"
    sampler = torch.utils.data.DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(seed),
    )
    iters = len(loader) if max_iters is None else min(len(loader), max_iters)
    warm = min(1000, iters - 1) if warmup_iters is None else int(warmup_iters)
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer = (
        torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        if optimizer == "sgd"
        else torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    settings = {
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "seed": int(seed),
        "num_samples": len(dataset),
        "world_size": info.world_size,
        "max_iters": max_iters,
        "optimizer": optimizer,
        "schedule": schedule,
    }
    start = 0
    ckpt_dir = Path(out_dir) if out_dir is not None else None
    if ckpt_dir is not None and resume and (ckpt_dir / CHECKPOINT).is_file():
        state = torch.load(ckpt_dir / CHECKPOINT, map_location="cpu", weights_only=True)
        if state.get("settings") != settings:
            raise ConfigError(
                f"{ckpt_dir / CHECKPOINT}: checkpoint of other training settings "
                f"{state.get('settings')} (now {settings}); fix: another out_dir or resume=False"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if use_amp and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start = int(state["epoch"]) + 1
    net: torch.nn.Module = model
    if info.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    hp = {
        "epochs": epochs,
        "warmup_iters": warm,
        "warmup_factor": warmup_factor,
        "milestones": milestones,
        "gamma": gamma,
        "schedule": schedule,
        "iters_per_epoch": iters,
    }
    records: list[dict[str, float]] = []
    net.train()
    for epoch in range(start, epochs):
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):  # TrainingSamples: per-epoch flip draws
            dataset.set_epoch(epoch)
        t0 = time.perf_counter()
        total, n_img, cur_lr = 0.0, 0, lr
        bar = None
        if progress and info.is_main:
            from tqdm import tqdm

            bar = tqdm(total=iters, desc=f"epoch {epoch + 1}/{epochs}", unit="it")
        devs = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devs):
            torch.manual_seed(seed + epoch)
            for it, (images, targets) in enumerate(loader):
                if it >= iters:
                    break
                cur_lr = lr * lr_factor(epoch, it, **hp)
                for g in opt.param_groups:
                    g["lr"] = cur_lr
                imgs = [im.to(device, non_blocking=True) for im in images]
                tgts = [targets_for_model(t, device) for t in targets]
                with torch.autocast(device_type=device.type, enabled=use_amp):
                    losses = net(imgs, tgts)
                    loss = sum(losses.values())
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise MuralError(
                        f"train: loss is {value} at epoch {epoch + 1}, iteration {it + 1} "
                        "(fix: lower lr or check the boxes)"
                    )
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if grad_clip is not None:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                scaler.step(opt)
                scaler.update()
                total += value
                n_img += len(imgs)
                if bar is not None:
                    bar.set_postfix(loss=f"{value:.3f}", lr=f"{cur_lr:.2e}")
                    bar.update(1)
        if bar is not None:
            bar.close()
        rec = {
            "epoch": float(epoch),
            "loss": total / max(1, iters),
            "lr": cur_lr,
            "seconds": time.perf_counter() - t0,
            "images": float(n_img),
        }
        records.append(rec)
        if ckpt_dir is not None:
            if info.is_main:
                state = {
                    "epoch": epoch,
                    "settings": settings,
                    "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "optimizer": opt.state_dict(),
                    "scaler": scaler.state_dict() if use_amp else {},
                    "record": rec,
                }
                with atomic_open(ckpt_dir / CHECKPOINT, "wb") as fh:
                    torch.save(state, fh)
                if keep_checkpoints:
                    with atomic_open(ckpt_dir / f"epoch_{epoch:03d}.pt", "wb") as fh:
                        torch.save(state, fh)
            mdist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch, rec)
    model.eval()
    return records
