"""Shared by the preference systems: a reward model's table, and PPO on the preference bandit.

Every system that optimises a policy against a learned RM does it the same way: the RM is
evaluated on every (prompt, response) of the testbed, normalised on the reference policy (mean 0,
std 1 under π_ref, as RLHF pipelines normalise their RMs), and PPO learns from the table through
:func:`jaxrl.rewards.reward_model.bandit_table_reward`, one table per run on the vmapped run axis;
the env's own reward, the episode user's gold utility, is logged beside as ``return_gold_reward``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents.normalizer import normalize
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs.preference_bandit import PreferenceBandit
from jaxrl.envs.preference_testbed import PreferenceTestbed
from jaxrl.experiment.sweep import run_sweep
from jaxrl.rewards.reward_model import bandit_table_reward

Array = Any


def rm_table(reward_fn, tb: PreferenceTestbed, normalise: bool = True) -> Array:
    """``reward_fn(features [..., F]) -> [...]`` on every (prompt, response): ``[P, K]``,
    normalised to mean 0 and std 1 under ``π_ref`` and uniform prompts (``normalise``)."""
    table = jnp.asarray(reward_fn(tb.features))
    return normalise_on_reference(table, tb) if normalise else table


def normalise_on_reference(table, tb: PreferenceTestbed) -> Array:
    """``(T − μ)/σ`` with μ, σ of ``T [..., P, K]`` under ``π_ref`` (uniform prompts)."""
    p = tb.ref_probs
    mu = jnp.mean(jnp.sum(p * table, -1), -1)[..., None, None]
    sd = jnp.sqrt(jnp.mean(jnp.sum(p * (table - mu) ** 2, -1), -1))[..., None, None]
    return (table - mu) / jnp.maximum(sd, 1e-8)


def kl_regularised_table(table, tb: PreferenceTestbed, beta: float) -> Array:
    """``r + β·log π_ref(a | p)`` for a table ``[..., P, K]``: with an entropy bonus β, PPO on it
    maximises ``E_π[r] − β·KL(π ‖ π_ref)`` (see :func:`train_on_tables`)."""
    return table + beta * jax.nn.log_softmax(tb.ref_logits, axis=-1)


def bandit_static(steps: int, num_chunks: int = 4) -> PPOStatic:
    """PPO on the bandit: 64 contexts x 4 steps per update, 2 epochs, constant LR."""
    return PPOStatic(
        total_timesteps=int(steps),
        num_envs=64,
        num_steps=4,
        update_epochs=2,
        num_minibatches=2,
        anneal_lr=False,
        hidden_sizes=(64, 64),
        num_chunks=num_chunks,
        num_eval_envs=8,
        eval_steps=1,
        eval_channel="gold_reward",
    )


def train_on_tables(
    tb: PreferenceTestbed,
    tables: Array,
    key: jax.Array,
    steps: int,
    *,
    learning_rate: float = 5e-3,
    ent_coef: float = 0.01,
    kl_coef: float = 0.0,
    num_chunks: int = 4,
    env: PreferenceBandit | None = None,
    env_params: Any = None,
    return_policy: bool = False,
):
    """PPO on the bandit, one run per reward table ``tables [n, U, P, K]`` (or ``[n, P, K]``,
    the same for every user), all in one vmapped program.

    ``kl_coef`` β > 0 optimises RLHF's KL-regularised objective ``E_π[r] − β·KL(π ‖ π_ref)``
    through the same reward path: the table becomes :func:`kl_regularised_table`
    ``r + β·log π_ref`` and PPO's entropy bonus grows by β, since
    ``E_π[r + β log π_ref] + β·H(π) = E_π[r] − β·KL(π ‖ π_ref)`` per context.

    Returns the per-update metrics ``[n, updates]`` as numpy: ``return_gold_reward`` (the
    sampled responses' mean gold utility), ``return_learner_reward`` (the RM's reward), ...;
    with ``return_policy`` also the final policies' exact logits ``[n, U, P, K]`` on every
    (user, prompt) context (zero context: the default ``env_params``).
    """
    tables = jnp.asarray(tables, jnp.float32)
    U, P, K = tb.shape
    if tables.ndim == 3:
        tables = jnp.broadcast_to(tables[:, None], (tables.shape[0], U, P, K))
    if tables.shape[1:] != (U, P, K):
        raise ValueError(f"train_on_tables: tables shape {tables.shape}, want (n, {U}, {P}, {K})")
    n = tables.shape[0]
    if kl_coef < 0:
        raise ValueError(f"train_on_tables: kl_coef={kl_coef} must be >= 0")
    if kl_coef > 0:
        tables = kl_regularised_table(tables, tb, kl_coef)
        ent_coef = ent_coef + kl_coef
    env = PreferenceBandit(tb) if env is None else env
    trainer = make_train(
        bandit_static(steps, num_chunks), env, bandit_table_reward(P, U), env_params
    )
    hp = trainer.check(PPOHParams(learning_rate=learning_rate, gamma=0.99, ent_coef=ent_coef))
    hp = hp.broadcast(n)._replace(transform=tables)
    keys = jax.random.key_data(jax.random.split(key, n))
    if not return_policy:
        metrics = run_sweep(None, None, trainer, keys, hp, progress=False)
        return {k: np.asarray(v) for k, v in metrics.items()}
    metrics, state = run_sweep(None, None, trainer, keys, hp, progress=False, return_state=True)
    obs = jnp.concatenate(  # every (user, prompt) context, [U, P, P + U]
        [jnp.broadcast_to(jnp.eye(P)[None], (U, P, P)),
         jnp.broadcast_to(jnp.eye(U)[:, None], (U, P, U))], -1)  # fmt: skip
    static = trainer.static

    def logits(params, stats):
        return trainer.network.apply(params, normalize(stats, obs, static.normalize_obs))[0]

    policy = jax.vmap(logits)(state.train_state.params, state.obs_stats)
    return {k: np.asarray(v) for k, v in metrics.items()}, policy
