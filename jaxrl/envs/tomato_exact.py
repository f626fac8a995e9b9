"""Exact tabular ORPO curves on the sparse tomato MDP (papers.md §1, theory.md §4).

The tabular tomato MDP of :func:`jaxrl.envs.tomato.tomato_to_sparse_mdp` has states
``pos · 2^T + watered`` and leaves out the observation's bucket-visited bit. A network policy sees
that bit, so here the MDP is **augmented** with it (exactly, no approximation): state
``bit · S + s``, the bit turning on when the agent arrives on the bucket (by a legal move; the
only way to be on the bucket is to have moved there, the start is elsewhere) and never turning
off. That doubles the states (26 624 on level 4); rewards and dynamics are unchanged, so returns
equal those on the plain MDP. Every augmented state has an exact observation
(:func:`tabular_observations`), so a trained network *is* a tabular policy
(:func:`network_policy`), with no choice to make about the missing bit.

The occupancy is the time-averaged state-action visitation ``μ_π = (1/H) Σ_t x_t`` over the
undiscounted horizon ``H`` (100), by a forward propagation that is differentiable in the policy
logits (:func:`sparse_fns`; gathers and a scatter-add, both linear in the policy). The return is
the per-step average ``(1/H) Σ_t E[r_t]``, the units of ORPO's per-step penalty, so the exact
objective ``J(π, R̃) − λ D(μ_π ‖ μ_ref)`` uses the same λ as the deep-RL runs (whose
penalty ``λ · pen`` is subtracted from every step's reward). Multiply by ``H`` for episode returns.

:func:`exact_curves` runs :func:`jaxrl.regularizers.exact_ascent.make_ascent` from the reference
policy for each λ of a grid (one ``jit(vmap)`` per divergence and state/state-action variant).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.tomato import TomatoEnv, TomatoParams, tomato_to_sparse_mdp
from jaxrl.mdp.sparse import SparseMDP
from jaxrl.regularizers.exact_ascent import logits_from_policy, make_ascent
from jaxrl.regularizers.occupancy import state_marginal

Array = Any


def augmented_tomato_mdp(env: TomatoEnv, params: TomatoParams) -> SparseMDP:
    """The tomato :class:`SparseMDP` with the bucket-visited bit: ``2 · S`` states ``bit·S + s``."""
    base = tomato_to_sparse_mdp(env, params)
    S, T = base.n_states, env.board.n_tomatoes
    nxt = base.next_state
    arrives_bucket = (nxt >> T) == env.board.bucket  # [S, A, K]
    # bit 0 states: the bit turns on when arriving on the bucket; bit 1 states keep it.
    nxt0 = jnp.where(arrives_bucket, nxt + S, nxt)
    nxt1 = nxt + S
    return SparseMDP(
        next_state=jnp.concatenate([nxt0, nxt1], axis=0).astype(jnp.int32),
        prob=jnp.concatenate([base.prob, base.prob], axis=0),
        rewards={k: jnp.concatenate([v, v], axis=0) for k, v in base.rewards.items()},
        init_dist=jnp.concatenate([base.init_dist, jnp.zeros_like(base.init_dist)]),
        terminal=jnp.concatenate([base.terminal, base.terminal]),
    )


def reachable_states(mdp: SparseMDP) -> np.ndarray:
    """Sorted indices of the states reachable from the initial distribution (any number of steps,
    any actions): breadth-first search over the successor lists."""
    nxt = np.asarray(mdp.next_state).reshape(mdp.n_states, -1)
    prob = np.asarray(mdp.prob).reshape(mdp.n_states, -1)
    terminal = np.asarray(mdp.terminal)
    seen = np.asarray(mdp.init_dist) > 0
    frontier = np.flatnonzero(seen)
    while frontier.size:
        live = frontier[~terminal[frontier]]
        succ = nxt[live][prob[live] > 0]
        new = np.unique(succ[~seen[succ]])
        seen[new] = True
        frontier = new
    return np.flatnonzero(seen)


def restrict(mdp: SparseMDP, keep: np.ndarray) -> SparseMDP:
    """The MDP on the states ``keep`` (closed under successors, e.g. :func:`reachable_states`),
    re-indexed ``0 … len(keep) − 1`` in the order of ``keep``."""
    keep = np.asarray(keep)
    new_index = np.full(mdp.n_states, -1, np.int64)
    new_index[keep] = np.arange(keep.size)
    nxt = new_index[np.asarray(mdp.next_state)[keep]]
    if (nxt < 0).any():
        raise ValueError("the kept states are not closed under successors")
    return SparseMDP(
        next_state=jnp.asarray(nxt, jnp.int32),
        prob=mdp.prob[keep],
        rewards={k: v[keep] for k, v in mdp.rewards.items()},
        init_dist=mdp.init_dist[keep],
        terminal=mdp.terminal[keep],
    )


def reachable_tomato_mdp(env: TomatoEnv, params: TomatoParams) -> tuple[SparseMDP, np.ndarray]:
    """``(mdp, index)``: the augmented MDP restricted to its reachable states (about 1 000 of the
    26 624 on level 4, which makes the exact ascent ~25× cheaper) and their augmented indices."""
    full = augmented_tomato_mdp(env, params)
    keep = reachable_states(full)
    return restrict(full, keep), keep


def tabular_observations(env: TomatoEnv, index: Array | None = None) -> Array:
    """``[n, obs_dim]`` the observation of augmented states ``index`` (default all ``2 S``), from
    the env's own ``get_obs``."""
    S = env.n_tabular_states
    idx = jnp.arange(2 * S) if index is None else jnp.asarray(index, jnp.int32)
    states = env.state_from_index(idx % S)
    states = states.replace(bucket_visited=idx >= S)
    return jax.vmap(env.get_obs)(states)


def network_policy(network, params, obs: Array) -> Array:
    """``[n, A]`` action probabilities of an ``ActorCritic`` network on observations ``[n, D]``."""
    logits, _, _ = network.apply(params, obs)
    return jax.nn.softmax(logits, axis=-1)


@partial(jax.jit, static_argnames=("horizon",))
def visitation(mdp: SparseMDP, pi: Array, *, horizon: int) -> Array:
    """Time-averaged visitation ``(1/H) Σ_t Pr(s_t = s, a_t = a)`` ``[S, A]`` of a stationary
    policy ``pi [S, A]``; differentiable in ``pi`` (terminal states carry no visitation). Computed
    in the wider of ``pi``'s and ``mdp.prob``'s dtypes (float64 for the x64 MDP even when ``pi``
    comes from a float32 network)."""
    pi = pi.astype(jnp.result_type(pi, mdp.prob))
    live = (~mdp.terminal).astype(pi.dtype)
    S = mdp.n_states
    flat_next = mdp.next_state.reshape(-1)

    def step(carry, _):
        d, acc = carry
        x = (d * live)[:, None] * pi
        flow = (x[:, :, None] * mdp.prob).reshape(-1)
        d_next = jnp.zeros(S, pi.dtype).at[flat_next].add(flow)
        return (d_next, acc + x), None

    init = (mdp.init_dist.astype(pi.dtype), jnp.zeros_like(pi))
    (_, acc), _ = jax.lax.scan(step, init, None, length=horizon)
    return acc / horizon


def _check_horizon(fn: str, horizon) -> None:
    """The time-averaged visitation divides by H: refuse H < 1 (it would give NaN)."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"{fn}: horizon = {horizon!r} must be an integer >= 1")


def sparse_fns(mdp: SparseMDP, *, horizon: int, state_only: bool = False):
    """``(occupancy_fn, return_fn)`` for :func:`make_ascent` on a sparse finite-horizon MDP.

    ``occupancy_fn(logits [S, A])``: time-averaged ``μ_π [S, A]`` (or its state marginal ``[S]``
    with ``state_only``); ``return_fn(logits, reward [S, A])``: per-step average return.
    """
    _check_horizon("sparse_fns", horizon)

    def occupancy_fn(logits):
        mu = visitation(mdp, jax.nn.softmax(logits, axis=-1), horizon=horizon)
        return state_marginal(mu) if state_only else mu

    def return_fn(logits, reward):
        mu = visitation(mdp, jax.nn.softmax(logits, axis=-1), horizon=horizon)
        return jnp.sum(mu * reward)

    return occupancy_fn, return_fn


def sparse_terms(mdp: SparseMDP, *, horizon: int, state_only: bool = False):
    """``terms_fn(logits, reward) -> (return_fn(logits, reward), occupancy_fn(logits))`` of
    :func:`sparse_fns` from one visitation pass (``make_ascent(..., terms_fn=...)``)."""
    _check_horizon("sparse_terms", horizon)

    def terms_fn(logits, reward):
        mu = visitation(mdp, jax.nn.softmax(logits, axis=-1), horizon=horizon)
        return jnp.sum(mu * reward), (state_marginal(mu) if state_only else mu)

    return terms_fn


def policy_returns(mdp: SparseMDP, pi: Array, *, horizon: int) -> dict[str, Array]:
    """Exact expected episode return (sum over ``H`` steps) of every reward channel."""
    mu = visitation(mdp, pi, horizon=horizon)
    return {k: horizon * jnp.sum(mu * mdp.expected_reward(k)) for k in mdp.rewards}


def exact_curves(
    mdp: SparseMDP,
    pi_ref: Array,
    lams: dict[tuple[str, bool], Array],
    *,
    horizon: int,
    steps: int = 300,
    learning_rate: float = 0.1,
) -> dict[tuple[str, bool], dict[str, np.ndarray]]:
    """Exact λ-optimal policies of ``J(π, R̃) − λ D(μ_π ‖ μ_ref)`` from ``π_ref``.

    Args:
      mdp: the (augmented) tomato MDP with ``"true_reward"`` and ``"proxy_reward"`` channels.
      pi_ref: ``[S, A]`` reference policy (also the ascent's start).
      lams: ``(divergence, state_only) -> [L]`` λ values (per-step units).
      horizon: H.
      steps, learning_rate: Adam ascent settings (cosine-decayed).

    Returns:
      ``(divergence, state_only) -> {"lam", "true_return", "proxy_return", "divergence"}``,
      returns as episode sums (``H ×`` per-step).
    """
    _check_horizon("exact_curves", horizon)
    proxy = mdp.expected_reward("proxy_reward")
    true = mdp.expected_reward("true_reward")
    pi_ref = jnp.asarray(pi_ref, proxy.dtype)
    mu_ref = visitation(mdp, pi_ref, horizon=horizon)
    init = logits_from_policy(pi_ref)
    out = {}
    for (div, state_only), lam in lams.items():
        occ, ret = sparse_fns(mdp, horizon=horizon, state_only=state_only)
        ref = state_marginal(mu_ref) if state_only else mu_ref
        terms = sparse_terms(mdp, horizon=horizon, state_only=state_only)
        run = make_ascent(occ, ret, div, steps=steps, learning_rate=learning_rate, terms_fn=terms)
        batched = jax.jit(jax.vmap(run, in_axes=(None, None, None, 0, None)))
        res = batched(init, proxy, ref, jnp.asarray(lam, proxy.dtype), true)
        out[(div, state_only)] = {
            "lam": np.asarray(lam),
            "true_return": horizon * np.asarray(res.true_return),
            "proxy_return": horizon * np.asarray(res.proxy_return),
            "divergence": np.asarray(res.divergence),
        }
    return out
