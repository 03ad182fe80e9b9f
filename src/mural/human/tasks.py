"""Export folders, their manifests and the project folder that holds every round.

A **project folder** is Label Studio's one document root for every round::

    <project>/mural-project.json                  {"format": "mural-project", "version": 1}
    <project>/rounds/round-1/manifest.json        round 1's export (crops/, label_studio/, ...)
    <project>/rounds/round-2/manifest.json        round 2's export
    ...

Crop URLs in every round's Label Studio tasks are relative to the project folder
(``/data/local-files/?d=rounds/round-2/crops/<task_id>.png``), so one Label Studio
project with one local-files storage on ``<project>/rounds`` serves every round's crops
(Label Studio refuses a storage path equal to the document root, hence the subfolder).

This module reads and checks manifests (task ids, crop paths, windows) so the exporter and
the importer trust the same thing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import DataError
from ..io import atomic_write_json, read_json

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "PROJECT_FILE",
    "PROJECT_FORMAT",
    "ROUNDS_DIR",
    "TaskIndex",
    "check_task_id",
    "ensure_project",
    "is_project",
    "load_tasks",
    "round_dir",
]

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "mural-tasks"
PROJECT_FILE = "mural-project.json"
PROJECT_FORMAT = "mural-project"
#: The folder of a project holding every round (Label Studio's local-files storage path).
ROUNDS_DIR = "rounds"
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def check_task_id(task_id: Any, where: str) -> str:
    """A task id usable as a file name: letters, digits, ``_ . -``; no ``/``, no ``..``."""
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id) or ".." in task_id:
        raise DataError(
            f"{where}: field 'task_id' {task_id!r} is not a safe file name (fix: letters, "
            "digits, '_', '.', '-' only, not starting with '.', no '..')"
        )
    return task_id


def _check_crop(crop: Any, where: str) -> str:
    p = PurePosixPath(crop) if isinstance(crop, str) else None
    if p is None or p.is_absolute() or ".." in p.parts or "\\" in str(crop) or not p.parts:
        raise DataError(
            f"{where}: field 'crop' {crop!r} must be a relative path inside the export folder "
            "(fix: re-export with mural export)"
        )
    return str(crop)


def round_dir(project: str | os.PathLike[str], cycle: int) -> Path:
    """The export folder of round ``cycle`` in a project folder."""
    return Path(project) / ROUNDS_DIR / f"round-{int(cycle)}"


def is_project(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / PROJECT_FILE).is_file()


def ensure_project(project: str | os.PathLike[str]) -> Path:
    """Create (or check) a project folder; refuse a non-empty folder that is not one."""
    p = Path(project)
    if p.exists() and not p.is_dir():
        raise DataError(f"{p}: --project must be a folder, not a file")
    if p.is_dir() and not is_project(p) and any(p.iterdir()):
        raise DataError(
            f"{p}: not a mural project folder (no {PROJECT_FILE}) and not empty (fix: give a "
            "new or empty folder for --project)"
        )
    if not is_project(p):
        atomic_write_json(p / PROJECT_FILE, {"format": PROJECT_FORMAT, "version": 1})
    else:
        doc = read_json(p / PROJECT_FILE)
        if not isinstance(doc, dict) or doc.get("format") != PROJECT_FORMAT:
            raise DataError(f"{p / PROJECT_FILE}: field 'format' must be {PROJECT_FORMAT!r}")
    return p


@dataclass
class TaskIndex:
    """Every task of one export folder or of every round of a project folder."""

    manifests: list[Path] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task id -> manifest task
    by_crop: dict[str, str] = field(default_factory=dict)  # crop file name -> task id
    cycle: dict[str, int] = field(default_factory=dict)  # task id -> its round's cycle
    header: dict[str, Any] = field(default_factory=dict)  # the latest manifest's top level

    def find(self, ref: str) -> dict[str, Any] | None:
        tid = ref if ref in self.tasks else self.by_crop.get(ref)
        return None if tid is None else self.tasks[tid]


def _read_manifest(path: Path) -> dict[str, Any]:
    man = read_json(path)
    if not isinstance(man, dict) or man.get("format") != MANIFEST_FORMAT:
        raise DataError(f"{path}: not a mural export manifest (field 'format')")
    if not isinstance(man.get("tasks"), list):
        raise DataError(f"{path}: field 'tasks' must be a list")
    try:
        int(man["cycle"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}: field 'cycle' must be an integer") from None
    for k, t in enumerate(man["tasks"]):
        where = f"{path}: tasks[{k}]"
        if not isinstance(t, dict):
            raise DataError(f"{where}: must be an object")
        check_task_id(t.get("task_id"), where)
        _check_crop(t.get("crop"), where)
        try:
            int(t["image_id"])
            h, w = (int(v) for v in t["crop_size"])
            if h <= 0 or w <= 0:
                raise ValueError
            win = [int(v) for v in t["window"]]
            if len(win) != 4 or win[2] - win[0] != w or win[3] - win[1] != h:
                raise ValueError
            [float(v) for v in t["scale"]]
            int(t["scale_index"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{where}: fields 'image_id', 'crop_size' [H, W], 'window' (of the crop's "
                "size), 'scale' and 'scale_index' must be valid (fix: re-export with mural export)"
            ) from None
    return man


def load_tasks(path: str | os.PathLike[str]) -> TaskIndex:
    """The tasks of a ``manifest.json``, an export folder, or a project folder (every round).

    Raises :class:`DataError` for a malformed manifest, an unsafe task id or crop path, or
    a task id that two rounds both use.
    """
    p = Path(path)
    if p.is_dir() and is_project(p):
        files = sorted(
            p.glob(f"{ROUNDS_DIR}/round-*/{MANIFEST_FILE}"),
            key=lambda f: (len(f.parent.name), f.parent.name),
        )
        if not files:
            raise DataError(f"{p}: a project folder with no exported round yet")
    else:
        files = [p / MANIFEST_FILE if p.is_dir() else p]
    idx = TaskIndex()
    for f in files:
        man = _read_manifest(f)
        idx.manifests.append(f)
        idx.header = man
        for t in man["tasks"]:
            tid = t["task_id"]
            old = idx.tasks.get(tid)
            if old is not None and (old["image_id"], old["scale"], old["window"]) != (
                t["image_id"],
                t["scale"],
                t["window"],
            ):
                raise DataError(
                    f"{f}: task {tid} is also in an earlier round's manifest, for another region"
                )
            # the same region selected again (it was still pending): the later round's task
            idx.tasks[tid] = t
            idx.cycle[tid] = int(man["cycle"])
            idx.by_crop[PurePosixPath(t["crop"]).name] = tid
    return idx
