"""The two tasks of ``experiments.rlhf_shaping``: environment, PPO settings and the learner's
reward transform (every condition's shaping in one :func:`~jaxrl.shaping.select`, whose branch
index is swept on the run axis).

* ``bandit``: the toy RLHF testbed (:mod:`jaxrl.envs.rlhf_bandit`) with the Bradley–Terry proxy
  as reward, shaped by each of :data:`SHAPINGS`; :func:`bandit_conditions` adds the
  regularisation conditions.
* ``prm``: the repeated-step MDP (:mod:`jaxrl.envs.repeated_step`) with the learner reward
  ``f(prm_reward) + outcome_reward`` for ``f`` in :data:`PRM_VARIANTS`.
"""

from __future__ import annotations

import jax.numpy as jnp

from experiments.rlhf_shaping.config import RLHFShaping
from jaxrl.agents.ppo_config import PPOStatic
from jaxrl.envs.repeated_step import make_repeated_step
from jaxrl.envs.rlhf_bandit import RLHFBandit, RLHFTestbedConfig, build_testbed
from jaxrl.shaping import (
    add_channel,
    ceiling,
    chain,
    from_channel,
    identity,
    lsc,
    mean_std,
    min_max,
    mu_sigma_clip,
    par,
    prm_clip,
    prm_delta,
    select,
)

SHAPINGS = ("vanilla", "mean_std", "clip", "min_max", "lsc", "ceiling", "par")
PRM_VARIANTS = ("raw", "clip", "delta", "clip_delta")


def ppo_static(cfg: RLHFShaping, task: str) -> PPOStatic:
    """PPO's static settings of ``task``. Bandit: 64 prompts x 4 responses per update, no LR
    decay, evaluated on the gold reward of one-step episodes. PRM: 16 envs x 64 steps, evaluated
    on the outcome reward over the horizon."""
    if task == "bandit":
        steps = cfg.bandit_steps
        batch = dict(num_envs=64, num_steps=4, update_epochs=2, num_minibatches=2, anneal_lr=False)
        evaluation = dict(num_eval_envs=8, eval_steps=1, eval_channel="gold_reward")
    else:
        steps = cfg.prm_steps
        batch = dict(num_envs=16, num_steps=64, update_epochs=4, num_minibatches=4)
        evaluation = dict(eval_steps=cfg.prm_horizon, eval_channel="outcome_reward")
    return PPOStatic(
        total_timesteps=steps,
        hidden_sizes=(64, 64),
        num_chunks=cfg.num_chunks,
        **batch,
        **evaluation,
    )


def bandit_conditions(cfg: RLHFShaping):
    """``[(name, shaping index, (β_KL in loss, β_√χ² in loss, β_KL in reward))]``."""
    conds = [(s, i, (0.0, 0.0, cfg.reward_kl)) for i, s in enumerate(SHAPINGS)]
    # ablation: no regulariser at all (shows what the KL-in-reward does for PAR)
    conds += [
        ("vanilla_noreg", 0, (0.0, 0.0, 0.0)),
        ("par_noreg", SHAPINGS.index("par"), (0.0, 0.0, 0.0)),
    ]
    conds += [(f"kl_{b:g}", 0, (b, 0.0, 0.0)) for b in cfg.kl_coefs]
    conds += [(f"chi2_{b:g}", 0, (0.0, b, 0.0)) for b in cfg.chi2_coefs]
    return conds


def bandit_setup(cfg: RLHFShaping):
    """``(testbed, env, env_params, static, transform)``: the proxy reward through the shaping
    branch ``SHAPINGS[index]`` of ``transform``'s params ``(index, branch params)``."""
    testbed = build_testbed(RLHFTestbedConfig(seed=cfg.testbed_seed))
    env = RLHFBandit(testbed)
    env_params = env.default_params
    static = ppo_static(cfg, "bandit")
    # Reference-policy reward statistics fix the ceiling (mean + c·std of the reference proxy).
    p_ref = testbed.ref_probs
    mu = float(jnp.mean(jnp.sum(p_ref * testbed.proxy, -1)))
    sd = float(jnp.sqrt(jnp.mean(jnp.sum(p_ref * (testbed.proxy - mu) ** 2, -1))))
    c = mu + cfg.ceiling_sigmas * sd
    branches = {
        "vanilla": identity(),
        "mean_std": mean_std(),
        "clip": mu_sigma_clip(),
        "min_max": min_max(),
        "lsc": lsc(0.85),
        "ceiling": ceiling(c),
        "par": par(cfg.par_k),
    }
    transform = select(*(branches[s] for s in SHAPINGS))
    return testbed, env, env_params, static, transform


def prm_setup(cfg: RLHFShaping):
    """``(env, env_params, static, transform)``: ``f(prm_reward) + outcome_reward`` with ``f``
    the branch ``PRM_VARIANTS[index]`` of the middle params ``(index, branch params)``."""
    env, env_params = make_repeated_step(cfg.prm_n_required, max_steps_in_episode=cfg.prm_horizon)
    static = ppo_static(cfg, "prm")
    delta = prm_delta(batch_shape=(static.num_envs,), keep_last=cfg.delta_keep_last)
    shaping = select(
        identity(),
        prm_clip(cfg.clip_eta),
        delta,
        chain(prm_clip(cfg.clip_eta), delta),
    )
    transform = chain(from_channel("prm_reward"), shaping, add_channel("outcome_reward"))
    return env, env_params, static, transform
