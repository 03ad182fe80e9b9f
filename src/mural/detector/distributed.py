"""Several processes (GPUs or machines) through ``torchrun``: the few helpers we need.

Launch with ``torchrun --nproc_per_node N ...`` (or ``python -m torch.distributed.run``):
:func:`init_distributed` reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment
and joins the process group (``nccl`` with CUDA, ``gloo`` otherwise). Without those
variables everything runs as one process (``world_size == 1``) and the collective helpers
are no-ops.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import ConfigError

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "barrier",
    "broadcast_object",
    "close_distributed",
    "get_info",
    "init_distributed",
    "is_main",
    "resolve_device",
    "shard",
]

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group described by the environment (once); return this rank's info."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return get_info()


def get_info() -> DistInfo:
    """This process's rank, the world size and local rank (``0, 1, 0`` without a group)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
        )
    return DistInfo(0, 1, 0)


def is_main() -> bool:
    return get_info().is_main


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def broadcast_object(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (``obj`` itself with one process).

    Decisions that every rank must take alike (is a stage done? is a file there?) are
    made on rank 0 and broadcast, so a shared filesystem's caching cannot split them.
    """
    if get_info().world_size == 1:
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[no-any-return]


def close_distributed() -> None:
    """Leave the process group joined by :func:`init_distributed` (no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], info: DistInfo | None = None) -> list[T]:
    """This rank's share: ``items[rank::world_size]`` (every item on exactly one rank)."""
    info = info or get_info()
    return list(items[info.rank :: info.world_size])


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` with one process)."""
    info = get_info()
    if info.world_size == 1:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def default_device(info: DistInfo | None = None) -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is there, else the CPU."""
    if torch.cuda.is_available():
        return resolve_device("cuda", info)
    return torch.device("cpu")


def resolve_device(device: str | torch.device, info: DistInfo | None = None) -> torch.device:
    """The torch device a setting names: ``"auto"`` is :func:`default_device`, a bare
    ``"cuda"`` this process's GPU (``LOCAL_RANK``), anything else as torch reads it."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return default_device(info)
    if device == "cuda":
        info = info or get_info()
        return torch.device("cuda", info.local_rank % max(1, torch.cuda.device_count()))
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"device: bad value {device!r}; expected cpu, cuda, cuda:N or auto"
        ) from None
