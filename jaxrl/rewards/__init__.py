"""Learned reward models (papers.md §1.3, §3; theory.md §3, §4).

* :mod:`~jaxrl.rewards.discriminator`: the one discriminator (network on ``(s, a)``, ``s`` or
  ``(s, s')`` inputs, optional spectral normalisation and DAC absorbing states, Adam state).
* :mod:`~jaxrl.rewards.occupancy_ratio`: its ORPO head, ``d ≈ log μ_π/μ_ref`` by logistic loss,
  the penalty rewards and the ``occupancy_penalty`` reward transform.
* :mod:`~jaxrl.rewards.adversarial`: its GAIL head (SAM / DAC off-policy adversarial imitation),
  the minimax reward ``softplus(D) = −log(1 − σ(D))`` and the ``adversarial_reward`` transform.
* :mod:`~jaxrl.rewards.penalties`: WGAN / DRAGAN / NAGARD gradient penalties (one- or two-sided)
  and spectral normalisation.
* :mod:`~jaxrl.rewards.preconditioning`: PURPLE pessimistic reward preconditioning with a learned
  forward model.
"""

from jaxrl.rewards.adversarial import (
    AdversarialHParams,
    adversarial_reward,
    bce_with_logits,
    bernoulli_entropy,
    default_hparams,
    gail_config,
    minimax_reward,
    reward_fn,
    reward_from_logits,
    train_adversarial_step,
)
from jaxrl.rewards.discriminator import (
    INPUTS,
    REWARD_TYPES,
    AbsorbingTransitions,
    DiscBatch,
    Discriminator,
    DiscriminatorConfig,
    DiscState,
    absorbing_state,
    absorbing_transitions,
    discriminator_input,
    discriminator_logits,
    init_discriminator,
    network_logits,
    wrap_absorbing,
)
from jaxrl.rewards.occupancy_ratio import (
    ORPO_REWARD_CLIP,
    PENALTIES,
    OccupancyPenaltyParams,
    fit_occupancy_ratio_exact,
    logistic_loss,
    occupancy_penalty,
    orpo_config,
    penalty_from_logits,
    population_logistic_loss,
    train_occupancy_ratio,
    trimmed_mean,
)
from jaxrl.rewards.penalties import (
    GP_TYPES,
    gradient_penalty,
    input_gradient_norms,
    penalty_from_norms,
    penalty_points,
    power_iteration,
    spectral_dense,
)
from jaxrl.rewards.preconditioning import (
    ForwardModel,
    PurpleConfig,
    PurpleState,
    forward_grad_penalty,
    init_purple,
    precondition,
    psi_from_penalty,
    purple_preconditioning,
    train_forward_model_step,
)

__all__ = [
    "GP_TYPES",
    "INPUTS",
    "ORPO_REWARD_CLIP",
    "PENALTIES",
    "REWARD_TYPES",
    "AbsorbingTransitions",
    "AdversarialHParams",
    "DiscBatch",
    "DiscState",
    "Discriminator",
    "DiscriminatorConfig",
    "ForwardModel",
    "OccupancyPenaltyParams",
    "PurpleConfig",
    "PurpleState",
    "absorbing_state",
    "absorbing_transitions",
    "adversarial_reward",
    "bce_with_logits",
    "bernoulli_entropy",
    "default_hparams",
    "discriminator_input",
    "discriminator_logits",
    "fit_occupancy_ratio_exact",
    "forward_grad_penalty",
    "gail_config",
    "gradient_penalty",
    "init_discriminator",
    "init_purple",
    "input_gradient_norms",
    "logistic_loss",
    "minimax_reward",
    "network_logits",
    "occupancy_penalty",
    "orpo_config",
    "penalty_from_logits",
    "penalty_from_norms",
    "penalty_points",
    "population_logistic_loss",
    "power_iteration",
    "precondition",
    "psi_from_penalty",
    "purple_preconditioning",
    "reward_fn",
    "reward_from_logits",
    "spectral_dense",
    "train_adversarial_step",
    "train_forward_model_step",
    "train_occupancy_ratio",
    "trimmed_mean",
    "wrap_absorbing",
]
