"""Semi-gradient TD control with linear function approximation, replayed on a fixed stream.

``Q(s, a) = features[s, a] · w`` with ``features [S, A, d]``. One step on a transition
``(s, a, r, s', a')``, with ``discount = γ·(1 − terminated)`` (a truncated step bootstraps):

    δ = r + discount·Q(s', ·)-target − Q(s, a),   w ← w + α·δ·features[s, a],

the target being ``max_a' Q(s', a')`` (Q-learning) or ``Q(s', a')`` (SARSA). With one-hot
features (``d = S·A``) this is exactly the tabular update of :mod:`jaxrl.agents.td_updates`; with
shared features (``d < S·A``) an update moves every entry that shares a feature. Wiewiora's
(2003) shaping ≡ initialisation equivalence then survives only if Φ(s) is in the span of the
features (``theory_checks/check_wiewiora.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl.agents.td_updates import Experience

Array = Any
LINEAR_ALGORITHMS = ("q_learning", "sarsa")


def linear_q_values(w: Array, features: Array) -> Array:
    """``[S, A]`` action values ``features @ w`` (``features [S, A, d]``, ``w [d]``)."""
    return features @ w


def linear_td_update(w, features, s, a, r, discount, s_next, a_next, alpha, algorithm="q_learning"):
    """One semi-gradient Q-learning / SARSA step on the weights ``w [d]``; returns the new ``w``."""
    q_next = features[s_next] @ w  # [A]
    if algorithm == "q_learning":
        boot = jnp.max(q_next)
    elif algorithm == "sarsa":
        boot = q_next[a_next]
    else:
        raise ValueError(f"algorithm must be one of {LINEAR_ALGORITHMS}, got {algorithm!r}")
    x = features[s, a]
    delta = r + discount * boot - x @ w
    return w + alpha * delta * x


@partial(jax.jit, static_argnames=("algorithm", "return_history"))
def linear_replay(
    w0: Array,
    features: Array,
    experience: Experience,
    alpha,
    gamma,
    *,
    reward: Array | None = None,
    algorithm: str = "q_learning",
    return_history: bool = False,
):
    """Apply :func:`linear_td_update` to a ``[T]`` experience stream, in order.

    Args:
      w0: ``[d]`` initial weights.
      features: ``[S, A, d]`` feature table.
      experience: :class:`~jaxrl.agents.td_updates.Experience` with ``[T]`` leaves.
      alpha: constant step size; gamma: the learner's γ.
      reward: optional ``[T]`` reward overriding ``experience.reward`` (e.g. a shaped one).
      algorithm: ``"q_learning"`` or ``"sarsa"`` (bootstraps with ``experience.next_action``).
      return_history: also return the ``[T, S, A]`` action values after each step.

    Returns:
      ``w_T`` or ``(w_T, history)``.
    """
    reward = experience.reward if reward is None else reward

    def body(w, x):
        e, r = x
        discount = gamma * (1.0 - e.terminated.astype(w.dtype))
        w = linear_td_update(
            w,
            features,
            e.state,
            e.action,
            r,
            discount,
            e.next_state,
            e.next_action,
            alpha,
            algorithm,
        )
        return w, (linear_q_values(w, features) if return_history else None)

    w, hist = jax.lax.scan(body, jnp.asarray(w0), (experience, reward))
    return (w, hist) if return_history else w
