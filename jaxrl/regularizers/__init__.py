"""Occupancy-measure and action-distribution regularisers (ORPO; theory.md §4, papers.md §1.3).

* :mod:`~jaxrl.regularizers.occupancy`: exact χ², √χ², KL, TV between occupancy arrays.
* :mod:`~jaxrl.regularizers.exact_ascent`: exact ``J(π, R̃) − λ D(μ_π ‖ μ_ref)`` ascent and
  λ-curves, with pluggable occupancy / return functions.
* :mod:`~jaxrl.regularizers.action_divergence`: the action-distribution (AD) KL / χ² baseline.

The deep-RL estimate ``d ≈ log μ_π/μ_ref`` (the discriminator), ORPO's penalty rewards and the
``occupancy_penalty`` reward transform live one layer down, in
:mod:`jaxrl.rewards.occupancy_ratio`.
"""

from jaxrl.regularizers.action_divergence import (
    ad_chi2_penalty,
    ad_kl_penalty,
    ad_kl_penalty_gaussian,
    ad_penalty,
    categorical_chi2,
    categorical_kl,
    gaussian_chi2,
    gaussian_kl,
)
from jaxrl.regularizers.exact_ascent import (
    AscentResult,
    finite_horizon_fns,
    finite_horizon_visits,
    logits_from_policy,
    make_ascent,
    optimize_regularized,
    regularization_curve,
    tabular_fns,
)
from jaxrl.regularizers.occupancy import (
    DIVERGENCES,
    bayes_optimal_logit,
    chi2,
    divergence,
    kl,
    sqrt_chi2,
    state_marginal,
    tv,
)

__all__ = [
    "DIVERGENCES",
    "AscentResult",
    "ad_chi2_penalty",
    "ad_kl_penalty",
    "ad_kl_penalty_gaussian",
    "ad_penalty",
    "bayes_optimal_logit",
    "categorical_chi2",
    "categorical_kl",
    "chi2",
    "divergence",
    "finite_horizon_fns",
    "finite_horizon_visits",
    "gaussian_chi2",
    "gaussian_kl",
    "kl",
    "logits_from_policy",
    "make_ascent",
    "optimize_regularized",
    "regularization_curve",
    "sqrt_chi2",
    "state_marginal",
    "tabular_fns",
    "tv",
]
