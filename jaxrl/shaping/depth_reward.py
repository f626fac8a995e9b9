"""Step rewards for reasoning depth (GRPO-R, issue 20), as potential and as per-step bonus.

GRPO-R ("Reasoning hallucination ... GRPO-R", seed-papers.txt) adds "step-level deep reasoning
rewards via potential-based shaping". Two forms of a depth reward on a step-wise task:

* **potential form** (Ng, Harada & Russell 1999, eq. 2): ``F = discount·Φ(s') − Φ(s)`` with
  ``Φ(s) = min(depth(s), L) / L`` (capped, normalised depth; :func:`depth_potential`). Policy
  invariant for every coefficient ``c``.
* **bonus form**: ``+c`` per reasoning step (every step action, i.e. every action but the answer;
  :func:`step_bonus`). Not a potential difference: where extra steps are free (padding), a bonus
  per step pays for lengthening the chain.

Observation contract (the toy reasoning MDP, :mod:`jaxrl.envs.reasoning_chain`): obs
``[*B, P + D + 1] = [one_hot(problem) (P), one_hot(depth) (D + 1)]``; :func:`depth_from_obs`
reads the depth one-hot (this layer does not import envs: ``num_problems`` / ``max_depth`` are
passed in). A zero depth block (e.g. the exact layer's absorbing end state) reads as depth 0.

Exact layer: :func:`obs_table_transitions` builds the ``[S, A, S']`` batch of transitions of a
TabularMDP with *observation* features per state (not integer indices, unlike
:func:`jaxrl.shaping.potential.table_transitions`), so the same obs-reading transforms run on the
whole table (:func:`apply_obs_transform_to_table`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from jaxrl.shaping.potential import potential_based, zero_terminal_rows
from jaxrl.shaping.transform import RewardTransform, Transition

Array = Any


def _check_sizes(num_problems: int, max_depth: int, chain_length: int | None = None) -> None:
    if int(num_problems) < 1:
        raise ValueError(f"num_problems={num_problems}; must be >= 1")
    if int(max_depth) < 0:
        raise ValueError(f"max_depth={max_depth}; must be >= 0")
    if chain_length is not None and not 1 <= int(chain_length) <= int(max_depth):
        raise ValueError(f"chain_length={chain_length}; must be in [1, max_depth={max_depth}]")


def depth_from_obs(obs: Array, num_problems: int, max_depth: int) -> Array:
    """Depth ``[*B]`` (float) from obs ``[*B, P + D + 1]`` (the depth one-hot after the problem
    one-hot); refuses an obs of the wrong width."""
    obs = jnp.asarray(obs)
    width = int(num_problems) + int(max_depth) + 1
    if obs.shape[-1] != width:
        raise ValueError(f"obs last axis {obs.shape[-1]} != num_problems + max_depth + 1 = {width}")
    d = jnp.arange(int(max_depth) + 1, dtype=obs.dtype)
    return obs[..., int(num_problems) :] @ d


def depth_potential(num_problems: int, max_depth: int, chain_length: int):
    """``Φ(obs) = min(depth, L) / L`` ``[*B]``: GRPO-R's depth as a potential (in [0, 1])."""
    _check_sizes(num_problems, max_depth, chain_length)
    L = float(chain_length)

    def phi(obs):
        return jnp.minimum(depth_from_obs(obs, num_problems, max_depth), L) / L

    return phi


def depth_potential_shaping(
    num_problems: int, max_depth: int, chain_length: int, gamma: float, coefficient: float = 1.0
) -> RewardTransform:
    """``r + c·(discount·Φ(s') − Φ(s))`` with :func:`depth_potential` (params: ``c``, scalar or
    ``[runs]`` when vmapped)."""
    phi = depth_potential(num_problems, max_depth, chain_length)
    return potential_based(phi, gamma=gamma, coefficient=coefficient)


def step_bonus(num_step_actions: int, coefficient: float = 1.0) -> RewardTransform:
    """``r + c·1[action < K]``: a plain bonus per reasoning step (any step action; the answer is
    action ``K = num_step_actions``). Params: ``c``. Not potential-based."""
    if int(num_step_actions) < 1:
        raise ValueError(f"num_step_actions={num_step_actions}; must be >= 1")
    K = int(num_step_actions)

    def init(params):
        del params
        return ()

    def apply(params, state, tr: Transition):
        step = (jnp.asarray(tr.action) < K).astype(jnp.result_type(tr.reward, float))
        return tr.reward + params * step, state

    return RewardTransform(init, apply, jnp.asarray(coefficient), None)


# ----------------------------------------------------------------------------- exact layer
def obs_table_transitions(R: Array, obs_table: Array, gamma: float, terminal_mask: Array,
                          terminal_obs: str = "source") -> Transition:  # fmt: skip
    """All ``[S, A, S']`` transitions of a TabularMDP with per-state observation features.

    Args:
      R: ``[S, A, S']`` rewards (the transitions' env reward).
      obs_table: ``[S, F]`` the observation each state emits.
      gamma: the learner's γ (``discount = γ·(1 − terminal(s'))``).
      terminal_mask: ``[S]`` bool absorbing states.
      terminal_obs: ``"source"``: a transition into a terminal state observes the *source* state's
        features as ``next_obs`` (an env whose final observation after the terminating action is
        the state it left, as ``reasoning_chain``'s answer step: depth unchanged); ``"table"``:
        the terminal state's own row of ``obs_table``.

    Returns:
      :class:`Transition` with leading shape ``[S, A, S']`` (obs ``[S, A, S', F]``).
    """
    R = jnp.asarray(R)
    obs_table = jnp.asarray(obs_table, R.dtype)
    S, A, _ = R.shape
    if obs_table.ndim != 2 or obs_table.shape[0] != S:
        raise ValueError(f"obs_table must have shape [S={S}, F], got {obs_table.shape}")
    if terminal_obs not in ("source", "table"):
        raise ValueError(f"terminal_obs={terminal_obs!r}; expected 'source' or 'table'")
    term = jnp.asarray(terminal_mask, bool)
    shape = (S, A, S, obs_table.shape[1])
    obs = jnp.broadcast_to(obs_table[:, None, None, :], shape)
    nxt = jnp.broadcast_to(obs_table[None, None, :, :], shape)
    if terminal_obs == "source":
        nxt = jnp.where(term[None, None, :, None], obs, nxt)
    terminated = jnp.broadcast_to(term[None, None, :], (S, A, S))
    return Transition(
        obs=obs,
        action=jnp.broadcast_to(jnp.arange(A)[None, :, None], (S, A, S)),
        reward=R,
        next_obs=nxt,
        terminated=terminated,
        truncated=jnp.zeros((S, A, S), bool),
        discount=gamma * (1.0 - terminated.astype(R.dtype)),
        channels={},
        time=jnp.zeros((S, A, S), jnp.int32),
    )


def apply_obs_transform_to_table(transform: RewardTransform, params: Any, R: Array,
                                 obs_table: Array, gamma: float, terminal_mask: Array,
                                 terminal_obs: str = "source") -> Array:  # fmt: skip
    """Run an obs-reading RewardTransform on a whole ``[S, A, S']`` table (the same code as in
    PPO); rows leaving a terminal state are zeroed. Returns ``[S, A, S']``."""
    tr = obs_table_transitions(R, obs_table, gamma, terminal_mask, terminal_obs)
    out, _ = transform.apply(params, transform.init(params), tr)
    return zero_terminal_rows(out, jnp.asarray(terminal_mask, bool))
