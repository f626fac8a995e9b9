"""Learned reward models (papers.md §3; theory.md §3).

* :mod:`~jaxrl.rewards.adversarial`: SAM / DAC off-policy adversarial-imitation discriminator,
  the minimax reward ``softplus(D) = −log(1 − σ(D))``, absorbing-state wrapping, and the
  ``adversarial_reward`` reward transform.
* :mod:`~jaxrl.rewards.penalties`: WGAN / DRAGAN / NAGARD gradient penalties (one- or two-sided)
  and spectral normalisation.
* :mod:`~jaxrl.rewards.preconditioning`: PURPLE pessimistic reward preconditioning with a learned
  forward model.
"""

from jaxrl.rewards.adversarial import (
    REWARD_TYPES,
    AbsorbingTransitions,
    AdvBatch,
    AdvDiscState,
    AdversarialConfig,
    AdversarialDiscriminator,
    AdversarialHParams,
    absorbing_state,
    absorbing_transitions,
    adversarial_reward,
    bernoulli_entropy,
    default_hparams,
    discriminator_input,
    discriminator_logits,
    init_discriminator,
    minimax_reward,
    reward_fn,
    reward_from_logits,
    train_discriminator_step,
    wrap_absorbing,
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
    RunningMoments,
    forward_grad_penalty,
    init_purple,
    precondition,
    psi_from_penalty,
    purple_preconditioning,
    train_forward_model_step,
    update_moments,
)

__all__ = [
    "GP_TYPES",
    "REWARD_TYPES",
    "AbsorbingTransitions",
    "AdvBatch",
    "AdvDiscState",
    "AdversarialConfig",
    "AdversarialDiscriminator",
    "AdversarialHParams",
    "ForwardModel",
    "PurpleConfig",
    "PurpleState",
    "RunningMoments",
    "absorbing_state",
    "absorbing_transitions",
    "adversarial_reward",
    "bernoulli_entropy",
    "default_hparams",
    "discriminator_input",
    "discriminator_logits",
    "forward_grad_penalty",
    "gradient_penalty",
    "init_discriminator",
    "init_purple",
    "input_gradient_norms",
    "minimax_reward",
    "penalty_from_norms",
    "penalty_points",
    "power_iteration",
    "precondition",
    "psi_from_penalty",
    "purple_preconditioning",
    "reward_fn",
    "reward_from_logits",
    "spectral_dense",
    "train_discriminator_step",
    "train_forward_model_step",
    "update_moments",
    "wrap_absorbing",
]
