"""The finite-MDP container and its (non-jittable) validator.

Conventions (shared by every solver in :mod:`jaxrl.mdp`):

* ``M = (S, A, P, R, γ, d0)`` with rewards on transitions ``R(s, a, s')`` and expected reward
  ``r(s, a) = Σ_{s'} P(s'|s, a) R(s, a, s')``.
* **Terminal states** (``terminal_mask[s] = True``) are absorbing (``P[s, a, s] = 1`` for every
  ``a``) and pay zero reward; their value is 0 for every policy. ``create`` / ``validate_mdp``
  *check* this (they do not silently rewrite ``P`` or ``R``), and the solvers additionally *mask*
  terminal rows (zero reward, zero continuation), so a terminal state has ``V = Q = 0`` even in
  an MDP that was built by hand without validation. Reaching a terminal state is an ordinary
  transition ``R(s, a, s_term)`` and may carry any reward (e.g. a goal bonus).
* ``γ = 1`` is allowed only with an absorbing terminal set reachable from every state (episodic
  tasks); policy evaluation at ``γ = 1`` is then well posed for *proper* policies (those that
  reach the terminal set with probability 1). Improper policies give a singular linear system.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

Array = Any


@jax.jit
def _expected_reward(P: Array, R: Array, terminal_mask: Array) -> Array:
    # jitted so eager callers compile one kernel per shape instead of one per jnp op.
    r = jnp.sum(P * R, axis=-1)
    return jnp.where(terminal_mask[..., None], jnp.zeros_like(r), r)


@flax.struct.dataclass
class TabularMDP:
    """A finite MDP as a pytree: vmap over a batch of them, pass them into ``jit``.

    Attributes:
      P: ``[S, A, S']`` transition probabilities ``P(s'|s, a)``; rows sum to 1.
      R: ``[S, A, S']`` transition rewards ``R(s, a, s')``.
      gamma: ``[]`` discount factor in ``[0, 1]`` (an array, so it can be vmapped/traced).
      init_dist: ``[S]`` initial state distribution ``d0``.
      terminal_mask: ``[S]`` bool, absorbing zero-reward terminal states (all False if none).

    A batch of MDPs (e.g. ``jax.vmap(random_mdp)(keys, ...)``) has a leading batch axis on every
    field; the properties below refer to the last axes so they work on batches too.
    """

    P: Array
    R: Array
    gamma: Array
    init_dist: Array
    terminal_mask: Array

    @property
    def n_states(self) -> int:
        return self.P.shape[-3]

    @property
    def n_actions(self) -> int:
        return self.P.shape[-2]

    @property
    def expected_reward(self) -> Array:
        """``[S, A]`` ``r(s, a) = Σ_{s'} P R``, zero on terminal states (by convention)."""
        return _expected_reward(self.P, self.R, self.terminal_mask)

    @classmethod
    def create(
        cls,
        P: Array,
        R: Array,
        gamma: float | Array,
        init_dist: Array | None = None,
        terminal_mask: Array | None = None,
        validate: bool = True,
    ) -> TabularMDP:
        """Build an MDP from arrays; uniform ``init_dist`` and no terminals by default.

        Args:
          P: ``[S, A, S']`` transition probabilities.
          R: ``[S, A, S']`` rewards (or ``[S, A]``, broadcast over ``s'``).
          gamma: scalar discount.
          init_dist: ``[S]``; default uniform over the non-terminal states.
          terminal_mask: ``[S]`` bool; default all False.
          validate: run :func:`validate_mdp` (numpy; must be False when called under ``jit``).
        """
        P = jnp.asarray(P)
        if not jnp.issubdtype(P.dtype, jnp.floating):
            P = P.astype(jnp.result_type(float))
        dtype = P.dtype
        R = jnp.asarray(R, dtype=dtype)
        if R.ndim == P.ndim - 1:
            R = jnp.broadcast_to(R[..., None], P.shape)
        S = P.shape[-3] if P.ndim >= 3 else P.shape[0]
        if terminal_mask is None:
            terminal_mask = jnp.zeros((S,), dtype=bool)
        terminal_mask = jnp.asarray(terminal_mask, dtype=bool)
        if init_dist is None:
            live = (~terminal_mask).astype(dtype)
            # All-terminal MDPs (degenerate) fall back to uniform over every state.
            live = jnp.where(jnp.sum(live) > 0, live, jnp.ones_like(live))
            init_dist = live / jnp.sum(live)
        init_dist = jnp.asarray(init_dist, dtype=dtype)
        mdp = cls(
            P=P,
            R=R,
            gamma=jnp.asarray(gamma, dtype=dtype),
            init_dist=init_dist,
            terminal_mask=terminal_mask,
        )
        if validate:
            validate_mdp(mdp)
        return mdp


def _fmt(x: float) -> str:
    return f"{float(x):.6g}"


def validate_mdp(mdp: TabularMDP, atol: float = 1e-6) -> None:
    """Raise ``ValueError`` naming the offending entry if ``mdp`` is malformed.

    Plain numpy on concrete arrays: NOT jittable (code inside ``jit`` simply skips it). A batch of
    MDPs (leading axes on every field) is validated member by member, with the member's index in
    the message. Checks, in order: shapes; finite, non-negative ``P`` with rows summing to 1;
    finite ``R``; ``γ ∈ [0, 1]``; ``init_dist`` a distribution; terminal states absorbing with
    zero reward; for ``γ = 1``, a terminal state reachable from every state.
    """
    P = np.asarray(mdp.P)
    batch = P.shape[:-3] if P.ndim > 3 else ()
    if batch:
        for idx in np.ndindex(batch):
            member = jax.tree.map(
                lambda x, idx=idx: (
                    np.asarray(x)[idx]
                    if np.ndim(x) >= len(batch) and np.shape(x)[: len(batch)] == batch
                    else np.asarray(x)
                ),
                mdp,
            )
            try:
                validate_mdp(member, atol=atol)
            except ValueError as e:
                raise ValueError(f"mdp[{', '.join(map(str, idx))}]: {e}") from None
        return
    R = np.asarray(mdp.R)
    gamma = np.asarray(mdp.gamma)
    d0 = np.asarray(mdp.init_dist)
    term = np.asarray(mdp.terminal_mask)

    # Shapes.
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValueError(f"P must have shape [S, A, S] with S' == S, got {P.shape}")
    S, A, _ = P.shape
    if R.shape != P.shape:
        raise ValueError(f"R has shape {R.shape}, expected the shape of P {P.shape}")
    if d0.shape != (S,):
        raise ValueError(f"init_dist has shape {d0.shape}, expected ({S},) to match P {P.shape}")
    if term.shape != (S,):
        raise ValueError(
            f"terminal_mask has shape {term.shape}, expected ({S},) to match P {P.shape}"
        )
    if gamma.shape != ():
        raise ValueError(f"gamma must be a scalar, got shape {gamma.shape}")
    term = term.astype(bool)

    # Transition probabilities.
    bad = np.argwhere(~np.isfinite(P))
    if bad.size:
        s, a, t = bad[0]
        raise ValueError(f"P[s={s}, a={a}, s'={t}] = {_fmt(P[s, a, t])} is not finite")
    bad = np.argwhere(P < 0)
    if bad.size:
        s, a, t = bad[0]
        raise ValueError(f"P[s={s}, a={a}, s'={t}] = {_fmt(P[s, a, t])} is negative")
    sums = P.sum(-1)
    bad = np.argwhere(np.abs(sums - 1) > atol)
    if bad.size:
        s, a = bad[0]
        raise ValueError(f"P[s={s}, a={a}, :] sums to {_fmt(sums[s, a])}, expected 1")

    # Rewards and discount.
    bad = np.argwhere(~np.isfinite(R))
    if bad.size:
        s, a, t = bad[0]
        raise ValueError(f"R[s={s}, a={a}, s'={t}] = {_fmt(R[s, a, t])} is not finite")
    if not (np.isfinite(gamma) and 0 <= gamma <= 1):
        raise ValueError(f"gamma = {_fmt(gamma)} is outside [0, 1]")

    # Initial distribution.
    bad = np.argwhere(~np.isfinite(d0) | (d0 < 0))
    if bad.size:
        (s,) = bad[0]
        raise ValueError(f"init_dist[s={s}] = {_fmt(d0[s])} is negative or not finite")
    if abs(d0.sum() - 1) > atol:
        raise ValueError(f"init_dist sums to {_fmt(d0.sum())}, expected 1")

    # Terminal states: absorbing, zero reward.
    for s in np.flatnonzero(term):
        for a in range(A):
            if abs(P[s, a, s] - 1) > atol:
                raise ValueError(
                    f"terminal state s={s} is not absorbing: "
                    f"P[s={s}, a={a}, s'={s}] = {_fmt(P[s, a, s])}, expected 1"
                )
            if abs(R[s, a, s]) > atol:
                raise ValueError(
                    f"terminal state s={s} has non-zero reward "
                    f"R[s={s}, a={a}, s'={s}] = {_fmt(R[s, a, s])}, expected 0"
                )

    # γ = 1 needs every state to reach the terminal set (else values of some policies diverge).
    if gamma == 1:
        reach = term.copy()
        adj = (P > 0).any(axis=1)  # [S, S'] some action moves s -> s'
        while True:
            new = reach | (adj & reach[None, :]).any(axis=1)
            if (new == reach).all():
                break
            reach = new
        if not reach.all():
            s = int(np.flatnonzero(~reach)[0])
            what = (
                "any terminal state"
                if term.any()
                else "a terminal state (terminal_mask is all False)"
            )
            raise ValueError(f"gamma = 1 but state s={s} cannot reach {what}")
