"""The pure MuRAL core: geometry, candidates, scores, selection, acquisition.

NumPy (and numba, compiled lazily on first use) only; nothing here imports torch.
"""

from .acquisition import acquire_region, known_detections, visible_fraction
from .candidates import Candidate, CandidateSet, generate_candidates, generate_candidates_batch
from .geometry import RegionFrame, as_boxes, box_iou, region_to_original, scale_factor, scaled_size
from .pipeline import PickedRegion, ScaleInput, select_regions
from .scores import REDUCTIONS, class_weights, informative_score, region_scores
from .selection import Selection, select_lazy, select_scale_aware, select_union

__all__ = [
    "REDUCTIONS",
    "Candidate",
    "CandidateSet",
    "PickedRegion",
    "RegionFrame",
    "ScaleInput",
    "Selection",
    "acquire_region",
    "as_boxes",
    "box_iou",
    "class_weights",
    "generate_candidates",
    "generate_candidates_batch",
    "informative_score",
    "known_detections",
    "region_scores",
    "region_to_original",
    "scale_factor",
    "scaled_size",
    "select_lazy",
    "select_regions",
    "select_scale_aware",
    "select_union",
    "visible_fraction",
]
