"""Speed of the MuRAL selection core (issue 2), printed as a table.

1. Candidate generation per image-scale on paper-sized cases (COCO 480x640 at the three
   COCO scales with 1-15 detections; Cityscapes 1024x2048 at its three scales with 5-40
   detections; object sizes log-uniform), against the literal Algorithm 1 vectorised in
   NumPy over every position: same run, same cases, and the results are checked equal.
2. A COCO-size pool (118,287 images x 3 scales) through candidates, informative scores
   (Eq. 4) and scale-aware selection with B = 6000, annotating popped regions from
   simulated ground truth. Wall time on one core and peak memory (ru_maxrss).

Run: ``python benchmarks/bench_selection.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.literal import literal_algorithm1_vectorised

from mural.core import (
    ScaleInput,
    acquire_region,
    generate_candidates,
    scale_factor,
    scaled_size,
    select_regions,
)

COCO_SCALES = [(480, 512), (800, 1280), (1400, 2000)]
CITY_SCALES = [(2400, 3200), (1024, 2048), (600, 1200)]


def random_objects(rng, n, size, min_side=8.0, max_side=None):
    """``n`` boxes in an ``(H, W)`` image, side lengths log-uniform, aspect 0.5-2."""
    h, w = size
    max_side = max_side or 0.9 * min(h, w)
    side = np.exp(rng.uniform(np.log(min_side), np.log(max_side), n))
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    bw = np.minimum(side * np.sqrt(aspect), w - 1)
    bh = np.minimum(side / np.sqrt(aspect), h - 1)
    x0 = rng.uniform(0, w - bw)
    y0 = rng.uniform(0, h - bh)
    return np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)


def bench_cases(rng, cases_per_scale):
    rows = []
    for name, size, scales, (lo, hi) in [
        ("COCO", (480, 640), COCO_SCALES, (1, 15)),
        ("Cityscapes", (1024, 2048), CITY_SCALES, (5, 40)),
    ]:
        for scale in scales:
            hs, ws = scaled_size(size, scale)
            f = scale_factor(size, scale)
            t_fast, t_lit, n_det = 0.0, 0.0, 0
            for _ in range(cases_per_scale):
                n = int(rng.integers(lo, hi + 1))
                boxes = random_objects(rng, n, size) * f
                n_det += n
                t0 = time.perf_counter()
                for _rep in range(20):
                    fast = generate_candidates(boxes, (hs, ws), size)
                t_fast += (time.perf_counter() - t0) / 20
                t0 = time.perf_counter()
                lit = literal_algorithm1_vectorised(boxes, (hs, ws), size)
                t_lit += time.perf_counter() - t0
                if [(c.window, c.objects) for c in fast] != lit:
                    raise AssertionError(f"fast != literal on a {name} case at {scale}")
            rows.append(
                (
                    name,
                    scale,
                    (hs, ws),
                    n_det / cases_per_scale,
                    1e3 * t_lit / cases_per_scale,
                    1e3 * t_fast / cases_per_scale,
                )
            )
    return rows


def make_pool(rng, n_images, size=(480, 640)):
    """Simulated COCO-size pool: ground truth, and per scale detections of it."""
    # Objects per image: COCO averages ~7.3; draw 1 + Poisson(6.3), capped at 40.
    n_gt = np.minimum(1 + rng.poisson(6.3, n_images), 40)
    gt_off = np.concatenate([[0], np.cumsum(n_gt)]).astype(np.int64)
    gt = random_objects(rng, int(gt_off[-1]), size, min_side=4.0, max_side=400.0)
    gt_labels = rng.integers(0, 80, gt.shape[0])
    per_scale = []
    for scale in COCO_SCALES:
        f = scale_factor(size, scale)
        hs, ws = scaled_size(size, scale)
        # Each GT object is detected with probability rising with its scaled size,
        # with jitter, plus a few false positives; confidences spread over [0.3, 1].
        side = np.sqrt((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])) * f
        keep = rng.uniform(size=gt.shape[0]) < np.clip(side / 24.0, 0.15, 0.95)
        img_of = np.repeat(np.arange(n_images), n_gt)
        jitter = rng.normal(0, 0.04, size=gt.shape) * np.repeat(side[:, None], 4, axis=1)
        det = np.clip(gt * f + jitter, 0, [ws, hs, ws, hs])
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 1.0)
        det, img_of = det[keep], img_of[keep]
        order = np.argsort(img_of, kind="stable")
        det, img_of = det[order], img_of[order]
        counts = np.bincount(img_of, minlength=n_images)
        off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        conf = rng.uniform(0.3, 1.0, det.shape[0])
        labels = gt_labels[keep][order]
        per_scale.append(
            (
                scale,
                f,
                ScaleInput(
                    boxes=det,
                    offsets=off,
                    confidences=conf,
                    labels=labels,
                    scaled_sizes=np.tile([hs, ws], (n_images, 1)),
                    region_sizes=np.tile(list(size), (n_images, 1)),
                ),
            )
        )
    return gt, gt_off, gt_labels, per_scale


def bench_pool(rng, n_images, budget):
    t0 = time.perf_counter()
    gt, gt_off, gt_labels, per_scale = make_pool(rng, n_images)
    t_data = time.perf_counter() - t0
    factors = [f for _, f, _ in per_scale]
    class_counts = np.bincount(gt_labels[: gt_off[5000]], minlength=80)  # 5,000 labelled images

    def annotate(s, j, window):
        boxes = gt[gt_off[j] : gt_off[j + 1]] * factors[s]
        labelled, _, _ = acquire_region(boxes, window)
        return [(j, int(i)) for i in labelled]

    t0 = time.perf_counter()
    picked, cands, _, sel = select_regions(
        [si for _, _, si in per_scale], budget, annotate, class_counts=class_counts
    )
    t_sel = time.perf_counter() - t0
    n_det = sum(int(si.boxes.shape[0]) for _, _, si in per_scale)
    n_cand = sum(len(c) for c in cands)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "images": n_images,
        "image_scales": 3 * n_images,
        "detections": n_det,
        "candidates": n_cand,
        "picked": len(picked),
        "spent": sel.spent,
        "data_s": t_data,
        "select_s": t_sel,
        "peak_mb": peak_mb,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=8, help="cases per (dataset, scale)")
    ap.add_argument("--pool-images", type=int, default=118_287)
    ap.add_argument("--budget", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.cases, args.pool_images = 2, 5000
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    generate_candidates([[1, 1, 2, 2]], (4, 4), (3, 3))  # JIT-compile (cached on disk)
    select_regions(
        [
            ScaleInput(
                np.array([[1.0, 1, 2, 2]]),
                np.array([0, 1]),
                np.array([0.5]),
                np.array([0]),
                np.array([[4, 4]]),
                np.array([[3, 3]]),
            )
        ],
        1,
        lambda s, j, w: [0],
    )
    print(f"JIT warm-up (compile or load from cache): {time.perf_counter() - t0:.2f} s")

    print("\n1. Candidate generation per image-scale (mean over cases; results checked equal)")
    print(
        f"{'dataset':<11} {'scale':<13} {'scaled':<12} {'dets':>5} {'literal ms':>11} "
        f"{'mural ms':>9} {'speed-up':>9}"
    )
    rows = bench_cases(rng, args.cases)
    lit_total, fast_total = 0.0, 0.0
    for name, scale, hw, n, lit, fast in rows:
        lit_total += lit
        fast_total += fast
        print(
            f"{name:<11} {scale!s:<13} {f'{hw[0]}x{hw[1]}':<12} {n:5.1f} {lit:11.2f} "
            f"{fast:9.4f} {lit / fast:8.0f}x"
        )
    print(
        f"{'all':<11} {'':<13} {'':<12} {'':>5} {lit_total / len(rows):11.2f} "
        f"{fast_total / len(rows):9.4f} {lit_total / fast_total:8.0f}x  (mean time ratio)"
    )

    print(f"\n2. Pool: {args.pool_images:,} images x 3 COCO scales, B = {args.budget}")
    r = bench_pool(rng, args.pool_images, args.budget)
    print(
        f"   detections {r['detections']:,}, candidates {r['candidates']:,}, "
        f"picked {r['picked']:,} regions, spent {r['spent']} objects"
    )
    print(f"   candidates + scores + selection: {r['select_s']:.2f} s wall (one core)")
    print(f"   (simulated data generation, untimed: {r['data_s']:.2f} s)")
    print(f"   peak memory (ru_maxrss, whole process): {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
