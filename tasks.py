#!/usr/bin/env python3
"""One-command set-up and tasks for mural, needing only Python >= 3.10 and pip.

    python3 tasks.py demo    # create .venv, install mural[torch], run the main job
    python3 tasks.py test    # create .venv, install mural[torch,dev], lint, type-check, test
    python3 tasks.py bench   # the selection-core benchmark (benchmarks/bench_selection.py)
    python3 tasks.py integration  # real Label Studio + datumaro (tests/integration/real_tools.py)
    python3 tasks.py results bccd|vehicles [--out DIR] [mural compare options]
                                  # the CPU comparison of docs/results.md on the shared data

``integration`` is opt-in (not part of ``test``): it installs Label Studio 1.23 and
datumaro, each in its own virtual environment under ``.integration/`` (once, a few minutes),
starts Label Studio on 127.0.0.1, runs two annotation rounds and the CVAT/COCO round trip,
and stops the server.

The virtual environment lives in ``.venv`` beside this file and is (re)installed only
when ``pyproject.toml`` changes. Extra arguments after the task go to the command it runs
(``python3 tasks.py test -k candidates``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".mural-install-stamp"


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    rc = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if rc != 0:
        sys.exit(rc)


def ensure_env(extras: str) -> None:
    """Create ``.venv`` and install mural with ``extras`` unless already up to date."""
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    want = f"{digest} {extras}"
    have = STAMP.read_text().split("\n") if STAMP.exists() else []
    if want in have:
        return
    _run(PY, "-m", "pip", "install", "--upgrade", "pip")
    _run(PY, "-m", "pip", "install", "-e", f".[{extras}]")
    STAMP.write_text("\n".join([*have, want]))


#: ``tasks.py results NAME``: (converter, source under the shared datasets folder, config)
RESULTS = {
    "bccd": ("voc", "bccd/BCCD", "bccd_cpu", 256),
    "vehicles": (
        "yolo",
        "vehicles_openimages/Vehicles-OpenImages.v1-416x416.yolov8",
        "vehicles_cpu",
    ),
}


def results(rest: list[str]) -> None:
    """Convert a shared dataset at the protocol's size (once) and run its CPU comparison."""
    if not rest or rest[0] not in RESULTS:
        print(f"usage: python3 tasks.py results {'|'.join(RESULTS)} [--out DIR] [options]")
        sys.exit(2)
    name, rest = rest[0], rest[1:]
    out = Path("results") / name
    if "--out" in rest:
        i = rest.index("--out")
        out = Path(rest[i + 1])
        rest = rest[:i] + rest[i + 2 :]
    shared = Path(os.environ.get("MURAL_SHARED", ROOT.parent / "shared"))
    fmt, src, config, side = RESULTS[name]
    data = out / "data"
    if not (data / "train.json").exists():
        _run(
            BIN / "mural",
            "convert",
            fmt,
            shared / "datasets" / src,
            "--out",
            data,
            "--max-side",
            str(side),
        )
    paths = [
        f"dataset.{key}={data / file}"
        for key, file in (
            ("train", "train.json"),
            ("train_images", "images"),
            ("val", "val.json"),
            ("val_images", "images"),
        )
    ]
    strategies = (
        []
        if any(a.startswith("--strateg") for a in rest)
        else ["--strategies", "mural,random,uncertainty"]
    )
    _run(BIN / "mural", "compare", config, *strategies, "--out", out / "comparison", *rest, *paths)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "test", "bench", "integration", "results"}:
        print(__doc__)
        sys.exit(2)
    task, rest = argv[0], argv[1:]
    if task == "demo":
        ensure_env("torch")
        _run(BIN / "mural", "demo", *rest)
    elif task == "results":
        ensure_env("torch")
        results(rest)
    elif task == "integration":
        ensure_env("torch,dev")
        _run(PY, "tests/integration/real_tools.py", *rest)
    elif task == "bench":
        ensure_env("torch,dev")
        _run(PY, "benchmarks/bench_selection.py", *rest)
    else:
        ensure_env("torch,dev")
        _run(PY, "-m", "ruff", "check", "src", "tests", "benchmarks", "tasks.py")
        _run(PY, "-m", "ruff", "format", "--check", "src", "tests", "benchmarks", "tasks.py")
        _run(PY, "-m", "mypy")
        _run(PY, "-m", "pytest", *rest)


if __name__ == "__main__":
    main(sys.argv[1:])
