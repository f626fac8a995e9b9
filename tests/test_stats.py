"""Tests for jaxrl.analysis.stats: IQM, mean and the stratified bootstrap."""

import numpy as np
import pytest

from jaxrl.analysis.stats import bootstrap_ci, iqm, mean


def test_iqm_multiple_of_four():
    # 1..8: g = floor(8/4) = 2 dropped from each end -> mean(3, 4, 5, 6) = 18/4 = 4.5.
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)
    # Order does not matter; outliers in the dropped quarters do not move it.
    assert iqm(np.array([100.0, 3, 5, -50, 4, 6, 1e9, -1e9])) == pytest.approx(4.5)


@pytest.mark.parametrize(
    "x, expected",
    [
        # n=5: g = floor(1.25) = 1 -> mean(2, 3, 4) = 3.0 (keeps 3 of 5, not 2.5 of 5).
        ([1, 2, 3, 4, 10], 3.0),
        # n=6: g = floor(1.5) = 1 -> mean(2, 3, 4, 5) = 3.5.
        ([1, 2, 3, 4, 5, 60], 3.5),
        # n=7: g = floor(1.75) = 1 -> mean(2, 3, 4, 5, 6) = 4.0.
        ([1, 2, 3, 4, 5, 6, 70], 4.0),
        # n=3: g = floor(0.75) = 0 -> plain mean (1 + 2 + 9) / 3 = 4.0.
        ([1, 2, 9], 4.0),
        # n=1: the value itself.
        ([7], 7.0),
    ],
)
def test_iqm_non_multiples_of_four(x, expected):
    assert iqm(np.asarray(x, dtype=float)) == pytest.approx(expected)


def test_iqm_matches_scipy_trim_mean():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for n in range(1, 14):
        x = rng.normal(size=(n, 3))
        np.testing.assert_allclose(iqm(x, axis=0), scipy_stats.trim_mean(x, 0.25, axis=0))
        np.testing.assert_allclose(iqm(x.T, axis=1), scipy_stats.trim_mean(x.T, 0.25, axis=1))


def test_mean_is_float64():
    assert mean(np.array([1, 2], dtype=np.int32)).dtype == np.float64
    assert mean(np.array([1, 2])) == 1.5


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_ci_contains_point_and_is_ordered(statistic):
    x = np.random.default_rng(0).normal(loc=2.0, size=(20,))
    point, lo, hi = bootstrap_ci(x, statistic=statistic)
    assert point.shape == lo.shape == hi.shape == ()
    assert lo <= point <= hi
    assert hi - lo > 0


def test_ci_shrinks_with_more_seeds():
    # Evenly spaced samples of the same population, so only the seed count changes.
    widths = []
    for n in (5, 20, 80):
        _, lo, hi = bootstrap_ci(np.linspace(0.0, 1.0, n), statistic="mean", n_boot=1000)
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # ~1/sqrt(n): quadrupling the seeds roughly halves the width.
    assert widths[1] / widths[2] == pytest.approx(2.0, rel=0.35)


def test_deterministic_with_seed():
    x = np.random.default_rng(0).normal(size=(10, 4))
    a = bootstrap_ci(x, seed=3)
    b = bootstrap_ci(x, seed=3)
    c = bootstrap_ci(x, seed=4)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])


def test_vectorised_over_learning_curve():
    x = np.random.default_rng(0).normal(size=(8, 5, 3))  # [seeds, T, extra]
    point, lo, hi = bootstrap_ci(x, n_boot=300)
    assert point.shape == lo.shape == hi.shape == (5, 3)
    np.testing.assert_allclose(point, iqm(x, axis=0))
    # Each time step equals a call on that column alone (same seed -> same indices).
    p1, lo1, hi1 = bootstrap_ci(x[:, 2, 1], n_boot=300)
    assert (p1, lo1, hi1) == pytest.approx((point[2, 1], lo[2, 1], hi[2, 1]))


def _reference_bootstrap(strata, statistic, n_boot, confidence, seed):
    """Slow loop: same index draws, statistic computed one resample and one time step at a time."""
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, s.shape[0], size=(n_boot, s.shape[0])) for s in strata]
    T = strata[0].shape[1]
    out = np.empty((3, T))
    for t in range(T):
        pooled = sorted(float(v) for s in strata for v in s[:, t])
        boots = []
        for b in range(n_boot):
            vals = sorted(float(s[i, t]) for s, ii in zip(strata, idx, strict=True) for i in ii[b])
            boots.append(_ref_stat(vals, statistic))
        a = 100 * (1 - confidence) / 2
        out[:, t] = (
            _ref_stat(pooled, statistic),
            np.percentile(boots, a),
            np.percentile(boots, 100 - a),
        )
    return out


def _ref_stat(sorted_vals, statistic):
    n = len(sorted_vals)
    g = n // 4 if statistic == "iqm" else 0
    kept = sorted_vals[g : n - g]
    return sum(kept) / len(kept)


@pytest.mark.parametrize("statistic", ["iqm", "mean"])
def test_matches_reference_loop_stratified(statistic):
    rng = np.random.default_rng(2)
    # Two tasks with different seed counts and scales, learning curves of length 3.
    strata = [rng.normal(size=(5, 3)), 10 + 3 * rng.normal(size=(7, 3))]
    point, lo, hi = bootstrap_ci(strata, statistic=statistic, n_boot=200, seed=7)
    ref = _reference_bootstrap(strata, statistic, n_boot=200, confidence=0.95, seed=7)
    np.testing.assert_allclose(np.stack([point, lo, hi]), ref, rtol=1e-12, atol=1e-12)


def test_stratification_keeps_task_proportions():
    # Task A is all 0, task B all 100; stratified resampling always keeps 4 of each, so every
    # bootstrap mean is exactly 50 and the interval collapses (an unstratified one would not).
    strata = [np.zeros(4), np.full(4, 100.0)]
    point, lo, hi = bootstrap_ci(strata, statistic="mean")
    assert point == lo == hi == 50.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_ci(np.ones(3), statistic="median")
    with pytest.raises(ValueError, match="trailing shape"):
        bootstrap_ci([np.ones((3, 2)), np.ones((3, 4))])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.ones(3), confidence=95)
