"""mural: Multi-scale Region-based Active Learning (MuRAL) for object detection.

The public API (contract §9; "contract §N" throughout the code is a section of
docs/contract.md) is importable from here and needs no deep-learning framework:
:func:`scaled_size`, :func:`generate_candidates`, :func:`informative_score`,
:func:`select_scale_aware` and :func:`acquire_region`.
"""

from importlib.metadata import PackageNotFoundError, version

from .core import (
    Candidate,
    acquire_region,
    generate_candidates,
    informative_score,
    scaled_size,
    select_scale_aware,
    select_union,
)

try:
    __version__ = version("mural")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Candidate",
    "__version__",
    "acquire_region",
    "generate_candidates",
    "informative_score",
    "scaled_size",
    "select_scale_aware",
    "select_union",
]
