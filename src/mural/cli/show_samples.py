"""``mural show-samples``: draw training samples of a pool for a person to check by eye."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .args import integer, seed


def register(sub: Any) -> None:
    p = sub.add_parser(
        "show-samples",
        help="draw a grid of a pool's training samples with their boxes and ignore areas",
        description=(
            "Draw a grid of training samples of a labelled pool (full images, regions, "
            "partly labelled images): boxes coloured per class with the class name, ignore "
            "areas hatched grey, each titled with its provenance."
        ),
    )
    p.add_argument("pool_dir", type=Path, metavar="POOL_DIR", help="folder with pool.json")
    p.add_argument(
        "--dataset",
        type=Path,
        default=None,
        help="COCO annotations of the pool's dataset (default: the one pool.json records)",
    )
    p.add_argument(
        "--images",
        type=Path,
        default=None,
        help="images folder (default: the one pool.json records, else the dataset JSON's folder)",
    )
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--n", type=integer(1), default=16, help="samples to draw (default 16)")
    p.add_argument("--seed", type=seed, default=0, help="which samples: seeded choice (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool, pool_dataset_ref
    from ..errors import DataError

    ann, images = pool_dataset_ref(args.pool_dir)
    if args.dataset is not None:
        ann = args.dataset
    if args.images is not None:
        images = args.images
    if ann is None:
        raise DataError(
            f"{args.pool_dir / 'pool.json'}: records no dataset (fix: pass --dataset ANN.json)"
        )
    dataset = CocoDataset.load(ann, images)
    pool = LabeledPool.load(args.pool_dir, dataset)
    path = draw_samples(pool, args.out, n=args.n, seed=args.seed)
    print(f"wrote {path}")
    return 0


def draw_samples(pool: Any, out: str | Path, *, n: int = 16, seed: int = 0) -> Path:
    """Draw up to ``n`` samples of ``pool`` (seeded choice, in sample order) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    from ..data.samples import TrainingSamples, describe
    from ..io import atomic_open

    samples = TrainingSamples(pool)
    out = Path(out)
    total = len(samples)
    k = min(n, total)
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(total, size=k, replace=False).tolist()) if k else []
    cols = max(1, min(4, k))
    rows = max(1, -(-k // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.6 * rows), squeeze=False)
    names = pool.dataset.class_names
    cmap = plt.get_cmap("tab10")
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx, strict=False):
        img, t = samples[i]
        ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
        for x0, y0, x1, y1 in t["ignore"].tolist():
            ax.add_patch(
                Rectangle(
                    (x0, y0),
                    x1 - x0,
                    y1 - y0,
                    facecolor=(0.5, 0.5, 0.5, 0.45),
                    edgecolor="black",
                    hatch="//",
                    linewidth=0.6,
                )
            )
        for (x0, y0, x1, y1), lab in zip(t["boxes"].tolist(), t["labels"].tolist(), strict=True):
            color = cmap((lab - 1) % 10)
            ax.add_patch(
                Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.5)
            )
            ax.text(
                x0,
                y0,
                names[lab - 1],
                color="white",
                fontsize=6,
                va="bottom",
                bbox={"facecolor": color, "edgecolor": "none", "pad": 0.5, "alpha": 0.8},
            )
        h, w = img.shape[1], img.shape[2]
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_title(
            f"#{i} {describe(t)}\n{len(t['boxes'])} boxes, {len(t['ignore'])} ignored", fontsize=7
        )
    if not k:
        axes.flat[0].text(0.5, 0.5, "pool has no samples", ha="center", va="center")
    fig.suptitle(f"{pool!r}", fontsize=8)
    fig.tight_layout()
    with atomic_open(out, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return out
