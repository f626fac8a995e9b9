"""PPO's clipped surrogate objective (Schulman et al. 2017, eq. 7) with a clipped value loss."""

from __future__ import annotations

import jax.numpy as jnp


def ppo_loss(params, apply_fn, policy, traj, advantages, targets, hp, clip_value: bool):
    """Loss on a minibatch of ``[M, ...]`` transitions; returns ``(loss, aux metrics)``."""
    logits, log_std, value = apply_fn(params, traj.obs)
    log_prob = policy.log_prob(logits, log_std, traj.u)

    if clip_value:
        value_clipped = traj.value + jnp.clip(value - traj.value, -hp.clip_eps, hp.clip_eps)
        value_loss = (
            0.5 * jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2).mean()
        )
    else:
        value_loss = 0.5 * ((value - targets) ** 2).mean()

    log_ratio = log_prob - traj.log_prob
    ratio = jnp.exp(log_ratio)
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    actor_loss = -jnp.minimum(
        ratio * adv, jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps) * adv
    ).mean()
    entropy = policy.entropy(logits, log_std).mean()
    loss = actor_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    aux = {
        "loss_total": loss,
        "loss_actor": actor_loss,
        "loss_value": value_loss,
        "entropy": entropy,
        "approx_kl": ((ratio - 1.0) - log_ratio).mean(),  # Schulman's k3 estimator
        "clip_fraction": (jnp.abs(ratio - 1.0) > hp.clip_eps).mean(),
    }
    return loss, aux
