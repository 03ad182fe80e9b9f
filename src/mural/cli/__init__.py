"""The ``mural`` command line: a thin shell over library functions.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``func`` (called with the parsed arguments,
returning an exit code). Modules are imported when the parser is built; keep their top
level light (no torch import: import heavy things inside the command function).

Every failure is one line on stderr, without a traceback: errors derived from
:class:`mural.errors.MuralError` and operating-system errors (a missing file, a read-only
folder, a full disk, ``--out`` naming a file) exit with code 2; anything else is a bug in
mural, reported as one line with exit code 1 (``MURAL_TRACEBACK=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import typing
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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``mural CMD: error: ... (fix: ...)``)."""

    def error(self, message: str) -> typing.NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text} (fix: see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    except MuralError as exc:
        print(f"mural {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        pip_extra = _OPTIONAL.get((exc.name or "").split(".")[0])
        if pip_extra is None:
            return _internal_error(args.command, exc)
        print(
            f"mural {args.command}: error: this command needs {exc.name}, which is not "
            f"installed (fix: pip install 'mural[{pip_extra}]')",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"mural {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mural {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _internal_error(args.command, exc)


def _internal_error(command: str, exc: Exception) -> int:
    """A bug in mural: one line (exit 1) unless ``MURAL_TRACEBACK`` asks for the traceback."""
    if os.environ.get("MURAL_TRACEBACK"):
        raise exc
    text = " ".join(str(exc).split()) or "(no message)"
    print(
        f"mural {command}: internal error: {type(exc).__name__}: {text} (this is a bug in "
        "mural; rerun with MURAL_TRACEBACK=1 and report the traceback)",
        file=sys.stderr,
    )
    return 1


#: Optional packages -> the extra of mural that installs them.
_OPTIONAL = {"torch": "torch", "torchvision": "torch", "cityscapesscripts": "cityscapes"}

#: What to do about an operating-system error, by ``errno``.
_OS_FIXES = {
    errno.ENOSPC: "free disk space or write to another disk",
    errno.EDQUOT: "free disk space (quota exceeded) or write elsewhere",
    errno.EACCES: "check the permissions, or choose a folder you can write to",
    errno.EPERM: "check the permissions, or choose a folder you can write to",
    errno.EROFS: "the file system is read-only; choose a folder on a writable one",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; give a folder path",
    errno.EISDIR: "the path is a folder; give a file path",
    errno.EEXIST: "the path already exists; choose another one",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or use fewer workers",
}


def os_error_message(exc: OSError) -> str:
    """One line for an ``OSError``: the file, what went wrong and what to do."""
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    what = exc.strerror or str(exc) or type(exc).__name__
    fix = _OS_FIXES.get(exc.errno or -1, "check the path and the disk")
    where = " -> ".join(names) if names else "a file mural was writing or reading"
    return " ".join(f"{where}: {what} (fix: {fix})".split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
