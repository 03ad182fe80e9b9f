"""Learnability of the synthetic dataset: a small Faster R-CNN from random init, on CPU.

Trains the same recipe twice, on 5% of ``train`` and on all of it (the same number of
iterations), and evaluates both on ``val`` with pycocotools. Not a test: run it by hand,

    .venv/bin/python benchmarks/synth_learnability.py [--data DIR] [--iters 450] [--threads 2]

and read the table it prints (also written to ``--out``/results.json). The synthetic data
pass if the full model's mAP is clearly above 0 and clearly above the 5% model's.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def build_model(
    num_classes: int, image_size: tuple[int, int], fpn_channels: int = 64, rep: int = 256
) -> torch.nn.Module:
    """ResNet-18-FPN Faster R-CNN, random init, trainable BatchNorm, small anchors."""
    from torchvision.models import resnet18
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    body = resnet18(weights=None, norm_layer=torch.nn.BatchNorm2d)
    backbone = BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[64, 128, 256, 512],
        out_channels=fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )
    anchors = AnchorGenerator(
        sizes=((8,), (16,), (32,), (64,), (128,)), aspect_ratios=((0.5, 1.0, 2.0),) * 5
    )
    side = min(image_size)
    return FasterRCNN(
        backbone,
        num_classes=None,
        min_size=side,
        max_size=max(image_size),
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=300,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, rep),
        box_predictor=FastRCNNPredictor(rep, num_classes + 1),
        box_batch_size_per_image=128,
        box_score_thresh=0.01,
        box_detections_per_img=100,
    )


def load_split(json_path: Path, images_dir: Path):
    d = json.loads(json_path.read_text())
    cats = sorted(c["id"] for c in d["categories"])
    label_of = {c: i + 1 for i, c in enumerate(cats)}
    anns: dict[int, list] = {im["id"]: [] for im in d["images"]}
    for a in d["annotations"]:
        anns[a["image_id"]].append(a)
    items = []
    for im in d["images"]:
        arr = np.asarray(Image.open(images_dir / im["file_name"]).convert("RGB"))
        img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0
        boxes = torch.tensor(
            [
                [
                    a["bbox"][0],
                    a["bbox"][1],
                    a["bbox"][0] + a["bbox"][2],
                    a["bbox"][1] + a["bbox"][3],
                ]
                for a in anns[im["id"]]
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        labels = torch.tensor(
            [label_of[a["category_id"]] for a in anns[im["id"]]], dtype=torch.int64
        )
        items.append((im["id"], img, {"boxes": boxes, "labels": labels}))
    return d, items, cats


def hflip(img: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    w = img.shape[-1]
    b = target["boxes"].clone()
    b[:, [0, 2]] = w - target["boxes"][:, [2, 0]]
    return img.flip(-1), {"boxes": b, "labels": target["labels"]}


def train(model, items, iters: int, batch: int, lr: float, seed: int, log_every: int = 50):
    g = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    warm = min(100, iters // 10)

    def lr_at(it: int) -> float:
        if it < warm:
            return lr * (it + 1) / warm
        return lr * 0.5 * (1 + math.cos(math.pi * (it - warm) / max(1, iters - warm)))

    model.train()
    t0 = time.perf_counter()
    n = len(items)
    for it in range(iters):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        idx = torch.randint(0, n, (batch,), generator=g).tolist()
        flips = torch.rand(batch, generator=g).tolist()
        imgs, tgts = [], []
        for i, f in zip(idx, flips, strict=True):
            _, img, t = items[i]
            if f < 0.5:
                img, t = hflip(img, t)
            imgs.append(img)
            tgts.append(t)
        losses = model(imgs, tgts)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        if it % log_every == 0 or it == iters - 1:
            print(
                f"  it {it:5d} loss {loss.item():.3f} "
                f"({', '.join(f'{k[5:]}={v.item():.3f}' for k, v in losses.items())}) "
                f"{time.perf_counter() - t0:.0f}s",
                flush=True,
            )
    return time.perf_counter() - t0


@torch.no_grad()
def evaluate(model, val_json: Path, items, cats) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model.eval()
    results = []
    for k in range(0, len(items), 16):
        chunk = items[k : k + 16]
        outs = model([img for _, img, _ in chunk])
        for (image_id, _, _), o in zip(chunk, outs, strict=True):
            for box, score, label in zip(
                o["boxes"].tolist(), o["scores"].tolist(), o["labels"].tolist(), strict=True
            ):
                x0, y0, x1, y1 = box
                results.append(
                    {
                        "image_id": image_id,
                        "category_id": cats[label - 1],
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "score": score,
                    }
                )
    if not results:
        return {"mAP": 0.0, "AP50": 0.0}
    gt = COCO(str(val_json))
    dt = gt.loadRes(results)
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    per_class = []
    for k in range(len(cats)):
        prec = ev.eval["precision"][:, :, k, 0, -1]
        per_class.append(float(prec[prec > -1].mean()) if (prec > -1).any() else float("nan"))
    return {
        "mAP": float(ev.stats[0]),
        "AP50": float(ev.stats[1]),
        "AP_small": float(ev.stats[3]),
        "AP_medium": float(ev.stats[4]),
        "AP_large": float(ev.stats[5]),
        "AP_per_class": per_class,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="existing synthetic dataset (default: generate)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=450)
    ap.add_argument("--fpn-channels", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.05, 1.0])
    ap.add_argument("--out", type=Path, default=Path("runs/synth_learnability"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from mural.data.synthetic import make_synthetic

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        t = time.perf_counter()
        paths = make_synthetic(Path(tmp.name) / "synth", seed=args.seed)
        print(f"generated default dataset in {time.perf_counter() - t:.2f}s")
        root = paths["root"]
    else:
        root = args.data
    train_doc, train_items, cats = load_split(root / "train.json", root / "images")
    _, val_items, _ = load_split(root / "val.json", root / "images")
    size = tuple(train_doc["images"][0][k] for k in ("height", "width"))
    rows = []
    for frac in args.fractions:
        rng = np.random.default_rng(args.seed)
        n = max(1, round(frac * len(train_items)))
        subset = [train_items[i] for i in sorted(rng.choice(len(train_items), n, replace=False))]
        torch.manual_seed(args.seed)
        model = build_model(len(cats), size, args.fpn_channels)
        print(
            f"== {frac:.0%} of train: {n} images, "
            f"{sum(len(t['labels']) for _, _, t in subset)} objects",
            flush=True,
        )
        wall = train(model, subset, args.iters, args.batch, args.lr, args.seed)
        metrics = evaluate(model, root / "val.json", val_items, cats)
        epochs = args.iters * args.batch / n
        rows.append(
            {
                "fraction": frac,
                "images": n,
                "iters": args.iters,
                "batch": args.batch,
                "epochs": epochs,
                "train_s": wall,
                **metrics,
            }
        )
        print(
            f"   -> mAP {metrics['mAP']:.3f} AP50 {metrics['AP50']:.3f} "
            f"epochs {epochs:.1f} train {wall:.0f}s",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print("\nfraction images epochs train_s  mAP   AP50")
    for r in rows:
        print(
            f"{r['fraction']:8.2f} {r['images']:6d} {r['epochs']:6.1f} {r['train_s']:7.0f} "
            f"{r['mAP']:.3f} {r['AP50']:.3f}"
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
