"""Report rendering on hand-made run folders (no training)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mural.report import find_runs, group_runs, mean_std_curve, text_table, write_report


def make_dataset(root: Path) -> Path:
    """Two 40x60 images (one with no objects) and a COCO file."""
    (root / "images").mkdir(parents=True)
    for i in (1, 2):
        Image.fromarray(np.full((40, 60, 3), 60 * i, np.uint8)).save(root / "images" / f"{i}.png")
    coco = {
        "images": [
            {"id": 1, "file_name": "1.png", "height": 40, "width": 60},
            {"id": 2, "file_name": "2.png", "height": 40, "width": 60},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [30, 10, 8, 8], "area": 64},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    (root / "train.json").write_text(json.dumps(coco))
    return root / "train.json"


def fake_run(
    root: Path, strategy: str, seed: int, maps: list[float], train: Path | None = None
) -> Path:
    run = root / f"{strategy}_{seed}"
    run.mkdir(parents=True)
    lines = []
    for c, m in enumerate(maps):
        lines.append(
            {
                "cycle": c,
                "added_objects": 10 * c,
                "labelled_objects": 20 + 10 * c,
                "mAP": m,
                "AP50": min(1.0, 2 * m),
                "per_class_AP": {"cat": m + 0.1, "dog": None if c == 0 else m - 0.1},
                "selected_categories": {"cat": 3, "dog": 7} if c < len(maps) - 1 else {},
                "selected_objects": 10 if c < len(maps) - 1 else 0,
                "strategy": strategy,
                "label": strategy,
                "seed": seed,
            }
        )
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    if train is not None:
        cfg = {"dataset": {"train": str(train), "train_images": str(train.parent / "images")}}
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
        (run / "cycle_00").mkdir()
        items = [
            {
                "image_id": 1,
                "scale_index": 0,
                "scale": [20, 30],
                "window": [0, 0, 60, 40],
                "score": 1.0,
                "new_objects": [[1, 10], [1, 11]],
                "categories": [1, 2],
            },
            {
                "image_id": 1,
                "scale_index": 1,
                "scale": [80, 120],
                "window": [10, 5, 70, 45],
                "score": 0.5,
                "new_objects": [],
                "categories": [],
            },
        ]
        sel = {
            "kind": "regions",
            "strategy": strategy,
            "cycle": 1,
            "budget": 2,
            "spent": 2,
            "cost": 2,
            "category_distribution": {"1": 1, "2": 1},
            "items": items,
        }
        (run / "cycle_00" / "selection.json").write_text(json.dumps(sel))
    return run


def test_mean_std_over_seeds(tmp_path: Path) -> None:
    fake_run(tmp_path, "mural", 0, [0.1, 0.2, 0.3])
    fake_run(tmp_path, "mural", 1, [0.3, 0.4, 0.5])
    fake_run(tmp_path, "random", 0, [0.1, 0.15])
    groups = group_runs(find_runs([tmp_path]))
    assert list(groups) == ["mural", "random"]
    x, m, s, n = mean_std_curve(groups["mural"])
    np.testing.assert_allclose(x, [0, 10, 20])
    np.testing.assert_allclose(m, [0.2, 0.3, 0.4])
    np.testing.assert_allclose(s, [np.sqrt(0.02)] * 3)  # sample std of (a, a + 0.2)
    np.testing.assert_array_equal(n, [2, 2, 2])
    x, m, s, n = mean_std_curve(groups["random"])
    np.testing.assert_allclose(m, [0.1, 0.15])
    np.testing.assert_array_equal(s, [0, 0])
    table = text_table(groups)
    assert "20 / 40.0 ± 14.1" in table and "10 / 15.0" in table


def test_html_report(tmp_path: Path) -> None:
    train = make_dataset(tmp_path / "data")
    fake_run(tmp_path / "runs", "mural", 0, [0.1, 0.3], train)
    fake_run(tmp_path / "runs", "mural", 1, [0.2, 0.5], train)
    fake_run(tmp_path / "runs", "uncertainty", 0, [0.1, 0.2])
    index = write_report([tmp_path / "runs"], tmp_path / "rep")
    page = index.read_text()
    for name in ("map_vs_objects.png", "category_distribution.png", "regions.png"):
        png = (tmp_path / "rep" / name).read_bytes()
        assert png.startswith(b"\x89PNG")
        assert base64.b64encode(png).decode() in page  # embedded, the same bytes
    assert 'src="http' not in page and "<link" not in page  # self-contained
    assert len(re.findall(r"<img ", page)) == 4  # curves, categories, regions of 2 seeds
    # per-class AP of the last cycle: mural (0.2, 0.4) -> 30.0 ± 14.1, uncertainty 0.1
    assert "<td>dog</td><td><b>30.0 ± 14.1</b></td><td>10.0</td>" in page
    assert "<td>mAP</td><td><b>40.0 ± 14.1</b></td><td>20.0</td>" in page
    # category counts over all cycles: 3 cat + 7 dog per run
    assert "<td>mural</td><td>3</td><td>7</td><td>10</td>" in page
    # the region figure is the selected windows on the image: red and blue pixels there
    img = np.asarray(Image.open(tmp_path / "rep" / "regions.png").convert("RGB")).astype(int)
    red = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)
    blue = (img[..., 2] > 150) & (img[..., 0] < 90)
    assert red.sum() > 50 and blue.sum() > 50


def test_no_region_runs_and_errors(tmp_path: Path) -> None:
    fake_run(tmp_path, "random", 0, [0.0])  # a single cycle, mAP 0
    page = write_report([tmp_path], tmp_path / "rep").read_text()
    assert "No region selection" in page
    from mural.errors import DataError

    with pytest.raises(DataError, match=r"no metrics\.jsonl"):
        write_report([tmp_path / "rep"], tmp_path / "rep2")
    with pytest.raises(DataError, match="no such run folder"):
        find_runs([tmp_path / "missing"])


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mural.cli import main

    fake_run(tmp_path / "r", "mural", 0, [0.1, 0.2])
    assert main(["report", str(tmp_path / "r"), "--out", str(tmp_path / "o")]) == 0
    assert "10 / 20.0" in capsys.readouterr().out
    assert (tmp_path / "o" / "index.html").is_file()
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
