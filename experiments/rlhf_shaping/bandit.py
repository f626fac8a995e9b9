"""The RLHF bandit program of ``experiments.rlhf_shaping``: a behaviour-cloned reference
policy, regularisation towards it (RLHF's per-token KL in the reward; an in-loss KL or √χ²
estimator, papers.md §1.3) and the PPO program that trains every condition x seed in one vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.rlhf_shaping.config import RLHFShaping
from experiments.rlhf_shaping.tasks import bandit_conditions, bandit_setup
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams
from jaxrl.experiment.sweep import broadcast_runs, grid_keys, per_seed

LINEARISE_AT = 10.0


# ----------------------------------------------------------------------------- regularisers
def exp_linearised(x, at: float = LINEARISE_AT):
    """``e^x`` for ``x ≤ at``, continued linearly (value and slope ``e^at``) beyond."""
    return jnp.where(x > at, jnp.exp(at) * (1.0 + x - at), jnp.exp(jnp.minimum(x, at)))


def divergence_estimates(log_ratio):
    """The RLHF estimators of papers.md §1.3 from ``ℓ = log π − log π_ref`` on samples of π:
    ``KL ≈ mean(ℓ + e^{−ℓ} − 1)`` and ``χ² ≈ mean((e^ℓ − 1) + (e^{−ℓ} − 1))`` (the second term
    is a zero-mean control variate), with e^x linearised beyond ±10."""
    l = log_ratio
    inv = exp_linearised(-l) - 1.0
    kl = jnp.mean(l + inv)
    chi2 = jnp.mean(exp_linearised(l) - 1.0 + inv)
    return kl, chi2


def reference_regulariser(network, ref_params, floor: float = 1e-4):
    """PPO ``extra_loss``: ``β_KL·KL̂ + β_χ²·√max(χ̂², floor)`` with
    ``β_KL, β_χ² = hp.aux_coef[0], hp.aux_coef[1]``.

    ``ℓ`` is differentiated pathwise (as the source's in-loss regulariser): on samples of π the
    gradient of ``mean(ℓ + e^{−ℓ})`` is ``∇KL(π_ref‖π)`` and that of the χ² estimate is
    ``∇[½χ²(π‖π_ref) + KL(π_ref‖π)]``: both divergences vanish only at π = π_ref.
    """

    def extra_loss(params, mb, hp):
        logits = network.apply(params, mb.obs)[0]
        ref_logits = jax.lax.stop_gradient(network.apply(ref_params, mb.obs)[0])
        u = mb.u.astype(jnp.int32)[..., None]
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), u, -1)[..., 0]
        logq = jnp.take_along_axis(jax.nn.log_softmax(ref_logits), u, -1)[..., 0]
        kl, chi2 = divergence_estimates(logp - logq)
        coef = jnp.asarray(hp.aux_coef)
        loss = coef[0] * kl + coef[1] * jnp.sqrt(jnp.maximum(chi2, floor))
        return loss, {"kl_estimate": kl, "chi2_estimate": chi2}

    return extra_loss


def behaviour_clone(network, params, obs, target_probs, steps: int = 500, lr: float = 1e-2):
    """Fit the actor of ``params`` to ``target_probs [B, A]`` at ``obs [B, D]`` (cross-entropy)."""
    tx = optax.adam(lr)

    def loss(p):
        logits = network.apply(p, obs)[0]
        return -jnp.mean(jnp.sum(target_probs * jax.nn.log_softmax(logits), -1))

    @jax.jit
    def fit(p):
        def step(carry, _):
            p, s = carry
            value, g = jax.value_and_grad(loss)(p)
            upd, s = tx.update(g, s, p)
            return (optax.apply_updates(p, upd), s), value

        (p, _), losses = jax.lax.scan(step, (p, tx.init(p)), None, steps)
        return p, losses

    return fit(params)


def with_actor(params, actor):
    """``params`` with the actor MLP (``MLP_0``) replaced by ``actor``'s."""
    inner = dict(params["params"])
    inner["MLP_0"] = actor["params"]["MLP_0"]
    return {**params, "params": inner}


# ----------------------------------------------------------------------------- program
def reference_log_prob(network, ref_params):
    """``log π_ref(u | obs)`` of the frozen reference actor."""

    def fn(obs, u):
        logits = network.apply(ref_params, obs)[0]
        u = u.astype(jnp.int32)[..., None]
        return jnp.take_along_axis(jax.nn.log_softmax(logits), u, -1)[..., 0]

    return fn


def rlhf_chunk(trainer, network, ref_params, testbed):
    """PPO chunk with RLHF's per-token KL penalty in the reward and exact bandit metrics.

    Each update: roll out; ``r ← r − β_r·(log π_old(a|c) − log π_ref(a|c))`` with
    ``β_r = hp.aux_coef[2]`` (the standard RLHF KL-in-reward, whose policy gradient is that of
    ``E r − β_r·KL(π‖π_ref)``); GAE; PPO's learn (which adds the in-loss regulariser
    ``aux_coef[0:2]``). Then the exact expected gold/proxy reward, length and KL(π‖π_ref) of the
    updated policy (uniform prompts) are logged as ``exact_*``.
    """
    static = trainer.static
    ref_logp = reference_log_prob(network, ref_params)
    obs_all = jnp.eye(testbed.gold.shape[0])
    gold, proxy = jnp.asarray(testbed.gold), jnp.asarray(testbed.proxy)
    lengths = jnp.asarray(testbed.lengths)
    log_ref = jax.nn.log_softmax(network.apply(ref_params, obs_all)[0])

    def update(rs, hp):
        rs, traj = trainer.rollout(rs, hp)
        log_ratio = traj.log_prob - ref_logp(traj.obs, traj.u)
        traj = traj._replace(reward=traj.reward - jnp.asarray(hp.aux_coef)[2] * log_ratio)
        adv, targets = trainer.advantages(rs, traj, hp)
        rs, metrics = trainer.learn(rs, traj, adv, targets, hp)
        logp = jax.nn.log_softmax(network.apply(rs.train_state.params, obs_all)[0])
        p = jnp.exp(logp)
        metrics["exact_gold"] = jnp.mean(jnp.sum(p * gold, -1))
        metrics["exact_proxy"] = jnp.mean(jnp.sum(p * proxy, -1))
        metrics["exact_length"] = jnp.mean(p @ lengths)
        metrics["exact_kl"] = jnp.mean(jnp.sum(p * (logp - log_ref), -1))
        return rs, metrics

    def chunk(rs, hp):
        rs, metrics = jax.lax.scan(lambda s, _: update(s, hp), rs, None, static.updates_per_chunk)
        metrics["eval_return"] = trainer.evaluate(rs, hp)[None]
        metrics["eval_env_steps"] = (rs.update * static.batch_size)[None]
        return rs, metrics

    return chunk


def bandit_program(cfg: RLHFShaping):
    """Everything a bandit run needs: ``(init, chunk, hp, keys, conds, static, testbed, extra)``.

    Reference policy: PPO's actor behaviour-cloned to π_ref (one init, shared by every run); each
    run starts from it (its critic is initialised per seed) and is regularised towards it.
    """
    testbed, env, env_params, static, transform = bandit_setup(cfg)
    net = make_train(static, env, transform, env_params).network
    obs_all = jnp.eye(env.num_contexts)
    ref_params, _ = behaviour_clone(
        net, net.init(jax.random.key(cfg.seed + 7), obs_all[0]), obs_all, testbed.ref_probs
    )
    ref_logits = net.apply(ref_params, obs_all)[0]
    kl_bc = jnp.sum(
        testbed.ref_probs * (jnp.log(testbed.ref_probs) - jax.nn.log_softmax(ref_logits)), -1
    )
    trainer = make_train(
        static, env, transform, env_params, extra_loss=reference_regulariser(net, ref_params)
    )

    def init(key, hp):
        rs = trainer.init(key, hp)
        params = with_actor(rs.train_state.params, ref_params)
        return rs._replace(train_state=rs.train_state.replace(params=params))

    chunk = rlhf_chunk(trainer, net, ref_params, testbed)
    conds = bandit_conditions(cfg)
    n = len(conds) * cfg.seeds
    index = jnp.asarray(per_seed([c[1] for c in conds], cfg.seeds, np.int32))
    coefs = jnp.asarray(per_seed([c[2] for c in conds], cfg.seeds, np.float32))  # [n, 3]
    branch_params = broadcast_runs(transform.default_params[1], n)
    hp = PPOHParams(learning_rate=cfg.bandit_lr, gamma=0.99, ent_coef=0.0)
    hp = hp.broadcast(n)._replace(aux_coef=coefs, transform=(index, branch_params))
    hp = trainer.check(hp)  # every run's coefficients (aux_coef >= 0), before compiling
    keys = jax.random.key_data(grid_keys(cfg.seed, cfg.seeds, len(conds)))  # c reuses the seeds
    extra = {"reference_bc_kl": float(jnp.mean(kl_bc))}
    return init, chunk, hp, keys, conds, static, testbed, extra
