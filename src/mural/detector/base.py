"""The detector interface and the registry of detectors by name.

A detector is trained on a torch ``Dataset`` of training samples (the format of
:class:`mural.data.samples.TrainingSamples`) and predicts :class:`mural.detections.Detections`
for images of a :class:`mural.data.coco.CocoDataset` at several scales.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..detections import DEFAULT_SCORE_THRESHOLD
from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ..data.coco import CocoDataset
    from ..detections import Detections

__all__ = [
    "CHECKPOINT_FORMAT",
    "Detector",
    "build_detector",
    "detector_class",
    "known_detectors",
    "register_detector",
]

#: ``format`` key of a saved detector file.
CHECKPOINT_FORMAT = "mural-detector/1"

_DETECTORS: dict[str, type[Detector]] = {}
D = TypeVar("D", bound="type[Detector]")


class Detector(ABC):
    """An object detector the active-learning cycle trains and queries.

    Subclasses are registered with :func:`register_detector` and built by name with
    :func:`build_detector`. Labels are ``0..C-1`` in :meth:`predict`'s output and
    ``1..C`` in training targets (torchvision's convention, ``0`` = background).
    """

    name: ClassVar[str] = ""
    num_classes: int

    @abstractmethod
    def fit(
        self,
        train_dataset: Any,
        *,
        epochs: int = 20,
        out_dir: str | os.PathLike[str] | None = None,
        resume: bool = True,
        **options: Any,
    ) -> list[dict[str, float]]:
        """Train on ``train_dataset``; return one record per epoch (loss, lr, time)."""

    @abstractmethod
    def predict(
        self,
        dataset: CocoDataset,
        image_ids: Sequence[int] | None = None,
        scales: Sequence[Sequence[int]] | None = None,
        *,
        batch_size: int = 2,
        workers: int = 0,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        out_path: str | os.PathLike[str] | None = None,
        progress: bool = False,
    ) -> Detections:
        """Detections of ``image_ids`` (default: all) at every scale of ``scales``, those
        with ``score >= score_threshold``; also written to ``out_path`` when given (by
        rank 0 alone under ``torchrun``); ``progress`` shows a progress bar."""

    def predict_views(
        self,
        dataset: CocoDataset,
        image_ids: Sequence[int],
        transform: str = "none",
        *,
        seed: int = 0,
        scale: Sequence[int] | None = None,
        batch_size: int = 2,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        reference: Sequence[NDArray[Any]] | None = None,
    ) -> list[dict[str, NDArray[Any]]]:
        """Predictions on a transformed view of each image, for the model-based baselines.

        Per image of ``image_ids``, a dict: ``boxes`` ``(K, 4)`` float64 xyxy in the
        *original* image's pixels; ``scores`` ``(K,)``; ``labels`` ``(K,)`` int64
        ``0..C-1``; ``probs`` ``(K, C + 1)`` the detection's softmax class probabilities,
        background last; ``proposals`` ``(K, 4)`` the RPN proposal each box was regressed
        from (original pixels). ``transform``: ``"none"``, ``"hflip"``, ``"color:<f>"``
        (brightness and contrast times ``f``), ``"noise:<sigma>"`` (Gaussian pixel noise,
        ``sigma`` on the 0..255 scale, drawn from ``seed``), ``"resize:<f>"``,
        ``"cutout:<n>"``, ``"rotate:<degrees>"`` (CALD's reference augmentations; see
        :mod:`mural.detector.views`). Each view is fed at ``scale`` (``(min_size,
        max_size)``; default: the detector's own). Each dict also has ``view_boxes`` (the
        boxes in the view's pixels); ``reference`` (per image ``(R, 4)`` original-pixel
        boxes) places ``cutout``'s patches and adds ``reference_view``, those boxes mapped
        into the view. Detections with ``score > score_threshold`` are kept, as in
        :meth:`predict`.

        Detectors that cannot (the default) raise :class:`ConfigError`.
        """
        raise ConfigError(
            f"detector {self.name!r} gives no view predictions (needed by CALD, LS+C, LT/C)"
        )

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights and configuration to one file (atomically)."""

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu", **options: Any) -> Detector:
        """Read a file written by :meth:`save`, whichever registered detector wrote it,
        onto ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``); ``options``
        override the saved configuration."""
        import torch

        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: model file not found (write one with Detector.save)")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file
            raise DataError(f"{p}: not a mural detector file ({exc})") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise DataError(f"{p}: not a mural detector file (format {CHECKPOINT_FORMAT} expected)")
        name = state["name"]
        if name not in _DETECTORS:
            raise ConfigError(
                f"{p}: detector {name!r} is not registered; known: {', '.join(known_detectors())}"
            )
        klass = _DETECTORS[name]
        if cls is not Detector and not issubclass(klass, cls):
            raise DataError(f"{p}: holds a {name!r} detector, not a {cls.__name__}")
        return klass._from_state(state, device=device, **options)

    @classmethod
    def check_config(
        cls, *, backbone: str, options: Mapping[str, Any], train_options: Mapping[str, Any]
    ) -> None:
        """Refuse, before any work, a run configuration's ``detector.backbone``,
        ``detector.options`` or ``detector.train_options`` this detector would fail on
        (:class:`ConfigError` naming the key and listing the accepted ones).

        The default checks ``train_options`` against the shared training loop's options
        (:data:`mural.detector.training.CONFIG_KEYS`) and accepts any backbone and option.
        """
        from .training import check_config_train_options

        check_config_train_options(train_options)

    @classmethod
    @abstractmethod
    def _from_state(cls, state: dict[str, Any], **options: Any) -> Detector:
        """Rebuild a detector from the dictionary :meth:`save` wrote."""


def register_detector(name: str) -> Callable[[D], D]:
    """Class decorator: make a :class:`Detector` subclass buildable by ``name``."""

    def deco(klass: D) -> D:
        if not (isinstance(klass, type) and issubclass(klass, Detector)):
            raise TypeError("register_detector decorates Detector subclasses")
        klass.name = name
        _DETECTORS[name] = klass
        return klass

    return deco


def known_detectors() -> list[str]:
    """Registered detector names, sorted."""
    return sorted(_DETECTORS)


def detector_class(name: str) -> type[Detector]:
    """The class registered as ``name``; an unknown name raises :class:`ConfigError`
    listing the known ones."""
    if name not in _DETECTORS:
        raise ConfigError(f"detector: unknown name {name!r}; known: {', '.join(known_detectors())}")
    return _DETECTORS[name]


def build_detector(name: str, num_classes: int, **cfg: Any) -> Detector:
    """Build the detector registered as ``name`` for ``num_classes`` classes.

    Raises :class:`ConfigError` for an unknown name (listing the known ones) or a bad
    ``num_classes``.
    """
    klass = detector_class(name)
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ConfigError(f"detector: num_classes must be a positive integer, got {num_classes!r}")
    return klass(int(num_classes), **cfg)  # type: ignore[call-arg]
