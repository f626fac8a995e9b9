"""Tabular TD updates (rlax style) and replay of a fixed experience stream.

* Pure updates, one transition, ``q [S, A]`` in and out: :func:`q_learning_update`,
  :func:`sarsa_update`, :func:`expected_sarsa_update`. The bootstrap discount is
  ``discount = γ·(1 − terminated)``: a true terminal is never bootstrapped from, a truncated step
  bootstraps from the arrival state ``s_next``.
* :func:`replay`: the same updates applied in order to arrays ``s, a, r, s', terminated,
  truncated`` (an :class:`Experience`), optionally returning the whole ``[T, S, A]`` history. Two
  learners fed one stream see *identical* experience (Wiewiora 2003;
  ``theory_checks/check_wiewiora.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = Any

ALGORITHMS = ("q_learning", "sarsa", "expected_sarsa")


def q_learning_update(q: Array, s, a, r, discount, s_next, alpha) -> Array:
    """One Q-learning step: ``Q[s, a] += α (r + discount·max_a' Q[s', a'] − Q[s, a])``.

    Args:
      q: ``[S, A]`` table.
      s, a, s_next: int scalars.
      r: scalar reward (already shaped, if shaping is used).
      discount: ``γ·(1 − terminated)`` (rlax's ``discount_t``).
      alpha: step size (scalar).
    """
    target = r + discount * jnp.max(q[s_next])
    return q.at[s, a].add(alpha * (target - q[s, a]))


def sarsa_update(q: Array, s, a, r, discount, s_next, a_next, alpha) -> Array:
    """One SARSA step: ``Q[s, a] += α (r + discount·Q[s', a'] − Q[s, a])``."""
    target = r + discount * q[s_next, a_next]
    return q.at[s, a].add(alpha * (target - q[s, a]))


def expected_sarsa_update(q: Array, s, a, r, discount, s_next, probs_next, alpha) -> Array:
    """One expected-SARSA step: target ``r + discount·Σ_a' π(a'|s') Q[s', a']``.

    ``probs_next [A]`` is the target policy at ``s'`` (e.g. :func:`epsilon_greedy_probs`).
    """
    target = r + discount * jnp.dot(probs_next, q[s_next])
    return q.at[s, a].add(alpha * (target - q[s, a]))


def epsilon_greedy_probs(q_s: Array, epsilon) -> Array:
    """``[..., A]`` ε-greedy probabilities; the greedy mass ``1 − ε`` is split over tied maxima."""
    is_max = q_s >= jnp.max(q_s, axis=-1, keepdims=True)
    greedy = is_max / jnp.sum(is_max, axis=-1, keepdims=True)
    A = q_s.shape[-1]
    return epsilon / A + (1.0 - epsilon) * greedy


def epsilon_greedy(key: Array, q_s: Array, epsilon) -> Array:
    """Sample an action from :func:`epsilon_greedy_probs` (uniform tie-breaking), int32."""
    return inverse_cdf(epsilon_greedy_probs(q_s, epsilon), jax.random.uniform(key, q_s.shape[:-1]))


def inverse_cdf(probs: Array, u: Array) -> Array:
    """Index drawn from ``probs [..., n]`` by one uniform ``u [...]`` (int32; zeros never drawn).

    One uniform per draw keeps the compiled program small (a categorical draw per call site
    costs a threefry block each); round-off past the last non-zero entry maps to that entry.
    """
    cdf = jnp.cumsum(probs, axis=-1)
    idx = jnp.sum(cdf <= u[..., None], axis=-1)
    n = probs.shape[-1]
    last = n - 1 - jnp.argmax(jnp.flip(probs > 0, axis=-1), axis=-1)
    return jnp.minimum(idx, last).astype(jnp.int32)


def _td_update(algorithm, q, s, a, r, discount, s_next, a_next, alpha, epsilon):
    if algorithm == "q_learning":
        return q_learning_update(q, s, a, r, discount, s_next, alpha)
    if algorithm == "sarsa":
        return sarsa_update(q, s, a, r, discount, s_next, a_next, alpha)
    if algorithm == "expected_sarsa":
        probs = epsilon_greedy_probs(q[s_next], epsilon)
        return expected_sarsa_update(q, s, a, r, discount, s_next, probs, alpha)
    raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")


def _step_size(alpha, alpha_decay, count):
    """``α·(n + 1)^(−ω)`` with ``n`` the visits of (s, a) before this update (ω = 0: constant)."""
    return alpha * (count + 1.0) ** (-alpha_decay)


# ----------------------------------------------------------------------------- experience replay
class Experience(NamedTuple):
    """A stream of transitions, leaves ``[T]`` (or ``[T, N]`` from :func:`make_train`).

    Attributes:
      state, action, next_state: int32 indices (``next_state`` = arrival state, before any reset).
      reward: the MDP's (true) reward ``R[s, a, s']``.
      learner_reward: the reward the learner optimised (after the transform; = ``reward`` with
        no transform).
      next_action: the action SARSA bootstraps with at ``next_state`` (for the other algorithms,
        the greedy action of the pre-update table; informational).
      terminated, truncated: bool, kept apart (``terminated`` wins when both would hold).
    """

    state: Array
    action: Array
    reward: Array
    learner_reward: Array
    next_state: Array
    next_action: Array
    terminated: Array
    truncated: Array


def flatten_experience(exp: Experience) -> Experience:
    """``[T, N]`` leaves -> ``[T·N]`` in the order :func:`make_train` applied them (t-major)."""
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), exp)


@partial(jax.jit, static_argnames=("algorithm", "return_history", "use_learner_reward"))
def replay(
    q0: Array,
    experience: Experience,
    alpha,
    gamma,
    *,
    epsilon=0.0,
    alpha_decay=0.0,
    reward: Array | None = None,
    algorithm: str = "q_learning",
    use_learner_reward: bool = False,
    return_history: bool = False,
):
    """Apply the updates to a given ``[T]`` experience stream, in order.

    Args:
      q0: ``[S, A]`` initial table.
      experience: :class:`Experience` with ``[T]`` leaves.
      alpha, alpha_decay: step size ``α·(n(s, a) + 1)^(−alpha_decay)`` (visit counts from 0).
      gamma: the learner's γ; the bootstrap discount is ``γ·(1 − terminated)``.
      epsilon: target-policy ε (expected SARSA only).
      reward: optional ``[T]`` reward overriding the stream's (e.g. a shaped reward computed
        with :func:`jaxrl.shaping.potential.potential_shaping`).
      algorithm: ``"q_learning"``, ``"sarsa"`` or ``"expected_sarsa"``.
      use_learner_reward: learn from ``experience.learner_reward`` instead of ``reward``.
      return_history: also return the ``[T, S, A]`` tables *after* each step.

    Returns:
      ``q_T`` or ``(q_T, history)``.
    """
    if reward is None:
        reward = experience.learner_reward if use_learner_reward else experience.reward
    q0 = jnp.asarray(q0)
    counts0 = jnp.zeros(q0.shape, q0.dtype)

    def body(carry, x):
        q, counts = carry
        e, r = x
        discount = gamma * (1.0 - e.terminated.astype(q.dtype))
        lr = _step_size(alpha, alpha_decay, counts[e.state, e.action])
        q = _td_update(
            algorithm, q, e.state, e.action, r, discount, e.next_state, e.next_action, lr, epsilon
        )
        counts = counts.at[e.state, e.action].add(1.0)
        return (q, counts), (q if return_history else None)

    (q, _), hist = jax.lax.scan(body, (q0, counts0), (experience, reward))
    return (q, hist) if return_history else q
