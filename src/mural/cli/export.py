"""``mural export``: selected regions as annotation tasks (Label Studio, CVAT, COCO)."""

from __future__ import annotations

import argparse
from typing import Any

from .args import mean_color


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write selected regions as annotation tasks (crops + Label Studio/CVAT/COCO)",
        description=(
            "Cut each selected region's crop and write manifest.json plus tasks for "
            "Label Studio (tasks.json, labeling_config.xml), CVAT for images 1.1 and COCO."
        ),
    )
    p.add_argument("selection", metavar="SELECTION.json", help="written by mural select")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="export folder")
    where.add_argument(
        "--project",
        metavar="DIR",
        help=(
            "project folder for every round (created): exports into DIR/rounds/round-<cycle>, crop "
            "paths relative to DIR (Label Studio's one document root)"
        ),
    )
    p.add_argument(
        "--format",
        default="label-studio,cvat,coco",
        metavar="FORMATS",
        help="comma list of label-studio, cvat, coco (default: all)",
    )
    p.add_argument("--dataset", default=None, metavar="COCO.json", help="default: as selected")
    p.add_argument("--images", default=None, metavar="DIR", help="image folder")
    p.add_argument("--mean-color", default=None, metavar="R,G,B", help="padding colour")
    p.add_argument(
        "--document-root",
        default=None,
        metavar="DIR",
        help=(
            "Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: --project, else --out)"
        ),
    )
    p.add_argument("--force", action="store_true", help="overwrite another export in the folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.coco import CocoDataset
    from ..human.export import export_tasks

    ds = CocoDataset.load(args.dataset, args.images, check_images=False) if args.dataset else None
    mc = None if args.mean_color is None else mean_color(args.mean_color)
    fm = [f.strip() for f in args.format.split(",") if f.strip()]
    man = export_tasks(
        args.selection,
        args.out,
        project=args.project,
        force=args.force,
        formats=fm,
        dataset=ds,
        mean_color=mc,
        document_root=args.document_root,
    )
    from ..human.tasks import round_dir

    out = args.out or round_dir(args.project, man["cycle"])
    print(f"exported {len(man['tasks'])} tasks ({', '.join(fm)}) to {out}")
    print(f"Label Studio document root: {man['document_root']}")
    return 0
