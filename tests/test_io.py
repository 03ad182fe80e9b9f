"""Atomic writes that respect the umask, folder locks between real processes, folders
mural owns, and the removal of the temporary files a killed process left."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mural.errors import ConfigError, DataError, MuralError
from mural.io import (
    MARKER_FILE,
    atomic_write_bytes,
    atomic_write_json,
    claim_folder,
    folder_lock,
    read_json,
    remove_stale_temps,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_respect_the_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_write_bytes(tmp_path / "sub" / "b.bin", b"xy")
    plain = tmp_path / "plain.txt"
    plain.write_text("what open() gives")  # the reference: a plain open under this umask
    for p in (tmp_path / "a.json", tmp_path / "sub" / "b.bin", plain):
        assert stat.S_IMODE(p.stat().st_mode) == mode, p
    assert read_json(tmp_path / "a.json") == {"x": 1}


def test_atomic_write_leaves_no_temp_on_failure(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "a.json", {"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_read_json_refuses_deep_nesting(tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(DataError, match=r"deep\.json: JSON nested too deeply"):
        read_json(p)


# ----------------------------------------------------------------------------- stale temps


def test_remove_stale_temps_only_touches_mural_names(tmp_path: Path) -> None:
    (tmp_path / "cycle_00").mkdir()
    ours = [
        tmp_path / ".pool.json.mural-0a1b2c3d.tmp",
        tmp_path / "cycle_00" / ".model.pt.mural-99aa00ff.tmp",
        tmp_path / "cycle_00" / ".metrics.json.partial",
    ]
    part_dir = tmp_path / "cycle_00" / ".pool.partial"
    part_dir.mkdir()
    (part_dir / "pool.json").write_text("{}")
    theirs = [
        tmp_path / "notes.tmp",
        tmp_path / ".notes.tmp",
        tmp_path / ".a.mural-xyz.tmp",  # not 8 hex digits
        tmp_path / "a.json.mural-0a1b2c3d.tmp",  # not hidden
        tmp_path / ".backup.20241201.tmp",
        tmp_path / "cycle_00" / "model.pt",
    ]
    for p in ours + theirs:
        p.write_text("x")
    assert len(remove_stale_temps(tmp_path)) == 2  # without partial: .tmp files only
    assert (tmp_path / "cycle_00" / ".metrics.json.partial").exists()
    remove_stale_temps(tmp_path, partial=True)
    assert not any(p.exists() for p in ours) and not part_dir.exists()
    assert all(p.exists() for p in theirs)


# ----------------------------------------------------------------------------- claim


def test_claim_folder(tmp_path: Path) -> None:
    new = claim_folder(tmp_path / "new", "run")
    assert json.loads((new / MARKER_FILE).read_text()) == {"mural": ["run"]}
    claim_folder(new, "synthetic")  # a marked folder is accepted, the kind added
    assert json.loads((new / MARKER_FILE).read_text()) == {"mural": ["run", "synthetic"]}
    empty = tmp_path / "empty"
    empty.mkdir()
    claim_folder(empty, "run")
    user = tmp_path / "user"
    user.mkdir()
    (user / "holiday.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"--out .*user: folder holds files mural did not write"):
        claim_folder(user, "run")
    assert sorted(os.listdir(user)) == ["holiday.png"]  # nothing written
    assert claim_folder(user, "run", legacy=lambda p: True) == user
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        claim_folder(tmp_path / "file", "run", check_only=True)
    claim_folder(tmp_path / "later", "run", check_only=True)
    assert not (tmp_path / "later").exists()


# ----------------------------------------------------------------------------- locks


HOLD = """
import sys, time
sys.path.insert(0, {src!r})
from mural.io import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def hold_lock(folder: Path) -> subprocess.Popen[str]:
    """Another process holding ``folder``'s lock until its stdin is closed."""
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(src=SRC), str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def release(p: subprocess.Popen[str]) -> None:
    assert p.stdin is not None
    p.stdin.close()
    assert p.wait() == 0


def test_folder_lock_between_processes(tmp_path: Path) -> None:
    other = hold_lock(tmp_path)
    try:
        with pytest.raises(MuralError, match="in use by another mural process"):
            with folder_lock(tmp_path):
                pass
    finally:
        release(other)
    with folder_lock(tmp_path), folder_lock(tmp_path):  # free again; re-entrant
        pass
    assert list(tmp_path.iterdir()) == []  # the lock writes no file


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    other = hold_lock(tmp_path)
    other.kill()
    other.wait()
    with folder_lock(tmp_path):
        pass


def test_folder_lock_leaves_no_folder_when_nothing_was_written(tmp_path: Path) -> None:
    target = tmp_path / "new" / "pool"
    with folder_lock(target):
        assert target.is_dir()
    assert not (tmp_path / "new").exists()  # both folders it made, empty, are gone
    with pytest.raises(RuntimeError):
        with folder_lock(target):
            raise RuntimeError("the command failed")
    assert not (tmp_path / "new").exists()
    with folder_lock(target):
        (target / "pool.json").write_text("{}")
    assert (target / "pool.json").is_file()  # written: kept
    with folder_lock(tmp_path):  # existed before: never removed, even empty
        pass
    assert tmp_path.is_dir()
