"""Datasets: COCO files (:mod:`mural.data.coco`) and converters to COCO
(:mod:`mural.data.convert`). Importing this package does not import torch."""

from .coco import (
    Annotation,
    Category,
    CocoDataset,
    ImageInfo,
    Problem,
    format_problems,
    validate_coco,
)

__all__ = [
    "Annotation",
    "Category",
    "CocoDataset",
    "ImageInfo",
    "Problem",
    "format_problems",
    "validate_coco",
]
