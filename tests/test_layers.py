"""The layers of docs/architecture.md, held by the code: every ``mural`` import, module
level, inside a function or under ``TYPE_CHECKING``, goes to a layer the table allows, and
no import takes a private name (``_x``) from another layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mural"

#: unit -> the units it may import (a unit: a subpackage, or a top-level module).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "errors": set(),
    "stats": set(),
    "rundir": set(),
    "view_transforms": set(),
    "io": {"errors"},
    "summary": {"stats"},
    "config": {"errors", "detections"},
    "detections": {"core", "errors", "io"},
    "selection": {"core", "errors", "io"},
    "data": {"core", "errors", "io", "selection"},
    "evaluation": {"data", "detections", "errors"},
    "detector": {"core", "data", "detections", "errors", "io", "view_transforms"},
    # strategies see the detector through its interface (lazy imports, no torch at import)
    "strategies": {
        *("config", "core", "data", "detections", "detector", "errors", "selection"),
        "view_transforms",
    },
    "human": {
        *("config", "core", "data", "detections", "errors", "io", "selection"),
        "strategies",
    },
    "loop": {
        *("config", "data", "detections", "detector", "errors", "evaluation", "io"),
        *("rundir", "selection", "strategies"),
    },
    "report": {"core", "data", "errors", "io", "rundir", "selection", "summary", "stats"},
    "compare": {"config", "errors", "io", "loop", "report", "rundir", "summary"},
    "cli": {
        *("compare", "config", "core", "data", "detections", "detector", "errors"),
        *("evaluation", "human", "io", "loop", "report", "selection", "strategies"),
        "package",
    },
    "package": {"core", "errors"},  # mural/__init__.py: the contract API
    "__main__": {"cli"},
}

SUBPACKAGES = {"core", "data", "detector", "strategies", "human", "cli"}


def unit_of(module: str) -> str:
    """``mural.data.pool`` -> ``data``; ``mural.loop`` -> ``loop``; ``mural`` -> ``package``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    return parts[1]


def module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, imported module, names)`` of every ``mural`` import in ``path``."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            if target == "mural" or (node.level and node.module is None):
                # `from . import x` / `from mural import x`: x may be a submodule
                for name in names:
                    sub = f"{target}.{name}"
                    is_module = (SRC.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                    is_pkg = (SRC.parent / Path(*sub.split("."))).is_dir()
                    if is_module or is_pkg:
                        out.append((node.lineno, sub, []))
                    else:
                        out.append((node.lineno, target, [name]))
            elif target.split(".")[0] == "mural":
                out.append((node.lineno, target, names))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "mural":
                    out.append((node.lineno, a.name, []))
    return out


def violations(path: Path) -> list[str]:
    """Every import of ``path`` that breaks the table or takes another layer's private name."""
    here = unit_of(module_of(path))
    if path.name == "__main__.py":
        here = "__main__"
    allowed = ALLOWED[here]
    bad = []
    for line, target, names in imports_of(path):
        there = unit_of(target)
        if there == here:
            continue
        if there not in allowed:
            bad.append(f"{path.relative_to(SRC.parent)}:{line}: {here} imports {target} ({there})")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        private += [p for p in target.split(".") if p.startswith("_") and not p.startswith("__")]
        if private:
            bad.append(
                f"{path.relative_to(SRC.parent)}:{line}: {here} takes private {private} "
                f"from {target}"
            )
    return bad


def test_every_unit_is_in_the_table() -> None:
    units = {unit_of(module_of(p)) for p in SRC.rglob("*.py") if p.name != "__main__.py"}
    assert units <= set(ALLOWED), sorted(units - set(ALLOWED))
    assert SUBPACKAGES <= units


@pytest.mark.parametrize(
    "path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC.parent))
)
def test_imports_follow_the_layers(path: Path) -> None:
    assert violations(path) == []


def test_the_check_catches_an_upward_and_a_private_import(tmp_path: Path) -> None:
    """The checker itself: a core module importing the loop, and a strategy taking a
    detector's private helper, are both reported (lazy and TYPE_CHECKING imports too)."""
    fake = tmp_path / "src" / "mural"
    (fake / "core").mkdir(parents=True)
    (fake / "strategies").mkdir()
    core = fake / "core" / "bad.py"
    core.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..loop import run\n"
        "def f():\n    import mural.cli\n"
    )
    strat = fake / "strategies" / "bad.py"
    strat.write_text("def g():\n    from ..detector.views import _helper\n")
    global SRC
    saved = SRC
    SRC = fake
    try:
        got_core = violations(core)
        got_strat = violations(strat)
    finally:
        SRC = saved
    assert [v.split(": ", 1)[1] for v in got_core] == [
        "core imports mural.loop (loop)",
        "core imports mural.cli (cli)",
    ]
    assert got_strat == [
        "mural/strategies/bad.py:2: strategies takes private ['_helper'] from mural.detector.views"
    ]
