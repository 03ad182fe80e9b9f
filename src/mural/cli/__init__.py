"""The ``mural`` command line: a thin shell over library functions.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``func`` (called with the parsed arguments,
returning an exit code). Modules are imported when the parser is built; keep their top
level light (no torch import: import heavy things inside the command function).

Errors derived from :class:`mural.errors.MuralError` (and ``FileNotFoundError``) are
printed as one message and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import MuralError

# Sub-command modules, in the order ``mural --help`` lists them.
COMMANDS: list[str] = [
    # the active-learning loop
    "mural.cli.demo",
    "mural.cli.run",
    "mural.cli.compare",
    "mural.cli.report",
    # datasets
    "mural.cli.synth",
    "mural.cli.convert",
    "mural.cli.validate",
    "mural.cli.show_samples",
    # the detector
    "mural.cli.evaluate",
    # human in the loop, any detector
    "mural.cli.select",
    "mural.cli.export",
    "mural.cli.import_",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mural",
        description="Multi-scale Region-based Active Learning (MuRAL) for object detection.",
    )
    parser.add_argument("--version", action="version", version=f"mural {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # KEY=VALUE overrides may also follow options (``mural run C.yaml --out D a=1``).
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*(args.overrides or []), *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (MuralError, FileNotFoundError) as exc:
        print(f"mural {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mural {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
