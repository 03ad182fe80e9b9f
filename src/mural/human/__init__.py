"""Human in the loop: select regions from any detector's predictions, export them as
annotation tasks (Label Studio, CVAT, COCO), import the annotations into the pool.

See ``docs/human-in-the-loop.md``. Importing this package does not import torch.
"""

from .export import export_tasks, render_crop
from .importer import import_annotations, parse_annotations
from .predictions import PredictionFile, load_predictions, parse_scale, read_results
from .select import select_from_predictions

__all__ = [
    "PredictionFile",
    "export_tasks",
    "import_annotations",
    "load_predictions",
    "parse_annotations",
    "parse_scale",
    "read_results",
    "render_crop",
    "select_from_predictions",
]
