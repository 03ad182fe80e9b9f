"""``mural convert voc|yolo|cityscapes SRC --out DIR``: write COCO JSON, one file per split."""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from .args import integer

FORMATS = ("voc", "yolo", "cityscapes")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a VOC, YOLO or Cityscapes dataset to COCO JSON",
        description=(
            "Write one COCO JSON per split of SRC (train.json, val.json, test.json; all.json "
            "when SRC defines no split) into --out, and print the images and boxes per split. "
            "file_name in the JSON is relative to SRC: use --images SRC afterwards."
        ),
    )
    p.add_argument("format", choices=FORMATS, help="layout of SRC")
    p.add_argument(
        "src",
        metavar="SRC",
        help="VOC folder holding Annotations/; YOLO folder holding data.yaml; "
        "Cityscapes root holding gtFine/ and leftImg8bit/",
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output folder for the JSON files")
    p.add_argument("--drop-difficult", action="store_true", help="voc: drop boxes marked difficult")
    p.add_argument(
        "--groups-as-crowd",
        action="store_true",
        help="cityscapes: write group objects (cargroup, ...) as iscrowd=1 instead of skipping",
    )
    p.add_argument(
        "--max-side",
        type=integer(1, what="pixels"),
        metavar="N",
        help="write copies of the images, longer side at most N pixels, under OUT/images "
        "(boxes scaled; the image root becomes OUT/images): for small CPU protocols",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the JSON files (and --max-side images) of an earlier conversion",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import convert as cv
    from ..data.convert.common import refuse_earlier_output

    with warnings.catch_warnings():  # the summary below lists them
        warnings.simplefilter("ignore", cv.ConversionWarning)
        if args.format == "voc":
            result = cv.convert_voc(args.src, None, keep_difficult=not args.drop_difficult)
        elif args.format == "yolo":
            result = cv.convert_yolo(args.src, None)
        else:
            result = cv.convert_cityscapes(args.src, None, crowd_groups=args.groups_as_crowd)
    if args.max_side is not None:
        if not args.force:  # before any image is written
            refuse_earlier_output(result, args.out)
        result = cv.shrink_result(result, args.out, args.max_side, overwrite=args.force)
    cv.save_result(result, args.out, overwrite=args.force)
    print(result.summary())
    first = next(iter(result.paths.values()), None)
    if first is not None:
        print(f"next: mural validate {first} --images {result.src}")
    return 0
