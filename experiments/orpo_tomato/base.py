"""The base (reference) policy of ``experiments.orpo_tomato``: PPO on the tomato gridworld's
*true* reward with ε-random actions, trained once per base config and reused by every sweep
(``results/orpo_tomato_base/<run-id>/policy.msgpack``), and the exact expected returns of a
policy network on the tabular MDP.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from experiments.orpo_tomato.config import ORPOTomato
from experiments.orpo_tomato.schema import BASE_SCHEMA
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.config import config_hash
from jaxrl.envs import make, tomato_exact
from jaxrl.experiment import ResultsStore
from jaxrl.experiment.params_io import load_params, save_params
from jaxrl.experiment.sweep import run_sweep
from jaxrl.shaping.transform import from_channel

EXPERIMENT = "orpo_tomato"
BASE_EXPERIMENT = "orpo_tomato_base"
HORIZON = 100


def tomato_env(reward_factor: float):
    """``(env, env_params)`` of the level-4 tomato gridworld with this reward factor (ε = 0)."""
    env, _ = make("tomato", level=4, reward_factor=reward_factor)
    return env, env.default_params.replace(reward_factor=reward_factor)


def ppo_hparams(cfg: ORPOTomato, ent_coef: float) -> PPOHParams:
    """PPO's hyperparameters from the config (shared by the base run and the ORPO learner)."""
    return PPOHParams(
        learning_rate=cfg.learning_rate,
        clip_eps=cfg.clip_eps,
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        ent_coef=ent_coef,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
    )


def ppo_static(cfg: ORPOTomato, base: bool) -> PPOStatic:
    """PPO's static settings: the base run's (the ``base_*`` batch fields, one chunk, 8
    evaluation episodes) or the ORPO learner's (its ``num_chunks``, 4 evaluation episodes: a
    deterministic policy on a deterministic env, one would do). Both use ``hidden_sizes``."""
    if base:
        envs, steps, total = cfg.base_num_envs, cfg.base_num_steps, cfg.base_steps
        epochs, minibatches, chunks, eval_envs = cfg.base_epochs, cfg.base_minibatches, 1, 8
    else:
        envs, steps, total = cfg.num_envs, cfg.num_steps, cfg.total_timesteps
        epochs, minibatches = cfg.update_epochs, cfg.num_minibatches
        chunks, eval_envs = cfg.num_chunks, 4
    return PPOStatic(
        num_envs=envs,
        num_steps=steps,
        total_timesteps=total,
        update_epochs=epochs,
        num_minibatches=minibatches,
        hidden_sizes=cfg.hidden_sizes,
        num_chunks=chunks,
        num_eval_envs=eval_envs,
    )


def base_setup(cfg: ORPOTomato):
    """``(static, hparams, config)`` of the base PPO run (``config`` is its ``config.json``)."""
    static = ppo_static(cfg, base=True)
    hp = ppo_hparams(cfg, cfg.base_ent_coef)
    config = {
        "reward_factor": cfg.reward_factor,
        "random_action_eps": cfg.base_eps,
        "seed": cfg.base_seed,
        "reward": "true_reward",
        "static": dataclasses.asdict(static),
        "hparams": {k: float(v) for k, v in hp._asdict().items() if k != "transform"},
    }
    return static, hp, config


def exact_returns(env, env_params, network, params):
    """Exact expected true/proxy episode returns (stochastic policy, ε = 0) of network params
    (a leading batch axis is vmapped)."""
    mdp, index = tomato_exact.reachable_tomato_mdp(env, env_params)
    obs = tomato_exact.tabular_observations(env, index)

    def one(p):
        pi = tomato_exact.network_policy(network, p, obs)
        return tomato_exact.policy_returns(mdp, pi, horizon=HORIZON)

    return one, mdp, obs


def get_base(cfg: ORPOTomato, store: ResultsStore):
    """(run, params, summary) of the base policy: reuse a finished run or train one."""
    static, hp, config = base_setup(cfg)
    if cfg.base_run:
        run = store.open(BASE_EXPERIMENT, cfg.base_run)
    else:
        h = config_hash(config)
        runs = [r for r in store.finished_runs(BASE_EXPERIMENT) if r.run_id.endswith(f"-{h}")]
        run = max(runs, key=lambda r: r.done_time() or "") if runs else None
    env, env_params = tomato_env(cfg.reward_factor)
    train_params = env_params.replace(random_action_eps=cfg.base_eps)
    trainer = make_train(static, env, from_channel("true_reward"), train_params)
    template = trainer.network.init(jax.random.key(0), jnp.zeros(env.obs_dim))
    if run is not None and run.is_done:
        print(f"[{EXPERIMENT}] base policy: reusing {run.path}")
        return run, load_params(run, "policy", template), run.read_json("summary")
    run = store.create(BASE_EXPERIMENT, config)
    print(
        f"[{EXPERIMENT}] base policy: PPO on the true reward, eps={cfg.base_eps}, "
        f"{static.total_timesteps} steps -> {run.path}"
    )
    keys = jax.random.key(cfg.base_seed)[None]
    hpb = trainer.check(hp).broadcast(1)
    _, state = run_sweep(
        None, run, trainer, keys, hpb, progress=False, return_state=True, schema=BASE_SCHEMA
    )
    params = jax.tree.map(lambda x: x[0], state.train_state.params)
    save_params(run, "policy", params)
    one, _, _ = exact_returns(env, env_params, trainer.network, params)
    ret = {k: float(v) for k, v in one(params).items()}
    # Deterministic (argmax) evaluation with and without the ε-noise, fixed keys.
    det = {}
    for eps in (0.0, cfg.base_eps):
        ev = make_train(static, env, None, env_params.replace(random_action_eps=eps)).evaluate
        out = jax.jit(lambda s, ev=ev: ev(s, hp, ("true_reward", "proxy_reward")))(
            jax.tree.map(lambda x: x[0], state)
        )
        det[f"eps{eps:g}"] = {k: float(v) for k, v in out.items()}
    summary = {
        "exact_true_return": ret["true_reward"],
        "exact_proxy_return": ret["proxy_reward"],
        "note": "exact: expected return of the stochastic policy on the eps=0 env (the ORPO env);"
        " deterministic: argmax policy, 8 fixed evaluation episodes",
        "deterministic": det,
    }
    run.write_json("summary", summary)
    run.mark_done()
    return run, params, summary
