"""Learning-curve figures: IQM/mean lines with bootstrap CI bands, atomic PNG output, captions.

Uses matplotlib's Agg backend (headless, no LaTeX) so figures rebuild on any machine from cached
results.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # don't switch a backend someone already chose
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jaxrl.analysis.stats import Statistic, bootstrap_ci  # noqa: E402
from jaxrl.experiment.results import atomic_write  # noqa: E402

STAT_NAMES = {"iqm": "IQM", "mean": "mean"}


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
