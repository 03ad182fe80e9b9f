"""``mural validate ANNOTATIONS.json --images DIR``: list every problem of a COCO file."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="check a COCO detection file and its images",
        description=(
            "List every problem of a COCO detection file (JSON, keys, ids, boxes, image files). "
            "Exit 2 if there is any, else 0 with a one-line summary."
        ),
    )
    p.add_argument("annotations", metavar="ANNOTATIONS.json", help="COCO JSON file")
    p.add_argument(
        "--images",
        metavar="DIR",
        default=None,
        help="folder that file_name is relative to (default: the JSON file's folder)",
    )
    p.add_argument(
        "--no-image-check",
        action="store_true",
        help="do not open the image files (checks the JSON only)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.coco import CocoDataset, validate_coco

    problems = validate_coco(args.annotations, args.images, check_images=not args.no_image_check)
    if problems:
        for p in problems:
            print(p)
        n = len(problems)
        print(f"{args.annotations}: {n} problem{'s' if n != 1 else ''} found")
        return 2
    ds = CocoDataset.load(args.annotations, args.images, check_images=False)
    checked = "" if args.no_image_check else " (image files checked)"
    print(
        f"{args.annotations}: OK: {len(ds.images)} images, {len(ds.annotations)} annotations, "
        f"{len(ds.categories)} categories{checked}"
    )
    return 0
