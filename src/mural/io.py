"""Files and folders mural writes: atomic writes, one writer per folder, folders it owns.

- **Atomic writes**: a temporary file in the same folder, fsync, then ``os.replace``. A
  crash (even ``kill -9``) leaves either the old file or the new one, never a torn one.
  The temporary file is created with mode ``0o666`` minus the umask, like any ``open``,
  so what mural writes is as readable as the user's other files. Its name
  (``.NAME.mural-XXXXXXXX.tmp``) is recognisable: :func:`remove_stale_temps` deletes the
  ones a killed process left, and nothing else.
- **One writer at a time**: :func:`folder_lock` holds an ``fcntl.flock`` on the folder
  for a command's life; a second process is refused with a
  :class:`~mural.errors.MuralError` (exit 2) and writes nothing.
- **Folders mural owns**: :func:`claim_folder` takes a new or empty folder (writing the
  marker ``.mural``) or one already marked; a non-empty folder that is not mural's is
  refused, so mural never deletes or overwrites files it did not create.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "MARKER_FILE",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "claim_folder",
    "folder_lock",
    "is_mural_folder",
    "read_json",
    "remove_stale_temps",
]

#: The marker of a folder mural created or took empty (JSON: ``{"mural": [kinds]}``).
MARKER_FILE = ".mural"
#: Names mural gives its temporary files and folders: ``.NAME.mural-XXXXXXXX.tmp`` (this
#: module) and ``.NAME.partial`` (a loop stage being written). The ``tempfile.mkstemp``
#: names of earlier versions (``.NAME.XXXXXXXX.tmp``) are not recognisable enough.
_TEMP_RE = re.compile(r"^\..+\.mural-[0-9a-f]{8}\.tmp$")
_PARTIAL_RE = re.compile(r"^\..+\.partial$")


def _create_temp(target: Path, binary: bool) -> tuple[int, Path]:
    """Create ``.NAME.mural-XXXXXXXX.tmp`` beside ``target`` (mode 0o666 & ~umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    if binary:
        flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.mural-{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 2**-32 per try
            continue
    raise FileExistsError(f"{target.parent}: no free temporary file name")  # pragma: no cover


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    The new file's mode follows the umask (``0o666 & ~umask``), as a plain ``open`` would.
    """
    if mode not in {"w", "wb"}:
        raise ValueError("atomic_open supports modes 'w' and 'wb'")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target, mode == "wb")
    encoding = "utf-8" if mode == "w" else None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (UTF-8, sorted keys off, trailing newline) atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a :class:`mural.errors.DataError` names the file and the position.

    Numbers are read as Python ``int``/``float`` (a huge integer stays exact; ``NaN`` and
    ``Infinity`` are accepted as JSON extensions). A document nested too deeply to read
    (a damaged or hostile file) is refused with a message, not a ``RecursionError``.
    """
    from .errors import DataError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{p}: is a folder, not a JSON file (fix: give the file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: unreadable ({exc})") from None
    return parse_json(text, p)


def parse_json(text: str, where: str | os.PathLike[str]) -> Any:
    """``json.loads`` with one-line :class:`~mural.errors.DataError` messages naming ``where``."""
    from .errors import DataError

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise DataError(
            f"{where}: JSON nested too deeply to read (fix: this is not a file mural or an "
            "annotation tool wrote; replace it)"
        ) from None


# ------------------------------------------------------------------ folders mural owns


def _entries(folder: Path) -> list[str]:
    """The folder's entries, mural's marker left out."""
    return sorted(n for n in os.listdir(folder) if n != MARKER_FILE)


def _marker_kinds(folder: Path) -> list[str] | None:
    path = folder / MARKER_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        kinds = doc.get("mural") if isinstance(doc, dict) else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        kinds = None
    return [str(k) for k in kinds] if isinstance(kinds, list) else []


def is_mural_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds mural's marker (mural created it or took it empty)."""
    return _marker_kinds(Path(folder)) is not None


def claim_folder(
    folder: str | os.PathLike[str],
    kind: str,
    *,
    option: str = "--out",
    legacy: Callable[[Path], bool] | None = None,
    check_only: bool = False,
) -> Path:
    """Make ``folder`` mural's ``kind`` folder (``run``, ``synthetic`` …) or refuse it.

    A missing or empty folder is created and marked; a marked one is accepted (adding
    ``kind``); one that ``legacy`` recognises as made by an earlier mural (before
    markers) is marked and accepted. Any other non-empty folder, or a path that is a
    file, raises :class:`~mural.errors.ConfigError` naming ``option``: mural writes into
    it nothing, and so can never delete or overwrite a file it did not create.
    ``check_only``: raise as above, but create and write nothing.
    """
    from .errors import ConfigError

    p = Path(folder)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {p}: exists and is not a folder (fix: give a folder path)")
    kinds = _marker_kinds(p) if p.is_dir() else None
    if kinds is None and p.is_dir():
        entries = _entries(p)
        if entries and not (legacy is not None and legacy(p)):
            shown = ", ".join(entries[:3]) + (" ..." if len(entries) > 3 else "")
            raise ConfigError(
                f"{option} {p}: folder holds files mural did not write ({shown}); mural "
                "writes only into a new or empty folder or one it made (fix: choose another "
                "folder, or empty this one yourself)"
            )
    kinds = kinds or []
    if check_only:
        return p
    p.mkdir(parents=True, exist_ok=True)
    if kind not in kinds:
        atomic_write_json(p / MARKER_FILE, {"mural": [*kinds, kind]}, indent=None)
    return p


def remove_stale_temps(folder: str | os.PathLike[str], *, partial: bool = False) -> list[Path]:
    """Delete the temporary files a killed mural left in ``folder`` (and below it).

    Only names mural gives its temporary files are touched (``.NAME.mural-XXXXXXXX.tmp``;
    with ``partial`` also ``.NAME.partial`` files and folders).
    Call it while holding :func:`folder_lock` (another process may be writing them).
    Returns what was removed.
    """
    import shutil

    removed: list[Path] = []
    root = Path(folder)
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        for name in filenames:
            if _TEMP_RE.match(name) or (partial and _PARTIAL_RE.match(name)):
                with contextlib.suppress(FileNotFoundError):
                    (d / name).unlink()
                removed.append(d / name)
        if partial:
            for name in [n for n in dirnames if _PARTIAL_RE.match(n)]:
                shutil.rmtree(d / name, ignore_errors=True)
                dirnames.remove(name)
                removed.append(d / name)
    return removed


# ------------------------------------------------------------------ one writer at a time

#: Locks this process holds: resolved folder -> depth.
_HELD: dict[str, int] = {}


@contextlib.contextmanager
def folder_lock(
    folder: str | os.PathLike[str], *, what: str = "folder", wait: bool = False
) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if absent) while the block runs.

    The lock is ``fcntl.flock`` on the folder itself (no lock file is written), released
    by the OS when the process ends however it ends: no stale locks. Re-entrant within one
    process. When another process holds it: wait for it with ``wait``, else raise
    :class:`~mural.errors.MuralError` naming the folder. Folders this call created and
    that are still empty when the block ends (nothing was written, or it failed) are
    removed again, so a command that changes nothing leaves nothing behind.
    """
    p = Path(folder)
    created = [a for a in (p, *p.parents) if not a.exists()]
    p.mkdir(parents=True, exist_ok=True)
    try:
        with _flock(p, what, wait):
            yield p
    finally:
        for a in created:  # deepest first; only empty folders this call made
            try:
                a.rmdir()
            except OSError:
                break


@contextlib.contextmanager
def _flock(p: Path, what: str, wait: bool) -> Iterator[None]:
    from .errors import MuralError

    key = str(p.resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        yield
        return
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(p, flags)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise MuralError(
                f"{p}: this {what} is in use by another mural process; nothing was written "
                "(fix: wait for that command to finish, or use another folder)"
            ) from None
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # closing releases the flock
