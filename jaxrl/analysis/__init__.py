"""Analysis: aggregate statistics over seeds (IQM, bootstrap CIs)."""

from jaxrl.analysis.stats import bootstrap_ci, iqm, mean

__all__ = ["bootstrap_ci", "iqm", "mean"]
