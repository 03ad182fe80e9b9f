"""Loading speed of :class:`mural.data.samples.TrainingSamples` against plain PIL decoding.

On BCCD (``../shared/datasets/bccd``, converted in-process to COCO), a pool of full
images, regions at the paper's three COCO scales and partly labelled images is built;
each kind of sample is read once per image (no cache hits) and timed against
``PIL.Image.open(path).convert("RGB")`` + ``numpy.asarray`` of the same files in the same
run. Reports samples/s and the ratio to plain decoding (best of ``--repeat`` passes, the two
timed alternately after a warm-up pass).

    .venv/bin/python benchmarks/bench_loading.py [--n 60] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mural.core import scaled_size  # noqa: E402
from mural.data.coco import CocoDataset  # noqa: E402
from mural.data.pool import LabeledPool  # noqa: E402
from mural.data.samples import TrainingSamples, dataset_mean_color  # noqa: E402

BCCD = ROOT.parent / "shared" / "datasets" / "bccd" / "BCCD"
SCALES = [(480, 512), (800, 1280), (1400, 2000)]


def load_bccd(src: Path) -> CocoDataset:
    """BCCD as one CocoDataset: the project's VOC converter, else a minimal XML parse."""
    try:
        from mural.data.convert import convert_voc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = convert_voc(src)
        d: dict = {"images": [], "annotations": [], "categories": None}
        for split in res.values():
            sd = split.to_dict()
            d["images"] += sd["images"]
            d["annotations"] += sd["annotations"]
            d["categories"] = sd["categories"]
        ids = {im["id"] for im in d["images"]}
        assert len(ids) == len(d["images"]), "image ids clash between splits"
        return CocoDataset.from_dict(d, image_root=src)
    except ImportError:
        pass
    images, anns, names = [], [], ["Platelets", "RBC", "WBC"]
    for k, xml in enumerate(sorted((src / "Annotations").glob("*.xml")), start=1):
        root = ET.parse(xml).getroot()
        size = root.find("size")
        w, h = int(size.findtext("width")), int(size.findtext("height"))  # type: ignore[union-attr,arg-type]
        images.append({"id": k, "file_name": f"JPEGImages/{xml.stem}.jpg", "height": h, "width": w})
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            x0, y0, x1, y1 = (float(bb.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))  # type: ignore[union-attr,arg-type]
            if x1 <= x0 or y1 <= y0:
                continue
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": k,
                    "category_id": names.index(obj.findtext("name")) + 1,
                    "bbox": [x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(names)]
    return CocoDataset.from_dict(
        {"images": images, "annotations": anns, "categories": cats}, image_root=src
    )


def best_rates(a: Callable[[], int], b: Callable[[], int], repeat: int) -> tuple[float, float]:
    """Best rate (items/s) of ``a`` and ``b``, timed alternately after one warm-up each."""
    a()
    b()
    best = [0.0, 0.0]
    for _ in range(repeat):
        for k, fn in enumerate((a, b)):
            t0 = time.perf_counter()
            n = fn()
            best[k] = max(best[k], n / (time.perf_counter() - t0))
    return best[0], best[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=BCCD)
    ap.add_argument("--n", type=int, default=60, help="images per kind of sample")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    ds = load_bccd(args.data)
    ids = ds.image_ids()
    n = min(args.n, len(ids) // 5)
    rng = np.random.default_rng(0)
    pool = LabeledPool(ds)
    full, partial = ids[:n], ids[n : 2 * n]
    region_imgs = {s: ids[(2 + s) * n : (3 + s) * n] for s in range(len(SCALES))}
    pool.add_full_images(full, cycle=0)
    for s, scale in enumerate(SCALES):
        for iid in region_imgs[s]:
            info = ds.image(iid)
            hs, ws = scaled_size((info.height, info.width), scale)
            top = int(rng.integers(0, max(0, hs - info.height) + 1))
            left = int(rng.integers(0, max(0, ws - info.width) + 1))
            pool.add_region(iid, scale, s, (left, top, left + info.width, top + info.height), 1)
    for iid in partial:
        a = ds.ann_ids(iid)
        pool.add_objects(iid, a[: max(1, len(a) // 2)].tolist(), cycle=1)

    t0 = time.perf_counter()
    mean = dataset_mean_color(ds)
    t_mean = time.perf_counter() - t0
    ts = TrainingSamples(pool, mean_color=mean, cache_size=0)
    kinds: dict[str, list[int]] = {}
    for i, (kind, key) in enumerate(ts.refs):
        name = f"region s{pool.regions[key].scale_index}" if kind == "region" else kind
        kinds.setdefault(name, []).append(i)
    files_of = {
        "full": [ds.image_path(i) for i in full],
        "partial": [ds.image_path(i) for i in partial],
        **{f"region s{s}": [ds.image_path(i) for i in region_imgs[s]] for s in region_imgs},
    }

    def pil(paths: list[Path]) -> Callable[[], int]:
        def run() -> int:
            for p in paths:
                with Image.open(p) as im:
                    np.asarray(im.convert("RGB"))
            return len(paths)

        return run

    def samples(idx: list[int]) -> Callable[[], int]:
        def run() -> int:
            for i in idx:
                ts[i]
            return len(idx)

        return run

    rows = []
    print(f"BCCD: {len(ids)} images; {n} images per kind; best of {args.repeat}; 1 torch thread")
    print(f"dataset_mean_color over up to 64 images: {t_mean:.2f} s -> {np.round(mean, 4)}")
    print(f"{'kind':<12} {'samples/s':>10} {'PIL/s':>10} {'ratio':>7}")
    for name in ["full", "partial", *[f"region s{s}" for s in range(len(SCALES))]]:
        r_pil, r_ts = best_rates(pil(files_of[name]), samples(kinds[name]), args.repeat)
        rows.append(
            {"kind": name, "samples_per_s": r_ts, "pil_per_s": r_pil, "ratio": r_ts / r_pil}
        )
        print(f"{name:<12} {r_ts:>10.1f} {r_pil:>10.1f} {r_ts / r_pil:>7.2f}")
    all_idx = [i for v in kinds.values() for i in v]
    all_files = [p for v in files_of.values() for p in v]
    r_pil, r_ts = best_rates(pil(all_files), samples(all_idx), args.repeat)
    rows.append({"kind": "all", "samples_per_s": r_ts, "pil_per_s": r_pil, "ratio": r_ts / r_pil})
    print(f"{'all':<12} {r_ts:>10.1f} {r_pil:>10.1f} {r_ts / r_pil:>7.2f}")
    if args.json:
        args.json.write_text(json.dumps({"scales": SCALES, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
