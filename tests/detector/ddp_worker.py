"""Run under ``torch.distributed.run`` by test_distributed.py (gloo, CPU).

Usage: ddp_worker.py MODEL ANN_JSON IMAGES OUT_DIR
Each rank predicts its shard; rank 0 writes OUT_DIR/dets.npz. Then one epoch of DDP
training with checkpoints in OUT_DIR/train (rank 0 writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mural.data.coco import CocoDataset  # noqa: E402
from mural.detector import Detector  # noqa: E402
from mural.detector.distributed import init_distributed  # noqa: E402
from tests.detector.helpers import FullImages  # noqa: E402  (registers tiny_test)


def main() -> None:
    model, ann, images, out = sys.argv[1:5]
    info = init_distributed("gloo")
    assert info.world_size == 2, info
    ds = CocoDataset.load(ann, images)
    det = Detector.load(model, device="cpu")
    dets = det.predict(
        ds,
        scales=[(32, 48), (64, 64), (100, 150)],
        batch_size=1,
        score_threshold=0.0,
        out_path=Path(out) / "dets.npz",
    )
    assert dets.per_scale[0].image_ids.tolist() == ds.image_ids()
    det.fit(
        FullImages(ds), epochs=1, batch_size=1, lr=0.01, out_dir=Path(out) / "train", progress=False
    )
    print(f"rank {info.rank} done")


if __name__ == "__main__":
    main()
