"""Literal reference implementations of the paper's algorithms, written for clarity only.

They follow the printed pseudo-code (Algorithm 1 over every integer position, Algorithm 2
round-robin) with the contract's tie rule (docs/contract.md), with no cleverness, so the fast
code can be checked against them.
"""

from __future__ import annotations

import numpy as np


def literal_algorithm1(boxes, image_size, region_size):
    """Algorithm 1 over every integer position; ties to the first window in row-major order.

    Returns a list of ``(window, objects)`` with ``window = (x0, y0, x1, y1)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    hs, ws = image_size
    hr, wr = region_size
    regions = []
    for top in range(max(0, hs - hr) + 1):  # "for x in (0, H_i - H_r)"
        for left in range(max(0, ws - wr) + 1):
            inside = {
                i
                for i, (x0, y0, x1, y1) in enumerate(boxes)
                if left <= x0 and x1 <= left + wr and top <= y0 and y1 <= top + hr
            }
            if inside:
                regions.append(((left, top, left + wr, top + hr), inside))
    out = []
    while regions:
        best = max(range(len(regions)), key=lambda k: (len(regions[k][1]), -k))
        window, objs = regions[best]
        taken = set(objs)
        out.append((window, tuple(sorted(taken))))
        regions = [(w, o - taken) for w, o in regions]
        regions = [(w, o) for w, o in regions if o]
    return out


def literal_algorithm1_vectorised(boxes, image_size, region_size):
    """Algorithm 1 over every position, vectorised in NumPy (the benchmark's baseline).

    Each greedy step counts, for every position, the remaining objects it contains by
    broadcasting the per-box row and column containment over the full position grid.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    hs, ws = image_size
    hr, wr = region_size
    tops = np.arange(max(0, hs - hr) + 1)
    lefts = np.arange(max(0, ws - wr) + 1)
    rows = (tops[None, :] <= boxes[:, 1:2]) & (tops[None, :] + hr >= boxes[:, 3:4])  # (N, T)
    cols = (lefts[None, :] <= boxes[:, 0:1]) & (lefts[None, :] + wr >= boxes[:, 2:3])  # (N, L)
    alive = rows.any(axis=1) & cols.any(axis=1)
    out = []
    while alive.any():
        idx = np.flatnonzero(alive)
        inside = rows[idx][:, :, None] & cols[idx][:, None, :]  # (n, T, L)
        counts = inside.sum(axis=0)
        p = int(np.argmax(counts))  # first maximum in row-major order
        t, c = divmod(p, lefts.shape[0])
        taken = idx[inside[:, t, c]]
        left, top = int(lefts[c]), int(tops[t])
        out.append(((left, top, left + wr, top + hr), tuple(int(i) for i in taken)))
        alive[taken] = False
    return out


def literal_algorithm2(per_scale, budget, scale_aware=True):
    """Algorithm 2 as printed, with already labelled objects costing nothing."""
    if scale_aware:
        lists = [
            sorted(range(len(c)), key=lambda k, c=c: -c[k][0]) for c in per_scale
        ]  # Python's sort is stable
        picks, spent, seen = [], 0, set()
        if budget <= 0:
            return picks
        while any(lists):
            for s, lst in enumerate(lists):
                if not lst:
                    continue
                k = lst.pop(0)
                new = set(per_scale[s][k][1]) - seen
                seen |= new
                spent += len(new)
                picks.append((s, k))
                if spent >= budget:
                    return picks
        return picks
    union = [(sc, s, k) for s, c in enumerate(per_scale) for k, (sc, _) in enumerate(c)]
    union.sort(key=lambda t: -t[0])
    picks, spent, seen = [], 0, set()
    if budget <= 0:
        return picks
    for _, s, k in union:
        new = set(per_scale[s][k][1]) - seen
        seen |= new
        spent += len(new)
        picks.append((s, k))
        if spent >= budget:
            break
    return picks
