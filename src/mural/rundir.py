"""The layout of a run folder, in one place (the loop writes it; reports and the demo read it).

::

    RUN_DIR/config.yaml              the resolved configuration (one seed)
    RUN_DIR/metrics.jsonl            one line per finished cycle
    RUN_DIR/timings.jsonl            wall seconds of each stage this folder ran
    RUN_DIR/initial_pool/            D_L before the first cycle
    RUN_DIR/data/                    a synthetic dataset, unless dataset.synthetic_dir
    RUN_DIR/cycle_CC/model.pt        train     (train/ holds its checkpoints)
    RUN_DIR/cycle_CC/metrics.json    evaluate
    RUN_DIR/cycle_CC/detections.npz  infer
    RUN_DIR/cycle_CC/selection.json  select
    RUN_DIR/cycle_CC/pool/           acquire   (D_L of cycle CC + 1)
    RUN_DIR/seed_S/                  one such folder per seed of a multi-seed config

Only the standard library is imported here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STAGES", "STAGE_FILES", "STAGE_OF_FILE", "RunDir"]

#: Stage names, in order, with the file (or folder) whose existence marks each done.
STAGES = ("train", "evaluate", "infer", "select", "acquire")
STAGE_FILES = {
    "train": "model.pt",
    "evaluate": "metrics.json",
    "infer": "detections.npz",
    "select": "selection.json",
    "acquire": "pool",
}
#: The stage that writes each file (``initial_pool`` included).
STAGE_OF_FILE = {v: k for k, v in STAGE_FILES.items()} | {"initial_pool": "initial"}
_CYCLE = re.compile(r"cycle_(\d+)")


@dataclass(frozen=True)
class RunDir:
    """One run's folder; every path of the layout above is a method or property here."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    # -- run level --------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics_log(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def timings(self) -> Path:
        return self.root / "timings.jsonl"

    @property
    def initial_pool(self) -> Path:
        return self.root / "initial_pool"

    @property
    def data(self) -> Path:
        """Where a synthetic dataset is generated unless ``dataset.synthetic_dir`` is set."""
        return self.root / "data"

    def seed(self, seed: int) -> RunDir:
        """The folder of one seed of a multi-seed run."""
        return RunDir(self.root / f"seed_{seed}")

    def is_run(self) -> bool:
        """Whether the folder holds a run that finished a cycle (``metrics.jsonl``)."""
        return self.metrics_log.is_file()

    def cycles(self) -> list[int]:
        """The cycles that have a folder, ascending."""
        out = []
        for d in self.root.glob("cycle_*"):
            m = _CYCLE.fullmatch(d.name)
            if m and d.is_dir():
                out.append(int(m.group(1)))
        return sorted(out)

    # -- cycle level ------------------------------------------------------------------
    def cycle(self, c: int) -> Path:
        return self.root / f"cycle_{c:02d}"

    def stage(self, c: int, stage: str) -> Path:
        """The file (or folder) whose existence marks ``stage`` of cycle ``c`` done."""
        return self.cycle(c) / STAGE_FILES[stage]

    def model(self, c: int) -> Path:
        return self.stage(c, "train")

    def train_dir(self, c: int) -> Path:
        """Cycle ``c``'s training checkpoints."""
        return self.cycle(c) / "train"

    def metrics(self, c: int) -> Path:
        return self.stage(c, "evaluate")

    def detections(self, c: int) -> Path:
        return self.stage(c, "infer")

    def selection(self, c: int) -> Path:
        return self.stage(c, "select")

    def acquired_pool(self, c: int) -> Path:
        """D_L after cycle ``c``'s acquisition."""
        return self.stage(c, "acquire")

    def pool(self, c: int) -> Path:
        """The D_L that cycle ``c`` trains on: the initial pool, then the previous
        cycle's acquired pool."""
        return self.initial_pool if c == 0 else self.acquired_pool(c - 1)

    def finished(self, c: int, last_cycle: int) -> bool:
        """Whether cycle ``c`` is finished (its last stage's file exists: ``pool/``, or
        ``metrics.json`` for the run's last cycle)."""
        return (self.metrics(c) if c == last_cycle else self.acquired_pool(c)).exists()
