"""``mural import``: human annotations of exported regions into the labelled pool."""

from __future__ import annotations

import argparse
from typing import Any

from .args import integer, number


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import",
        help="merge annotations from Label Studio / CVAT / COCO into the labelled pool",
        description=(
            "Read a tool's export (Label Studio JSON, CVAT for images 1.1 XML, COCO), map "
            "the boxes back to their regions, validate everything, then merge into the pool "
            "folder. Nothing is written when any problem is found; importing twice changes "
            "nothing."
        ),
    )
    p.add_argument("annotations", metavar="FILE", help="the annotation tool's export")
    p.add_argument(
        "--tasks",
        required=True,
        metavar="DIR",
        help="export folder (manifest.json), or a project folder (every round's tasks)",
    )
    p.add_argument("--pool", required=True, metavar="DIR", help="pool folder (created if absent)")
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "label-studio", "cvat", "coco"],
    )
    p.add_argument("--dataset", default=None, metavar="COCO.json", help="default: as exported")
    p.add_argument("--images", default=None, metavar="DIR", help="image folder")
    p.add_argument(
        "--cycle",
        type=integer(0, what="a cycle number"),
        default=None,
        help="cycle to record (default: selection's)",
    )
    p.add_argument(
        "--tolerance",
        type=number(0, what="crop pixels"),
        default=1.0,
        help="how far (crop pixels) a box may pass the crop's edge (default 1.0)",
    )
    p.add_argument("--no-gt-match", action="store_true", help="never link boxes to ground truth")
    p.add_argument(
        "--skip-empty",
        action="store_true",
        help="a task with no box is not annotated yet (default: a region with no objects)",
    )
    p.add_argument(
        "--done",
        default=None,
        metavar="all|TASK,...",
        help=(
            "CVAT and COCO: the tasks a person finished (task ids or crop file names), or "
            "'all'; the file's other images stay pending (Label Studio's export says itself)"
        ),
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.coco import CocoDataset
    from ..human.importer import import_annotations
    from ..io import folder_lock, remove_stale_temps

    ds = CocoDataset.load(args.dataset, args.images, check_images=False) if args.dataset else None
    # one writer per pool: a second import is refused and changes nothing
    with folder_lock(args.pool, what="pool folder"):
        remove_stale_temps(args.pool)
        rep = import_annotations(
            args.annotations,
            args.tasks,
            args.pool,
            dataset=ds,
            fmt=args.format,
            cycle=args.cycle,
            tolerance=args.tolerance,
            match_gt=not args.no_gt_match,
            skip_empty=args.skip_empty,
            done=args.done,
        )
    print(format_report(rep))
    return 0


def format_report(rep: dict[str, Any]) -> str:
    lines = [
        f"{rep['annotations']} ({rep['format']}): {rep['added']} regions added, "
        f"{rep.get('replaced', 0)} replaced (corrections), {rep['skipped']} already imported, "
        f"{len(rep['pending'])} not finished yet (left pending)"
    ]
    for t in rep["tasks"]:
        lines.append(
            f"  {t['task_id']}: {t['status']}: estimated {t['estimated_cost']}, "
            f"actual {t['boxes']} objects"
            + (f", {t['ignore']} ignore areas" if t["ignore"] else "")
        )
    if rep["pending"]:
        shown = rep["pending"][:50]
        more = f" ... and {len(rep['pending']) - 50} more" if len(rep["pending"]) > 50 else ""
        lines.append("  pending: " + ", ".join(shown) + more)
        if rep.get("pending_reason"):
            lines.append(f"  ({rep['pending_reason']})")
    if rep["added"] or rep.get("replaced"):
        lines.append(
            f"cost ({rep['cost']}): estimated {rep['estimated']} objects, "
            f"actual {rep['actual']} objects labelled"
        )
    lines.append(f"pool {rep['pool']}: " + ("updated" if rep["changed"] else "unchanged"))
    return "\n".join(lines)
