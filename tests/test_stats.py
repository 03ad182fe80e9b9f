"""The comparison statistics against hand-computed cases and a printed t table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mural.stats import (
    equal_cost_grid,
    interpolate_curve,
    mean_std,
    normalised_auc,
    paired_difference,
    t_cdf,
    t_quantile,
)

# two-sided 95 % critical values t_{0.975, df} as printed in statistics tables
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 29: 2.045}


@pytest.mark.parametrize(("df", "want"), sorted(T975.items()))
def test_t_quantile_matches_the_printed_table(df: int, want: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(want, abs=6e-4)
    assert t_quantile(0.025, df) == pytest.approx(-want, abs=6e-4)


def test_t_cdf_closed_forms() -> None:
    # df = 1 is Cauchy: 1/2 + atan(t)/pi; df = 2: 1/2 + t / (2 sqrt(2 + t^2))
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    # large df tends to the normal: Phi(1.96) = 0.9750
    assert t_cdf(1.959964, 4000) == pytest.approx(0.975, abs=1e-4)
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_cdf(1.0, 0)


def test_t_against_scipy_when_present() -> None:
    stats = pytest.importorskip("scipy.stats", reason="scipy not installed: table test only")
    for df in (1, 2, 3, 6, 17, 51):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)


def test_mean_std_over_seeds_with_missing() -> None:
    v = np.array([[1.0, 2.0, np.nan], [3.0, np.nan, np.nan]])  # (S=2, K=3)
    m, s, n = mean_std(v)
    np.testing.assert_allclose(m[:2], [2.0, 2.0])
    np.testing.assert_allclose(s[:2], [math.sqrt(2.0), 0.0])
    assert math.isnan(m[2]) and math.isnan(s[2])
    np.testing.assert_array_equal(n, [2, 1, 0])
    with pytest.raises(ValueError):
        mean_std(np.zeros(3))


def test_interpolate_curve() -> None:
    x, y = [0, 10, 30], [0.0, 1.0, 2.0]
    got = interpolate_curve(x, y, [-1, 0, 5, 10, 20, 30, 31])
    np.testing.assert_allclose(got[1:6], [0.0, 0.5, 1.0, 1.5, 2.0])
    assert math.isnan(got[0]) and math.isnan(got[6])
    # a cycle that added nothing (x repeats): the later point's value at that cost
    np.testing.assert_allclose(interpolate_curve([0, 10, 10, 20], [0, 1, 3, 4], [10, 15]), [3, 3.5])
    with pytest.raises(ValueError):
        interpolate_curve([0, 2, 1], [0, 0, 0], [1])


def test_normalised_auc_hand_computed() -> None:
    x, y = [0, 10, 30], [0.0, 1.0, 1.0]
    # area: triangle 10 * 1 / 2 + rectangle 20 * 1 = 25 over a width of 30
    assert normalised_auc(x, y, 0, 30) == pytest.approx(25 / 30)
    # [5, 20]: trapezoid 5 * (0.5 + 1) / 2 + 10 * 1 = 13.75 over 15
    assert normalised_auc(x, y, 5, 20) == pytest.approx(13.75 / 15)
    assert math.isnan(normalised_auc(x, y, 0, 31))  # past the curve
    assert math.isnan(normalised_auc(x, y, 5, 5))  # empty range


def test_equal_cost_grid() -> None:
    np.testing.assert_array_equal(equal_cost_grid(25, 80), [0, 25, 50, 75])
    np.testing.assert_array_equal(equal_cost_grid(25, 75), [0, 25, 50, 75])
    assert equal_cost_grid(25, float("nan")).size == 0


def test_paired_difference_t_interval() -> None:
    d = paired_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    # d = 1, 2, 3: mean 2, std 1, n 3; half width t_{.975,2} / sqrt(3) = 4.3027 / 1.7321
    assert (d.mean, d.std, d.n) == (2.0, 1.0, 3)
    assert d.low == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert d.high == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)
    one = paired_difference([1.0, np.nan], [0.5, 0.0])  # the NaN pair is dropped
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.low)
    none = paired_difference([np.nan], [0.0])
    assert none.n == 0 and math.isnan(none.mean)
