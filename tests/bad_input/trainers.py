"""Bad input to the trainers (issue 13, item 1): every trainer checks its static config when it is
built, and its hyperparameters and its transform's γ on the first call (``trainer(key, hp)``,
``trainer.init`` and ``jax.jit(jax.vmap(trainer))``), so none of these passes silently."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.errors import JaxRuntimeError

from bad_input.case import Case

KEY = 0


def _key(n: int | None = None):
    key = jax.random.key(KEY)
    return key if n is None else jax.random.split(key, n)


# ----------------------------------------------------------------------------- builders
@functools.cache
def _ppo(pbrs_gamma: float | None = None):
    from jaxrl.agents.ppo import make_train
    from jaxrl.agents.ppo_config import PPOStatic
    from jaxrl.envs import make
    from jaxrl.shaping import potential_based
    from jaxrl.shaping.heuristics import cartpole_upright

    env, env_params = make("CartPole-v1")
    static = PPOStatic(
        num_envs=2,
        num_steps=8,
        total_timesteps=32,
        num_minibatches=2,
        update_epochs=1,
        hidden_sizes=(8,),
        num_eval_envs=2,
        eval_steps=2,
    )
    transform = None if pbrs_gamma is None else potential_based(cartpole_upright(), pbrs_gamma)
    return make_train(static, env, transform, env_params)


def _ppo_hp(**kw):
    from jaxrl.agents.ppo_config import PPOHParams

    tr = _ppo(kw.pop("pbrs_gamma", None))
    return tr, PPOHParams(transform=tr.transform.default_params, **kw)


def ppo_call(**kw):
    tr, hp = _ppo_hp(**kw)
    return tr(_key(), hp)


def ppo_init(**kw):
    tr, hp = _ppo_hp(**kw)
    return tr.init(_key(), hp)


def ppo_jit_vmap(n=2, **kw):
    tr, hp = _ppo_hp(**kw)
    return jax.block_until_ready(jax.jit(jax.vmap(tr))(_key(n), hp.broadcast(n)))


def ppo_jit_vmap_init(n=3, **kw):
    tr, hp = _ppo_hp(**kw)
    return jax.block_until_ready(jax.jit(jax.vmap(tr.init))(_key(n), hp.broadcast(n)))


def ppo_static(**kw):
    from jaxrl.agents.ppo_config import PPOStatic

    return PPOStatic(**kw)


def orpo_init(hp_kw=None, pbrs_gamma=None, **static_kw):
    from jaxrl.agents.orpo import ORPOStatic, make_orpo
    from jaxrl.agents.ppo_config import PPOHParams
    from jaxrl.shaping import potential_based
    from jaxrl.shaping.heuristics import cartpole_upright

    ppo = _ppo()
    orpo = ORPOStatic(**{"method": "om", "disc_hidden": (8,), "disc_epochs": 1, **static_kw})
    transform = None if pbrs_gamma is None else potential_based(cartpole_upright(), pbrs_gamma)
    ref = ppo.network.init(jax.random.key(1), jnp.zeros(4))
    tr = make_orpo(ppo.static, orpo, ppo.env, ref, transform, ppo.env_params, ("true_reward",))
    hp = PPOHParams(transform=tr.transform.default_params, **(hp_kw or {}))
    return tr.init(_key(), hp)


@functools.cache
def _offpolicy(algo: str):
    from jaxrl.agents import sac, td3
    from jaxrl.envs import make

    env, env_params = make("Pendulum-v1")
    mod = {"td3": td3, "sac": sac}[algo]
    static_cls = {"td3": td3.TD3Static, "sac": sac.SACStatic}[algo]
    static = static_cls(
        total_timesteps=40,
        buffer_capacity=40,
        batch_size=4,
        learning_starts=10,
        log_interval=20,
        hidden_sizes=(8,),
        num_eval_envs=2,
        eval_steps=2,
    )
    return mod.make_train(static, env, env_params=env_params)


def td3_call(**kw):
    from jaxrl.agents.td3 import TD3HParams

    return _offpolicy("td3")(_key(), TD3HParams(**kw))


def sac_init(**kw):
    from jaxrl.agents.sac import SACHParams

    return _offpolicy("sac").init(_key(), SACHParams(**kw))


def sac_static(**kw):
    from jaxrl.agents.sac import SACStatic

    return SACStatic(**kw)


def sam_init(**disc):
    from jaxrl.agents import sam
    from jaxrl.envs import make

    env, env_params = make("Pendulum-v1")
    static = sam.SAMStatic(
        total_timesteps=40,
        buffer_capacity=40,
        batch_size=4,
        learning_starts=10,
        log_interval=20,
        hidden_sizes=(8,),
        disc_hidden_sizes=(8,),
        num_eval_envs=2,
        eval_steps=2,
    )

    class Demos:
        obs = np.zeros((8, 3), np.float32)
        action = np.zeros((8, 1), np.float32)

    tr = sam.make_train(static, env, Demos(), env_params)
    return tr.init(_key(), sam.sam_hparams(**disc))


@functools.cache
def _q(pbrs_gamma: float | None = None):
    from jaxrl.agents import q_learning as ql
    from jaxrl.mdp import TabularMDP
    from jaxrl.shaping import potential_based
    from jaxrl.shaping.potential import potential_from_table

    rng = np.random.default_rng(0)
    S, A = 4, 2
    mdp = TabularMDP.create(rng.dirichlet(np.ones(S), (S, A)), rng.standard_normal((S, A, S)), 0.9)
    transform = None
    if pbrs_gamma is not None:
        transform = potential_based(potential_from_table(np.arange(S, dtype=float)), pbrs_gamma)
    return ql.make_train(ql.QLearningStatic(num_steps=20, eval_every=10), mdp, transform)


def q_call(pbrs_gamma=None, **kw):
    from jaxrl.agents.q_learning import QLearningHParams

    tr = _q(pbrs_gamma)
    return tr(_key(), QLearningHParams(transform=tr.transform.default_params, **kw))


def q_jit_vmap_init(n=2, **kw):
    from jaxrl.agents.q_learning import QLearningHParams

    hp = QLearningHParams(**kw).broadcast(n)
    return jax.block_until_ready(jax.jit(jax.vmap(_q().init))(_key(n), hp))


def q_static(**kw):
    from jaxrl.agents.q_learning import QLearningStatic

    return QLearningStatic(**kw)


def _chain():
    from test_reinforce import Chain, one_hot_pos

    f, n = one_hot_pos(3)
    return Chain(3, aux_arm=0), f, n


def reinforce_init(pbrs_gamma=0.9, **kw):
    from jaxrl.agents import reinforce as rf
    from jaxrl.shaping.aux_reward import aux_shaping

    env, f, n = _chain()
    static = rf.ReinforceStatic(episodes=4, num_chunks=2, num_eval_episodes=2)
    tr = rf.make_train(static, env, f, n, None, aux_shaping(gamma=pbrs_gamma))
    hp = rf.ReinforceHParams(**{"gamma": 0.9, "transform": (1.0, 0.5, 0.0), **kw})
    return tr.init(_key(), hp)


def reinforce_static(**kw):
    from jaxrl.agents import reinforce as rf

    return rf.ReinforceStatic(**kw)


def barfi_init(**kw):
    from jaxrl.bilevel import barfi

    env, f, n = _chain()
    static = barfi.BarfiStatic(episodes=12, num_chunks=2, buffer_size=6, hess_batch=2, delta=3)
    tr = barfi.make_train(static, env, f, n)
    return tr.init(_key(), barfi.BarfiHParams(**{"gamma": 0.9, **kw}))


def barfi_jit_vmap_init(n=3, **kw):
    from jaxrl.bilevel import barfi

    env, f, n_feat = _chain()
    static = barfi.BarfiStatic(episodes=12, num_chunks=2, buffer_size=6, hess_batch=2, delta=3)
    tr = barfi.make_train(static, env, f, n_feat)
    hp = barfi.BarfiHParams(**{"gamma": 0.9, **kw}).broadcast(n)
    return jax.block_until_ready(jax.jit(jax.vmap(tr.init))(_key(n), hp))


def barfi_static(**kw):
    from jaxrl.bilevel import barfi

    return barfi.BarfiStatic(**kw)


def P(fn, **kw):
    """``fn(**kw)`` as a ``run`` of no argument (the suite passes ``tmp_path`` to one with any)."""
    return lambda: fn(**kw)


MISMATCH = ("built for gamma=0.9", "hparams.gamma", "0.99", "allow_gamma_mismatch")
RUNTIME = (JaxRuntimeError,)

CASES: list[Case] = [
    # γ of a potential-based transform vs the learner's: silent before (issue 13)
    Case("trainer-ppo-pbrs-gamma-mismatch-call", P(ppo_call, pbrs_gamma=0.9), ValueError, MISMATCH),
    Case("trainer-ppo-pbrs-gamma-mismatch-init", P(ppo_init, pbrs_gamma=0.9), ValueError, MISMATCH),
    Case(
        "trainer-ppo-pbrs-gamma-mismatch-jit-vmap",
        P(ppo_jit_vmap, pbrs_gamma=0.9),
        RUNTIME,
        (*MISMATCH, "inside jit/vmap"),
    ),
    Case(
        "trainer-ppo-pbrs-gamma-mismatch-sweep-index",
        P(ppo_call, pbrs_gamma=0.9, gamma=np.array([0.9, 0.9, 0.99])),
        ValueError,
        ("hparams.gamma[2]", "0.99", "built for gamma=0.9"),
    ),
    Case(
        "trainer-orpo-pbrs-gamma-mismatch-init",
        P(orpo_init, pbrs_gamma=0.9),
        ValueError,
        MISMATCH,
    ),
    Case(
        "trainer-q-pbrs-gamma-mismatch-call",
        P(q_call, pbrs_gamma=0.5),
        ValueError,
        ("built for gamma=0.5", "hparams.gamma", "0.9"),
    ),
    Case(
        "trainer-reinforce-pbrs-gamma-mismatch-init",
        P(reinforce_init, pbrs_gamma=0.9, gamma=0.99),
        ValueError,
        MISMATCH,
    ),
    # γ out of [0, 1]
    Case(
        "trainer-ppo-gamma-1.5-call",
        P(ppo_call, gamma=1.5),
        ValueError,
        ("PPOHParams.gamma", "1.5", "[0, 1]"),
    ),
    Case(
        "trainer-ppo-gamma-negative-init",
        P(ppo_init, gamma=-0.1),
        ValueError,
        ("PPOHParams.gamma", "-0.1", "[0, 1]"),
    ),
    Case(
        "trainer-ppo-gamma-1.5-jit-vmap-init",
        P(ppo_jit_vmap_init, gamma=1.5),
        RUNTIME,
        ("PPOHParams.gamma", "1.5", "[0, 1]"),
    ),
    Case(
        "trainer-sac-gamma-1.01-init",
        P(sac_init, gamma=1.01),
        ValueError,
        ("SACHParams.gamma", "1.01"),
    ),
    Case(
        "trainer-q-gamma-1.5-call",
        P(q_call, gamma=1.5),
        ValueError,
        ("QLearningHParams.gamma", "1.5"),
    ),
    Case(
        "trainer-barfi-gamma-1.5-init",
        P(barfi_init, gamma=1.5),
        ValueError,
        ("BarfiHParams.gamma", "1.5"),
    ),
    # learning rates, probabilities, coefficients whose sign matters
    Case(
        "trainer-ppo-negative-lr-call",
        P(ppo_call, learning_rate=-3e-4),
        ValueError,
        ("PPOHParams.learning_rate", "-0.0003", "> 0"),
    ),
    Case(
        "trainer-ppo-clip-eps-2-init",
        P(ppo_init, clip_eps=2.0),
        ValueError,
        ("PPOHParams.clip_eps", "2.0", "[0, 1]"),
    ),
    Case(
        "trainer-ppo-negative-ent-coef-init",
        P(ppo_init, ent_coef=-0.01),
        ValueError,
        ("PPOHParams.ent_coef", "-0.01", ">= 0"),
    ),
    Case(
        "trainer-ppo-gamma-string-init",
        P(ppo_init, gamma="0.99"),
        TypeError,
        ("PPOHParams.gamma", "'0.99'", "not a number"),
    ),
    Case(
        "trainer-ppo-sweep-bad-lr-index-call",
        P(ppo_call, learning_rate=np.array([1e-4, -1e-3, 1e-2])),
        ValueError,
        ("PPOHParams.learning_rate[1]", "-0.001"),
    ),
    Case(
        "trainer-ppo-sweep-bad-gae-lambda-jit-vmap-init",
        P(ppo_jit_vmap_init, gae_lambda=np.array([0.95, 0.9, 1.2])),
        RUNTIME,
        ("PPOHParams.gae_lambda", "1.2", "[0, 1]"),
    ),
    Case(
        "trainer-orpo-negative-kl-coef-init",
        P(orpo_init, hp_kw={"aux_coef": -1.0}),
        ValueError,
        ("PPOHParams.aux_coef", "-1.0", ">= 0"),
    ),
    Case("trainer-td3-tau-1.5-call", P(td3_call, tau=1.5), ValueError, ("TD3HParams.tau", "1.5")),
    Case(
        "trainer-td3-negative-noise-call",
        P(td3_call, exploration_noise=-0.1),
        ValueError,
        ("TD3HParams.exploration_noise", "-0.1"),
    ),
    Case(
        "trainer-sac-target-entropy-ratio-2-init",
        P(sac_init, target_entropy_ratio=2.0),
        ValueError,
        ("SACHParams.target_entropy_ratio", "2.0"),
    ),
    Case(
        "trainer-sam-negative-grad-pen-init",
        P(sam_init, grad_pen_scale=-1.0),
        ValueError,
        ("SAMHParams.disc.grad_pen_scale", "-1.0"),
    ),
    Case(
        "trainer-q-epsilon-2-call",
        P(q_call, epsilon=2.0),
        ValueError,
        ("QLearningHParams.epsilon", "2.0"),
    ),
    Case(
        "trainer-q-negative-alpha-jit-vmap-init",
        P(q_jit_vmap_init, alpha=-0.1),
        RUNTIME,
        ("QLearningHParams.alpha", "-0.1", "> 0"),
    ),
    Case(
        "trainer-reinforce-negative-entropy-coef-init",
        P(reinforce_init, entropy_coef=-0.5),
        ValueError,
        ("ReinforceHParams.entropy_coef", "-0.5"),
    ),
    Case(
        "trainer-reinforce-zero-gauss-std-init",
        P(reinforce_init, gauss_std=0.0),
        ValueError,
        ("ReinforceHParams.gauss_std", "0.0", "> 0"),
    ),
    Case(
        "trainer-barfi-negative-reward-lr-init",
        P(barfi_init, reward_lr=-0.1),
        ValueError,
        ("BarfiHParams.reward_lr", "-0.1"),
    ),
    Case(
        "trainer-barfi-negative-neumann-k-jit-vmap-init",
        P(barfi_jit_vmap_init, neumann_K=-1),
        RUNTIME,
        ("BarfiHParams.neumann_K", "-1"),
    ),
    # static configs: wrong types, non-positive sizes
    Case(
        "trainer-ppo-static-num-envs-str",
        P(ppo_static, num_envs="8"),
        TypeError,
        ("num_envs", "'8'"),
    ),
    Case(
        "trainer-ppo-static-num-steps-negative",
        P(ppo_static, num_steps=-128),
        ValueError,
        ("PPOStatic.num_steps", "-128"),
    ),
    Case(
        "trainer-ppo-static-hidden-size-zero",
        P(ppo_static, hidden_sizes=(64, 0)),
        ValueError,
        ("PPOStatic.hidden_sizes", "(64, 0)", "> 0"),
    ),
    Case(
        "trainer-sac-static-batch-size-zero",
        P(sac_static, batch_size=0),
        ValueError,
        ("SACStatic.batch_size", "0"),
    ),
    Case(
        "trainer-orpo-static-negative-disc-lr",
        P(orpo_init, disc_learning_rate=-1e-3),
        ValueError,
        ("ORPOStatic.disc_learning_rate", "-0.001"),
    ),
    Case(
        "trainer-q-static-num-envs-str",
        P(q_static, num_envs="8"),
        TypeError,
        ("QLearningStatic.num_envs", "'8'"),
    ),
    Case(
        "trainer-reinforce-static-hidden-negative",
        P(reinforce_static, hidden_sizes=(-4,)),
        ValueError,
        ("ReinforceStatic.hidden_sizes", "(-4,)"),
    ),
    Case(
        "trainer-barfi-static-episodes-zero",
        P(barfi_static, episodes=0),
        ValueError,
        ("BarfiStatic.episodes", "0"),
    ),
]
