"""Report rendering on hand-made run folders (no training)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mural.report import (
    _region_panels,
    difficult_classes,
    find_runs,
    group_runs,
    mean_std_curve,
    text_table,
    write_report,
)


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
    # curves, categories, and one region figure per label (mural's first seed only)
    assert len(re.findall(r"<img ", page)) == 3
    assert not (tmp_path / "rep" / "regions_mural.png").exists()
    for cite in ("Fig. 4/5", "Tab. 3", "Fig. 6", "Fig. 1c"):  # captions name the paper's figure
        assert cite in page
    assert page.count("<figcaption>") == 3
    # per-class AP of the last cycle: mural (0.2, 0.4) -> 30.0 ± 14.1, uncertainty 0.1
    assert '<td class="t">dog</td><td><b>30.0 ± 14.1</b></td><td>10.0</td>' in page
    assert '<td class="t">mAP</td><td><b>40.0 ± 14.1</b></td><td>20.0</td>' in page
    # per-cycle table, cycle-major with a rule between cycles: AP50 = min(1, 2 mAP) -> 0.6, 1.0
    row = '<td class="t">1</td><td class="t">mural</td><td>10</td><td>40.0 ± 14.1</td>'
    assert f'<tr class="sep">{row}<td>80.0 ± 28.3</td></tr>' in page
    assert '<tr><td class="t">1</td><td class="t">uncertainty</td><td>10</td><td>20.0</td>' in page
    # category counts over all cycles: 3 cat + 7 dog per run
    assert '<td class="t">mural</td><td>3</td><td>7</td><td>10</td>' in page
    # the region figure is the selected windows on the image: red and blue pixels there
    img = np.asarray(Image.open(tmp_path / "rep" / "regions.png").convert("RGB")).astype(int)
    red = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)
    blue = (img[..., 2] > 150) & (img[..., 0] < 90)
    assert red.sum() > 50 and blue.sum() > 50
    # the scale-0 window (f = 0.5: 120 x 80 original pixels) passes the 40 x 60 image's edge:
    # the padding outside the image is drawn grey (#d9d9d9)
    grey = (np.abs(img - 0xD9) <= 2).all(axis=-1)
    assert grey.sum() > 500
    # report files are readable by others (atomic writes alone give 0600)
    umask = os.umask(0)
    os.umask(umask)
    for f in (tmp_path / "rep").iterdir():
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask


def test_region_panels_one_row_per_scale() -> None:
    def item(iid: int, si: int, new: int, score: float) -> dict[str, object]:
        return {
            "image_id": iid,
            "scale_index": si,
            "scale": [10 * (si + 1), 10 * (si + 1)],
            "window": [0, 0, 5, 5],
            "score": score,
            "new_objects": [[iid, k] for k in range(new)],
            "categories": [1] * new,
        }

    sel = {
        "items": [
            item(1, 1, 0, 9.0),  # no new object: ranked after images with some
            item(2, 1, 3, 1.0),
            item(3, 0, 2, 1.0),
            item(4, 0, 2, 5.0),  # same new count as image 3, higher score: first
            item(5, 0, 1, 1.0),
            item(2, 0, 0, 1.0),  # no new objects at scale 0: past per_scale=3
        ]
    }
    rows = _region_panels(sel, per_scale=3)
    assert [(si, sc) for si, sc, _ in rows] == [(0, (10, 10)), (1, (20, 20))]
    assert [iid for iid, _ in rows[0][2]] == [4, 3, 5]
    assert [iid for iid, _ in rows[1][2]] == [2, 1]
    assert all(len(items) == 1 for _, _, images in rows for _, items in images)


def test_per_class_bold_only_strict_best(tmp_path: Path) -> None:
    # both labels end with the same AP everywhere except mAP: only mAP gets a bold cell
    fake_run(tmp_path, "a", 0, [0.1, 0.3])
    fake_run(tmp_path, "b", 0, [0.1, 0.2])
    for run in ("a_0", "b_0"):  # equal per-class AP in both runs
        f = tmp_path / run / "metrics.jsonl"
        recs = [json.loads(x) for x in f.read_text().splitlines()]
        for r in recs:
            r["per_class_AP"] = {"cat": 0.0, "dog": 0.25}
        f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    page = write_report([tmp_path], tmp_path / "rep").read_text()
    assert '<td class="t">cat</td><td>0.0</td><td>0.0</td>' in page
    assert '<td class="t">dog</td><td>25.0</td><td>25.0</td>' in page
    assert '<td class="t">mAP</td><td><b>30.0</b></td><td>20.0</td>' in page


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


def test_difficult_classes_and_class_objects_figure(tmp_path: Path) -> None:
    # cat ends at AP 0.5 (mural) and 0.4 (random): mean 0.45, not difficult; dog ends at
    # 0.3 and 0.2: mean 0.25 < 0.3, difficult, although mural's 0.3 alone is not below 0.3
    for label, cat, dog in (("mural", 0.5, 0.3), ("random", 0.4, 0.2)):
        run = fake_run(tmp_path / "runs", label, 0, [0.2, 0.4])
        f = run / "metrics.jsonl"
        recs = [json.loads(x) for x in f.read_text().splitlines()]
        recs[-1]["per_class_AP"] = {"cat": cat, "dog": dog}
        for r in recs:
            r["labelled_per_class"] = {"cat": 40, "dog": 4}
        f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    groups = group_runs(find_runs([tmp_path / "runs"]))
    assert difficult_classes(groups) == ["dog"]
    assert difficult_classes(groups, below=0.5) == ["cat", "dog"]
    page = write_report([tmp_path / "runs"], tmp_path / "rep").read_text()
    hard = page[page.index("Difficult classes") : page.index("All classes")]
    assert '<td class="t">dog</td><td><b>30.0</b></td><td>20.0</td>' in hard
    assert '<td class="t">cat</td>' not in hard
    rest = page[page.index("All classes") :]
    assert '<td class="t">cat</td><td><b>50.0</b></td><td>40.0</td>' in rest
    png = (tmp_path / "rep" / "class_objects_vs_ap.png").read_bytes()
    assert base64.b64encode(png).decode() in page and "Fig. 3" in page
    # the statistics are beside the page, as JSON
    stats = json.loads((tmp_path / "rep" / "compare.json").read_text())
    assert list(stats["labels"]) == ["mural", "random"]
    assert stats["cost_range"] == [0.0, 10.0]


def test_no_class_counts_no_figure_3(tmp_path: Path) -> None:
    fake_run(tmp_path, "random", 0, [0.1, 0.2])
    page = write_report([tmp_path], tmp_path / "rep").read_text()
    assert "Fig. 3 is not drawn" in page
    assert not (tmp_path / "rep" / "class_objects_vs_ap.png").exists()


def test_a_missing_map_gives_dashes_not_a_crash(tmp_path: Path) -> None:
    """A run whose mAP is missing (None) inside the common cost range: its AUC and its
    differences are NaN; the report writes them as dashes instead of failing."""
    run = fake_run(tmp_path / "runs", "mural", 0, [0.1, 0.2, 0.3])
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    recs[1]["mAP"] = None  # cycle 1 not evaluated
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    fake_run(tmp_path / "runs", "random", 0, [0.1, 0.2, 0.25])
    index = write_report([tmp_path / "runs"], tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    summary = json.loads((tmp_path / "out" / "compare.json").read_text())
    auc = [p for p in summary["paired"] if p["metric"] == "auc"]
    assert [(p["a"], p["b"], p["mean"], p["per_seed"]) for p in auc] == [
        ("mural", "random", None, {"0": None})
    ]
    row = '<td class="t">mural − random</td><td class="t">AUC</td><td class="t">0: –</td>'
    assert row + "<td>–</td><td>–</td><td>0</td>" in html
