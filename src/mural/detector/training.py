"""The training loop: torchvision references' recipe, seeded, checkpointed, resumable.

SGD (momentum 0.9, weight decay 1e-4), linear warm-up over the first
``min(1000, iterations per epoch - 1)`` iterations from ``lr * 1e-3``, step decay by
``gamma`` at epochs ``round(f * epochs)`` for each fraction ``f`` of ``milestones``
(default ``16/26, 22/26``: torchvision's 26-epoch schedule, scaled), AMP on CUDA only.

For short runs from random initialisation (the CPU demo), ``optimizer="adamw"`` and
``schedule="cosine"`` (cosine decay to 0 over all iterations after the warm-up) learn
much faster than SGD with steps; the paper's configurations keep SGD.

Structure: :func:`train` takes the model (an ``nn.Module`` in torchvision's detection
API) and typed :class:`TrainOptions`; it runs :func:`train_epoch` once per epoch with
hooks around it: :class:`LRSchedule` (sets the learning rate before each iteration),
:class:`ProgressLog` (a progress bar), :class:`Checkpointer` (resume, then a checkpoint
after each epoch) and :class:`EpochCallback` (the caller's ``on_epoch_end``).

Reproducibility: the sample order of epoch ``e`` comes from ``DistributedSampler(seed)``
with ``set_epoch(e)`` (a plain seeded permutation with one process), the dataset's own
``set_epoch(e)`` is called when it has one (workers are not persistent, so they see it),
and the global torch RNG that torchvision's proposal sampling uses is forked and seeded
with ``seed + e`` for the epoch, so a run resumed from the checkpoint of epoch ``e - 1``
repeats a straight run.

Checkpoints: ``out_dir/checkpoint.pt`` after each epoch (written atomically, tensors and
plain types only, read back with ``torch.load(weights_only=True)``); ``keep_checkpoints``
also keeps ``epoch_NNN.pt``. With ``resume=True`` training continues after the last
complete epoch of a checkpoint whose training settings match.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.samples import collate
from ..errors import ConfigError, DataError, MuralError
from ..io import atomic_open
from . import distributed as mdist

__all__ = [
    "CONFIG_KEYS",
    "Checkpointer",
    "EpochCallback",
    "LRSchedule",
    "ProgressLog",
    "TrainHook",
    "TrainOptions",
    "TrainState",
    "lr_factor",
    "targets_for_model",
    "train",
    "train_epoch",
]

CHECKPOINT = "checkpoint.pt"


# ------------------------------------------------------------------------- options
@dataclass(frozen=True)
class TrainOptions:
    """Every training setting, checked on construction (:class:`ConfigError` names the
    option and what it accepts).

    ``max_iters`` caps the iterations per epoch (quick runs); ``warmup_iters=None`` is
    ``min(1000, iterations per epoch - 1)``; ``milestones`` are fractions of ``epochs``.
    """

    epochs: int = 20
    batch_size: int = 4
    lr: float = 2.5e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int | None = None
    warmup_factor: float = 1e-3
    milestones: tuple[float, ...] = (16 / 26, 22 / 26)
    gamma: float = 0.1
    optimizer: str = "sgd"
    schedule: str = "step"
    grad_clip: float | None = None
    workers: int = 0
    seed: int = 0
    amp: bool = True
    keep_checkpoints: bool = False
    progress: bool = True
    max_iters: int | None = None

    def __post_init__(self) -> None:
        def bad(name: str, accepts: str) -> ConfigError:
            return ConfigError(
                f"train: option {name!r} must be {accepts}, got {getattr(self, name)!r}"
            )

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for name, lo in (("epochs", 1), ("batch_size", 1), ("workers", 0), ("seed", 0)):
            if not is_int(getattr(self, name)) or getattr(self, name) < lo:
                raise bad(name, f"an integer >= {lo}")
        for name, lo in (("warmup_iters", 0), ("max_iters", 1)):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v < lo):
                raise bad(name, f"null or an integer >= {lo}")
        for name in ("lr", "momentum", "weight_decay", "warmup_factor", "gamma"):
            if not is_num(getattr(self, name)) or getattr(self, name) < 0:
                raise bad(name, "a number >= 0")
        if self.grad_clip is not None and (not is_num(self.grad_clip) or self.grad_clip <= 0):
            raise bad("grad_clip", "null or a number > 0")
        ms = self.milestones
        if isinstance(ms, (str, bytes)) or not isinstance(ms, Sequence):
            raise bad("milestones", "a list of fractions of the epochs")
        if not all(is_num(m) and 0 <= m <= 1 for m in ms):
            raise bad("milestones", "a list of fractions of the epochs (0..1)")
        object.__setattr__(self, "milestones", tuple(float(m) for m in ms))
        if self.optimizer not in ("sgd", "adamw"):
            raise bad("optimizer", "'sgd' or 'adamw'")
        if self.schedule not in ("step", "cosine"):
            raise bad("schedule", "'step' or 'cosine'")
        for name in ("amp", "keep_checkpoints", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "true or false")

    @classmethod
    def from_dict(cls, options: Mapping[str, Any], where: str = "train") -> TrainOptions:
        """Options from a mapping; an unknown key raises :class:`ConfigError` listing the
        known ones (``where`` names the source in the message)."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in options:
            if key not in known:
                raise ConfigError(
                    f"{where}: unknown option {key!r}; accepted: {', '.join(sorted(known))}"
                )
        return cls(**dict(options))


#: The :class:`TrainOptions` a run configuration sets through ``detector.train_options``
#: (the others come from ``detector.epochs``, ``.lr``, ``.batch_size``, the run's seed,
#: ``workers`` and ``--quiet``).
CONFIG_KEYS = tuple(
    sorted(
        f.name
        for f in dataclasses.fields(TrainOptions)
        if f.name not in {"epochs", "lr", "batch_size", "seed", "workers", "progress"}
    )
)


def check_config_train_options(options: Mapping[str, Any]) -> None:
    """Refuse ``detector.train_options`` a run configuration cannot set, or bad values."""
    for key in options:
        if key not in CONFIG_KEYS:
            raise ConfigError(
                f"config key 'detector.train_options.{key}': unknown; "
                f"accepted: {', '.join(CONFIG_KEYS)}"
            )
    try:
        TrainOptions.from_dict(options)
    except ConfigError as exc:
        raise ConfigError(f"config key 'detector.train_options': {exc}") from None


# ----------------------------------------------------------------------- schedule
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


# -------------------------------------------------------------------- state, hooks
@dataclass
class TrainState:
    """What the epoch step and the hooks share."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    options: TrainOptions
    settings: dict[str, Any]
    iters: int
    use_amp: bool
    epoch: int = 0
    iteration: int = 0
    lr: float = 0.0
    loss: float = 0.0
    record: dict[str, float] = field(default_factory=dict)


class TrainHook:
    """Called around the epoch step; every method does nothing by default."""

    def resume(self, state: TrainState) -> int:
        """The first epoch to run (0 unless the hook restores a checkpoint)."""
        return 0

    def before_epoch(self, state: TrainState) -> None: ...

    def before_iteration(self, state: TrainState) -> None: ...

    def after_iteration(self, state: TrainState) -> None: ...

    def after_epoch(self, state: TrainState) -> None: ...


class LRSchedule(TrainHook):
    """Sets every parameter group's learning rate before each iteration (:func:`lr_factor`)."""

    def before_iteration(self, state: TrainState) -> None:
        o = state.options
        warm = min(1000, state.iters - 1) if o.warmup_iters is None else int(o.warmup_iters)
        state.lr = o.lr * lr_factor(
            state.epoch,
            state.iteration,
            epochs=o.epochs,
            warmup_iters=warm,
            warmup_factor=o.warmup_factor,
            milestones=o.milestones,
            gamma=o.gamma,
            schedule=o.schedule,
            iters_per_epoch=state.iters,
        )
        for g in state.optimizer.param_groups:
            g["lr"] = state.lr


class ProgressLog(TrainHook):
    """A tqdm bar per epoch (rank 0, when ``progress``) with the loss and learning rate."""

    def __init__(self) -> None:
        self.bar: Any = None

    def before_epoch(self, state: TrainState) -> None:
        if state.options.progress and mdist.is_main():
            from tqdm import tqdm

            total = state.options.epochs
            self.bar = tqdm(total=state.iters, desc=f"epoch {state.epoch + 1}/{total}", unit="it")

    def after_iteration(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{state.loss:.3f}", lr=f"{state.lr:.2e}")
            self.bar.update(1)

    def after_epoch(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Checkpointer(TrainHook):
    """Resumes from ``out_dir/checkpoint.pt`` (same settings only) and writes it after
    every epoch (rank 0; ``keep_checkpoints`` also keeps ``epoch_NNN.pt``)."""

    def __init__(self, out_dir: str | os.PathLike[str], resume: bool) -> None:
        self.dir = Path(out_dir)
        self.resume_ok = bool(resume)

    def resume(self, state: TrainState) -> int:
        path = self.dir / CHECKPOINT
        if not (self.resume_ok and path.is_file()):
            return 0
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged file
            raise DataError(
                f"{path}: damaged checkpoint ({' '.join(str(exc).split())}) "
                "(fix: delete it to train this detector from the start)"
            ) from None
        if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
            raise DataError(
                f"{path}: not a mural training checkpoint "
                "(fix: delete it to train this detector from the start)"
            )
        if ckpt.get("settings") != state.settings:
            raise ConfigError(
                f"{path}: checkpoint of other training settings "
                f"{ckpt.get('settings')} (now {state.settings}); fix: another out_dir or "
                "resume=False"
            )
        state.model.load_state_dict(ckpt["model"])
        state.optimizer.load_state_dict(ckpt["optimizer"])
        if state.use_amp and ckpt.get("scaler"):
            state.scaler.load_state_dict(ckpt["scaler"])
        return int(ckpt["epoch"]) + 1

    def after_epoch(self, state: TrainState) -> None:
        if mdist.is_main():
            ckpt = {
                "epoch": state.epoch,
                "settings": state.settings,
                "model": {k: v.detach().cpu() for k, v in state.model.state_dict().items()},
                "optimizer": state.optimizer.state_dict(),
                "scaler": state.scaler.state_dict() if state.use_amp else {},
                "record": state.record,
            }
            with atomic_open(self.dir / CHECKPOINT, "wb") as fh:
                torch.save(ckpt, fh)
            if state.options.keep_checkpoints:
                with atomic_open(self.dir / f"epoch_{state.epoch:03d}.pt", "wb") as fh:
                    torch.save(ckpt, fh)
        mdist.barrier()


class EpochCallback(TrainHook):
    """Calls ``fn(epoch, record)`` after each epoch (after its checkpoint)."""

    def __init__(self, fn: Callable[[int, dict[str, float]], None]) -> None:
        self.fn = fn

    def after_epoch(self, state: TrainState) -> None:
        self.fn(state.epoch, state.record)


# ---------------------------------------------------------------------- epoch step
def train_epoch(
    state: TrainState,
    net: nn.Module,
    loader: Any,
    device: torch.device,
    hooks: Sequence[TrainHook] = (),
) -> dict[str, float]:
    """One epoch of ``state.iters`` iterations over ``loader``; returns its record
    (``epoch``, ``loss`` (mean), ``lr`` (last), ``seconds``, ``images``).

    The global torch RNG is forked and seeded ``seed + epoch`` for the epoch; a non-finite
    loss raises :class:`MuralError`.
    """
    o = state.options
    params = [p for p in state.model.parameters() if p.requires_grad]
    t0 = time.perf_counter()
    total, n_img = 0.0, 0
    state.lr = o.lr
    devs = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devs):
        torch.manual_seed(o.seed + state.epoch)
        for it, (images, targets) in enumerate(loader):
            if it >= state.iters:
                break
            state.iteration = it
            for h in hooks:
                h.before_iteration(state)
            imgs = [im.to(device, non_blocking=True) for im in images]
            tgts = [targets_for_model(t, device) for t in targets]
            with torch.autocast(device_type=device.type, enabled=state.use_amp):
                losses = net(imgs, tgts)
                loss = sum(losses.values())
            value = float(loss.detach())
            if not math.isfinite(value):
                raise MuralError(
                    f"train: loss is {value} at epoch {state.epoch + 1}, iteration {it + 1} "
                    "(fix: lower lr or check the boxes)"
                )
            state.optimizer.zero_grad(set_to_none=True)
            state.scaler.scale(loss).backward()
            if o.grad_clip is not None:
                state.scaler.unscale_(state.optimizer)
                torch.nn.utils.clip_grad_norm_(params, o.grad_clip)
            state.scaler.step(state.optimizer)
            state.scaler.update()
            total += value
            n_img += len(imgs)
            state.loss = value
            for h in hooks:
                h.after_iteration(state)
    return {
        "epoch": float(state.epoch),
        "loss": total / max(1, state.iters),
        "lr": state.lr,
        "seconds": time.perf_counter() - t0,
        "images": float(n_img),
    }


# ---------------------------------------------------------------------------- train
def train(
    model: nn.Module,
    dataset: Any,
    options: TrainOptions | None = None,
    *,
    device: str | torch.device = "cpu",
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    hooks: Sequence[TrainHook] = (),
) -> list[dict[str, float]]:
    """Train ``model`` (torchvision detection API: ``model(images, targets)`` returns a
    dict of losses) on ``dataset`` (``(image, target)`` items, already at scale).

    ``on_epoch_end(epoch, record)`` is called after the epoch's checkpoint is written;
    ``hooks`` run after the built-in ones. Returns the records of the epochs run now.
    Under ``torchrun`` the model is wrapped in ``DistributedDataParallel`` and each rank
    reads its ``DistributedSampler`` share; only rank 0 writes checkpoints.
    """
    o = options if options is not None else TrainOptions()
    if len(dataset) == 0:
        raise ConfigError("train: the training set is empty (label some images first)")
    info = mdist.get_info()
    dev = mdist.resolve_device(device)
    use_amp = o.amp and dev.type == "cuda"
    sampler: torch.utils.data.DistributedSampler[Any] = torch.utils.data.DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=o.seed
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=o.batch_size,
        sampler=sampler,
        num_workers=o.workers,
        collate_fn=collate,
        pin_memory=dev.type == "cuda",
        generator=torch.Generator().manual_seed(o.seed),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer = (
        torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        if o.optimizer == "sgd"
        else torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    )
    state = TrainState(
        model=model,
        optimizer=opt,
        scaler=torch.amp.GradScaler("cuda", enabled=use_amp),
        options=o,
        settings={
            "epochs": o.epochs,
            "batch_size": o.batch_size,
            "lr": float(o.lr),
            "seed": o.seed,
            "num_samples": len(dataset),
            "world_size": info.world_size,
            "max_iters": o.max_iters,
            "optimizer": o.optimizer,
            "schedule": o.schedule,
        },
        iters=len(loader) if o.max_iters is None else min(len(loader), o.max_iters),
        use_amp=use_amp,
    )
    all_hooks: list[TrainHook] = [LRSchedule(), ProgressLog()]
    if out_dir is not None:
        all_hooks.append(Checkpointer(out_dir, resume))
    if on_epoch_end is not None:
        all_hooks.append(EpochCallback(on_epoch_end))
    all_hooks += list(hooks)
    start = max(h.resume(state) for h in all_hooks)
    net: nn.Module = model
    if info.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None
        )
    records: list[dict[str, float]] = []
    net.train()
    for epoch in range(start, o.epochs):
        state.epoch = epoch
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):  # TrainingSamples: per-epoch flip draws
            dataset.set_epoch(epoch)
        for h in all_hooks:
            h.before_epoch(state)
        state.record = train_epoch(state, net, loader, dev, all_hooks)
        records.append(state.record)
        for h in all_hooks:
            h.after_epoch(state)
    model.eval()
    return records
