"""The active-learning loop: stages, files, resume after interruption (raise and kill -9).

A FAKE detector (registered as ``"fake"``) trains instantly and predicts the ground truth
with seeded noise, so a 2-cycle loop runs in a second or two on the CPU.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from mural.config import load_config  # noqa: E402
from mural.core.geometry import scale_factor, scaled_size  # noqa: E402
from mural.data.synthetic import CLASS_NAMES  # noqa: E402
from mural.detections import Detections, ScaleDetections  # noqa: E402
from mural.detector.base import CHECKPOINT_FORMAT, Detector, register_detector  # noqa: E402
from mural.errors import ConfigError  # noqa: E402
from mural.io import atomic_open  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@register_detector("fake")
class FakeDetector(Detector):
    """Trains instantly; predicts GT boxes with seeded noise. Its confidence in class ``k``
    grows with the labelled objects of ``k`` it was trained on. Images whose id is a
    multiple of 7 get no detections. ``MURAL_FAKE_SLEEP`` (seconds) slows every call."""

    def __init__(self, num_classes: int, *, seed: int = 0, **_: Any) -> None:
        self.num_classes = num_classes
        self.seed = int(seed)
        self.counts = [0] * num_classes

    @staticmethod
    def _nap() -> None:
        time.sleep(float(os.environ.get("MURAL_FAKE_SLEEP", "0")))

    def fit(self, train_dataset: Any, *, epochs: int = 1, **options: Any) -> list[dict]:
        self._nap()
        die = os.environ.get("MURAL_FAKE_DIE")  # a marker file: the first cycle-1 training
        if die and "cycle_01" in str(options.get("out_dir")) and not os.path.exists(die):
            Path(die).write_text(str(options.get("out_dir")))  # of any run kills its process
            os.kill(os.getpid(), signal.SIGKILL)
        self.counts = [int(v) for v in train_dataset.pool.class_counts()]
        self.seed = int(options.get("seed", self.seed))
        return [{"epoch": e, "loss": 0.0} for e in range(epochs)]

    def predict(self, dataset, image_ids=None, scales=None, **options: Any) -> Detections:  # type: ignore[no-untyped-def]
        self._nap()
        ids = dataset.image_ids() if image_ids is None else [int(i) for i in image_ids]
        thr = float(options.get("score_threshold", 0.05))
        c = self.num_classes
        out = Detections(num_classes=c)
        total = sum(self.counts)
        for s, scale in enumerate(scales or [(64, 64)]):
            sizes, ssz, boxes, scores, labels, probs, offs = [], [], [], [], [], [], [0]
            for iid in ids:
                im = dataset.image(iid)
                hw = (im.height, im.width)
                f = scale_factor(hw, scale)
                sizes.append(hw)
                ssz.append(scaled_size(hw, scale))
                gt = dataset.boxes_xyxy(iid) * f
                lab = dataset.labels(iid)
                if iid % 7 == 0:
                    gt, lab = gt[:0], lab[:0]
                rng = np.random.default_rng([self.seed, iid, s])
                w = (gt[:, 2:] - gt[:, :2]).repeat(2, axis=1)
                b = gt + rng.normal(0, 0.25 / np.sqrt(1 + total / 10), gt.shape) * w
                hs, ws = ssz[-1]
                b = np.clip(b, 0, [ws - 1, hs - 1, ws - 1, hs - 1])
                b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 1)
                conf = np.array([1 - 0.8 / np.sqrt(1 + self.counts[k]) for k in lab])
                sc = np.clip(conf * rng.uniform(0.7, 1.0, lab.shape[0]), 0.01, 0.99)
                keep = sc >= thr
                b, sc, lab = b[keep], sc[keep], lab[keep]
                p = np.full((lab.shape[0], c + 1), 0.0)
                p[np.arange(lab.shape[0]), lab] = sc
                p[:, c] = 1 - sc
                boxes.append(b)
                scores.append(sc)
                labels.append(lab)
                probs.append(p)
                offs.append(offs[-1] + lab.shape[0])
            out.per_scale.append(
                ScaleDetections(
                    scale=(int(scale[0]), int(scale[1])),
                    image_ids=np.array(ids, np.int64),
                    image_sizes=np.array(sizes, np.int64).reshape(-1, 2),
                    scaled_sizes=np.array(ssz, np.int64).reshape(-1, 2),
                    offsets=np.array(offs, np.int64),
                    boxes=np.concatenate([*boxes, np.zeros((0, 4))]).astype(np.float32),
                    scores=np.concatenate([*scores, np.zeros(0)]).astype(np.float32),
                    labels=np.concatenate([*labels, np.zeros(0, np.int64)]).astype(np.int64),
                    probs=np.concatenate([*probs, np.zeros((0, c + 1))]).astype(np.float16),
                )
            )
        return out

    def save(self, path: Any) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "name": "fake",
            "num_classes": self.num_classes,
            "seed": self.seed,
            "counts": self.counts,
        }
        with atomic_open(path, "wb") as fh:
            torch.save(state, fh)

    @classmethod
    def _from_state(cls, state: dict[str, Any], **options: Any) -> FakeDetector:
        det = cls(int(state["num_classes"]), seed=int(state["seed"]))
        det.counts = [int(v) for v in state["counts"]]
        return det


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset whose first training image has no objects."""
    from mural.data.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("data")
    paths = make_synthetic(root, seed=3, n_train=14, n_val=5, image_size=(64, 64))
    d = json.loads(Path(paths["train"]).read_text())
    empty = d["images"][0]["id"]
    d["annotations"] = [a for a in d["annotations"] if a["image_id"] != empty]
    (root / "train_empty.json").write_text(json.dumps(d))
    return root


def config_file(data_dir: Path, tmp_path: Path, strategy: str = "mural") -> Path:
    cfg = {
        "dataset": {
            "train": str(data_dir / "train_empty.json"),
            "train_images": str(data_dir / "images"),
            "val": str(data_dir / "val.json"),
            "val_images": str(data_dir / "images"),
        },
        "initial": {"count": 3, "seed": 0},
        "budget": 25,
        "cycles": 2,
        "scales": [[48, 48], [64, 64], [96, 96]],
        "detector": {"name": "fake", "epochs": 1, "min_size": 64, "max_size": 64},
        "strategy": {"name": strategy, "options": {}},
        "seeds": [5],
    }
    p = tmp_path / f"{strategy}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def outputs(run: Path) -> dict[str, bytes]:
    """The files whose bytes must agree between runs (model/checkpoint files excluded)."""
    out = {}
    for p in sorted(run.rglob("*")):
        rel = p.relative_to(run).as_posix()
        if p.is_file() and (p.suffix == ".json" or p.name in ("metrics.jsonl", "config.yaml")):
            out[rel] = p.read_bytes()
    return out


def run_cli(*args: str) -> int:
    from mural.cli import main

    return main([*args])


# ------------------------------------------------------------------------------ tests


def test_full_run_files_and_records(data_dir: Path, tmp_path: Path) -> None:
    from mural.loop import run_loop

    cfg = load_config(config_file(data_dir, tmp_path))
    run = tmp_path / "run"
    records = run_loop(cfg, run, progress=False)
    assert [r["cycle"] for r in records] == [0, 1, 2]
    for c in (0, 1):
        for name in ("model.pt", "metrics.json", "detections.npz", "selection.json", "pool"):
            assert (run / f"cycle_{c:02d}" / name).exists(), (c, name)
    assert (run / "cycle_02" / "metrics.json").exists()
    assert not (run / "cycle_02" / "selection.json").exists()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == records
    # counts: initial 3 full images; each cycle adds what its selection spent
    assert records[0]["added_objects"] == 0 and records[0]["full_images"] == 3
    sel0 = json.loads((run / "cycle_00" / "selection.json").read_text())
    assert sel0["kind"] == "regions" and sel0["spent"] >= 25  # budget rule: stop at >= B
    assert records[0]["selected_objects"] == sel0["spent"]
    assert records[1]["added_objects"] == sel0["spent"]
    assert sel0["format"] == "mural-selection/2"
    assert records[1]["regions"] == len(sel0["regions"])
    assert sum(records[0]["selected_categories"].values()) == sel0["spent"]
    assert list(records[0]["per_class_AP"]) == list(CLASS_NAMES)
    assert records[2]["selected_objects"] == 0
    # more labels -> less noise -> the fake's mAP does not fall
    assert records[2]["mAP"] >= records[0]["mAP"] - 1e-9
    assert all(r["strategy"] == "mural" and r["seed"] == 5 for r in records)
    # the image with no detections (id % 7 == 0) and the empty image went through fine
    dets = Detections.load(run / "cycle_00" / "detections.npz")
    assert len(dets.per_scale) == 3
    # where the time went: one line per stage, in order; a finished rerun adds none
    timings = [json.loads(x) for x in (run / "timings.jsonl").read_text().splitlines()]
    stages = ["train", "evaluate", "infer", "select", "acquire"]
    assert [(t["stage"], t["cycle"]) for t in timings] == [
        ("initial", None),
        *[(s, c) for c in (0, 1) for s in stages],
        ("train", 2),
        ("evaluate", 2),
    ]
    assert all(t["seconds"] >= 0 for t in timings)
    before = (run / "timings.jsonl").read_bytes()
    run_loop(cfg, run, progress=False)
    assert (run / "timings.jsonl").read_bytes() == before


def test_interrupted_after_each_stage_resumes_identically(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mural import loop

    cfg = load_config(config_file(data_dir, tmp_path))
    ref = tmp_path / "ref"
    loop.run_loop(cfg, ref, progress=False)

    class Interrupt(Exception):
        pass

    calls = {"n": 0, "after": False}
    for name in ("train", "evaluate", "infer", "select", "acquire"):
        orig = getattr(loop._Run, name)

        def wrapped(self: Any, c: int, out: Path, _orig: Any = orig) -> None:
            calls["n"] += 1
            if calls["n"] == 2:  # the first stage of each attempt completes, the next fails
                if calls["after"]:
                    _orig(self, c, out)  # written to the temporary path, never moved
                raise Interrupt
            _orig(self, c, out)

        monkeypatch.setattr(loop._Run, name, wrapped)
    run = tmp_path / "resumed"
    attempts = 0
    while True:
        calls["n"], calls["after"] = 0, attempts % 2 == 1
        attempts += 1
        try:
            loop.run_loop(cfg, run, progress=False)
            break
        except Interrupt:
            lines = (run / "metrics.jsonl").read_text().splitlines() if attempts > 1 else []
            cycles = [json.loads(x)["cycle"] for x in lines]
            assert cycles == sorted(set(cycles))  # never a duplicate line
        assert attempts < 40
    assert attempts >= 12  # 12 stages: every one was interrupted once
    assert outputs(run) == outputs(ref)
    a = Detections.load(ref / "cycle_01" / "detections.npz")
    b = Detections.load(run / "cycle_01" / "detections.npz")
    for x, y in zip(a.per_scale, b.per_scale, strict=True):
        np.testing.assert_array_equal(x.boxes, y.boxes)
    assert not list(run.rglob(".*.partial"))
    # a rerun of a finished run changes nothing and adds no line
    before = (run / "metrics.jsonl").read_bytes()
    monkeypatch.undo()
    loop.run_loop(cfg, run, progress=False)
    assert (run / "metrics.jsonl").read_bytes() == before
    assert len(before.decode().splitlines()) == 3


def test_kill_9_then_resume(data_dir: Path, tmp_path: Path) -> None:
    from mural.loop import run_loop

    cfg_path = config_file(data_dir, tmp_path)
    cfg = load_config(cfg_path)
    ref = tmp_path / "ref"
    run_loop(cfg, ref, progress=False)
    run = tmp_path / "killed"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tests.test_loop; "
        "from mural.cli import main; sys.exit(main(['run', sys.argv[2], '--out', sys.argv[3], "
        "'--quiet']))"
    )
    env = dict(os.environ, MURAL_FAKE_SLEEP="0.3", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(ROOT), str(cfg_path), str(run)], env=env
    )
    # kill at a random moment once the run has started writing its stages
    deadline = time.monotonic() + 60
    while not (run / "initial_pool").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(os.getpid()).uniform(0.2, 2.5))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    assert not (run / "cycle_02" / "metrics.json").exists()  # it really was cut short
    assert run_cli("run", str(cfg_path), "--out", str(run), "--quiet") == 0
    assert outputs(run) == outputs(ref)


def test_config_mismatch_refused_and_cli_errors(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mural.loop import run_loop

    path = config_file(data_dir, tmp_path)
    run = tmp_path / "run"
    run_loop(load_config(path, ["cycles=0"]), run, progress=False)
    with pytest.raises(ConfigError, match="different configuration"):
        run_loop(load_config(path, ["cycles=0", "budget=3"]), run, progress=False)
    assert run_cli("run", str(path), "budgte=3", "--out", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err
    assert "'budgte'" in err and "budget" in err and "Traceback" not in err
    assert run_cli("run", str(path), "budget=-1", "--out", str(tmp_path / "x")) == 2
    assert "-1" in capsys.readouterr().err
    assert run_cli("run", str(path), "strategy.name=nope", "--out", str(tmp_path / "y")) == 2
    assert "nope" in capsys.readouterr().err


def test_seeds_and_random_strategy(data_dir: Path, tmp_path: Path) -> None:
    from mural.loop import run_config

    path = config_file(data_dir, tmp_path, "random")
    out = run_config(load_config(path, ["seeds=[1,2]", "cycles=1"]), tmp_path / "r", progress=False)
    assert set(out) == {1, 2}
    for s in (1, 2):
        recs = out[s]
        assert [r["seed"] for r in recs] == [s, s]
        sel = json.loads((tmp_path / "r" / f"seed_{s}" / "cycle_00" / "selection.json").read_text())
        assert sel["kind"] == "images" and sel["spent"] >= 25
        assert recs[1]["added_objects"] == sel["spent"]
        assert recs[1]["full_images"] == 3 + len(sel["images"])
    p1 = json.loads((tmp_path / "r" / "seed_1" / "initial_pool" / "pool.json").read_text())
    p2 = json.loads((tmp_path / "r" / "seed_2" / "initial_pool" / "pool.json").read_text())
    assert p1["full_images"] != p2["full_images"]  # the initial set follows the run seed


def test_no_acquisition_control_trains_on_the_initial_set_only(
    data_dir: Path, tmp_path: Path
) -> None:
    """Strategy ``none`` selects nothing: every cycle's pool is the initial one, nothing
    is added, and the cycles still train and evaluate (the control of docs/results.md)."""
    from mural.loop import run_loop

    path = config_file(data_dir, tmp_path, "none")
    recs = run_loop(load_config(path, ["cycles=2"]), tmp_path / "n", progress=False)
    assert [r["cycle"] for r in recs] == [0, 1, 2]
    assert [r["added_objects"] for r in recs] == [0, 0, 0]
    assert len({r["labelled_objects"] for r in recs}) == 1 and recs[0]["labelled_objects"] > 0
    initial = (tmp_path / "n" / "initial_pool" / "pool.json").read_bytes()
    for c in (0, 1):
        sel = json.loads((tmp_path / "n" / f"cycle_{c:02d}" / "selection.json").read_text())
        assert (sel["kind"], sel["strategy"], sel["spent"], sel["images"]) == (
            "images",
            "none",
            0,
            [],
        )
        pool = json.loads((tmp_path / "n" / f"cycle_{c:02d}" / "pool" / "pool.json").read_text())
        assert pool["full_images"] == json.loads(initial)["full_images"]
        assert not pool.get("regions") and not pool.get("partial")
    assert (tmp_path / "n" / "cycle_02" / "metrics.json").is_file()


def test_derive_seed() -> None:
    from mural.loop import derive_seed

    a = derive_seed(0, 0, "train")
    assert a == derive_seed(0, 0, "train")
    assert len({a, derive_seed(1, 0, "train"), derive_seed(0, 1, "train")}) == 3
    assert derive_seed(0, 0, "select") != a


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("strategy.name=nope", "known strategies"),
        ("strategy.options.reduce=median", "'reduce'"),
        ("detector.name=nope", "known: "),
        ("detector.train_options.optimiser=adam", "accepted: "),
    ],
)
def test_bad_names_refused_before_any_work(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, needle: str
) -> None:
    path = config_file(data_dir, tmp_path)
    run = tmp_path / "run"
    assert run_cli("run", str(path), override, "--out", str(run), "--quiet") == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (run / "initial_pool").exists() and not (run / "cycle_00").exists()


def test_a_cycle_loads_its_pool_and_model_once(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stages of a cycle share one pool and one trained detector (issue 9: the pool was
    # loaded and re-validated about 6 times per cycle, the model 3 times).
    from mural.data.pool import LabeledPool
    from mural.loop import run_loop
    from mural.rundir import RunDir

    loads: dict[str, list[Path]] = {"pool": [], "model": []}
    pool_load, det_load = LabeledPool.load.__func__, Detector.load.__func__  # type: ignore[attr-defined]

    def count_pool(cls: Any, directory: Any, *a: Any, **k: Any) -> Any:
        loads["pool"].append(Path(directory))
        return pool_load(cls, directory, *a, **k)

    def count_model(cls: Any, path: Any, *a: Any, **k: Any) -> Any:
        loads["model"].append(Path(path))
        return det_load(cls, path, *a, **k)

    monkeypatch.setattr(LabeledPool, "load", classmethod(count_pool))
    monkeypatch.setattr(Detector, "load", classmethod(count_model))
    cfg = load_config(config_file(data_dir, tmp_path))
    rd = RunDir(tmp_path / "run")
    run_loop(cfg, rd.root, progress=False)
    # each cycle's D_L once, plus the initial pool once for the run's "added_objects"
    want_pools = [rd.pool(c) for c in range(cfg.cycles + 1)]
    assert sorted(loads["pool"]) == sorted([*want_pools, rd.initial_pool])
    assert sorted(loads["model"]) == [rd.model(c) for c in range(cfg.cycles + 1)]
    # a finished run reloads nothing
    loads["pool"].clear()
    loads["model"].clear()
    run_loop(cfg, rd.root, progress=False)
    assert loads == {"pool": [], "model": []}


def test_training_samples_get_the_detector_scale_and_ignore_mode(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop hands the detector's (min_size, max_size) to the training samples (every
    sample is resized there before the model) and the region ignore mode."""
    from mural.loop import run_loop

    seen: list[tuple[object, object]] = []
    real = FakeDetector.fit

    def fit(self: FakeDetector, train_dataset: Any, **kw: Any) -> list[dict]:
        seen.append((train_dataset.train_scale, train_dataset.region_ignore))
        return real(self, train_dataset, **kw)

    monkeypatch.setattr(FakeDetector, "fit", fit)
    over = ["cycles=0", "detector.min_size=48", "detector.max_size=60"]
    run_loop(load_config(config_file(data_dir, tmp_path), over), tmp_path / "a", progress=False)
    over.append("detector.region_ignore=loss")
    run_loop(load_config(config_file(data_dir, tmp_path), over), tmp_path / "b", progress=False)
    assert seen == [((48, 60), "paint"), ((48, 60), "loss")]
    with pytest.raises(ConfigError, match=r"detector\.region_ignore"):
        load_config(config_file(data_dir, tmp_path), ["detector.region_ignore=blur"])


def test_initial_epochs_and_warm_start(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cycle 0 trains ``initial_epochs`` (default ``epochs``); with ``warm_start`` the later
    cycles start from the previous cycle's model (the fake keeps its counts on load)."""
    from mural.loop import run_loop

    seen: list[tuple[int, list[int]]] = []
    real = FakeDetector.fit

    def fit(self: FakeDetector, train_dataset: Any, **kw: Any) -> list[dict]:
        seen.append((kw["epochs"], list(self.counts)))
        return real(self, train_dataset, **kw)

    monkeypatch.setattr(FakeDetector, "fit", fit)
    over = ["cycles=2", "detector.epochs=2"]
    run_loop(load_config(config_file(data_dir, tmp_path), over), tmp_path / "a", progress=False)
    assert [e for e, _ in seen] == [2, 2, 2]
    assert all(not any(counts) for _, counts in seen)  # a new model every cycle
    seen.clear()
    over += ["detector.initial_epochs=5", "detector.warm_start=true"]
    run_loop(load_config(config_file(data_dir, tmp_path), over), tmp_path / "b", progress=False)
    assert [e for e, _ in seen] == [5, 2, 2]
    assert not any(seen[0][1]) and any(seen[1][1])  # cycle 1 starts from cycle 0's model


# ------------------------------------------------------------ selection.pool_subset


def test_pool_subset_is_seeded_by_run_seed_and_cycle_only() -> None:
    from mural.loop import derive_seed, pool_subset

    train = list(range(100, 130))
    du = train[3:]
    a = pool_subset(train, du, 8, seed=5, cycle=0)
    assert len(a) == 8 and a == sorted(a) and set(a) <= set(du)
    assert pool_subset(list(reversed(train)), list(reversed(du)), 8, 5, 0) == a  # order-free
    assert pool_subset(train, du, 8, 5, 1) != a  # a new subset each cycle
    assert pool_subset(train, du, 8, 6, 0) != a  # and each seed
    # literal reference: a seeded order of all training images, the first 8 still in D_U
    rng = np.random.default_rng(derive_seed(5, 0, "subset"))
    ranked = np.array(train)[rng.permutation(len(train))]
    assert a == sorted([int(i) for i in ranked if i in set(du)][:8])
    # another strategy's D_U (other images acquired): the same order, so where the pools
    # agree the subsets agree
    other = [i for i in du if i not in a[:2]]
    b = pool_subset(train, other, 8, 5, 0)
    assert set(a) - set(b) == set(a[:2]) and len(b) == 8
    assert pool_subset(train, du[:5], 8, 5, 0) == du[:5]  # small D_U: all of it
    assert pool_subset(train, [], 8, 5, 0) == []


def test_pool_subset_same_images_for_every_strategy_inference_only_there(
    data_dir: Path, tmp_path: Path
) -> None:
    from mural.data.coco import CocoDataset
    from mural.data.pool import LabeledPool
    from mural.loop import pool_subset, run_loop
    from mural.selection import read_selection

    runs = {}
    for strategy in ("mural", "random", "uncertainty"):
        cfg = load_config(config_file(data_dir, tmp_path, strategy), ["selection.pool_subset=4"])
        runs[strategy] = tmp_path / strategy
        run_loop(cfg, runs[strategy], progress=False)
    train = CocoDataset.load(data_dir / "train_empty.json", data_dir / "images")
    du = LabeledPool.load(runs["mural"] / "initial_pool", train).unlabelled_images()
    want = pool_subset(train.image_ids(), du, 4, 5, 0)
    assert len(want) == 4 and len(du) > 4
    for strategy, run in runs.items():
        sel = read_selection(run / "cycle_00" / "selection.json")
        picked = {int(it.image_id) for it in sel.items}
        assert sel.inputs["scored_images"] == want and sel.inputs["pool_subset"] == 4
        assert picked and picked <= set(want), strategy  # picks only from the subset
        dets = Detections.load(run / "cycle_00" / "detections.npz")
        if strategy == "random":
            assert all(s.image_ids.size == 0 for s in dets.per_scale)  # reads none
        else:  # inference ran on the subset alone, at every scale the strategy reads
            for s in dets.per_scale:
                if s.image_ids.size:
                    assert s.image_ids.tolist() == want, strategy
    # cycle 1: each strategy's own D_U, the subset drawn from (run seed, cycle 1)
    for strategy in ("mural", "uncertainty"):
        pool = LabeledPool.load(runs[strategy] / "cycle_00" / "pool", train)
        want1 = pool_subset(train.image_ids(), pool.unlabelled_images(), 4, 5, 1)
        dets = Detections.load(runs[strategy] / "cycle_01" / "detections.npz")
        assert next(s.image_ids.tolist() for s in dets.per_scale if s.image_ids.size) == want1


def test_pool_subset_off_or_larger_than_pool_changes_nothing(
    data_dir: Path, tmp_path: Path
) -> None:
    from mural.loop import run_loop

    path = config_file(data_dir, tmp_path)
    run_loop(load_config(path, ["cycles=1"]), tmp_path / "off", progress=False)
    run_loop(
        load_config(path, ["cycles=1", "selection.pool_subset=1000"]),
        tmp_path / "big",
        progress=False,
    )
    a, b = outputs(tmp_path / "off"), outputs(tmp_path / "big")
    assert a.pop("config.yaml") != b.pop("config.yaml")
    sa = json.loads(a.pop("cycle_00/selection.json"))
    sb = json.loads(b.pop("cycle_00/selection.json"))
    assert a == b
    du = Detections.load(tmp_path / "off" / "cycle_00" / "detections.npz").per_scale[0].image_ids
    assert len(du) == 14 - 3  # all of D_U without a subset
    assert sb["inputs"].pop("scored_images") == sorted(du.tolist())  # all of it, recorded
    assert sb["inputs"].pop("pool_subset") == 1000
    assert sa == sb  # the same picks
    with pytest.raises(ConfigError, match=r"selection\.pool_subset"):
        load_config(path, ["selection.pool_subset=0"])
