"""``mural select``: MuRAL region selection from any detector's COCO results files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..config import DEFAULT_SCORE_THRESHOLD
from .args import mean_color, number, seed


def register(sub: Any) -> None:
    p = sub.add_parser(
        "select",
        help="select regions to annotate from a detector's predictions (bring your own)",
        description=(
            "Run MuRAL's selection (region candidates, informative scores, scale-aware "
            "selection) on COCO results files of any detector, one per scale, and write "
            "OUT/selection.json. Repeat --predictions/--scale(/--coords) once per scale."
        ),
    )
    p.add_argument("--dataset", required=True, metavar="COCO.json", help="COCO JSON of the images")
    p.add_argument(
        "--images", metavar="DIR", default=None, help="image folder (default: beside the JSON)"
    )
    p.add_argument(
        "--predictions",
        action="append",
        required=True,
        metavar="RESULTS.json",
        help="COCO results file of one scale ([{image_id, category_id, bbox, score}])",
    )
    p.add_argument(
        "--scale",
        action="append",
        required=True,
        metavar="MIN,MAX",
        help="the scale of the matching --predictions, e.g. 480,512",
    )
    p.add_argument(
        "--coords",
        action="append",
        choices=["original", "scaled"],
        default=None,
        help="pixels of the matching --predictions (default original; give once for all)",
    )
    p.add_argument(
        "--pool",
        metavar="DIR",
        default=None,
        help="labelled pool folder (default: nothing labelled)",
    )
    p.add_argument(
        "--budget",
        type=number(0, low_open=True, what="objects"),
        required=True,
        help="budget B in objects (> 0)",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="folder for selection.json")
    where.add_argument(
        "--project",
        metavar="DIR",
        help=(
            "project folder for every round (see mural export --project): writes "
            "DIR/rounds/round-<cycle>/selection.json, and --export tasks beside it"
        ),
    )
    p.add_argument(
        "--score-threshold",
        type=number(0, 1),
        default=DEFAULT_SCORE_THRESHOLD,
        help="detections with a lower score take no part (default %(default)s: the "
        "detector's own, as detector.score_threshold of mural run)",
    )
    p.add_argument(
        "--visible-threshold", type=number(0, 1, low_open=True, high_open=True), default=0.7
    )
    p.add_argument("--reduce", choices=["mean", "max", "random"], default="mean")
    p.add_argument("--no-class-weighting", action="store_true", help="Eq. 2 instead of Eq. 4")
    p.add_argument("--no-scale-aware", action="store_true", help="union ablation")
    p.add_argument(
        "--cost",
        choices=["auto", "predictions", "ground-truth"],
        default="auto",
        help="what a region costs (auto: ground truth when the images have some)",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--export",
        default=None,
        metavar="FORMATS",
        help="also export tasks (comma list of label-studio,cvat,coco) into OUT/tasks",
    )
    p.add_argument("--mean-color", default=None, metavar="R,G,B", help="crop padding colour")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.coco import CocoDataset
    from ..data.pool import LabeledPool
    from ..errors import ConfigError
    from ..human.predictions import PredictionFile, load_predictions, parse_scale
    from ..human.select import select_from_predictions
    from ..selection import SelectionResult, write_selection

    # Every input is checked before anything is written (the previous selection.json
    # stays as it was when one is bad).
    formats, mean_color = _export_args(args)
    n = len(args.predictions)
    if len(args.scale) != n:
        raise ConfigError(
            f"give one --scale per --predictions ({n} files, {len(args.scale)} scales)"
        )
    coords = args.coords or ["original"]
    if len(coords) == 1:
        coords = coords * n
    if len(coords) != n:
        raise ConfigError(f"give --coords once (for all) or once per --predictions ({n})")
    ds = CocoDataset.load(args.dataset, args.images, check_images=False)
    files = [
        PredictionFile(Path(f), parse_scale(s), c)
        for f, s, c in zip(args.predictions, args.scale, coords, strict=True)
    ]
    dets = load_predictions(files, ds)
    pool = LabeledPool.load(args.pool, ds) if args.pool else None
    sel = select_from_predictions(
        ds,
        dets,
        args.budget,
        pool=pool,
        score_threshold=args.score_threshold,
        visible_threshold=args.visible_threshold,
        reduce=args.reduce,
        class_weighting=not args.no_class_weighting,
        scale_aware=not args.no_scale_aware,
        cost=args.cost,
        seed=args.seed,
    )
    doc = SelectionResult.from_json(sel)
    doc.inputs = {
        "pool": str(Path(args.pool).resolve()) if args.pool else None,
        "predictions": [
            {"path": str(f.path.resolve()), "scale": list(f.scale), "coords": f.coords}
            for f in files
        ],
    }
    if args.project:
        from ..human.tasks import ensure_project, round_dir

        ensure_project(args.project)
        out = round_dir(args.project, doc.cycle)
        tasks_dir = out
    else:
        out = Path(args.out)
        tasks_dir = out / "tasks"
    write_selection(out / "selection.json", doc)
    print(_summary(sel))
    print(f"wrote {out / 'selection.json'}")
    if formats:
        from ..human.export import export_tasks

        export_tasks(
            out / "selection.json",
            tasks_dir,
            formats=formats,
            dataset=ds,
            mean_color=mean_color,
            project=args.project,
        )
        print(f"exported {len(sel['regions'])} tasks to {tasks_dir}")
    return 0


def _export_args(args: argparse.Namespace) -> tuple[list[str], list[float] | None]:
    """``--export`` formats and ``--mean-color``, checked (a bad one raises ConfigError)."""
    from ..errors import ConfigError
    from ..human.export import FORMATS

    formats: list[str] = []
    if args.export:
        formats = [f.strip() for f in args.export.split(",") if f.strip()]
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise ConfigError(
                f"--export: unknown format {(bad or [args.export])[0]!r}; "
                f"known: {', '.join(FORMATS)} (a comma list)"
            )
    mc = None if args.mean_color is None else mean_color(args.mean_color)
    return formats, mc


def _summary(sel: dict[str, Any]) -> str:
    lines = [
        f"selected {len(sel['regions'])} regions, budget {sel['budget']:g}, "
        f"spent {sel['spent']} objects (cost: {sel['cost']})"
    ]
    for r in sel["regions"]:
        cost = f"cost {r['cost']}, " if "cost" in r else ""
        lines.append(
            f"  {r['task_id']}: image {r['image_id']} scale {tuple(r['scale'])} window "
            f"{r['window']} score {r['score']:.4f} {cost}estimated cost {r['estimated_cost']}"
        )
    return "\n".join(lines)
