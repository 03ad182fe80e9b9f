"""Throughput for costing the paper's protocols (``docs/scaling.md``), as JSON and Markdown.

    python benchmarks/bench_scaling.py --out scaling-results            # this machine
    python benchmarks/bench_scaling.py --device cuda --out scaling-gpu  # a GPU: AMP on and off
    python benchmarks/bench_scaling.py --tiny --out /tmp/scaling-smoke  # smoke run (seconds)

Measures, for each protocol (COCO: 480x640 images at the scales (480, 512), (800, 1280),
(1400, 2000); Cityscapes: 1024x2048 images at (2400, 3200), (1024, 2048), (600, 1200))
and each backbone of ``--backbones`` (default: the shipped ResNet-50 FPN and
EfficientNet-Lite0 FPN; a backbone that is not registered in this checkout is skipped
with a note):

- **train img/s**: ``Detector.fit`` on the loop's own ``TrainingSamples`` (full images at
  their native size, flips on), batch ``--batch-size``, after ``--warmup`` iterations;
- **inference img/s per scale**: ``Detector.predict`` at one scale at a time (what the
  loop runs on ``D_U`` and, at the detector's scale, on the held-out split);
- **selection s per pool size**: the core's pipeline (candidates, Eq. 4 scores,
  scale-aware selection with the COCO budget) on a simulated COCO-like pool
  (``bench_selection.bench_pool``) of each size in ``--pool-sizes``.

On CUDA, training and inference run with AMP off and on (``--amp both``): training
through the training loop's ``amp`` option, inference under ``torch.autocast`` (float16;
``predict`` itself runs in float32 today, so the AMP inference figure is what it would
gain). Detector settings are the shipped configs' (``paper_coco``/``paper_cityscapes``:
Faster R-CNN defaults, ImageNet backbone). Without cached ImageNet weights the backbone
is built with random weights but the same trainable layers (3) as a pretrained one, which
trains at the same speed up to the frozen batch norms. Throughput does not depend on the
weights' values. Everything a figure depends on is written beside it in the JSON.

Timings are only meaningful on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_selection import bench_pool  # noqa: E402
from mural.data.coco import CocoDataset  # noqa: E402
from mural.data.pool import LabeledPool  # noqa: E402
from mural.data.samples import TrainingSamples  # noqa: E402
from mural.data.synthetic import make_synthetic  # noqa: E402
from mural.detector import build_detector, known_backbones  # noqa: E402
from mural.errors import ConfigError  # noqa: E402

#: The paper's protocols (§5.1): image size (H, W), the three scales, the detector's scale.
PROTOCOLS: dict[str, dict[str, Any]] = {
    "coco": {
        "image_size": (480, 640),
        "scales": [(480, 512), (800, 1280), (1400, 2000)],
        "detector_scale": (800, 1333),
    },
    "cityscapes": {
        "image_size": (1024, 2048),
        "scales": [(2400, 3200), (1024, 2048), (600, 1200)],
        "detector_scale": (1024, 2048),
    },
}
DEFAULT_BACKBONES = "resnet50_fpn,efficientnet_lite0_fpn"
TINY_OPTIONS = {
    "representation_size": 32,
    "fpn_channels": 16,
    "rpn_pre_nms_top_n": [100, 50],
    "rpn_post_nms_top_n": [50, 25],
    "box_batch_size_per_image": 32,
}


class Repeat(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """``n`` items cycling over ``base`` (few decoded images, many iterations)."""

    def __init__(self, base: Any, n: int) -> None:
        self.base, self.n = base, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        return self.base[i % len(self.base)]

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)


def make_images(root: Path, size: tuple[int, int], n: int) -> CocoDataset:
    side = (8, max(8, min(size) // 2))  # objects up to half the shorter side
    paths = make_synthetic(root, seed=0, n_train=n, n_val=2, image_size=size, object_size=side)
    return CocoDataset.load(paths["train"], paths["images"])


def build(backbone: str, ds: CocoDataset, scale: tuple[int, int], args: argparse.Namespace) -> Any:
    """The shipped settings; ImageNet weights when cached, else random weights."""
    kw: dict[str, Any] = dict(TINY_OPTIONS) if args.tiny else {}
    common = dict(
        backbone=backbone,
        min_size=scale[0],
        max_size=scale[1],
        class_names=ds.class_names,
        device=args.device,
        **kw,
    )
    try:
        return build_detector(
            "faster_rcnn", ds.num_classes, backbone_weights="imagenet", **common
        ), "imagenet"
    except ConfigError:
        det = build_detector(
            "faster_rcnn", ds.num_classes, backbone_weights="none", trainable_layers=3, **common
        )
        return det, "none (ImageNet weights not cached; trainable_layers=3)"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_train(det: Any, ds: CocoDataset, args: argparse.Namespace, amp: bool) -> float:
    pool = LabeledPool(ds, 0.7)
    pool.add_full_images(ds.image_ids(), cycle=0)
    samples = TrainingSamples(pool, hflip_prob=0.5, seed=0)
    bs = args.batch_size
    opts = dict(batch_size=bs, lr=1e-4, amp=amp, progress=False, workers=args.workers)
    det.fit(Repeat(samples, args.warmup * bs), epochs=1, resume=False, **opts)
    sync(args.device)
    rec = det.fit(Repeat(samples, args.train_iters * bs), epochs=1, resume=False, **opts)[-1]
    sync(args.device)
    return float(rec["images"]) / float(rec["seconds"])


def bench_infer(
    det: Any, ds: CocoDataset, scale: tuple[int, int], args: argparse.Namespace, amp: bool
) -> float:
    ids = ds.image_ids()
    ctx = (
        torch.autocast("cuda", dtype=torch.float16)
        if amp and args.device.startswith("cuda")
        else contextlib.nullcontext()
    )
    with ctx:
        det.predict(ds, ids[:2], [scale], batch_size=args.infer_batch_size)  # warm-up
        sync(args.device)
        n = args.infer_images
        todo = [ids[i % len(ids)] for i in range(n)]
        t0 = time.perf_counter()
        det.predict(ds, todo, [scale], batch_size=args.infer_batch_size)
        sync(args.device)
    return n / (time.perf_counter() - t0)


def machine(args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": args.device,
    }
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    return info


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"Machine: {m['processor']}, {m['cpus']} CPUs, torch {m['torch']} "
        f"({m['torch_threads']} threads), device {m['device']}"
        + (f" ({m['gpu']})" if "gpu" in m else ""),
        "",
        "| protocol | backbone | weights | AMP | train img/s | "
        + " | ".join("infer img/s @ scale " + str(i + 1) for i in range(3))
        + " |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["detector"]:
        inf = " | ".join(f"{v:.2f}" for v in r["infer_img_per_s"].values())
        lines.append(
            f"| {r['protocol']} | {r['backbone']} | {r['weights'].split(' ')[0]} | "
            f"{'on' if r['amp'] else 'off'} | {r['train_img_per_s']:.2f} | {inf} |"
        )
    lines += ["", "Scales per protocol (scale 1, 2, 3):"]
    for name, p in res["settings"]["protocols"].items():
        h, w = p["image_size"]
        lines.append(f"- {name}: {p['scales']} on {h}x{w} images")
    lines += ["", "| pool images | budget | selection s | peak MB (process) |", "|---|---|---|---|"]
    for s in res["selection"]:
        lines.append(
            f"| {s['images']:,} | {s['budget']} | {s['select_s']:.2f} | {s['peak_mb']:.0f} |"
        )
    for note in dict.fromkeys(res["notes"]):
        lines.append(f"\nNote: {note}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocols", default="coco,cityscapes")
    ap.add_argument("--backbones", default=DEFAULT_BACKBONES)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--amp", choices=("both", "on", "off"), default="both", help="CUDA only")
    ap.add_argument("--batch-size", type=int, default=4, help="training batch (paper: 4)")
    ap.add_argument("--infer-batch-size", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3, help="untimed training iterations")
    ap.add_argument("--train-iters", type=int, default=20, help="timed training iterations")
    ap.add_argument("--infer-images", type=int, default=16, help="timed images per scale")
    ap.add_argument("--images", type=int, default=8, help="distinct synthetic images")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument(
        "--pool-sizes", default="5000,10000,118287", help="simulated pool sizes (>= 5000)"
    )
    ap.add_argument("--budget", type=int, default=6000, help="selection budget (COCO: 6000)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=Path("scaling-results"))
    ap.add_argument(
        "--tiny",
        action="store_true",
        help="smoke run: 64x96 images, scales scaled down 8x, small heads, few iterations",
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    protocols = {k: dict(PROTOCOLS[k]) for k in args.protocols.split(",")}
    if args.tiny:
        args.warmup, args.train_iters, args.infer_images, args.images = 1, 2, 2, 2
        args.batch_size, args.pool_sizes, args.budget = 1, "5000", 300
        for p in protocols.values():
            p["image_size"] = (p["image_size"][0] // 8, p["image_size"][1] // 8)
            p["scales"] = [(a // 8, b // 8) for a, b in p["scales"]]
            p["detector_scale"] = (p["detector_scale"][0] // 8, p["detector_scale"][1] // 8)
    amps = [False]
    if args.device.startswith("cuda"):
        amps = {"both": [False, True], "on": [True], "off": [False]}[args.amp]
    res: dict[str, Any] = {"machine": machine(args), "settings": vars(args).copy(), "notes": []}
    res["settings"]["out"] = str(args.out)
    res["settings"]["protocols"] = {
        k: {kk: list(v) for kk, v in p.items()} for k, p in protocols.items()
    }
    res["detector"], res["selection"] = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, p in protocols.items():
            ds = make_images(Path(tmp) / name, p["image_size"], args.images)
            for backbone in args.backbones.split(","):
                if backbone not in known_backbones():
                    res["notes"].append(
                        f"backbone {backbone!r} is not registered here (known: "
                        f"{', '.join(known_backbones())}); skipped"
                    )
                    print(res["notes"][-1], flush=True)
                    continue
                for amp in amps:
                    det, weights = build(backbone, ds, p["detector_scale"], args)
                    row = {
                        "protocol": name,
                        "backbone": backbone,
                        "weights": weights,
                        "amp": amp,
                        "batch_size": args.batch_size,
                        "image_size": list(p["image_size"]),
                        "train_img_per_s": bench_train(det, ds, args, amp),
                        "infer_img_per_s": {
                            f"{a}x{b}": bench_infer(det, ds, (a, b), args, amp)
                            for a, b in p["scales"]
                        },
                    }
                    res["detector"].append(row)
                    print(json.dumps(row), flush=True)
    rng = np.random.default_rng(0)
    for n in [int(v) for v in args.pool_sizes.split(",")]:
        r = bench_pool(rng, n, args.budget)
        r["budget"] = args.budget
        res["selection"].append(r)
        print(json.dumps(r), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_scaling.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "bench_scaling.md").write_text(markdown(res))
    print(markdown(res))
    print(f"written: {args.out / 'bench_scaling.json'}, {args.out / 'bench_scaling.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
