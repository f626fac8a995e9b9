"""Rollout helpers shared by agents: reward channels, in-scan episode statistics, one vector-env
step with the reward transform (:func:`step_envs`), evaluation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp

from jaxrl.shaping.transform import RewardTransform, Transition

S = TypeVar("S")

REWARD_SUFFIX = "_reward"


def channel_names(info: Mapping[str, object]) -> tuple[str, ...]:
    """Names of the reward channels in ``info`` (works on abstract shapes too)."""
    return tuple(sorted(k for k in info if k.endswith(REWARD_SUFFIX)))


def reward_channels(info: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """The ``info`` entries that are reward channels (names ending in ``_reward``), as float32."""
    return {k: jnp.asarray(v, jnp.float32) for k, v in info.items() if k.endswith(REWARD_SUFFIX)}


class EpisodeTracker(NamedTuple):
    """Per-env running episode returns, reduced to per-update means once per update.

    Per step only elementwise ``[N]`` updates happen (no cross-env reductions on the hot path);
    ``window_means`` sums the per-env totals of *finished* episodes once per update, so no
    per-step arrays leave the scan. When no episode finished in an update window the previous
    mean is repeated (``episode_count`` says 0) instead of reporting a misleading 0 return.
    """

    running: dict[str, jnp.ndarray]  # name -> [N] return of the current episode so far
    length: jnp.ndarray  # [N]
    window_sum: dict[str, jnp.ndarray]  # name -> [N] summed returns of finished episodes
    window_length: jnp.ndarray  # [N]
    window_count: jnp.ndarray  # [N]
    last_mean: dict[str, jnp.ndarray]  # name -> [] last reported mean (incl. "length")

    @classmethod
    def create(cls, names, num_envs: int) -> EpisodeTracker:
        zeros = lambda: {n: jnp.zeros((num_envs,), jnp.float32) for n in names}
        vec = lambda: jnp.zeros((num_envs,), jnp.float32)
        last = {n: jnp.zeros((), jnp.float32) for n in (*names, "length")}
        return cls(zeros(), vec(), zeros(), vec(), vec(), last)

    def step(self, rewards: Mapping[str, jnp.ndarray], ended: jnp.ndarray) -> EpisodeTracker:
        ended = ended.astype(jnp.float32)
        live = 1.0 - ended
        running = {k: self.running[k] + rewards[k] for k in self.running}
        length = self.length + 1.0
        return self._replace(
            running={k: v * live for k, v in running.items()},
            length=length * live,
            window_sum={k: self.window_sum[k] + running[k] * ended for k in running},
            window_length=self.window_length + length * ended,
            window_count=self.window_count + ended,
        )

    def window_means(self) -> dict[str, jnp.ndarray]:
        """``{"return_<channel>": mean return, "episode_length", "episode_count"}``."""
        count = self.window_count.sum()
        n, has = jnp.maximum(count, 1.0), count > 0
        out = {
            f"return_{k}": jnp.where(has, v.sum() / n, self.last_mean[k])
            for k, v in self.window_sum.items()
        }
        out["episode_length"] = jnp.where(
            has, self.window_length.sum() / n, self.last_mean["length"]
        )
        out["episode_count"] = count
        return out

    def reset_window(self) -> EpisodeTracker:
        means = self.window_means()
        last = {k: means[f"return_{k}"] for k in self.window_sum}
        last["length"] = means["episode_length"]
        zeros = jnp.zeros_like(self.length)
        return self._replace(
            window_sum={k: zeros for k in self.window_sum},
            window_length=zeros,
            window_count=zeros,
            last_mean=last,
        )


def step_envs(
    vstep: Callable,
    env_params: Any,
    transform: RewardTransform,
    hp: Any,
    rs: S,
    action: jnp.ndarray,
    key: jax.Array,
) -> tuple[S, Transition, jnp.ndarray]:
    """One vector-env step: step, transform the reward, track episodes.

    Args:
      vstep: ``jax.vmap(env.step, in_axes=(0, 0, 0, None))``.
      env_params: the environment's params.
      transform: the reward transform (its params are ``hp.transform``).
      hp: hyperparameters with ``gamma`` and ``transform``.
      rs: the runner state, any ``NamedTuple`` with ``env_state``, ``obs [N, ...]``,
        ``episode_time [N]``, ``tracker`` (:class:`EpisodeTracker`) and ``transform_state``.
      action: ``[N, ...]`` env actions at ``rs.obs``.
      key: split into the ``N`` per-env step keys.

    Returns:
      ``(rs, transition, shaped)``: ``rs`` with those five fields advanced (``obs`` is the next,
      possibly reset, observation); the raw :class:`~jaxrl.shaping.transform.Transition`
      (float32 env reward, ``next_obs = info["final_observation"]``, ``terminated``,
      ``truncated & ~terminated``, ``discount = γ(1 − terminated)``, the reward channels); the
      ``[N]`` float32 transformed reward. The tracker logs ``env_reward``, ``learner_reward``
      (the transformed one) and every channel.
    """
    n = rs.obs.shape[0]
    next_obs, env_state, reward, term, trunc, info = vstep(
        jax.random.split(key, n), rs.env_state, action, env_params
    )
    term, trunc = term.astype(bool), trunc.astype(bool) & ~term.astype(bool)
    channels = reward_channels(info)
    tr = Transition(
        obs=rs.obs,
        action=action,
        reward=reward.astype(jnp.float32),
        next_obs=info["final_observation"],
        terminated=term,
        truncated=trunc,
        discount=hp.gamma * (1.0 - term),
        channels=channels,
        time=rs.episode_time,
    )
    shaped, transform_state = transform.apply(hp.transform, rs.transform_state, tr)
    shaped = jnp.asarray(shaped, jnp.float32)
    ended = term | trunc
    tracker = rs.tracker.step(
        {"env_reward": tr.reward, "learner_reward": shaped, **channels}, ended
    )
    rs = rs._replace(
        env_state=env_state,
        obs=next_obs,
        episode_time=jnp.where(ended, 0, rs.episode_time + 1),
        tracker=tracker,
        transform_state=transform_state,
    )
    return rs, tr, shaped


def evaluate_policy(
    env,
    env_params,
    act: Callable[[jnp.ndarray, jax.Array], jnp.ndarray],
    keys: jax.Array,
    num_steps: int,
    channel: str | tuple[str, ...] = "true_reward",
) -> jnp.ndarray | dict[str, jnp.ndarray]:
    """Mean return of the *first* episode in each of ``E`` evaluation environments.

    Args:
      env, env_params: the environment (gymnax 1.0 contract).
      act: ``act(obs [E, *obs_shape], key) -> action [E, ...]``.
      keys: ``[E]`` fixed evaluation keys (share them across training seeds).
      num_steps: rollout length; an episode still running at the end counts with its partial return.
      channel: an ``info`` reward channel, or ``"env_reward"`` for the environment's reward;
        or a tuple of them, evaluated on the same episodes.

    Returns:
      ``[]`` the mean first-episode return of ``channel`` (a dict name -> ``[]`` for a tuple).
    """
    names = (channel,) if isinstance(channel, str) else tuple(channel)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def body(carry, _):
        obs, state, ret, alive, keys = carry
        split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
        action = act(obs, split[:, 1])
        obs, state, reward, term, trunc, info = vstep(split[:, 2], state, action, env_params)
        sources = {**info, "env_reward": reward}
        missing = [c for c in names if c not in sources]
        if missing:
            raise KeyError(
                f"evaluation channel(s) {missing} not in info; available: "
                f"{sorted(reward_channels(info)) + ['env_reward']}"
            )
        r = jnp.stack([sources[c].astype(jnp.float32) for c in names])  # [C, E]
        ret = ret + alive * r
        alive = alive * (1.0 - (term | trunc).astype(jnp.float32))
        return (obs, state, ret, alive, split[:, 0]), None

    n = keys.shape[0]
    init = (obs, state, jnp.zeros((len(names), n), jnp.float32), jnp.ones(n, jnp.float32), keys)
    (_, _, ret, _, _), _ = jax.lax.scan(body, init, None, num_steps)
    means = ret.mean(axis=1)
    return means[0] if isinstance(channel, str) else dict(zip(names, means, strict=True))
