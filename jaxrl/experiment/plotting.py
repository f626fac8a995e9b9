"""Learning-curve figures: IQM/mean lines with bootstrap CI bands, atomic PNG output, captions.

Uses matplotlib's Agg backend (headless, no LaTeX) so figures rebuild on any machine from cached
results. A figure script (``paper_figures/*.py``) reads its runs with :func:`figure_args` and
:func:`latest_runs`, loads metrics through its experiment's schema
(``RunDir.load_metrics(schema=...)``), draws panels with :func:`curve_panel` (or
:func:`plot_curves`) and writes the PNG with its caption underneath via :func:`save_captioned`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # don't switch a backend someone already chose
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jaxrl.analysis.stats import Statistic, bootstrap_ci  # noqa: E402
from jaxrl.experiment.results import ResultsError, ResultsStore, RunDir, atomic_write  # noqa: E402

STAT_NAMES = {"iqm": "IQM", "mean": "mean"}


def figure_args(doc: str | None, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a figure script's command line: ``--results`` (the results root it reads, default
    ``results``) and ``--out`` (where it writes, default ``paper_figures/out``)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--results", default="results")
    parser.add_argument("--out", default="paper_figures/out")
    return parser.parse_args(argv)


def missing_runs(experiment: str, results: str | os.PathLike) -> SystemExit:
    """The error a figure script raises when ``results`` holds no finished run it can draw."""
    return SystemExit(
        f"no finished {experiment} runs under {results}/; run `python -m experiments.{experiment}` "
        "first"
    )


def usable_runs(store: ResultsStore, experiment: str) -> list[RunDir]:
    """The finished runs of ``experiment`` that a figure can read: a directory with ``DONE`` but
    no ``config.json`` or no ``*.npz`` metrics (a stray or half-copied directory) is skipped
    with a warning naming it, rather than breaking the figure."""
    usable = []
    for run in store.finished_runs(experiment):
        missing = [n for n in ("config.json",) if not (run.path / n).is_file()]
        if not any(run.path.glob("*.npz")):
            missing.append("metrics (*.npz)")
        if missing:
            warnings.warn(
                f"skipping {run.path}: marked DONE but has no {' and no '.join(missing)}",
                stacklevel=2,
            )
            continue
        usable.append(run)
    return usable


def check_matches(run: RunDir, what: str, data: Any, config: Any) -> None:
    """Raise :class:`~jaxrl.experiment.results.ResultsError` unless the metrics' ``data`` value
    of ``what`` equals what the run's ``config`` says (a run holding another setting's data)."""
    if data != config:
        raise ResultsError(
            f"run {run.run_id!r} ({run.path}): its metrics have {what} = {data!r}, but its "
            f"config.json says {config!r}; the data do not match the config, refusing to plot it"
        )


def latest_runs(
    results: str | os.PathLike,
    experiment: str,
    key: Callable[[dict[str, Any]], Hashable],
) -> dict[Hashable, RunDir]:
    """The newest finished run of ``experiment`` per ``key(run.config)``.

    Args:
      results: the results root.
      experiment: experiment name (``results/<experiment>/``).
      key: groups runs by their config, e.g. ``lambda c: c["env"]``.

    Returns:
      key -> run, in the order in which each key first finished (a newer run replaces an older
      one in place).

    Raises:
      SystemExit: there is no finished run (see :func:`missing_runs`).
    """
    runs: dict[Hashable, RunDir] = {}
    done = usable_runs(ResultsStore(results), experiment)
    for run in sorted(done, key=lambda r: r.done_time() or ""):
        runs[key(run.config)] = run
    if not runs:
        raise missing_runs(experiment, results)
    return runs


def ci_verdict(
    a: np.ndarray, b: np.ndarray, statistic: Statistic = "iqm", confidence: float = 0.95
) -> tuple[str, np.ndarray, np.ndarray]:
    """Compare two samples' point estimates with their bootstrap CIs, for a caption sentence.

    Args:
      a, b: ``[seeds]`` scores.
      statistic, confidence: as in :func:`bootstrap_ci` (2000 resamples, seed 0).

    Returns:
      ``("above" | "below" | "not distinguishable from", (point, lo, hi) of a, of b)``: above or
      below only when the two CIs are disjoint.
    """
    ea = np.asarray(bootstrap_ci(np.asarray(a), statistic, 2000, confidence, 0))
    eb = np.asarray(bootstrap_ci(np.asarray(b), statistic, 2000, confidence, 0))
    verdict = "below" if ea[2] < eb[1] else "above" if ea[1] > eb[2] else "not distinguishable from"
    return verdict, ea, eb


def split_conditions(
    metric: np.ndarray, conditions: Sequence[str], seeds: int
) -> dict[str, np.ndarray]:
    """Split a condition-major stacked ``[len(conditions) * seeds, ...]`` array per condition."""
    metric = np.asarray(metric)
    return {c: metric[i * seeds : (i + 1) * seeds] for i, c in enumerate(conditions)}


def plot_curves(
    ax: Axes,
    x: np.ndarray,
    curves: Mapping[str, np.ndarray],
    statistic: Statistic = "iqm",
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    colors: Mapping[str, Any] | None = None,
    band_alpha: float = 0.2,
    **line_kwargs: Any,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Draw one line per label (point estimate over seeds) with its bootstrap CI band.

    Args:
      ax: matplotlib axes to draw on.
      x: ``[T]`` x values (e.g. env steps).
      curves: label -> scores ``[seeds, T]``.
      statistic: ``"iqm"`` or ``"mean"`` over seeds.
      confidence: CI coverage (default 95%).
      n_boot: bootstrap resamples.
      seed: bootstrap seed (figures are deterministic).
      colors: optional label -> colour.
      band_alpha: opacity of the CI band.
      **line_kwargs: passed to ``ax.plot``.

    Returns:
      label -> ``(point, lo, hi)``, each ``[T]``, for captions or tables.
    """
    x = np.asarray(x)
    out = {}
    for label, scores in curves.items():
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape[1] != x.shape[0]:
            raise ValueError(
                f"curve {label!r} has shape {scores.shape}, expected [seeds, {len(x)}]"
            )
        point, lo, hi = bootstrap_ci(scores, statistic, n_boot, confidence, seed)
        kw = dict(line_kwargs)
        if colors and label in colors:
            kw["color"] = colors[label]
        (line,) = ax.plot(x, point, label=label, **kw)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=band_alpha, linewidth=0)
        out[label] = (point, lo, hi)
    return out


def curve_panel(
    ax: Axes,
    x: np.ndarray,
    curves: Mapping[str, np.ndarray],
    statistic: Statistic = "iqm",
    *,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    grid: bool = True,
    **plot_kwargs: Any,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One learning-curve panel: :func:`plot_curves`, then title, axis labels and a light grid.

    Args:
      ax, x, curves, statistic: as in :func:`plot_curves`.
      title, xlabel, ylabel: set where given.
      grid: draw the grid (``alpha=0.3``).
      **plot_kwargs: passed to :func:`plot_curves` (``colors``, line styles, ...).

    Returns:
      :func:`plot_curves`' label -> ``(point, lo, hi)``.
    """
    out = plot_curves(ax, x, curves, statistic, **plot_kwargs)
    if title is not None:
        ax.set_title(title)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if grid:
        ax.grid(alpha=0.3)
    return out


def caption(
    n_seeds: int | Sequence[int],
    budget: str,
    statistic: Statistic = "iqm",
    confidence: float = 0.95,
    n_boot: int = 2000,
    extra: str = "",
) -> str:
    """A caption sentence stating seeds, budget and statistic.

    Args:
      n_seeds: seeds per curve (an int, or one per curve if they differ).
      budget: training budget in words, e.g. ``"1M env steps"``.
      statistic: the aggregate drawn.
      confidence: CI coverage.
      n_boot: bootstrap resamples.
      extra: appended sentence(s), e.g. which return (training or evaluation) is shown.
    """
    counts = sorted({n_seeds} if isinstance(n_seeds, int) else set(n_seeds))
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    text = (
        f"{STAT_NAMES[statistic]} over {seeds} seeds, {budget}; shaded: "
        f"{round(100 * confidence)}% stratified-bootstrap CI ({n_boot} resamples)."
    )
    return f"{text} {extra}".strip()


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Atomically write ``fig`` as PNG (temp file in the same directory, then rename)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_figure writes PNG; got {path}")
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))


def save_captioned(
    fig: Figure,
    path: str | os.PathLike,
    text: str,
    *,
    y: float = -0.02,
    fontsize: float = 7,
    wrap: bool = False,
) -> Path:
    """Put ``text`` (the caption) under the figure at ``(0.01, y)``, tighten the layout, and
    write the PNG atomically with :func:`save_figure`."""
    fig.text(0.01, y, text, fontsize=fontsize, va="top", wrap=wrap)
    fig.tight_layout()
    return save_figure(fig, path)
