"""The commands end to end: select -> export -> (tool) -> import, and a failing import."""

from __future__ import annotations

import json
from pathlib import Path

from mural.cli import main

from .fixtures import write_dataset, write_predictions
from .test_roundtrip import label_studio_export


def test_select_export_import(tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path, with_gt=False)
    preds = write_predictions(tmp_path)
    argv = [
        "select",
        "--dataset",
        str(data),
        "--images",
        str(tmp_path / "images"),
        "--budget",
        "5",
        "--out",
        str(tmp_path / "sel"),
    ]
    for p, s, c in preds:
        argv += ["--predictions", str(p), "--scale", f"{s[0]},{s[1]}", "--coords", c]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "cost: estimated from predictions" in out
    sel = json.loads((tmp_path / "sel" / "selection.json").read_text())
    assert sel["cost"] == "estimated from predictions" and sel["spent"] >= 5
    assert (
        main(
            [
                "export",
                str(tmp_path / "sel" / "selection.json"),
                "--out",
                str(tmp_path / "tasks"),
                "--mean-color",
                "0,0,0",
            ]
        )
        == 0
    )
    man = json.loads((tmp_path / "tasks" / "manifest.json").read_text())
    tasks = json.loads((tmp_path / "tasks" / "label_studio" / "tasks.json").read_text())
    from mural.data.coco import CocoDataset

    gt = CocoDataset.load(write_dataset(tmp_path / "gt"), tmp_path / "gt" / "images")
    ls = tmp_path / "export.json"
    ls.write_text(json.dumps(label_studio_export(tasks, gt, man)))
    capsys.readouterr()
    assert (
        main(
            [
                "import",
                str(ls),
                "--tasks",
                str(tmp_path / "tasks"),
                "--pool",
                str(tmp_path / "pool"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{len(man['tasks'])} regions added" in out and "estimated" in out and "actual" in out
    assert (tmp_path / "pool" / "pool.json").exists()
    # a bad file: exit 2, a message naming the task, no traceback
    bad = json.loads(ls.read_text())
    bad[0]["data"]["mural_task"] = "nope"
    ls.write_text(json.dumps(bad))
    assert (
        main(
            [
                "import",
                str(ls),
                "--tasks",
                str(tmp_path / "tasks"),
                "--pool",
                str(tmp_path / "pool"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown task 'nope'" in err and "Traceback" not in err
    # selecting again with the pool: the labelled regions' objects are known now
    out2 = str(tmp_path / "sel2")
    argv2 = [out2 if a == str(tmp_path / "sel") else a for a in argv]
    argv2 += ["--pool", str(tmp_path / "pool")]
    assert main(argv2) == 0
    sel2 = json.loads((tmp_path / "sel2" / "selection.json").read_text())
    assert sel2["cycle"] == 2
    old = {(r["image_id"], r["scale_index"], tuple(r["window"])) for r in sel["regions"]}
    assert not old & {
        (r["image_id"], r["scale_index"], tuple(r["window"])) for r in sel2["regions"]
    }


def test_select_checks_export_options_before_replacing_the_selection(
    tmp_path: Path, capsys
) -> None:
    # Issue 11: a bad --export or --mean-color used to fail only after selection.json was
    # replaced. Now every input is checked first: exit 2, one line, the file unchanged.
    data = write_dataset(tmp_path, with_gt=False)
    argv = ["select", "--dataset", str(data), "--images", str(tmp_path / "images")]
    argv += ["--budget", "5", "--out", str(tmp_path / "sel")]
    for p, s, c in write_predictions(tmp_path):
        argv += ["--predictions", str(p), "--scale", f"{s[0]},{s[1]}", "--coords", c]
    assert main(argv) == 0
    path = tmp_path / "sel" / "selection.json"
    before = path.read_bytes()
    capsys.readouterr()
    changed = [a if a != "5" else "1" for a in argv]  # another budget: another selection
    for extra, field in [
        (["--export", "label-studio,bogus"], "--export"),
        (["--export", "coco", "--mean-color", "0,0"], "--mean-color"),
        (["--mean-color", "red,green,blue"], "--mean-color"),
    ]:
        assert main(changed + extra) == 2
        assert path.read_bytes() == before
        err = capsys.readouterr().err
        assert field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "sel" / "tasks").exists()
    assert main(changed) == 0
    assert path.read_bytes() != before
