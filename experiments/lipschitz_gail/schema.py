"""The metrics ``lipschitz_gail`` writes (``metrics.npz``); the run axis is λ x seeds."""

from __future__ import annotations

from jaxrl.experiment.metric_specs import OFF_POLICY, spec, trainer_metrics
from jaxrl.experiment.schema import Schema

#: the adversarial reward's discriminator, per update (agent/expert batches).
DISCRIMINATOR = {
    "d_accuracy": "discriminator accuracy on agent and expert batches",
    "d_grad_norm_agent": "discriminator input-gradient norm on agent samples",
    "d_grad_norm_expert": "discriminator input-gradient norm on expert samples",
    "d_grad_norm_max": "largest discriminator input-gradient norm (Lipschitz estimate)",
    "d_grad_pen": "gradient penalty term",
    "d_loss": "discriminator loss",
    "d_reward_agent": "learned reward on agent samples",
    "d_reward_expert": "learned reward on expert samples",
    "learned_reward": "mean learned reward on the replay batch",
}
#: the critic's smoothness and PURPLE's reward modulation, per update (sam.py).
CRITIC_SMOOTHNESS = {
    "q_jacobian_norm": "mean ‖∇_{s,a} Q1(s, a)‖ of the first critic on the critic batch",
    "purple_scale": "mean PURPLE modulation ψ in [ψ_min, 1] of the replay batch (1 without PURPLE)",
}
SCHEMA = Schema(
    "lipschitz_gail",
    trainer_metrics(OFF_POLICY)
    + tuple(spec(k, ("run", "update"), d) for k, d in (DISCRIMINATOR | CRITIC_SMOOTHNESS).items()),
)
