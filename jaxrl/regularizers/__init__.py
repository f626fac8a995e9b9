"""Occupancy-measure and action-distribution regularisers (ORPO; theory.md §4, papers.md §1.3).

* :mod:`~jaxrl.regularizers.occupancy`: exact χ², √χ², KL, TV between occupancy arrays.
* :mod:`~jaxrl.regularizers.exact_ascent`: exact ``J(π, R̃) − λ D(μ_π ‖ μ_ref)`` ascent and
  λ-curves, with pluggable occupancy / return functions.
* :mod:`~jaxrl.regularizers.discriminator`: logistic discriminator ``d ≈ log μ_π/μ_ref`` for deep
  RL, ORPO penalty rewards and the ``occupancy_penalty`` reward transform.
* :mod:`~jaxrl.regularizers.action_divergence`: the action-distribution (AD) KL / χ² baseline.
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
from jaxrl.regularizers.discriminator import (
    ORPO_REWARD_CLIP,
    PENALTIES,
    DiscBatch,
    DiscriminatorConfig,
    DiscriminatorNet,
    DiscState,
    OccupancyPenaltyParams,
    discriminator_logits,
    fit_discriminator_exact,
    init_discriminator,
    logistic_loss,
    occupancy_penalty,
    penalty_from_logits,
    train_discriminator,
    trimmed_mean,
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
    population_logistic_loss,
    sqrt_chi2,
    state_marginal,
    tv,
)

__all__ = [
    "DIVERGENCES",
    "ORPO_REWARD_CLIP",
    "PENALTIES",
    "AscentResult",
    "DiscBatch",
    "DiscState",
    "DiscriminatorConfig",
    "DiscriminatorNet",
    "OccupancyPenaltyParams",
    "ad_chi2_penalty",
    "ad_kl_penalty",
    "ad_kl_penalty_gaussian",
    "ad_penalty",
    "bayes_optimal_logit",
    "categorical_chi2",
    "categorical_kl",
    "chi2",
    "discriminator_logits",
    "divergence",
    "finite_horizon_fns",
    "fit_discriminator_exact",
    "finite_horizon_visits",
    "gaussian_chi2",
    "gaussian_kl",
    "init_discriminator",
    "kl",
    "logistic_loss",
    "logits_from_policy",
    "make_ascent",
    "occupancy_penalty",
    "optimize_regularized",
    "penalty_from_logits",
    "population_logistic_loss",
    "regularization_curve",
    "sqrt_chi2",
    "state_marginal",
    "tabular_fns",
    "train_discriminator",
    "trimmed_mean",
    "tv",
]
