"""The statistics of a comparison over seeds (``compare.json``; the report's tables).

:func:`summarise` reads runs grouped by label (:func:`mural.report.group_runs`) and returns
plain data (written as ``compare.json`` by the report):

- ``labels[L].cycles``: per cycle, over the label's seeds, mean ± std of the objects added
  after the initial set, of mAP and AP50, and of the objects the cycle's selection spent;
- ``cost_range``: ``[lo, hi]``, the costs every run reached: ``lo`` the largest first
  cost (0), ``hi`` the smallest last cost over all runs of all labels that added objects
  (a no-acquisition control, strategy ``none``, adds none: its AUC and its differences
  are NaN, and the others' range is unchanged);
- ``labels[L].auc``: per seed, the normalised area under the mAP-against-cost curve over
  ``cost_range`` (:func:`mural.stats.normalised_auc`), and mean ± std;
- ``equal_cost``: the grid ``0, B, 2B, ...`` (B the budget) up to ``hi``; per label the
  mAP interpolated on it (mean ± std): strategies compared at equal cost even when one
  spent more than another per cycle (the budget rule stops at or above B);
- ``paired``: for each pair of labels ``a - b`` on their common seeds, the per-seed
  differences of the AUC and of the mAP at the last grid cost, with mean, std, n and the
  95 % Student-t interval of the mean (:func:`mural.stats.paired_difference`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .stats import (
    equal_cost_grid,
    interpolate_curve,
    mean_std,
    normalised_auc,
    paired_difference,
)

__all__ = ["FORMAT", "cycle_matrix", "run_curve", "summarise"]

FORMAT = "mural-compare/1"


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def run_curve(records: Sequence[dict[str, Any]], key: str = "mAP") -> tuple[Any, Any]:
    """``(x, y)``, each ``(K,)``: a run's added objects and ``key`` per finished cycle."""
    x = np.array([_num(r.get("added_objects")) for r in records])
    y = np.array([_num(r.get(key)) for r in records])
    return x, y


def _f(v: float) -> float | None:
    """A JSON-safe float (None for NaN)."""
    return None if not math.isfinite(v) else float(v)


def _ms(values: np.ndarray) -> dict[str, Any]:
    """``{"mean", "std", "n"}`` of a ``(S,)`` array (NaN = missing)."""
    m, s, n = mean_std(values.reshape(-1, 1))
    return {"mean": _f(m[0]), "std": _f(s[0]), "n": int(n[0])}


def cycle_matrix(group: Sequence[Any], key: str, k: int) -> np.ndarray:
    """``(S, K)`` of ``key`` per run and cycle index (NaN past a run's last cycle)."""
    out = np.full((len(group), k), np.nan)
    for i, r in enumerate(group):
        for j, rec in enumerate(r.records[:k]):
            out[i, j] = _num(rec.get(key))
    return out


def _selects(run: Any, rec: dict[str, Any]) -> bool:
    """Whether the record's cycle ran a selection (every cycle but the config's last)."""
    last = (run.config or {}).get("cycles")
    return last is None or int(rec.get("cycle", 0)) < int(last)


def _budget(groups: dict[str, list[Any]]) -> float | None:
    for g in groups.values():
        for r in g:
            b = (r.config or {}).get("budget")
            if b is not None:
                return float(b)
    return None


def summarise(
    groups: dict[str, list[Any]], key: str = "mAP", confidence: float = 0.95
) -> dict[str, Any]:
    """The comparison statistics of runs grouped by label (see the module docstring).

    ``groups`` maps a label to its runs (objects with ``seed``, ``records`` and
    ``config`` like :class:`mural.report.RunData`); seeds pair across labels by number.
    """
    runs = [r for g in groups.values() for r in g if r.records]
    curves = {id(r): run_curve(r.records, key) for r in runs}
    lo = max((float(c[0][0]) for c in curves.values()), default=float("nan"))
    # a run that never adds an object (the no-acquisition control) has no cost range
    spending = [c for c in curves.values() if c[0][-1] > c[0][0]]
    hi = min((float(c[0][-1]) for c in spending), default=lo)
    budget = _budget(groups)
    grid = equal_cost_grid(budget, hi) if budget else np.zeros(0)
    out: dict[str, Any] = {
        "format": FORMAT,
        "metric": key,
        "budget": budget,
        "cost": "objects labelled after the initial set",
        "cost_range": [_f(lo), _f(hi)],
        "confidence": confidence,
        "equal_cost_grid": grid.tolist(),
        "labels": {},
        "paired": [],
    }
    auc: dict[str, dict[int, float]] = {}
    final: dict[str, dict[int, float]] = {}
    for label, group in groups.items():
        k = max((len(r.records) for r in group), default=0)
        x, y = cycle_matrix(group, "added_objects", k), cycle_matrix(group, key, k)
        y50, spent = cycle_matrix(group, "AP50", k), cycle_matrix(group, "selected_objects", k)
        cycles = []
        for j in range(k):
            row = {
                "cycle": j,
                "added_objects": _ms(x[:, j]),
                key: _ms(y[:, j]),
                "AP50": _ms(y50[:, j]),
            }
            sel = [_selects(r, r.records[j]) for r in group if len(r.records) > j]
            if any(sel):
                row["spent"] = _ms(spent[:, j])
            cycles.append(row)
        auc[label], final[label] = {}, {}
        at_grid = np.full((len(group), grid.size), np.nan)
        for i, r in enumerate(group):
            if not r.records:
                continue
            rx, ry = curves[id(r)]
            auc[label][r.seed] = normalised_auc(rx, ry, lo, hi)
            if rx[-1] <= rx[0]:  # a control that adds nothing has no value at a cost
                continue
            at_grid[i] = interpolate_curve(rx, ry, grid)
            if grid.size:
                final[label][r.seed] = float(at_grid[i, -1])
        gm, gs, gn = mean_std(at_grid)
        spent_sel = [  # the cycles that selected (all but a finished run's last)
            float(rec.get("selected_objects") or 0)
            for r in group
            for rec in r.records
            if _selects(r, rec)
        ]
        a = np.array(list(auc[label].values()) or [np.nan])
        out["labels"][label] = {
            "seeds": [r.seed for r in group],
            "cycles": cycles,
            "auc": {"per_seed": {str(s): _f(v) for s, v in auc[label].items()}, **_ms(a)},
            "equal_cost": {
                "mean": [_f(v) for v in gm],
                "std": [_f(v) for v in gs],
                "n": [int(v) for v in gn],
            },
            "mean_spent_per_cycle": _f(float(np.mean(spent_sel))) if spent_sel else None,
            "overshoot": _f(float(np.mean(spent_sel)) / budget - 1.0)
            if spent_sel and budget
            else None,
        }
    labels = list(groups)
    for ia, a_label in enumerate(labels):
        for b_label in labels[ia + 1 :]:
            for metric, table in (("auc", auc), (f"{key}@equal_cost", final)):
                common = sorted(set(table[a_label]) & set(table[b_label]))
                if not common:
                    continue
                va = np.array([table[a_label][s] for s in common])
                vb = np.array([table[b_label][s] for s in common])
                d = paired_difference(va, vb, confidence)
                out["paired"].append(
                    {
                        "a": a_label,
                        "b": b_label,
                        "metric": metric,
                        "cost": _f(float(grid[-1])) if metric != "auc" and grid.size else None,
                        "per_seed": {
                            str(s): _f(float(v)) for s, v in zip(common, va - vb, strict=True)
                        },
                        "mean": _f(d.mean),
                        "std": _f(d.std),
                        "n": d.n,
                        "low": _f(d.low),
                        "high": _f(d.high),
                    }
                )
    return out
