"""``torchrun --nproc_per_node 2 -m mural run ...`` end to end on the CPU (gloo).

One small Faster R-CNN run (ResNet-18 FPN at 64 px, random init) under two processes:
it completes; only rank 0 writes (an audit hook records every write each rank makes
under the run folder); the folder holds the same files as a one-process run; inference
on ``D_U`` and the evaluation, sharded across the ranks, equal one process's; and a
``kill -9`` of the whole job mid-training followed by a rerun ends with the same results
as the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from mural.config import load_config  # noqa: E402
from mural.data.coco import CocoDataset  # noqa: E402
from mural.data.pool import LabeledPool  # noqa: E402
from mural.detections import Detections  # noqa: E402
from mural.detector import Detector  # noqa: E402
from mural.evaluation import evaluate_coco, json_safe  # noqa: E402
from tests.test_loop import outputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCALES = [[48, 48], [64, 64], [96, 96]]

CONFIG = {
    "dataset": {"synthetic": {"seed": 3, "n_train": 12, "n_val": 4, "size": 64}},
    "initial": {"count": 3, "seed": 0},
    "budget": 10,
    "cycles": 1,
    "scales": SCALES,
    "detector": {
        "name": "faster_rcnn",
        "backbone": "resnet18_fpn",
        "backbone_weights": "none",
        "epochs": 2,
        "lr": 0.001,
        "batch_size": 1,
        "min_size": 64,
        "max_size": 64,
        "options": {
            "representation_size": 32,
            "fpn_channels": 16,
            "anchor_sizes": [8, 16, 32, 64, 128],
            "rpn_pre_nms_top_n": [200, 100],
            "rpn_post_nms_top_n": [100, 50],
            "box_batch_size_per_image": 32,
            "detections_per_img": 20,
        },
        "train_options": {"optimizer": "adamw", "schedule": "cosine", "warmup_iters": 1},
    },
    "strategy": {"name": "mural", "options": {}},
    "seeds": [0],
    "device": "cpu",
}

# Imported at start-up by every process whose PYTHONPATH holds its folder: records each
# write (open for writing, rename, mkdir, remove...) under MURAL_AUDIT_ROOT in
# MURAL_AUDIT_LOG.<rank>. The torchrun agent has no RANK and records nothing.
AUDIT = textwrap.dedent(
    """
    import os, sys

    _root = os.environ.get("MURAL_AUDIT_ROOT")
    _log = os.environ.get("MURAL_AUDIT_LOG")
    _rank = os.environ.get("RANK")
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    _EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree",
               "os.truncate", "os.chmod", "os.utime", "os.link", "os.symlink"}

    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                (flags or 0) & _WRITE_FLAGS)
            paths = [path] if writing else []
        elif event in _EVENTS:  # rename and link: source and destination
            paths = list(args[:2]) if event in ("os.rename", "os.link") else [args[0]]
        else:
            return
        for path in paths:
            if not isinstance(path, (str, bytes, os.PathLike)):
                continue
            p = os.path.abspath(os.fsdecode(path))
            if p == _root or p.startswith(_root + os.sep):
                with open(f"{_log}.{_rank}", "a") as fh:
                    fh.write(f"{event} {p}\\n")

    if _root and _log and _rank is not None:
        _root = os.path.abspath(_root)
        sys.addaudithook(_hook)
    """
)


def _env(tmp_path: Path, run: Path | None = None, logs: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    path = [str(ROOT / "src"), str(ROOT)]
    if run is not None and logs is not None:
        hook_dir = tmp_path / "audit"
        hook_dir.mkdir(exist_ok=True)
        (hook_dir / "sitecustomize.py").write_text(AUDIT)
        path.insert(0, str(hook_dir))
        env["MURAL_AUDIT_ROOT"] = str(run)
        env["MURAL_AUDIT_LOG"] = str(logs / "writes")
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def _torchrun(cfg: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "mural", "run", str(cfg), "--out", str(out), "--quiet",
    ]  # fmt: skip


def _files(run: Path) -> list[str]:
    return sorted(p.relative_to(run).as_posix() for p in run.rglob("*"))


def _outputs(run: Path) -> dict[str, bytes]:
    """``tests.test_loop.outputs`` with the run folder's path (the pools name their
    dataset, generated inside it) written as ``RUN``."""
    return {k: v.replace(str(run).encode(), b"RUN") for k, v in outputs(run).items()}


def _same_detections(a: Detections, b: Detections) -> None:
    assert a.scales == b.scales
    for x, y in zip(a.per_scale, b.per_scale, strict=True):
        for key in ("image_ids", "offsets", "labels", "image_sizes", "scaled_sizes"):
            np.testing.assert_array_equal(getattr(x, key), getattr(y, key), err_msg=key)
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)
        np.testing.assert_allclose(x.scores, y.scores, atol=1e-4)


@pytest.mark.slow
def test_torchrun_two_ranks_only_rank0_writes_shards_and_resumes_after_kill_9(
    tmp_path: Path,
) -> None:
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(CONFIG))
    logs = tmp_path / "logs"
    logs.mkdir()

    # -- an uninterrupted run under torchrun, every write audited ---------------------
    two = tmp_path / "two"
    proc = subprocess.run(
        _torchrun(cfg_path, two),
        env=_env(tmp_path, two, logs),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("mural seed 0: 2 cycles") == 1  # rank 0 alone reports
    rank0 = (logs / "writes.0").read_text().splitlines()
    assert any(line.endswith("cycle_01/metrics.json") for line in rank0)  # the hook works
    assert not (logs / "writes.1").exists(), (logs / "writes.1").read_text()[:2000]
    records = [json.loads(x) for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["cycle"] for r in records] == [0, 1]
    assert records[1]["added_objects"] > 0
    ckpt = torch.load(two / "cycle_00" / "train" / "checkpoint.pt", weights_only=True)
    assert ckpt["settings"]["world_size"] == 2  # it really trained with DDP

    # -- the same files as one process's run -----------------------------------------
    from mural.loop import run_loop

    one = tmp_path / "one"
    run_loop(load_config(cfg_path), one, progress=False)
    assert _files(two) == _files(one)

    # -- sharded inference on D_U and evaluation equal one process's -----------------
    train = CocoDataset.load(two / "data" / "train.json", two / "data" / "images")
    val = CocoDataset.load(two / "data" / "val.json", two / "data" / "images")
    nonzero = []
    for c in (0, 1):
        det = Detector.load(two / f"cycle_{c:02d}" / "model.pt", device="cpu")
        if c == 0:  # the last cycle infers nothing
            du = LabeledPool.load(two / "initial_pool", train).unlabelled_images()
            want = det.predict(train, du, SCALES, batch_size=1, score_threshold=0.05)
            assert sum(len(s.scores) for s in want.per_scale) > 0  # not a vacuous comparison
            _same_detections(Detections.load(two / "cycle_00" / "detections.npz"), want)
        dets = det.predict(val, val.image_ids(), [(64, 64)], batch_size=1, score_threshold=0.05)
        m = json_safe(evaluate_coco(val, dets))
        have = json.loads((two / f"cycle_{c:02d}" / "metrics.json").read_text())["coco"]
        assert set(have) == set(m)
        nonzero += [k for k, v in m.items() if isinstance(v, float) and v > 0]
        for k, v in m.items():
            assert have[k] == pytest.approx(v, abs=1e-6), k
    assert nonzero  # not a comparison of zeros only

    # -- kill -9 of the whole job during cycle 1's training, then resume -------------
    killed = tmp_path / "killed"
    job = subprocess.Popen(
        _torchrun(cfg_path, killed),
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    first_epoch = killed / "cycle_01" / "train" / "checkpoint.pt"
    deadline = time.monotonic() + 600
    while not first_epoch.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(60)
    assert first_epoch.exists()
    assert not (killed / "cycle_01" / "model.pt").exists()  # cut short in the training
    proc = subprocess.run(
        _torchrun(cfg_path, killed), env=_env(tmp_path), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _outputs(killed) == _outputs(two)
    a = Detections.load(two / "cycle_00" / "detections.npz")
    b = Detections.load(killed / "cycle_00" / "detections.npz")
    for x, y in zip(a.per_scale, b.per_scale, strict=True):
        np.testing.assert_array_equal(x.boxes, y.boxes)
    m_two = torch.load(two / "cycle_01" / "model.pt", weights_only=True)["state_dict"]
    m_killed = torch.load(killed / "cycle_01" / "model.pt", weights_only=True)["state_dict"]
    for k, v in m_two.items():  # the training resumed from its epoch checkpoint, exactly
        torch.testing.assert_close(m_killed[k], v, rtol=0, atol=0, msg=k)
