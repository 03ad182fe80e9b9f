"""``mural evaluate`` on a saved model."""

from __future__ import annotations

import json
import math

from mural.cli import main
from mural.detector import Detector
from mural.evaluation import evaluate_coco
from tests.detector.helpers import draw_dataset, tiny_detector


def test_evaluate_command_writes_metrics(tmp_path, capsys):
    ds = draw_dataset(tmp_path / "imgs", [(64, 64), (48, 64), (64, 40)])
    tiny_detector(seed=3).save(tmp_path / "model.pt")
    args = [
        "evaluate", str(tmp_path / "model.pt"), "--dataset", str(tmp_path / "imgs" / "ann.json"),
        "--images", str(tmp_path / "imgs"), "--scale", "48,64", "--out", str(tmp_path / "m.json"),
        "--score-threshold", "0.0", "--detections", str(tmp_path / "d.npz"),
    ]  # fmt: skip
    assert main(args) == 0
    got = json.loads((tmp_path / "m.json").read_text())
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "AP/red", "AP/green"} <= got.keys()
    # the same numbers as the library on the same model, scale and dataset
    det = Detector.load(tmp_path / "model.pt")
    want = evaluate_coco(ds, det.predict(ds, scales=[(48, 64)], score_threshold=0.0))
    for k, v in want.items():
        assert (got[k] is None and math.isnan(v)) or abs(got[k] - v) < 1e-9, k
    assert "AP/red" in capsys.readouterr().out
    assert (tmp_path / "d.npz").is_file()


def test_evaluate_errors_exit_2(tmp_path, capsys):
    draw_dataset(tmp_path / "imgs", [(32, 32)])
    ann = str(tmp_path / "imgs" / "ann.json")
    assert main(["evaluate", str(tmp_path / "nope.pt"), "--dataset", ann]) == 2
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_text("not a model")
    assert main(["evaluate", str(tmp_path / "bad.pt"), "--dataset", ann]) == 2
    assert "not a mural detector file" in capsys.readouterr().err
