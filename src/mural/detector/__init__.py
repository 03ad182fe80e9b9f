"""Detectors for the active-learning cycle (needs torch and torchvision).

>>> det = build_detector("faster_rcnn", num_classes=3, backbone="resnet18_fpn")  # doctest: +SKIP
>>> det.fit(samples, epochs=20, out_dir="run/cycle0")                             # doctest: +SKIP
>>> dets = det.predict(coco, scales=[(480, 512), (800, 1280)])                    # doctest: +SKIP

See ``docs/detector.md``.
"""

from __future__ import annotations

from .backbones import (
    BackboneSpec,
    imagenet_cache_path,
    imagenet_weights_path,
    known_backbones,
    register_backbone,
)
from .base import Detector, build_detector, detector_class, known_detectors, register_detector
from .faster_rcnn import FasterRCNNDetector
from .parts import IgnoreAwareRoIHeads, IgnoreAwareRPN, NoResizeTransform, ProbRoIHeads
from .training import TrainOptions

__all__ = [
    "BackboneSpec",
    "Detector",
    "FasterRCNNDetector",
    "IgnoreAwareRPN",
    "IgnoreAwareRoIHeads",
    "NoResizeTransform",
    "ProbRoIHeads",
    "TrainOptions",
    "build_detector",
    "detector_class",
    "imagenet_cache_path",
    "imagenet_weights_path",
    "known_backbones",
    "known_detectors",
    "register_backbone",
    "register_detector",
]
