"""Potential-based reward shaping (Ng, Harada & Russell 1999) and its relatives.

F(s, a, s') = γ·(1 − terminated)·Φ(s') − Φ(s): the potential of a true terminal is 0 by
construction (Grześ 2017), while a truncated step keeps γ·Φ(s') of the final observation.

Two forms of the same shaping live here:

* **RewardTransform form** (deep RL, any batch shape ``[*B]``): :func:`potential_based` (static
  Φ(s)), :func:`dynamic_potential` (Φ(s, t) at arrival times; Devlin & Kudenko 2012). The γ in F
  is the *learner's* (``transition.discount = γ·(1 − terminated)``), so PBRS cannot silently use
  a different γ; the one escape hatch is ``potential_based(..., allow_gamma_mismatch=True)``.
* **Table form** (exact layer, ``[S, A, S']`` rewards): :func:`shaped_reward_table`,
  :func:`dynamic_shaped_rewards` (``[H, S, A, S']``), :func:`lookahead_advice_fixed_point`, and
  :func:`apply_to_table`, which runs *any* RewardTransform on the flattened ``[S, A, S']`` batch of
  transitions ("the same code for exact and deep RL": the tests check table form == transform).

Potentials: :func:`potential_from_table` (e.g. Φ = V* from value iteration),
:func:`time_potential_from_table` (Φ[t, s]), :func:`potential_from_critic` (a frozen critic);
classic-control heuristics are in :mod:`jaxrl.shaping.heuristics`.

Potential-based *advice* (Wiewiora, Cottrell & Elkan 2003) uses state-action potentials Φ(s, a):
:func:`lookahead_advice_reward` + :func:`biased_greedy` (exact: Q_adv = Q* − Φ(s, a), optimal
only with the biased action choice argmax(Q_adv + Φ)), and :func:`lookback_advice_reward`
(weaker, asymptotic guarantee).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.mdp.core import TabularMDP
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any
PhiFn = Callable[[Array], Array]
PhiFnT = Callable[[Array, Array], Array]


# ----------------------------------------------------------------------------- shaping math
def potential_shaping(phi_tm1, phi_t, discount_t):
    """Shaping reward ``F_t = discount_t·Φ(s_t) − Φ(s_{t−1})`` (rlax-style, unbatched or batched).

    Args:
      phi_tm1: ``[*B]`` Φ of the state the step leaves.
      phi_t: ``[*B]`` Φ of the state it arrives in (the final observation on truncation).
      discount_t: ``[*B]`` γ·(1 − terminated): zero at a true terminal, so Φ(terminal) = 0.
    """
    return discount_t * phi_t - phi_tm1


def zero_terminal_rows(table: Array, terminal_mask: Array | None) -> Array:
    """``table [..., S, A, S']`` with the rows leaving a terminal state set to 0.

    The exact layer's convention (:mod:`jaxrl.mdp.core`): terminal states are absorbing and
    rewardless, so every table-form shaping (:func:`shaped_reward_table`,
    :func:`dynamic_shaped_rewards`, :func:`apply_to_table`) ends with this, and the three agree on
    terminal rows. ``terminal_mask``: ``[S]`` bool, or ``None`` (no terminals: unchanged).
    """
    if terminal_mask is None:
        return table
    return table * (1.0 - jnp.asarray(terminal_mask, table.dtype))[:, None, None]


def shaped_reward_table(R, phi, gamma, terminal_mask=None):
    """``R'[s, a, s'] = R[s, a, s'] + γ·Φ(s')·(1 − terminal(s')) − Φ(s)`` on a ``[S, A, S']`` table.

    Rows leaving a terminal state are zeroed (:func:`zero_terminal_rows`; terminal states are
    absorbing and rewardless), as in :func:`apply_to_table`.
    """
    phi = jnp.asarray(phi)
    live_next = jnp.ones_like(phi) if terminal_mask is None else 1.0 - terminal_mask
    F = gamma * (phi * live_next)[None, None, :] - phi[:, None, None]
    return zero_terminal_rows(R + F, terminal_mask)


def dynamic_shaped_rewards(R, phi_t, gamma, terminal_mask=None, zero_final: bool = True):
    """Time-indexed shaped rewards for a horizon-H problem (Devlin & Kudenko 2012), table form.

    ``R_t[t, s, a, s'] = R[s, a, s'] + γ·Φ(s', t + 1)·(1 − terminal(s')) − Φ(s, t)``: the potential
    of the state the step arrives in is evaluated at its *arrival* time t + 1. Rows leaving a
    terminal state are zeroed (:func:`zero_terminal_rows`). Feed the result to
    :func:`jaxrl.mdp.finite_horizon` (it has a leading time axis, so ``horizon`` is inferred).

    Args:
      R: ``[S, A, S']`` or ``[H, S, A, S']`` rewards.
      phi_t: ``[H + 1, S]`` potentials ``Φ(s, t)``, t = 0..H.
      gamma: the discount of the finite-horizon recursion.
      terminal_mask: optional ``[S]`` bool absorbing states (their potential is never collected).
      zero_final: zero ``Φ(·, H)`` (default), which policy invariance of the horizon-H objective
        with terminal value 0 requires (then ``Q'_t = Q_t − Φ(·, t)``). ``False`` keeps it, which is
        right only when the recursion bootstraps from a shaped terminal value ``V_H − Φ(·, H)``
        (time-limit treatment (a) of Grześ 2017).

    Returns:
      ``[H, S, A, S']`` shaped rewards.
    """
    phi_t = jnp.asarray(phi_t)
    if phi_t.ndim != 2:
        raise ValueError(f"phi_t must have shape [H + 1, S], got {phi_t.shape}")
    if zero_final:
        phi_t = phi_t.at[-1].set(0.0)
    H, S = phi_t.shape[0] - 1, phi_t.shape[1]
    R = jnp.broadcast_to(jnp.asarray(R), (H, S, R.shape[-2], S))
    live = (
        jnp.ones((S,), phi_t.dtype)
        if terminal_mask is None
        else 1.0 - jnp.asarray(terminal_mask).astype(phi_t.dtype)
    )
    F = gamma * (phi_t[1:] * live)[:, None, None, :] - phi_t[:-1, :, None, None]
    return zero_terminal_rows(R + F, terminal_mask)


# ----------------------------------------------------------------------------- transforms
def _no_state(params):
    del params
    return ()


def potential_based(
    phi_fn: PhiFn,
    gamma: float | None = None,
    coefficient: float = 1.0,
    allow_gamma_mismatch: bool = False,
) -> RewardTransform:
    """Static PBRS as a RewardTransform: ``r + c·(discount·Φ(next_obs) − Φ(obs))``.

    ``discount`` is the transition's (the learner's) ``γ·(1 − terminated)``, so Φ(terminal) = 0 by
    construction and a truncated step keeps γ·Φ of the final observation (``next_obs`` is
    ``info["final_observation"]`` there). Policy invariance (Ng et al. 1999) holds for every
    ``c``; ``c`` is the transform's (vmappable) params.

    Args:
      phi_fn: ``Φ(obs [*B, *obs_shape]) -> [*B]``.
      gamma: the γ this shaping was designed for. Recorded in ``RewardTransform.gamma`` so that
        trainers (``check_gamma``) refuse a learner with a different γ; F itself always uses the
        learner's discount unless ``allow_gamma_mismatch``.
      coefficient: default shaping coefficient ``c`` (``default_params``).
      allow_gamma_mismatch: use this transform's own ``gamma`` in F instead of the learner's:
        ``F = γ_shaping·(1 − terminated)·Φ(s') − Φ(s)``. This is *not* policy invariant when
        ``γ_shaping ≠ γ_learner`` (it adds ``(γ_shaping − γ)·Φ(s')``; the γ-mismatch counterexample
        of check 1.1 uses it). The transform then records ``gamma=None``: the caller has opted out
        of the trainer's γ check.
    """
    if allow_gamma_mismatch and gamma is None:
        raise ValueError("allow_gamma_mismatch=True needs the shaping's own gamma")

    def apply(params, state, tr: Transition):
        phi_s = phi_fn(tr.obs)
        phi_next = phi_fn(tr.next_obs)
        if allow_gamma_mismatch:
            discount = gamma * (1.0 - jnp.asarray(tr.terminated, phi_next.dtype))
        else:
            discount = tr.discount
        F = potential_shaping(phi_s, phi_next, discount)
        return tr.reward + params * F, state

    return RewardTransform(
        _no_state, apply, jnp.asarray(coefficient), None if allow_gamma_mismatch else gamma
    )


def dynamic_potential(
    phi_fn_t: PhiFnT, gamma: float | None = None, coefficient: float = 1.0
) -> RewardTransform:
    """Dynamic PBRS (Devlin & Kudenko 2012): ``r + c·(discount·Φ(s', t + 1) − Φ(s, t))``.

    Potentials are evaluated at *arrival* times: ``transition.time`` = t is the step index of
    ``obs`` (the time the agent arrived in s), so ``next_obs`` arrived at t + 1. Evaluating the next
    potential at the current time, ``γΦ(s', t) − Φ(s, t)``, does not telescope and changes the
    optimal policy (check 1.3's counterexample). For a horizon-H objective use ``Φ(·, H) = 0``.

    Args:
      phi_fn_t: ``Φ(obs [*B, *obs_shape], t [*B]) -> [*B]``.
      gamma: recorded for ``check_gamma`` (F always uses the learner's discount).
      coefficient: default ``c`` (vmappable params).
    """

    def apply(params, state, tr: Transition):
        t = jnp.asarray(tr.time)
        F = potential_shaping(phi_fn_t(tr.obs, t), phi_fn_t(tr.next_obs, t + 1), tr.discount)
        return tr.reward + params * F, state

    return RewardTransform(_no_state, apply, jnp.asarray(coefficient), gamma)


# ----------------------------------------------------------------------------- potentials
def _state_lookup(values: Array, obs: Array) -> Array:
    """``values[s]`` for integer obs ``[*B]``, or ``obs @ values`` for one-hot obs ``[*B, S]``."""
    obs = jnp.asarray(obs)
    if jnp.issubdtype(obs.dtype, jnp.integer) or jnp.issubdtype(obs.dtype, jnp.bool_):
        return jnp.take(values, obs.astype(jnp.int32), axis=-1)
    if obs.shape[-1:] != values.shape[-1:]:
        raise ValueError(
            f"float observation of shape {obs.shape} is not one-hot over {values.shape[-1]} states"
        )
    return jnp.einsum("...s,s->...", obs, values)


#: The number of states of the ``[S, A, S']`` table :func:`apply_to_table` is running a transform
#: on (``None`` outside it): table potentials check their length against it at trace time.
_TABLE_STATES: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "_TABLE_STATES", default=None
)


def _check_table_length(fn: str, n_values: int, n_states: int | None, what: str) -> None:
    if n_states is not None and n_values != n_states:
        raise ValueError(
            f"{fn}: the potential table has {n_values} entries but {what} has {n_states} states "
            "(a longer table would be silently truncated, a shorter one gives NaN)"
        )


def potential_from_table(values: Array, n_states: int | None = None) -> PhiFn:
    """``Φ(obs) = values[s]`` for a tabular state: e.g. Φ = V* from ``value_iteration``.

    ``obs`` is an integer state index ``[*B]`` (``TabularEnv(obs_type="index")``, or the exact
    layer's ``[S, A, S']`` batch) or a one-hot float vector ``[*B, S]`` (the default tabular
    observation; any distribution over states gives the expected potential).

    The table's length must be the number of states: checked against ``n_states`` if given,
    against ``S`` inside :func:`apply_to_table`, against the one-hot width of float observations,
    and against concrete integer observations (an index ``>= len(values)`` is refused; traced
    out-of-range indices give NaN).
    """
    values = jnp.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"potential_from_table: values must have shape [S], got {values.shape}")
    n = int(values.shape[0])
    _check_table_length("potential_from_table", n, n_states, "n_states")

    def phi(obs):
        _check_table_length("potential_from_table", n, _TABLE_STATES.get(), "the reward table")
        if (
            not isinstance(obs, jax.core.Tracer)
            and (jnp.issubdtype(jnp.asarray(obs).dtype, jnp.integer))
            and jnp.size(obs)
        ):
            o = np.asarray(obs)
            if o.max() >= n or o.min() < 0:
                bad = int(o.max()) if o.max() >= n else int(o.min())
                raise ValueError(
                    f"potential_from_table: state index {bad} is outside the potential table "
                    f"of {n} entries"
                )
        return _state_lookup(values, obs)

    return phi


def time_potential_from_table(values: Array) -> PhiFnT:
    """``Φ(obs, t) = values[min(t, H), s]`` from a ``[H + 1, S]`` table (:func:`dynamic_potential`).

    Times beyond H are clipped to H; with ``values[H] = 0`` that is "no potential after the
    horizon".
    """
    values = jnp.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must have shape [H + 1, S], got {values.shape}")
    H = values.shape[0] - 1

    def phi(obs, t):
        rows = values[jnp.clip(jnp.asarray(t), 0, H)]  # [*B, S]
        obs = jnp.asarray(obs)
        if jnp.issubdtype(obs.dtype, jnp.integer) or jnp.issubdtype(obs.dtype, jnp.bool_):
            return jnp.take_along_axis(rows, obs.astype(jnp.int32)[..., None], axis=-1)[..., 0]
        return jnp.sum(obs * rows, axis=-1)

    return phi


def potential_from_critic(
    apply_fn: Callable[..., Any],
    params: Any,
    select: Callable[[Any], Array] | None = None,
) -> PhiFn:
    """``Φ(obs) = V(obs)`` from a *frozen* critic snapshot (e.g. a pretrained PPO value head).

    The params are captured once (and wrapped in ``stop_gradient``), so the potential is static
    and PBRS's invariance applies; refreshing it during training makes it a dynamic potential.

    Args:
      apply_fn: ``apply_fn(params, obs [*B, *obs_shape])``, e.g. a flax ``Module.apply``.
      params: the critic's parameters.
      select: picks the ``[*B]`` value out of ``apply_fn``'s output (default: the output itself),
        e.g. ``lambda out: out[2]`` for ``jaxrl.agents.networks.ActorCritic``, or
        ``lambda v: v[..., 0]`` for a ``[*B, 1]`` head.
    """
    frozen = jax.lax.stop_gradient(params)

    def phi(obs):
        out = apply_fn(frozen, obs)
        return out if select is None else select(out)

    return phi


# ----------------------------------------------------------------------------- exact layer glue
def table_transitions(R, gamma, terminal_mask=None, time=0) -> Transition:
    """The ``[S, A, S']`` table as a batch of transitions (integer states and actions).

    ``obs[s, a, s'] = s``, ``action = a``, ``next_obs = s'``, ``reward = R[s, a, s']``,
    ``terminated = terminal(s')``, ``truncated = False``, ``discount = γ·(1 − terminated)`` and
    ``time`` broadcast; no channels.
    """
    R = jnp.asarray(R)
    S, A, _ = R.shape
    s, a, s2 = jnp.meshgrid(jnp.arange(S), jnp.arange(A), jnp.arange(S), indexing="ij")
    term = (jnp.zeros((S,), bool) if terminal_mask is None else jnp.asarray(terminal_mask, bool))[
        s2
    ]
    return Transition(
        obs=s,
        action=a,
        reward=R,
        next_obs=s2,
        terminated=term,
        truncated=jnp.zeros_like(term),
        discount=gamma * (1.0 - term.astype(R.dtype)),
        channels={},
        time=jnp.broadcast_to(jnp.asarray(time), R.shape),
    )


def apply_to_table(
    transform: RewardTransform, R, gamma, terminal_mask=None, params=None, time=0
) -> Array:
    """Run a (stateless-per-step) RewardTransform on a whole ``[S, A, S']`` reward table.

    The transform sees :func:`table_transitions` (integer observations, so potentials must accept
    state indices, e.g. :func:`potential_from_table`). Rows leaving a terminal state are zeroed
    (:func:`zero_terminal_rows`), as in :func:`shaped_reward_table`. ``params`` defaults to the
    transform's ``default_params``; the state from ``transform.init`` is used once and discarded.
    """
    params = transform.default_params if params is None else params
    tr = table_transitions(R, gamma, terminal_mask, time)
    token = _TABLE_STATES.set(int(tr.obs.shape[0]))
    try:
        out, _ = transform.apply(params, transform.init(params), tr)
    finally:
        _TABLE_STATES.reset(token)
    return zero_terminal_rows(out, terminal_mask)


# ----------------------------------------------------------------------------- advice
def lookahead_advice_reward(phi_sa_tm1, phi_sa_t, discount_t):
    """Look-ahead advice (Wiewiora, Cottrell & Elkan 2003): ``F = discount·Φ(s', a') − Φ(s, a)``.

    ``a'`` is the action the agent actually takes next (SARSA-style), so the reward of step t is
    only known once ``a_{t+1}`` is chosen. ``discount_t = γ·(1 − terminated)`` drops Φ at a
    terminal. The learned values are ``Q_adv = Q − Φ(s, a)``; act with :func:`biased_greedy`.
    """
    return discount_t * phi_sa_t - phi_sa_tm1


def biased_greedy(q, phi_sa):
    """Biased action selection for look-ahead advice: ``argmax_a [Q_adv(s, a) + Φ(s, a)]``.

    ``q``, ``phi_sa``: ``[*B, A]`` -> ``[*B]`` int. Greedy on ``Q_adv`` alone is *not* optimal.
    """
    return jnp.argmax(q + phi_sa, axis=-1)


def lookback_advice_reward(phi_sa_t, phi_sa_tm1, gamma):
    """Look-back advice: ``F_t = Φ(s_t, a_t) − γ⁻¹·Φ(s_{t−1}, a_{t−1})`` credited at step t.

    Needs no biased action selection, but its guarantee is weaker: the learned Q is not an exact
    shift of Q* and convergence to the optimal greedy policy is only asymptotic (Wiewiora et al.
    2003); check it empirically. Pass ``phi_sa_tm1 = 0`` on the first step of an episode.
    """
    return phi_sa_t - phi_sa_tm1 / gamma


@jax.jit
def lookahead_advice_fixed_point(
    mdp: TabularMDP, phi_sa: Array, tol: float = 1e-13, max_iters: int = 100_000
) -> Array:
    """``Q_adv [S, A]``: fixed point of ``Q = r − Φ + γ P max_{a'}(Q + Φ)(s', a')`` (look-ahead).

    Iterated from ``Q = −Φ`` until the sup-norm error bound is below ``tol`` (γ < 1:
    ``γ/(1 − γ)·‖ΔQ‖ ≤ tol``; γ = 1: ``‖ΔQ‖ ≤ tol``), floored at a few ulps like
    ``value_iteration``. Terminal states have ``Q_adv = 0`` and ``Φ(terminal, ·)`` is never
    collected. The theorem: ``Q_adv = Q* − Φ(s, a)`` and ``argmax(Q_adv + Φ) = argmax Q*``.
    """
    phi_sa = jnp.asarray(phi_sa, mdp.P.dtype)
    live = (~mdp.terminal_mask).astype(mdp.P.dtype)
    phi_sa = phi_sa * live[:, None]
    r, gamma = mdp.expected_reward, mdp.gamma
    diff_tol = jnp.where(gamma < 1, tol * (1 - gamma) / jnp.maximum(gamma, 1e-30), tol)
    eps = jnp.finfo(mdp.P.dtype).eps

    def backup(Q):
        nxt = jnp.max(Q + phi_sa, axis=-1)
        return (r - phi_sa + gamma * jnp.einsum("sat,t->sa", mdp.P, nxt)) * live[:, None]

    def cond(carry):
        i, Q, diff = carry
        floor = 4 * eps * (1 + jnp.max(jnp.abs(Q)))
        return (i < max_iters) & (diff > jnp.maximum(diff_tol, floor))

    def body(carry):
        i, Q, _ = carry
        Q_new = backup(Q)
        return i + 1, Q_new, jnp.max(jnp.abs(Q_new - Q))

    init = (jnp.asarray(0), -phi_sa, jnp.asarray(jnp.inf, phi_sa.dtype))
    _, Q, _ = jax.lax.while_loop(cond, body, init)
    return Q
