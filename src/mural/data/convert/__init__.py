"""Converters from Pascal VOC, YOLO and Cityscapes layouts to COCO detection JSON.

``convert_voc(src, out_dir)``, ``convert_yolo(src, out_dir)`` and
``convert_cityscapes(src, out_dir)`` return a :class:`ConversionResult` (a ``dict``
split -> :class:`~mural.data.coco.CocoDataset`) and, given ``out_dir``, write one
``<split>.json`` per split (``all.json`` when the source defines none). Every ``file_name``
is relative to ``src``: use ``src`` as the image root (``--images SRC``).
:func:`shrink_result` makes smaller copies of the images (``mural convert --max-side``).
"""

from .cityscapes import CITYSCAPES_DETECTION_CLASSES, convert_cityscapes
from .common import ConversionResult, ConversionWarning, save_result, shrink_result
from .voc import convert_voc
from .yolo import convert_yolo

__all__ = [
    "CITYSCAPES_DETECTION_CLASSES",
    "ConversionResult",
    "ConversionWarning",
    "convert_cityscapes",
    "convert_voc",
    "convert_yolo",
    "save_result",
    "shrink_result",
]
