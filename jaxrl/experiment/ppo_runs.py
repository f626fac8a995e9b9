"""PPO on a small env with a reward transform, many runs in one vmapped program: the one way
the systems of a family (exploration_rewards, process_rewards) train their policies.

Every system that trains a policy does it the same way: its bonus is a
:class:`~jaxrl.shaping.transform.RewardTransform` (with learned state where it needs one), its
conditions and seeds are the leading run axis of the transform's params and the PRNG keys, and
PPO trains all runs in one ``jit(vmap(...))`` (:func:`jaxrl.experiment.sweep.run_sweep`). The
env's own reward (``env_reward``) and every info channel are logged beside the learner's reward.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.experiment.sweep import run_sweep
from jaxrl.shaping.transform import RewardTransform, identity

Array = Any


def grid_static(steps: int, num_envs: int = 16, num_steps: int = 64, num_chunks: int = 4):
    """PPO for small gridworlds: ``num_envs x num_steps`` per update, 4 epochs x 4 minibatches,
    constant LR, sampled evaluation of 8 episodes per chunk. ``steps`` is rounded up to whole
    chunks of whole updates."""
    per_chunk = num_envs * num_steps * num_chunks
    return PPOStatic(
        total_timesteps=-(-int(steps) // per_chunk) * per_chunk,
        num_envs=num_envs,
        num_steps=num_steps,
        update_epochs=4,
        num_minibatches=4,
        anneal_lr=False,
        hidden_sizes=(64, 64),
        num_chunks=num_chunks,
        num_eval_envs=8,
    )


def ppo_runs(
    env: Any,
    env_params: Any,
    key: jax.Array,
    n: int,
    steps: int,
    *,
    transform: RewardTransform | None = None,
    transform_params: Any = None,
    learning_rate: float = 2.5e-3,
    ent_coef: float = 0.01,
    gamma: float = 0.99,
    static: PPOStatic | None = None,
    return_state: bool = False,
):
    """PPO on ``env``, ``n`` runs in one vmapped program.

    Args:
      env, env_params: the environment (gymnax contract).
      key: split into the ``n`` run keys.
      n: number of runs (seeds × conditions, flattened by the caller).
      steps: env steps per run.
      transform: the learner's reward (default: the env reward).
      transform_params: the transform's params with a leading ``[n]`` axis (conditions), or
        ``None`` for ``transform.default_params`` on every run.
      learning_rate, ent_coef, gamma: PPO hyperparameters (same for every run).
      static: PPO's static config (default :func:`grid_static` ``(steps)``).
      return_state: also return the final runner states ``[n, ...]``.

    Returns:
      Per-update metrics ``{name: [n, updates]}`` as numpy (``return_env_reward``: mean episode
      return of the env's own reward over the episodes that ended in that update;
      ``return_<channel>`` for every info channel; ``return_learner_reward``; ...), and with
      ``return_state`` the final states.
    """
    transform = identity() if transform is None else transform
    static = grid_static(steps) if static is None else static
    trainer = make_train(static, env, transform, env_params)
    hp = trainer.check(PPOHParams(learning_rate=learning_rate, gamma=gamma, ent_coef=ent_coef))
    hp = hp.broadcast(n)
    if transform_params is not None:
        hp = hp._replace(transform=transform_params)
    else:
        hp = hp._replace(
            transform=jax.tree.map(
                lambda x: jnp.broadcast_to(jnp.asarray(x), (n, *jnp.shape(x))),
                transform.default_params,
            )
        )
    keys = jax.random.key_data(jax.random.split(key, n))
    out = run_sweep(None, None, trainer, keys, hp, progress=False, return_state=return_state)
    metrics, state = out if return_state else (out, None)
    metrics = {k: np.asarray(v) for k, v in metrics.items()}
    return (metrics, state) if return_state else metrics
