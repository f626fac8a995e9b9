"""Aggregate statistics over seeds: IQM, mean and stratified-bootstrap confidence intervals.

numpy only, so figure scripts can run without JAX. Conventions follow rliable
(Agarwal et al., 2021, "Deep RL at the Edge of the Statistical Precipice"):

* IQM is ``scipy.stats.trim_mean(x, 0.25)``: sort the ``n`` values, drop
  ``g = floor(0.25 * n)`` from each end and average the middle ``n - 2g``. For ``n`` a multiple
  of 4 this is exactly the middle half; otherwise slightly *more* than half is kept (``n = 5``
  keeps 3, ``n = 6`` keeps 4, ``n = 7`` keeps 5), and for ``n < 4`` nothing is dropped.
* The bootstrap is *stratified*: each task (stratum) resamples its own seeds with replacement,
  independently of the others, and the statistic is computed on the pooled resample. The interval
  is the percentile interval of the bootstrap distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

Statistic = Literal["iqm", "mean"]


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along ``axis`` (``scipy.stats.trim_mean(x, 0.25, axis)`` semantics).

    Args:
      x: array ``[..., n, ...]`` with ``n`` samples along ``axis``.
      axis: the sample axis.

    Returns:
      ``x`` with ``axis`` removed: the mean of the sorted values ``[g, n - g)``,
      ``g = floor(n / 4)``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty axis")
    g = int(0.25 * n)  # scipy's trim_mean: int(proportiontocut * nobs), i.e. floor
    s = np.sort(x, axis=axis)
    return np.take(s, np.arange(g, n - g), axis=axis).mean(axis=axis)


def mean(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Arithmetic mean along ``axis`` in float64 (``x`` ``[..., n, ...]`` -> ``axis`` removed)."""
    return np.asarray(x, dtype=np.float64).mean(axis=axis)


STATISTICS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"iqm": iqm, "mean": mean}


def _as_strata(scores: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """One array ``[n_seeds, *rest]`` per stratum; all strata must share ``rest``."""
    if isinstance(scores, np.ndarray) or not isinstance(scores, list | tuple):
        strata = [np.asarray(scores, dtype=np.float64)]
    else:
        strata = [np.asarray(s, dtype=np.float64) for s in scores]
    if not strata:
        raise ValueError("bootstrap_ci needs at least one stratum")
    rest = strata[0].shape[1:]
    for i, s in enumerate(strata):
        if s.ndim < 1 or s.shape[0] == 0:
            raise ValueError(f"stratum {i} has no seeds (shape {s.shape})")
        if s.shape[1:] != rest:
            raise ValueError(f"stratum {i} has trailing shape {s.shape[1:]}, expected {rest}")
    return strata


def bootstrap_ci(
    scores: np.ndarray | Sequence[np.ndarray],
    statistic: Statistic = "iqm",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and stratified-bootstrap percentile CI of an aggregate over seeds.

    Vectorised over trailing axes: a learning curve ``[n_seeds, T]`` gives per-``T`` estimates
    in one call. Memory is ``n_boot * sum(n_seeds) * prod(rest)`` float64s.

    Args:
      scores: one array ``[n_seeds, *rest]`` (a single task), or a list of per-task arrays
        ``[n_seeds_i, *rest]``; each task's seeds are resampled independently (stratified).
        With several tasks the statistic is taken over the pooled seeds of all tasks (as rliable
        does on its ``[runs, tasks]`` matrix).
      statistic: ``"iqm"`` or ``"mean"``.
      n_boot: number of bootstrap resamples.
      confidence: two-sided coverage of the interval, e.g. ``0.95``.
      seed: seed of the numpy generator; equal seeds give identical intervals.

    Returns:
      ``(point, lo, hi)``, each of shape ``rest`` (``()`` for 1-D scores), float64.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r}; expected one of {sorted(STATISTICS)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r}; expected a value in (0, 1)")
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot!r}; expected >= 1")
    stat = STATISTICS[statistic]
    strata = _as_strata(scores)
    point = stat(np.concatenate(strata, axis=0), 0)

    rng = np.random.default_rng(seed)
    # Draw indices stratum by stratum so a reference loop can reproduce them exactly.
    resampled = [s[rng.integers(0, s.shape[0], size=(n_boot, s.shape[0]))] for s in strata]
    boot = stat(np.concatenate(resampled, axis=1), 1)  # [n_boot, *rest]
    alpha = 100.0 * (1.0 - confidence) / 2.0
    lo, hi = np.percentile(boot, [alpha, 100.0 - alpha], axis=0)
    return point, lo, hi
