#!/usr/bin/env python3
"""One-command set-up and tasks for mural, needing only Python >= 3.10 and pip.

    python3 tasks.py demo    # create .venv, install mural[torch], run the main job
    python3 tasks.py test    # create .venv, install mural[torch,dev], lint, type-check, test
    python3 tasks.py bench   # the selection-core benchmark (benchmarks/bench_selection.py)
    python3 tasks.py integration  # real Label Studio + datumaro (tests/integration/real_tools.py)

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


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "test", "bench", "integration"}:
        print(__doc__)
        sys.exit(2)
    task, rest = argv[0], argv[1:]
    if task == "demo":
        ensure_env("torch")
        _run(BIN / "mural", "demo", *rest)
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
