"""Bad inputs through the real ``mural`` entry point: one line, exit 2, nothing changed.

Each case prepares its files in a fresh folder, runs ``mural.cli.main`` in-process and
checks: exit code 2, exactly one line on stderr naming the file or option (and the fix),
no traceback, and every file under the case's folder byte-identical to before.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mural.cli import main
from mural.io import MARKER_FILE

from ..human.fixtures import write_dataset, write_predictions

Case = Callable[[Path], list[str]]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` -> its digest (an empty folder left behind is no change)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if not p.is_dir()
    }


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse refuses a value when parsing it
        rc = int(exc.code or 0)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line_error(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "internal error" not in lines[0], err
    for n in needles:
        assert n in lines[0], (n, err)


# ----------------------------------------------------------------------------- inputs


def select_argv(root: Path, *extra: str) -> list[str]:
    data = write_dataset(root, with_gt=False)
    argv = ["select", "--dataset", str(data), "--images", str(root / "images")]
    for p, s, c in write_predictions(root):
        argv += ["--predictions", str(p), "--scale", f"{s[0]},{s[1]}", "--coords", c]
    return [*argv, "--out", str(root / "sel"), *extra]


def with_budget(b: str) -> Case:
    return lambda root: [*select_argv(root), "--budget", b]


def nested_json(depth: int = 200_000) -> str:
    return "[" * depth + "]" * depth


def bomb_png(path: Path, side: int = 100_000) -> None:
    """A PNG whose header claims ``side x side`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def case_bomb_export(root: Path) -> list[str]:
    assert main(select_argv(root, "--budget", "5")) == 0
    sel = json.loads((root / "sel" / "selection.json").read_text())
    bomb_png(root / "images" / f"im{sel['regions'][0]['image_id']}.png")
    return ["export", str(root / "sel" / "selection.json"), "--out", str(root / "tasks")]


def case_nested_dataset(root: Path) -> list[str]:
    argv = select_argv(root, "--budget", "5")
    (root / "data.json").write_text(nested_json())
    return argv


def case_nested_predictions(root: Path) -> list[str]:
    argv = select_argv(root, "--budget", "5")
    (root / "results_0.json").write_text(nested_json())
    return argv


def case_huge_image_id(root: Path) -> list[str]:
    argv = select_argv(root, "--budget", "5")
    d = json.loads((root / "data.json").read_text())
    d["images"][0]["id"] = 2**70
    (root / "data.json").write_text(json.dumps(d))
    return argv


def case_select_bad_mean_color(root: Path, colour: str = "1,2") -> list[str]:
    sel = root / "sel"
    sel.mkdir()
    (sel / "selection.json").write_text('{"an earlier": "selection"}')
    return select_argv(root, "--budget", "5", "--export", "coco", "--mean-color", colour)


def case_select_bad_export(root: Path) -> list[str]:
    sel = root / "sel"
    sel.mkdir()
    (sel / "selection.json").write_text('{"an earlier": "selection"}')
    return select_argv(root, "--budget", "5", "--export", "pdf")


def run_argv(root: Path, *overrides: str) -> list[str]:
    return ["run", "demo", *overrides, "--out", str(root / "run"), "--quiet"]


def case_out_is_file(root: Path) -> list[str]:
    (root / "run").write_text("my notes")
    return run_argv(root)


def case_out_user_folder(root: Path) -> list[str]:
    (root / "run" / "data" / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "run" / "data" / "images" / "holiday.png")
    return run_argv(root)


def case_synthetic_dir_user_folder(root: Path) -> list[str]:
    (root / "photos" / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "photos" / "images" / "holiday.png")
    return run_argv(root, f"dataset.synthetic_dir={root / 'photos'}")


def case_damaged_config_yaml(root: Path) -> list[str]:
    run = root / "run"
    run.mkdir()
    (run / MARKER_FILE).write_text('{"mural": ["run"]}')
    (run / "config.yaml").write_text("budget: [unclosed\n")
    return run_argv(root)


def case_report_damaged_metrics(root: Path) -> list[str]:
    run = root / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"cycle": 0, "added_objects": 0}\n[1, 2]\n')
    return ["report", str(run), "--out", str(root / "report")]


def case_report_damaged_config(root: Path) -> list[str]:
    run = root / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"cycle": 0, "added_objects": 0, "mAP": 0.1}\n')
    (run / "config.yaml").write_text("a: [b\n")
    return ["report", str(run), "--out", str(root / "report")]


def case_truncated_model(root: Path) -> list[str]:
    (root / "model.pt").write_bytes(b"PK\x03\x04" + b"\0" * 40)
    data = write_dataset(root)
    return [
        "evaluate",
        str(root / "model.pt"),
        "--dataset",
        str(data),
        "--images",
        str(root / "images"),
    ]


def case_convert_again(root: Path) -> list[str]:
    voc = root / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    Image.new("RGB", (20, 10)).save(voc / "JPEGImages" / "a.jpg")
    (voc / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>20</width><height>10</height>"
        "<depth>3</depth></size><object><name>cat</name><difficult>0</difficult><bndbox>"
        "<xmin>2</xmin><ymin>2</ymin><xmax>8</xmax><ymax>8</ymax></bndbox></object>"
        "</annotation>"
    )
    assert main(["convert", "voc", str(voc), "--out", str(root / "coco")]) == 0
    return ["convert", "voc", str(voc), "--out", str(root / "coco")]


def case_export_again(root: Path) -> list[str]:
    """Another selection's export over an earlier one (the same one again resumes)."""
    assert main(select_argv(root, "--budget", "5")) == 0
    sel = str(root / "sel" / "selection.json")
    assert main(["export", sel, "--out", str(root / "tasks")]) == 0
    argv = select_argv(root, "--budget", "2")
    argv[argv.index("--out") + 1] = str(root / "sel2")
    assert main(argv) == 0
    return ["export", str(root / "sel2" / "selection.json"), "--out", str(root / "tasks")]


def case_export_damaged_selection(root: Path) -> list[str]:
    assert main(select_argv(root, "--budget", "5")) == 0
    path = root / "sel" / "selection.json"
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    return ["export", str(path), "--out", str(root / "tasks")]


def case_export_edited_selection(root: Path) -> list[str]:
    assert main(select_argv(root, "--budget", "5")) == 0
    path = root / "sel" / "selection.json"
    doc = json.loads(path.read_text())
    doc["regions"] = 5
    path.write_text(json.dumps(doc))
    return ["export", str(path), "--out", str(root / "tasks")]


def case_import_damaged_manifest(root: Path) -> list[str]:
    assert main(select_argv(root, "--budget", "5")) == 0
    sel = str(root / "sel" / "selection.json")
    assert main(["export", sel, "--out", str(root / "tasks")]) == 0
    man = root / "tasks" / "manifest.json"
    man.write_text(man.read_text()[:100])
    (root / "ls.json").write_text("[]")
    return ["import", str(root / "ls.json"), "--tasks", str(root / "tasks"), "--pool", str(root)]


CASES: dict[str, tuple[Case, tuple[str, ...]]] = {
    # budgets and thresholds, checked when parsed
    "budget -5": (with_budget("-5"), ("--budget", "> 0")),
    "budget nan": (with_budget("nan"), ("--budget",)),
    "budget 0": (with_budget("0"), ("--budget",)),
    "budget inf": (with_budget("inf"), ("--budget",)),
    "score threshold 7": (
        lambda r: select_argv(r, "--budget", "5", "--score-threshold", "7"),
        ("--score-threshold", "[0, 1]"),
    ),
    "cycle -5": (
        lambda r: ["import", "x.json", "--tasks", str(r), "--pool", str(r), "--cycle", "-5"],
        ("--cycle", ">= 0"),
    ),
    "mean colour 1,2 before writing selection.json": (
        case_select_bad_mean_color,
        ("--mean-color",),
    ),
    "mean colour 300,0,0 (export's range) before writing selection.json": (
        lambda r: case_select_bad_mean_color(r, "300,0,0"),
        ("--mean-color", "0..255"),
    ),
    "unknown export format before writing selection.json": (case_select_bad_export, ("--export",)),
    # damaged or hostile files
    "decompression bomb": (case_bomb_export, (".png", "too large")),
    "JSON nested 200000 deep (dataset)": (case_nested_dataset, ("data.json", "nested")),
    "JSON nested 200000 deep (predictions)": (case_nested_predictions, ("results_0.json",)),
    "image id 2**70": (case_huge_image_id, ("data.json", "id")),
    "damaged config.yaml": (case_damaged_config_yaml, ("config.yaml", "fix:")),
    "report: damaged metrics.jsonl": (case_report_damaged_metrics, ("metrics.jsonl", "line 2")),
    "report: damaged config.yaml": (case_report_damaged_config, ("config.yaml",)),
    "truncated model": (case_truncated_model, ("model.pt",)),
    "export: truncated selection.json": (case_export_damaged_selection, ("selection.json",)),
    "import: truncated manifest": (case_import_damaged_manifest, ("manifest.json",)),
    "export: edited selection.json": (case_export_edited_selection, ("selection.json",)),
    # config values, all checked before the run folder is claimed
    "detector.options.bogus=1": (
        lambda r: run_argv(r, "detector.options.bogus=1"),
        ("detector.options.bogus",),
    ),
    "initial.seed=-1": (lambda r: run_argv(r, "initial.seed=-1"), ("initial.seed",)),
    "budget=nan": (lambda r: run_argv(r, "budget=.nan"), ("budget",)),
    "detector.lr=inf": (lambda r: run_argv(r, "detector.lr=.inf"), ("detector.lr",)),
    # folders
    "--out is a file": (case_out_is_file, ("--out", "not a folder")),
    "--out holds someone's files": (case_out_user_folder, ("--out", "did not write")),
    "synthetic_dir holds someone's images": (
        case_synthetic_dir_user_folder,
        ("dataset.synthetic_dir", "images"),
    ),
    "convert over an earlier output": (case_convert_again, ("--force",)),
    "export over an earlier export": (case_export_again, ("--force",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, needles = CASES[name]
    root = tmp_path / "case"
    root.mkdir()
    argv = make(root)
    before = snapshot(root)
    rc, _, err = run_cli(argv, capsys)
    assert_one_line_error(rc, err, *needles)
    assert snapshot(root) == before


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is not None
    and __import__("torch").cuda.is_available(),
    reason="a GPU is visible",
)
def test_device_cuda_without_gpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(run_argv(tmp_path, "device=cuda"), capsys)
    assert_one_line_error(rc, err, "device", "device=cpu")
    assert not (tmp_path / "run").exists()  # nothing claimed: the corrected command runs


def test_run_folder_not_claimed_by_a_refused_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config refused for a bad value leaves no run folder (the fixed command is not
    then refused as 'a different configuration')."""
    for bad in ("detector.options.bogus=1", "initial.seed=-1", "detector.options.seed=3"):
        rc, _, err = run_cli(run_argv(tmp_path, bad), capsys)
        assert_one_line_error(rc, err, bad.split("=")[0])
        assert not (tmp_path / "run").exists()


def test_demo_without_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # import torch fails
    rc, _, err = run_cli(["demo", "--out", str(tmp_path / "d"), "--quiet"], capsys)
    assert_one_line_error(rc, err, "mural[torch]")
    assert not (tmp_path / "d").exists()


def test_disk_full_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "s"
    rc, _, err = run_cli(["synth", "--out", str(out), "--train", "8", "--val", "8"], capsys)
    assert_one_line_error(rc, err, "No space left", "free disk space")
    assert not [p for p in out.rglob("*.tmp")]  # no temporary file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = run_cli(["synth", "--out", str(ro / "s"), "--train", "2"], capsys)
    finally:
        ro.chmod(0o755)
    assert_one_line_error(rc, err, str(ro / "s"), "permission")


def test_os_error_message_names_file_and_fix() -> None:
    import errno

    from mural.cli import os_error_message

    msg = os_error_message(PermissionError(errno.EACCES, "Permission denied", "/x/y.json"))
    assert msg.startswith("/x/y.json: Permission denied (fix:") and "\n" not in msg
    msg = os_error_message(OSError(errno.ENOSPC, "No space left on device"))
    assert "free disk space" in msg


def test_internal_error_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mural.cli.report as rep

    def bug(args: Any) -> int:
        raise KeyError("oops\nsecond line")

    monkeypatch.setattr(rep, "run", bug)
    monkeypatch.delenv("MURAL_TRACEBACK", raising=False)
    rc, _, err = run_cli(["report", "x", "--out", "y"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "MURAL_TRACEBACK" in err


def test_argument_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["select", "--budget", "-5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--budget" in err


# ----------------------------------------------------------------------------- images


def test_16_bit_png_is_scaled_not_saturated(tmp_path: Path, capsys) -> None:
    """A 16-bit greyscale PNG: values v become round(v * 255 / 65535), not 255."""
    from mural.data.images import read_rgb as load_rgb

    ramp = (np.arange(40 * 60, dtype=np.uint32).reshape(40, 60) * 27).astype(np.uint16)
    data = write_dataset(tmp_path)
    Image.fromarray(ramp).save(tmp_path / "images" / "im1.png")
    with Image.open(tmp_path / "images" / "im1.png") as im:
        assert im.mode.startswith("I")  # what Pillow gives a 16-bit PNG
    got = np.asarray(load_rgb(tmp_path / "images" / "im1.png"))
    want = np.floor(ramp.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    assert got.shape == (40, 60, 3)
    for ch in range(3):
        np.testing.assert_array_equal(got[..., ch], want)
    assert main(["validate", str(data), "--images", str(tmp_path / "images")]) == 0


def test_float_image_is_refused_by_validate(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path)
    Image.fromarray(np.zeros((40, 60), dtype=np.float32)).save(tmp_path / "images" / "im2.tif")
    d = json.loads(data.read_text())
    d["images"][1]["file_name"] = "im2.tif"
    data.write_text(json.dumps(d))
    assert main(["validate", str(data), "--images", str(tmp_path / "images")]) == 2
    out = capsys.readouterr().out
    assert "im2.tif" in out and "mode F" in out


def test_validate_reports_a_decompression_bomb(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path)
    bomb_png(tmp_path / "images" / "im3.png")
    assert main(["validate", str(data), "--images", str(tmp_path / "images")]) == 2
    out = capsys.readouterr().out
    assert "im3.png" in out and "too large" in out and "Traceback" not in out
