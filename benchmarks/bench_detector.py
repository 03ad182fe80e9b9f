"""Detector throughput (ours vs a plain torchvision loop) and a small mAP sanity run.

    .venv/bin/python benchmarks/bench_detector.py [--backbone resnet18_fpn] [--minutes 3]

Both sides use the same network (the same backbone builder, seeded), the same images (a
synthetic set from ``mural.data.synthetic.make_synthetic``) and run in the same process:

- training images/s: ``FasterRCNNDetector.fit`` vs a bare SGD loop over torchvision's
  ``FasterRCNN`` with its own transform (``min_size = max_size = image size``);
- multi-scale inference images/s: ``predict`` at three scales vs a loop that decodes each
  image and calls the model once per scale, setting ``transform.min_size/max_size``.

Each side gets a warm-up, then ``--rounds`` alternating timed rounds; medians are printed.
Then (``--minutes`` > 0) trains a detector from random init for that long and prints its
COCO mAP on the validation split.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mural.data.coco import CocoDataset
from mural.data.synthetic import make_synthetic
from mural.detector import BackboneSpec, build_detector, register_backbone
from mural.evaluation import evaluate_coco

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.detector.helpers import FullImages

SCALES = [(96, 128), (128, 128), (192, 256)]


class SmallCNN(torch.nn.Module):
    """A 4-layer CNN, one feature map at stride 8: a detector small enough to train on CPU."""

    out_channels = 64

    def __init__(self) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        for cin, cout, stride in [(3, 32, 2), (32, 64, 2), (64, 64, 2), (64, 64, 1)]:
            layers += [
                torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                torch.nn.BatchNorm2d(cout),
                torch.nn.ReLU(inplace=True),
            ]
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"0": self.body(x)}


register_backbone(
    "bench_small_cnn", BackboneSpec(lambda state, trainable, pre: SmallCNN(), ((16, 32, 64),))
)


def plain_model(det: Any, size: int) -> torch.nn.Module:
    """torchvision's FasterRCNN with the same weights and its own resize transform."""
    import copy

    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    m = copy.deepcopy(det.model)
    c = det.config
    m.transform = GeneralizedRCNNTransform(size, size, c["image_mean"], c["image_std"])
    from torchvision.models.detection.roi_heads import RoIHeads
    from torchvision.ops.poolers import MultiScaleRoIAlign

    m.roi_heads.__class__ = RoIHeads
    m.roi_heads.box_roi_pool.__class__ = MultiScaleRoIAlign
    return m


def bench_train(det: Any, data: Any, iters: int, bs: int) -> tuple[float, float]:
    t = time.perf_counter()
    det.fit(data, epochs=1, batch_size=bs, lr=0.005, progress=False, max_iters=iters)
    ours = iters * bs / (time.perf_counter() - t)
    model = plain_model(det, 128)
    model.train()
    opt = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.005, momentum=0.9,
        weight_decay=1e-4,
    )  # fmt: skip
    loader = torch.utils.data.DataLoader(
        data, batch_size=bs, shuffle=True, collate_fn=lambda b: tuple(zip(*b, strict=True))
    )
    t = time.perf_counter()
    for i, (imgs, tgts) in enumerate(loader):
        if i >= iters:
            break
        tg = [{"boxes": x["boxes"], "labels": x["labels"]} for x in tgts]
        loss = sum(model(list(imgs), tg).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    plain = iters * bs / (time.perf_counter() - t)
    return ours, plain


@torch.inference_mode()
def bench_predict(det: Any, ds: CocoDataset, n: int) -> tuple[float, float]:
    ids = ds.image_ids()[:n]
    t = time.perf_counter()
    det.predict(ds, ids, SCALES, batch_size=4, score_threshold=0.05)
    ours = n / (time.perf_counter() - t)
    model = plain_model(det, 128).eval()
    t = time.perf_counter()
    for i in ids:
        with Image.open(ds.image_path(i)) as im:
            arr = np.asarray(im.convert("RGB"))
        img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255
        for lo, hi in SCALES:
            model.transform.min_size, model.transform.max_size = (lo,), hi
            model([img])
    plain = n / (time.perf_counter() - t)
    return ours, plain


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18_fpn")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--map-backbone", default="bench_small_cnn", help="backbone of the mAP run")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds (median reported)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument(
        "--cpu-small",
        action="store_true",
        help="the demo's CPU settings (64-channel FPN, 256-wide head, fewer proposals/RoIs)",
    )
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="mural-bench-"))
    paths = make_synthetic(
        work / "synth", seed=0, n_train=200, n_val=50, image_size=(128, 128),
        objects_per_image=(1, 4), object_size=(16, 48), num_classes=2, tail_ratio=1.0,
        overwrite=True,
    )  # fmt: skip
    train = CocoDataset.load(paths["train"], paths["images"])
    val = CocoDataset.load(paths["val"], paths["images"])
    cfg: dict[str, Any] = {
        "backbone": a.backbone,
        "min_size": 128,
        "max_size": 128,
        "device": "cpu",
    }
    if a.cpu_small:  # as src/mural/configs/demo.yaml
        cfg.update(
            representation_size=256,
            fpn_channels=64,
            rpn_pre_nms_top_n=(1000, 500),
            rpn_post_nms_top_n=(500, 300),
            box_batch_size_per_image=128,
        )
    print(
        f"torch threads: {torch.get_num_threads()}, backbone {a.backbone}"
        f"{' (cpu-small settings)' if a.cpu_small else ''}, 128x128 images"
    )
    if not a.skip_speed:
        speed(a, cfg, train, val)
    if a.minutes > 0:
        sanity_map(a, dict(cfg, backbone=a.map_backbone, representation_size=256), train, val)


def speed(a: Any, cfg: dict[str, Any], train: CocoDataset, val: CocoDataset) -> None:
    det = build_detector("faster_rcnn", train.num_classes, seed=0, **cfg)
    bench_train(det, FullImages(train), 2, a.batch_size)  # warm-up, both sides
    runs = [bench_train(det, FullImages(train), a.iters, a.batch_size) for _ in range(a.rounds)]
    ours, plain = (float(np.median(v)) for v in zip(*runs, strict=True))
    print(f"train   images/s: ours {ours:.2f}  plain {plain:.2f}  ratio {ours / plain:.2f}x")
    bench_predict(det, val, 4)
    runs = [bench_predict(det, val, a.images) for _ in range(a.rounds)]
    ours, plain = (float(np.median(v)) for v in zip(*runs, strict=True))
    print(
        f"predict images/s (3 scales): ours {ours:.2f}  plain {plain:.2f}  "
        f"ratio {ours / plain:.2f}x"
    )


def sanity_map(a: Any, cfg: dict[str, Any], train: CocoDataset, val: CocoDataset) -> None:
    """Train from random init for about ``a.minutes`` and print the val mAP."""
    data = FullImages(train)
    iters_per_epoch = (len(data) + a.batch_size - 1) // a.batch_size
    probe = build_detector("faster_rcnn", train.num_classes, seed=0, **cfg)
    t0 = time.perf_counter()
    probe.fit(data, epochs=1, batch_size=a.batch_size, progress=False, max_iters=3)
    per_iter = (time.perf_counter() - t0) / 3
    epochs = max(2, round(a.minutes * 60 / (per_iter * iters_per_epoch)))
    det = build_detector("faster_rcnn", train.num_classes, seed=0, **cfg)
    t0 = time.perf_counter()
    det.fit(data, epochs=epochs, batch_size=a.batch_size, lr=0.02, progress=False)
    took = (time.perf_counter() - t0) / 60
    m = evaluate_coco(val, det.predict(val, scales=[(128, 128)], batch_size=4))
    print(
        f"{cfg['backbone']}: mAP after {epochs} epochs x {iters_per_epoch} it ({took:.1f} min, "
        f"random init, {len(data)} train / {len(val)} val images): AP {m['AP']:.3f}  "
        f"AP50 {m['AP50']:.3f}"
    )
    print({k: round(v, 3) for k, v in m.items() if k.startswith("AP/")})


if __name__ == "__main__":
    main()
