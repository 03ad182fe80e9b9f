"""Typed run configs: YAML loading, dotted overrides, errors that name key and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mural.config import (
    RunConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    packaged_config,
    packaged_configs,
)
from mural.errors import ConfigError

BASE = {
    "dataset": {"synthetic": {"seed": 1, "n_train": 10, "n_val": 4, "size": 64}},
    "initial": {"count": 3, "seed": 0},
    "budget": 20,
    "cycles": 2,
    "scales": [[48, 48], [64, 64]],
    "strategy": {"name": "mural", "options": {"reduce": "mean"}},
}


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_load_defaults_and_types(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert isinstance(cfg, RunConfig)
    assert cfg.scales == [(48, 48), (64, 64)]
    assert cfg.dataset.synthetic is not None and cfg.dataset.synthetic.n_train == 10
    assert cfg.initial.count == 3 and cfg.initial.fraction is None
    assert cfg.budget == 20 and isinstance(cfg.budget, int)
    assert cfg.seeds == [0] and cfg.seed == 0
    assert cfg.detector.name == "faster_rcnn" and cfg.detector.lr == pytest.approx(2.5e-3)
    assert cfg.label == "mural"


def test_round_trip(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(config_to_dict(cfg))))
    assert again == cfg


def test_overrides_dotted_and_yaml_scalars(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, BASE),
        [
            "strategy.options.reduce=max",
            "budget=500",
            "detector.lr=0.01",
            "scales=[[480,512],[800,1280]]",
            "dataset.synthetic.seed=7",
            "strategy.options.scale_aware=false",
            "seeds=[1, 2]",
            "initial.count=null",
            "initial.fraction=0.5",
            "name=ablation",
        ],
    )
    assert cfg.strategy.options == {"reduce": "max", "scale_aware": False}
    assert cfg.budget == 500
    assert cfg.detector.lr == 0.01
    assert cfg.scales == [(480, 512), (800, 1280)]
    assert cfg.dataset.synthetic is not None and cfg.dataset.synthetic.seed == 7
    assert cfg.seeds == [1, 2]
    assert cfg.initial.fraction == 0.5 and cfg.initial.count is None
    assert cfg.label == "ablation"


def test_override_creates_optional_section() -> None:
    data = {k: v for k, v in BASE.items() if k != "dataset"}
    data["dataset"] = {"train": "a.json", "val": "b.json"}
    out = apply_overrides(data, ["dataset.synthetic.size=32", "dataset.synthetic.n_train=5"])
    assert out["dataset"]["synthetic"] == {"size": 32, "n_train": 5}
    assert data["dataset"] == {"train": "a.json", "val": "b.json"}  # input untouched


@pytest.mark.parametrize(
    ("override", "named", "listed"),
    [
        ("budgte=5", "'budgte'", "budget, cycles, scales"),
        ("strategy.nmae=x", "'nmae'", "name, options"),
        ("detector.epoch=3", "'epoch'", "epochs, lr, batch_size"),
        ("dataset.synthetic.sz=3", "'sz'", "seed, n_train, n_val, size"),
    ],
)
def test_bad_override_key_lists_accepted(
    tmp_path: Path, override: str, named: str, listed: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, BASE), [override])
    msg = str(e.value)
    assert named in msg and listed in msg


def test_bad_key_in_file(tmp_path: Path) -> None:
    data = dict(BASE, detector={"epochz": 3})
    with pytest.raises(ConfigError, match=r"unknown key 'epochz' in 'detector'.*epochs"):
        load_config(write(tmp_path, data))
    with pytest.raises(ConfigError, match=r"unknown key 'foo' in the top level.*budget"):
        load_config(write(tmp_path, dict(BASE, foo=1)))


@pytest.mark.parametrize(
    ("override", "key", "value", "accepts"),
    [
        ("budget=lots", "budget", "'lots'", "an integer"),
        ("budget=-3", "budget", "-3", "> 0"),
        ("cycles=1.5", "cycles", "1.5", "an integer"),
        ("detector.lr=0", "detector.lr", "0.0", "> 0"),
        ("scales=[[800,600]]", "scales[0]", "[800, 600]", "min_size <= max_size"),
        ("scales=[[1,2,3]]", "scales[0]", "[1, 2, 3]", "2 values"),
        ("device=tpu", "device", "'tpu'", "cpu, cuda"),
        ("detector.warm_start=maybe", "detector.warm_start", "'maybe'", "true or false"),
        ("detector.initial_epochs=0", "detector.initial_epochs", "0", ">= 1, or null"),
        ("initial.fraction=0.1", "initial", "fraction=0.1, count=3", "exactly one"),
        ("initial.count=0", "initial.count", "0", ">= 1"),
        ("seeds=[1,1]", "seeds", "[1, 1]", "distinct"),
        ("dataset.visible_threshold=1.5", "dataset.visible_threshold", "1.5", "(0, 1)"),
    ],
)
def test_bad_value_names_key_value_and_accepts(
    tmp_path: Path, override: str, key: str, value: str, accepts: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, BASE), [override])
    msg = str(e.value)
    assert f"'{key}'" in msg and value in msg and accepts in msg, msg


def test_dataset_needs_files_or_synthetic(tmp_path: Path) -> None:
    data = dict(BASE, dataset={"train": "x.json"})
    with pytest.raises(ConfigError, match=r"dataset\.val"):
        load_config(write(tmp_path, data))


def test_relative_paths_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = dict(BASE, dataset={"train": "d/train.json", "val": "d/val.json"})
    cfg = load_config(write(tmp_path, data))
    assert cfg.dataset.train == str((tmp_path / "d" / "train.json").resolve())


def test_malformed_override_and_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(write(tmp_path, BASE), ["budget"])
    with pytest.raises(ConfigError, match="has no sub-keys"):
        load_config(write(tmp_path, BASE), ["budget.x=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_shipped_configs_load() -> None:
    names = packaged_configs()
    for want in ("demo", "paper_coco", "paper_cityscapes", "bccd", "vehicles", "bccd_cpu"):
        assert want in names
    demo = load_config("demo")
    assert demo.dataset.synthetic is not None and demo.cycles >= 3
    paths = ["dataset.train=t.json", "dataset.val=v.json"]
    coco = load_config(packaged_config("paper_coco"), paths)
    assert coco.scales == [(480, 512), (800, 1280), (1400, 2000)]
    assert (coco.initial.count, coco.budget, coco.cycles) == (5000, 6000, 6)
    city = load_config("paper_cityscapes.yaml", paths)
    assert city.scales == [(2400, 3200), (1024, 2048), (600, 1200)]
    assert (city.initial.fraction, city.budget) == (0.01, 500)
    for c in (coco, city):
        d = c.detector
        assert (d.backbone, d.backbone_weights, d.epochs, d.lr, d.batch_size) == (
            "resnet50_fpn",
            "imagenet",
            20,
            2.5e-3,
            4,
        )
    for name in ("bccd", "vehicles", "bccd_cpu", "vehicles_cpu", "paper_coco", "paper_cityscapes"):
        with pytest.raises(ConfigError, match=r"dataset\.train"):
            load_config(name)  # paths must come from overrides
        cfg = load_config(name, paths)
        assert cfg.dataset.train is not None and cfg.dataset.train.endswith("t.json")
    with pytest.raises(ConfigError, match=r"shipped: .*demo"):
        load_config("no_such_config")
