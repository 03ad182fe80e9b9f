"""Sharded inference and DDP training with 2 CPU processes (gloo) via torch.distributed.run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mural.detections import Detections
from mural.detector import distributed as mdist
from tests.detector.helpers import draw_dataset, tiny_detector

HERE = Path(__file__).resolve().parent


def test_single_process_helpers():
    info = mdist.get_info()
    assert (info.rank, info.world_size) == (0, 1)
    assert mdist.shard([1, 2, 3]) == [1, 2, 3]
    assert mdist.shard(list(range(5)), mdist.DistInfo(1, 2, 1)) == [1, 3]
    assert mdist.all_gather_objects({"a": 1}) == [{"a": 1}]
    assert mdist.broadcast_object({"a": 1}) == {"a": 1}
    mdist.close_distributed()  # no group: nothing to leave


@pytest.mark.slow
def test_two_ranks_match_one_process_and_only_rank0_writes(tmp_path):
    ds = draw_dataset(tmp_path / "imgs", [(64, 64), (64, 48), (50, 70), (37, 64), (40, 40)])
    det = tiny_detector(seed=7)
    model = tmp_path / "model.pt"
    det.save(model)
    out = tmp_path / "out"
    out.mkdir()
    # the tree under test (src/) first, then the repo root for ``tests.detector.helpers``
    root = HERE.parents[1]
    path = os.pathsep.join([str(root / "src"), str(root)])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--standalone", str(HERE / "ddp_worker.py"),
        str(model), str(tmp_path / "imgs" / "ann.json"), str(tmp_path / "imgs"), str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0 done" in proc.stdout and "rank 1 done" in proc.stdout
    # only rank 0 wrote: one detections file, one checkpoint, nothing else
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert files == ["dets.npz", "train", "train/checkpoint.pt"]
    merged = Detections.load(out / "dets.npz")
    single = _predict(det, ds)
    assert merged.scales == single.scales
    for a, b in zip(merged.per_scale, single.per_scale, strict=True):
        for key in ("image_ids", "offsets", "labels", "scaled_sizes"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-3)
    ckpt = torch.load(out / "train" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 0 and ckpt["settings"]["world_size"] == 2


def _predict(det, ds):
    return det.predict(
        ds, scales=[(32, 48), (64, 64), (100, 150)], batch_size=1, score_threshold=0.0
    )
