"""Files mural wrote, then damaged: refused with one message naming the file and the fix."""

from __future__ import annotations

import pytest

from mural.detector import Detector
from mural.errors import DataError
from tests.detector.helpers import FullImages, draw_dataset, tiny_detector


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return draw_dataset(tmp_path_factory.mktemp("dmg"), [(64, 64), (48, 64)])


def test_truncated_training_checkpoint(ds, tmp_path):
    kw = {"batch_size": 2, "lr": 0.01, "seed": 5, "progress": False}
    tiny_detector(seed=2).fit(FullImages(ds), out_dir=tmp_path, epochs=1, **kw)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(DataError, match=r"checkpoint.pt: damaged checkpoint .*fix: delete it"):
        tiny_detector(seed=2).fit(FullImages(ds), out_dir=tmp_path, epochs=2, **kw)


def test_truncated_model_file(ds, tmp_path):
    det = tiny_detector(seed=2)
    det.save(tmp_path / "model.pt")
    data = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "model.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match=r"model\.pt: not a mural detector file"):
        Detector.load(tmp_path / "model.pt")
