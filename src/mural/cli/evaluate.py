"""``mural evaluate MODEL --dataset ANN.json --images DIR``: COCO metrics of a saved model."""

from __future__ import annotations

import argparse
from typing import Any

from ..detections import DEFAULT_SCORE_THRESHOLD
from ..errors import ConfigError
from .args import integer, number


def _scale(text: str) -> tuple[int, int]:
    """``--scale MIN,MAX``, checked by :func:`mural.human.predictions.parse_scale`."""
    from ..human.predictions import parse_scale

    try:
        return parse_scale(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a saved detector on a COCO dataset (pycocotools COCOeval)",
        description="Predict with a saved detector at one scale and print COCO metrics "
        "(AP, AP50, AP75, APs/APm/APl, per-class AP; NaN/null where COCOeval has no value).",
    )
    p.add_argument("model", help="model file written by Detector.save / mural train")
    p.add_argument("--dataset", required=True, help="COCO annotation JSON")
    p.add_argument("--images", default=None, help="image folder (default: the JSON's folder)")
    p.add_argument(
        "--scale",
        type=_scale,
        default=None,
        help="MIN,MAX test scale (default: the model's min_size,max_size)",
    )
    p.add_argument("--out", default=None, help="write the metrics here as JSON")
    p.add_argument("--batch-size", type=integer(1), default=2)
    p.add_argument("--workers", type=integer(0), default=0)
    p.add_argument("--score-threshold", type=number(0, 1), default=DEFAULT_SCORE_THRESHOLD)
    p.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto, the GPU if any)"
    )
    p.add_argument("--detections", default=None, help="also save the detections (.npz)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import math

    from ..data.coco import CocoDataset
    from ..detector import Detector
    from ..detector.distributed import init_distributed
    from ..evaluation import evaluate_coco, json_safe
    from ..io import atomic_write_json

    info = init_distributed()
    dataset = CocoDataset.load(args.dataset, args.images)
    det = Detector.load(args.model, device=args.device)
    scales = [args.scale] if args.scale else None
    dets = det.predict(
        dataset,
        scales=scales,
        batch_size=args.batch_size,
        workers=args.workers,
        score_threshold=args.score_threshold,
        out_path=args.detections,
    )
    if not info.is_main:
        return 0
    metrics = evaluate_coco(dataset, dets)
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        shown = "nan" if math.isnan(v) else f"{v:.4f}"
        print(f"{k:<{width}}  {shown}")
    if args.out:
        atomic_write_json(args.out, json_safe(metrics))
    return 0
