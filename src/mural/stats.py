"""Statistics for comparing active-learning curves over seeds (pure NumPy functions).

The quantities ``mural compare`` and ``mural report`` publish (``docs/compare.md``):

- a curve is a run's mAP ``y`` against its annotation cost ``x`` (objects labelled after
  the initial set), one point per cycle, read as the piecewise-linear function through
  those points;
- :func:`normalised_auc`: the area under that function over a cost range ``[lo, hi]``
  divided by ``hi - lo`` (the curve's mean mAP over the range; exact trapezoids, since the
  function is linear between points);
- :func:`interpolate_curve`: the curve's value at given costs (comparison at equal cost);
- :func:`mean_std`: mean and sample standard deviation over seeds;
- :func:`paired_difference`: the mean of per-seed differences with a Student-t interval
  (seeds pair: they share the initial set and the cycle-0 detector);
- :func:`t_quantile`: Student's t quantile for an integer number of degrees of freedom,
  computed from the closed-form distribution function (no SciPy needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "PairedDifference",
    "equal_cost_grid",
    "interpolate_curve",
    "mean_std",
    "normalised_auc",
    "paired_difference",
    "t_cdf",
    "t_quantile",
]


def t_cdf(t: float, df: int) -> float:
    """``P(T <= t)`` for Student's t with an integer ``df >= 1`` degrees of freedom.

    Uses the finite series of ``A(t|df) = P(|T| <= |t|)`` in ``theta = atan(t / sqrt(df))``
    (Abramowitz & Stegun 26.7.3/26.7.4): for odd ``df``
    ``A = 2/pi * (theta + sin(theta) cos(theta) (1 + 2/3 cos^2 + ... ))``, for even ``df``
    ``A = sin(theta) (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)``.
    """
    if df < 1 or int(df) != df:
        raise ValueError(f"df must be an integer >= 1, got {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    theta = math.atan(abs(t) / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        total, term = 0.0, 1.0
        for k in range(1, (df - 1) // 2 + 1):  # terms cos^(2k-2) * (2*4..)/(3*5..)
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        a = 2.0 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    else:
        total, term = 0.0, 1.0
        for k in range(1, df // 2 + 1):  # terms cos^(2k-2) * (1*3..)/(2*4..)
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        a = s * total
    a = min(max(a, 0.0), 1.0)
    return 0.5 + a / 2 if t >= 0 else 0.5 - a / 2


def t_quantile(p: float, df: int) -> float:
    """The ``x`` with ``P(T <= x) = p`` for Student's t (integer ``df >= 1``), ``0 < p < 1``.

    Bisection on :func:`t_cdf` to ``1e-12`` relative precision (e.g. ``t_quantile(0.975, 2)``
    is 4.3027).
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def mean_std(
    values: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per column of ``values`` ``(S, K)`` (``S`` seeds, ``K`` points; NaN = missing): the
    mean, the sample standard deviation (``ddof=1``; 0 for one value) and the count of
    finite values. Each output is ``(K,)``; a column with no finite value has NaN mean and
    std."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be (S, K), got shape {v.shape}")
    fin = np.isfinite(v)
    n = fin.sum(axis=0).astype(np.int64)
    mean = np.full(v.shape[1], np.nan)
    std = np.full(v.shape[1], np.nan)
    for k in range(v.shape[1]):
        col = v[fin[:, k], k]
        if col.size:
            mean[k] = col.mean()
            std[k] = col.std(ddof=1) if col.size > 1 else 0.0
    return mean, std, n


def interpolate_curve(x: ArrayLike, y: ArrayLike, grid: ArrayLike) -> NDArray[np.float64]:
    """The piecewise-linear curve through ``(x[k], y[k])`` evaluated at ``grid``.

    Args:
        x: ``(K,)`` non-decreasing costs (e.g. objects labelled after the initial set).
        y: ``(K,)`` values at those costs (e.g. mAP).
        grid: ``(G,)`` costs to read the curve at.

    Returns:
        ``(G,)``: linear interpolation between the neighbouring points; NaN outside
        ``[x[0], x[-1]]``. Where ``x`` repeats (a cycle that added nothing), a grid point on
        the repeated cost reads the later point's value.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be (K,) alike, got {xs.shape} and {ys.shape}")
    if xs.size == 0:
        return np.full(g.shape, np.nan)
    if np.any(np.diff(xs) < 0):
        raise ValueError("x must be non-decreasing")
    out = np.full(g.shape, np.nan)
    for i, gi in enumerate(g):
        if not xs[0] <= gi <= xs[-1]:
            continue
        j = int(np.searchsorted(xs, gi, side="right"))  # first point beyond gi
        if j >= xs.size:
            out[i] = ys[-1]
            continue
        x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
        out[i] = y0 if x1 == x0 else y0 + (y1 - y0) * (gi - x0) / (x1 - x0)
    return out


def normalised_auc(x: ArrayLike, y: ArrayLike, lo: float, hi: float) -> float:
    """Area under the piecewise-linear curve ``(x, y)`` over ``[lo, hi]``, divided by
    ``hi - lo``: the curve's mean value over the cost range.

    Args:
        x: ``(K,)`` non-decreasing costs; y: ``(K,)`` values.
        lo, hi: the range, inside ``[x[0], x[-1]]`` and with ``hi > lo``.

    Returns:
        The trapezoid sum over the points ``lo``, the ``x`` strictly inside ``(lo, hi)``
        and ``hi`` (values by :func:`interpolate_curve`), divided by ``hi - lo``; NaN when
        the range is empty or not covered by the curve, or a value in it is NaN.
    """
    xs = np.asarray(x, dtype=np.float64)
    if not (hi > lo) or xs.size == 0 or lo < xs[0] or hi > xs[-1]:
        return float("nan")
    inner = xs[(xs > lo) & (xs < hi)]
    pts = np.concatenate([[lo], inner, [hi]])
    vals = interpolate_curve(xs, y, pts)
    area = float(np.sum((pts[1:] - pts[:-1]) * (vals[1:] + vals[:-1]) / 2.0))
    return area / (hi - lo)


def equal_cost_grid(budget: float, hi: float) -> NDArray[np.float64]:
    """``(G,)`` costs ``0, budget, 2 * budget, ...`` up to ``hi`` (inclusive): where every
    strategy's curve is read when strategies spent different amounts per cycle."""
    if budget <= 0 or not math.isfinite(hi) or hi < 0:
        return np.zeros(0)
    return np.arange(0, math.floor(hi / budget + 1e-9) + 1, dtype=np.float64) * budget


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` over paired seeds: ``mean`` and sample ``std`` of the ``n`` differences
    and the two-sided ``confidence`` t-interval ``[low, high]`` of their mean
    (``mean ± t_{(1+confidence)/2, n-1} * std / sqrt(n)``; NaN when ``n < 2``)."""

    mean: float
    std: float
    n: int
    low: float
    high: float
    confidence: float


def paired_difference(a: ArrayLike, b: ArrayLike, confidence: float = 0.95) -> PairedDifference:
    """The paired difference ``a - b`` of two ``(n,)`` arrays (one value per seed, same
    seed order); pairs where either is NaN are dropped."""
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    if va.shape != vb.shape or va.ndim != 1:
        raise ValueError(f"a and b must be (n,) alike, got {va.shape} and {vb.shape}")
    d = (va - vb)[np.isfinite(va) & np.isfinite(vb)]
    n = int(d.size)
    if n == 0:
        nan = float("nan")
        return PairedDifference(nan, nan, 0, nan, nan, confidence)
    mean = float(d.mean())
    if n < 2:
        return PairedDifference(mean, 0.0, 1, float("nan"), float("nan"), confidence)
    std = float(d.std(ddof=1))
    half = t_quantile((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return PairedDifference(mean, std, n, mean - half, mean + half, confidence)
