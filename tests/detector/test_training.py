"""The training loop as an epoch step with hooks, on a model, with typed options."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import torch

import mural.detector.training as training
from mural.detector import FasterRCNNDetector, TrainOptions, detector_class
from mural.detector.training import TrainHook, TrainState, lr_factor, train
from mural.errors import ConfigError

from .helpers import FullImages, draw_dataset, tiny_detector


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    ds = draw_dataset(Path(tmp_path_factory.mktemp("train")), [(64, 64), (48, 64), (64, 48)])
    return FullImages(ds)


def test_train_options_are_checked_once_with_named_fields() -> None:
    assert TrainOptions().milestones == (16 / 26, 22 / 26)
    assert TrainOptions(milestones=[0.5]).milestones == (0.5,)
    with pytest.raises(ConfigError, match=r"unknown option 'optimiser'; accepted: amp, "):
        TrainOptions.from_dict({"optimiser": "adamw"})
    for bad, needle in [
        ({"epochs": 0}, "'epochs' must be an integer >= 1"),
        ({"batch_size": 1.5}, "'batch_size' must be an integer"),
        ({"optimizer": "adam"}, "'optimizer' must be 'sgd' or 'adamw'"),
        ({"schedule": "poly"}, "'schedule' must be 'step' or 'cosine'"),
        ({"lr": float("nan")}, "'lr' must be a number >= 0"),
        ({"grad_clip": 0}, "'grad_clip' must be null or a number > 0"),
        ({"milestones": "0.5"}, "'milestones' must be a list"),
        ({"amp": "yes"}, "'amp' must be true or false"),
        ({"max_iters": 0}, "'max_iters' must be null or an integer >= 1"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            TrainOptions.from_dict(bad)


def test_detector_class_checks_its_config() -> None:
    klass = detector_class("faster_rcnn")
    assert klass is FasterRCNNDetector
    ok = {"backbone": "tiny_test", "options": {"representation_size": 8}, "train_options": {}}
    klass.check_config(**ok)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'detector.backbone': unknown backbone 'nope'; known"):
        klass.check_config(**{**ok, "backbone": "nope"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'detector.options.foo': unknown; accepted: anchor"):
        klass.check_config(**{**ok, "options": {"foo": 1}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'detector.train_options.epochs': unknown; accepted"):
        klass.check_config(**{**ok, "train_options": {"epochs": 3}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'detector.train_options'.*'gamma' must be"):
        klass.check_config(**{**ok, "train_options": {"gamma": -1}})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown name 'nope'; known: "):
        detector_class("nope")


def test_option_keys_are_the_constructor_keywords_a_config_does_not_set() -> None:
    params = set(inspect.signature(FasterRCNNDetector.__init__).parameters)
    by_config = {"self", "num_classes", "backbone", "backbone_weights", "min_size", "max_size"}
    by_config |= {"class_names", "seed", "device"}
    assert set(FasterRCNNDetector.OPTION_KEYS) == params - by_config


def test_training_module_does_not_know_the_detector() -> None:
    tree = ast.parse(Path(training.__file__).read_text(encoding="utf-8"))
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m and "faster_rcnn" in m for m in mods)
    assert "det" not in inspect.signature(train).parameters


class Recorder(TrainHook):
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.lrs: list[float] = []

    def before_epoch(self, state: TrainState) -> None:
        self.calls.append(("before_epoch", state.epoch, -1))

    def before_iteration(self, state: TrainState) -> None:
        self.calls.append(("before_iteration", state.epoch, state.iteration))

    def after_iteration(self, state: TrainState) -> None:
        self.calls.append(("after_iteration", state.epoch, state.iteration))
        self.lrs.append(state.optimizer.param_groups[0]["lr"])

    def after_epoch(self, state: TrainState) -> None:
        self.calls.append(("after_epoch", state.epoch, -1))


def test_train_takes_the_model_and_runs_hooks_around_the_epoch_step(data, tmp_path) -> None:
    det = tiny_detector(seed=3)
    before = {k: v.clone() for k, v in det.model.state_dict().items()}
    rec = Recorder()
    opts = TrainOptions(epochs=2, batch_size=2, lr=0.01, warmup_iters=1, progress=False)
    seen: list[int] = []
    records = train(
        det.model,
        data,
        opts,
        device="cpu",
        out_dir=tmp_path,
        on_epoch_end=lambda e, r: seen.append(e) or None,  # type: ignore[func-returns-value]
        hooks=[rec],
    )
    assert [r["epoch"] for r in records] == [0.0, 1.0] and seen == [0, 1]
    assert (tmp_path / "checkpoint.pt").is_file()
    # two iterations per epoch (3 samples, batch 2), in order, inside before/after_epoch
    want = []
    for e in range(2):
        want.append(("before_epoch", e, -1))
        for i in range(2):
            want += [("before_iteration", e, i), ("after_iteration", e, i)]
        want.append(("after_epoch", e, -1))
    assert rec.calls == want
    # the schedule hook set the learning rate lr_factor says
    hp = {"epochs": 2, "warmup_iters": 1, "warmup_factor": 1e-3, "milestones": opts.milestones}
    expect = [
        0.01 * lr_factor(e, i, gamma=0.1, iters_per_epoch=2, **hp) for e in (0, 1) for i in (0, 1)
    ]  # type: ignore[arg-type]
    assert rec.lrs == pytest.approx(expect)
    after = det.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert not det.model.training


def test_fit_refuses_unknown_and_bad_options(data) -> None:
    det = tiny_detector()
    with pytest.raises(ConfigError, match="unknown option 'optimiser'"):
        det.fit(data, epochs=1, optimiser="adamw")
    with pytest.raises(ConfigError, match="'epochs' must be an integer >= 1"):
        det.fit(data, epochs=0)
