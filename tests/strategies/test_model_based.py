"""The model-based baselines read a Detector through its interface (no torch in strategies/)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mural.errors import ConfigError
from mural.strategies import build_strategy, torchvision_access
from mural.strategies.model_based import DetectorViews, model_access

from .helpers import make_context, make_dataset, make_detections, make_pool

MODEL_BASED = {
    "cald": {"score_threshold": 0.0},
    "ls_c": {"score_threshold": 0.0, "noise_levels": [8, 24]},
    "lt_c": {"score_threshold": 0.0},
}


def test_importing_strategies_loads_no_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import mural.strategies
        from mural.strategies import cald, ls_c, lt_c, vaal, model_based
        assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)
        assert 'torchvision' not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_torch_import_in_strategies_sources() -> None:
    import mural.strategies

    root = Path(mural.strategies.__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+torch", text, re.M), f.name


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("torch")
    from tests.detector.helpers import tiny_detector

    ds = make_dataset(Path(tmp_path_factory.mktemp("model_based")))
    det = tiny_detector(seed=2, min_size=40, max_size=60, device="cpu")
    return {"dataset": ds, "detections": make_detections(ds), "detector": det}


@pytest.mark.parametrize("name", sorted(MODEL_BASED))
def test_model_based_strategy_runs_on_detector_with_explicit_cpu(
    world: dict[str, Any], name: str, tmp_path: Path
) -> None:
    from mural.detector import Detector

    ds, det = world["dataset"], world["detector"]
    det.save(tmp_path / "model.pt")
    loaded = Detector.load(tmp_path / "model.pt", device="cpu")
    assert loaded.device.type == "cpu"  # type: ignore[attr-defined]
    assert next(loaded.model.parameters()).device.type == "cpu"  # type: ignore[attr-defined]
    scale = (40, 60)
    ctx = make_context(ds, make_pool(ds), world["detections"], 4, detector=loaded)
    ctx.train_scale = scale
    res = build_strategy(name, **MODEL_BASED[name]).select(ctx)
    assert res.kind == "images" and res.cost >= 4
    # the same selection as through model access on the bare torchvision model
    ref_ctx = make_context(ds, make_pool(ds), world["detections"], 4)
    ref_ctx.model = torchvision_access(
        loaded.model,  # type: ignore[attr-defined]
        ds,
        device="cpu",
        scale=scale,
        score_threshold=MODEL_BASED[name]["score_threshold"],
    )
    ref = build_strategy(name, **MODEL_BASED[name]).select(ref_ctx)
    assert [(it.image_id, it.score) for it in res.items] == [
        (it.image_id, it.score) for it in ref.items
    ]


def test_detector_views_are_the_models_own_detections(world: dict[str, Any]) -> None:
    import torch

    ds, det = world["dataset"], world["detector"]
    ctx = make_context(ds, make_pool(ds), None, 1, detector=det)
    access = model_access(build_strategy("lt_c"), ctx)
    assert isinstance(access, DetectorViews)
    assert access.score_threshold == ctx.score_threshold == 0.05  # the run's one setting
    views = access.predict_views([1, 3, 4], "none")
    model = det.model
    model.eval()
    for iid, v in zip([1, 3, 4], views, strict=True):
        img = torch.from_numpy(
            np.asarray(
                __import__("PIL.Image", fromlist=["x"]).open(ds.image_path(iid)).convert("RGB"),
                np.float32,
            )
            / 255.0
        ).permute(2, 0, 1)
        with torch.no_grad():
            out = model([img])[0]  # 40x60 is already the (40, 60) scale: no resize
        np.testing.assert_allclose(v["boxes"], out["boxes"].double().numpy(), atol=1e-4)
        np.testing.assert_allclose(v["scores"], out["scores"].double().numpy(), atol=1e-6)
        assert v["labels"].tolist() == (out["labels"] - 1).tolist()
        # the proposal each box was regressed from: the model's own, by index
        idx = out["proposal_index"]
        np.testing.assert_allclose(v["proposals"], out["proposals"].double().numpy(), atol=1e-4)
        assert idx.shape[0] == v["boxes"].shape[0]
        p = v["probs"]
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)
        np.testing.assert_allclose(p[np.arange(len(p)), v["labels"]], v["scores"], atol=1e-6)
        assert (p[:, :2].argmax(1) == v["labels"]).all()  # multi_label=False: best class


def test_views_hold_the_detections_above_the_strategys_threshold(world: dict[str, Any]) -> None:
    ds, det = world["dataset"], world["detector"]
    ctx = make_context(ds, make_pool(ds), None, 1, detector=det)
    ids = [1, 2, 5]
    low = model_access(build_strategy("cald", score_threshold=0.0), ctx).predict_views(ids, "none")
    all_low = np.concatenate([v["scores"] for v in low])
    t = float(np.median(all_low))  # random init: a cut between its scores
    high = model_access(build_strategy("cald", score_threshold=t), ctx).predict_views(ids, "none")
    n_high = sum(v["scores"].shape[0] for v in high)
    assert all((v["scores"] > t).all() for v in high)
    assert all_low.shape[0] > n_high > 0
    # the high view is the low view's detections above t (same model output, cut later)
    for a, b in zip(low, high, strict=True):
        keep = a["scores"] > t
        np.testing.assert_allclose(np.sort(a["scores"][keep]), np.sort(b["scores"]), atol=1e-6)


def test_missing_model_and_detector_and_a_detector_without_views(
    world: dict[str, Any],
) -> None:
    from mural.detector import Detector

    ds = world["dataset"]
    ctx = make_context(ds, make_pool(ds), None, 3)
    with pytest.raises(ConfigError, match="needs model access"):
        build_strategy("lt_c").select(ctx)

    class NoViews(Detector):
        name = "no_views"

        def fit(self, *a: Any, **k: Any) -> Any: ...
        def predict(self, *a: Any, **k: Any) -> Any: ...
        def save(self, *a: Any, **k: Any) -> None: ...
        @classmethod
        def _from_state(cls, *a: Any, **k: Any) -> Any: ...

    ctx = make_context(ds, make_pool(ds), None, 3, detector=NoViews())
    with pytest.raises(ConfigError, match="gives no view predictions"):
        build_strategy("lt_c").select(ctx)
