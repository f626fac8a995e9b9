"""n-step critic targets for the off-policy agents (the SAM paper runs use lookahead 10).

Replay draws a window of ``n`` consecutive transitions of one environment (slot stride
``num_envs``, :func:`jaxrl.agents.replay_buffer.window_slots`) and the target is

    G = Σ_{k<m} γ^k r_{t+k} + γ^m (1 − terminated_{t+m−1}) · V'(s'_{t+m−1})

with ``m ≤ n`` the steps of the window that belong to the sampled episode and are already
collected: the window stops *after* the first terminated or truncated step (a terminal step
contributes its reward and no bootstrap; a truncated step bootstraps from its final observation,
as the one-step target does) and at the newest stored transition. With DAC absorbing states
(:mod:`jaxrl.agents.absorbing`) a terminal step does not stop the window: it continues through
the absorbing self-loop, whose (learned) reward is added at every remaining step.

The window reaches the agent as an :class:`NStepWindow` (rewards per step, so a learned reward
such as SAM's relabels every step first); the agent calls :func:`collapse` for
``(batch [B], γ^m)`` and uses :func:`jaxrl.agents.critic.td_target` with that discount.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.agents import absorbing as absorbing_lib
from jaxrl.agents import replay_buffer
from jaxrl.agents.replay_buffer import ReplayBuffer, ReplayTransition

Array = Any


class NStepWindow(NamedTuple):
    """``steps``: ``ReplayTransition`` with leaves ``[B, n, ...]`` (step ``k`` = the sampled
    environment ``k`` steps later); ``valid [B, n]`` bool, a prefix (``valid[:, 0]`` True): the
    steps the return sums."""

    steps: ReplayTransition
    valid: Array


def episode_valid(exists: Array, terminated: Array, truncated: Array) -> Array:
    """``[B, n]``: step ``k`` is collected and no earlier step of the window ended the episode."""
    ended = exists & (terminated | truncated)
    ended_before = jnp.cumsum(ended, axis=1) - ended > 0
    return exists & ~ended_before


def sample(
    buffer: ReplayBuffer,
    key: Array,
    batch_size: int,
    n_step: int,
    stride: int,
    absorbing: bool = False,
):
    """A replay minibatch: a plain ``ReplayTransition [B]`` (``n_step == 1``, ``absorbing``
    only) or an :class:`NStepWindow` (``n_step > 1``; needs ``truncated`` stored)."""
    if absorbing:
        slot, is_loop = absorbing_lib.draw(buffer, key, batch_size)
    else:
        slot = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
        is_loop = jnp.zeros((batch_size,), bool)
    if n_step == 1:
        batch = jax.tree.map(lambda s: s[slot], buffer.storage)
        return absorbing_lib.to_absorbing(batch, is_loop) if absorbing else batch
    if buffer.storage.truncated is None:
        raise ValueError("n-step windows need the buffer to store `truncated`")
    slots, exists = replay_buffer.window_slots(buffer, slot, n_step, stride)
    steps = jax.tree.map(lambda s: s[slots], buffer.storage)  # [B, n, ...]
    term, trunc = steps.terminated.astype(bool), steps.truncated.astype(bool)
    valid = episode_valid(exists, term, trunc)
    if absorbing:
        # after a true terminal the window runs on through the absorbing self-loop
        first_end = valid & (term | trunc)
        term_before = jnp.cumsum(first_end & term, axis=1) - (first_end & term) > 0
        loop = is_loop[:, None] | term_before
        valid = valid | loop
        steps = absorbing_lib.to_absorbing(steps, loop)
    return NStepWindow(steps, valid)


def collapse(window: NStepWindow, gamma) -> tuple[ReplayTransition, Array]:
    """``(batch [B], discount_base [B])``: the first step's ``obs, action``; ``reward`` =
    ``Σ_{k<m} γ^k r_k``; ``next_obs``, ``terminated`` of step ``m − 1``; and ``γ^m``, so that
    ``td_target(batch.reward, batch.terminated, γ^m, V'(batch.next_obs))`` is the n-step target.
    """
    steps, valid = window.steps, window.valid
    n = valid.shape[1]
    validf = valid.astype(jnp.float32)
    powers = jnp.asarray(gamma, jnp.float32) ** jnp.arange(n, dtype=jnp.float32)
    ret = jnp.sum(validf * powers * steps.reward, axis=1)
    m = jnp.sum(valid, axis=1).astype(jnp.int32)  # >= 1
    rows = jnp.arange(valid.shape[0])
    last = lambda x: x[rows, m - 1]
    first = jax.tree.map(lambda x: x[:, 0], steps)
    batch = first._replace(
        reward=ret, next_obs=last(steps.next_obs), terminated=last(steps.terminated)
    )
    return batch, jnp.asarray(gamma, jnp.float32) ** m.astype(jnp.float32)


def first_steps(batch):
    """The sampled transitions ``[B]`` themselves (step 0 of a window; a plain batch as is)."""
    if isinstance(batch, NStepWindow):
        return jax.tree.map(lambda x: x[:, 0], batch.steps)
    return batch


def replace_rewards(batch, reward_fn):
    """``batch`` with ``reward = reward_fn(steps)`` (``[B]`` or ``[B, n]``, every step)."""
    if isinstance(batch, NStepWindow):
        return batch._replace(steps=batch.steps._replace(reward=reward_fn(batch.steps)))
    return batch._replace(reward=reward_fn(batch))


def target_inputs(batch, gamma) -> tuple[ReplayTransition, Array]:
    """``(batch [B], discount base)`` for :func:`~jaxrl.agents.critic.td_target`: a plain
    batch and ``γ`` as they are, a window through :func:`collapse`."""
    if isinstance(batch, NStepWindow):
        return collapse(batch, gamma)
    return batch, gamma
