"""``mural synth``: write the synthetic COCO dataset (see :mod:`mural.data.synthetic`)."""

from __future__ import annotations

import argparse
import re
import time

from ..errors import ConfigError
from .args import seed

_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"96x128"`` -> ``(96, 128)`` (height x width); ConfigError otherwise."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"--size {text!r}: expected HxW in pixels, e.g. 128x128 or 96x128")
    return int(m.group(1)), int(m.group(2))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "synth",
        help="write the synthetic shapes dataset (COCO) for demos and tests",
        description=(
            "Write a synthetic COCO detection dataset: OUT/images/*.png, OUT/train.json, "
            "OUT/val.json. file_name entries are relative to OUT/images (use it as the "
            "--images root). Same seed and arguments: byte-identical files."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--train", type=int, default=300, metavar="N", help="train images (300)")
    p.add_argument("--val", type=int, default=100, metavar="N", help="val images (100)")
    p.add_argument("--size", default="128x128", metavar="HxW", help="image size (128x128)")
    p.add_argument(
        "--force", action="store_true", help="replace a previous dataset in a non-empty DIR"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import make_synthetic

    size = parse_size(args.size)
    smallest = min(size)
    if smallest < 16:
        raise ConfigError(f"--size {args.size}: each side must be at least 16 pixels")
    t0 = time.perf_counter()
    # object sides span 6 px .. half the shorter side (64 px at the default 128x128)
    paths = make_synthetic(
        args.out,
        seed=args.seed,
        n_train=args.train,
        n_val=args.val,
        image_size=size,
        object_size=(6, smallest // 2),
        overwrite=args.force,
    )
    print(
        f"wrote {args.train} train + {args.val} val images ({size[0]}x{size[1]}) in "
        f"{time.perf_counter() - t0:.1f}s: {paths['train']}, {paths['val']}; "
        f"images root: {paths['images']}"
    )
    return 0
