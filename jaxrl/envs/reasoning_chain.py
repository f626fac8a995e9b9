"""A toy reasoning MDP: chains of discrete steps toward a verifiable answer (issue 20's testbed).

Each episode poses one of ``P`` problems. A problem is solved by ``L`` reasoning steps, each a
choice among ``K`` step actions of which exactly one is right at that depth (a fixed table
``correct [P, L]``), followed by the **answer** action ``K``; the answer is verified and pays the
outcome reward 1 if right, 0 otherwise, and ends the episode. Two ways to be right:

* the **full chain**: all ``L`` steps right (in order), then answer. Steps taken after the ``L``-th
  ("padding": any step action) do not spoil a right chain, so an episode can be lengthened at no
  cost to the outcome; a wrong step does spoil it for the rest of the episode;
* the **shortcut**: answering at depth ``d < L`` is right only on the "shortcut-easy" problems
  (a fixed fraction ``shortcut_fraction`` of them, table ``easy [P]``), whatever the steps were.
  On the others a shallow answer looks like an answer and is wrong.

The learner observes ``[one_hot(p) (P), one_hot(d) (D + 1)]`` (``D = max_depth``): the problem and
how many steps it has taken, but not whether its chain is still right (like a language model,
which does not see whether its reasoning went wrong). Step ``D + 1`` without answering is
truncation. Info reward channels: ``true_reward`` = ``outcome_reward`` (the verified answer), and
the ground-truth step progress ``progress_reward`` = ``Φ*(s') − Φ*(s)`` with
``Φ*(s) = right_so_far · min(d, L) / L`` (1/L per right step, −(progress so far) on the first
wrong step), so an episode's progress rewards sum to its final Φ*; ``info["progress"]`` is
``Φ*(s')`` itself (labels for a learned progress model).

The exact layer: :func:`reasoning_mdp` is the same task as a :class:`~jaxrl.mdp.TabularMDP` over
states ``(p, d, right_so_far)`` plus one absorbing end state, so optimal returns and policies are
exact solves (:func:`optimal_success`: the best success rate, and the shortcut's).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxrl.config import Config
from jaxrl.envs.core import Array, Environment
from jaxrl.envs.registry import register, registered_names
from jaxrl.mdp import TabularMDP, finite_horizon


@dataclasses.dataclass(frozen=True)
class ReasoningConfig(Config):
    num_problems: int = 8
    """P problems, drawn uniformly at reset"""
    chain_length: int = 4
    """L: right steps the full solution needs (its length is L + 1 with the answer)"""
    num_step_actions: int = 4
    """K step choices at every depth (one is right); the answer is action K"""
    max_depth: int = 8
    """D: steps allowed before the answer (>= L); step D + 1 without answering truncates"""
    shortcut_fraction: float = 0.25
    """fraction of problems on which an early answer (depth < L) is right"""
    seed: int = 0
    """draws the right-step table and the shortcut-easy problems"""

    def check(self) -> None:
        for f in ("num_problems", "chain_length"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.num_step_actions >= 2, "num_step_actions", "must be >= 2")
        self.require(self.max_depth >= self.chain_length, "max_depth", "must be >= chain_length")
        ok = 0.0 <= self.shortcut_fraction <= 1.0
        self.require(ok, "shortcut_fraction", "must be in [0, 1]")
        self.require(self.seed >= 0, "seed", "must be >= 0")


@dataclasses.dataclass(frozen=True, eq=False)
class ReasoningTables:
    """``correct [P, L]`` int (the right step at each depth) and ``easy [P]`` bool."""

    correct: np.ndarray
    easy: np.ndarray


def reasoning_tables(config: ReasoningConfig) -> ReasoningTables:
    """The problem set of ``config`` (deterministic in ``config.seed``): exactly
    ``round(shortcut_fraction · P)`` shortcut-easy problems."""
    rng = np.random.default_rng(config.seed)
    P, L, K = config.num_problems, config.chain_length, config.num_step_actions
    correct = rng.integers(0, K, size=(P, L))
    easy = np.zeros(P, bool)
    easy[rng.permutation(P)[: int(round(config.shortcut_fraction * P))]] = True
    return ReasoningTables(correct, easy)


def reasoning_mdp(config: ReasoningConfig = ReasoningConfig(), gamma: float = 1.0) -> TabularMDP:
    """The task as an exact MDP (float64). State ``(p·(D + 1) + d)·2 + right`` for problem
    ``p``, depth ``d`` and ``right ∈ {0, 1}``, plus the absorbing end state ``S − 1`` (reached by
    answering; the outcome reward is paid on entering it). Truncation is not part of the MDP
    (use a finite horizon, or γ < 1)."""
    config.check()
    t = reasoning_tables(config)
    P, L, K, D = config.num_problems, config.chain_length, config.num_step_actions, config.max_depth
    S, A = P * (D + 1) * 2 + 1, K + 1
    end = S - 1
    P_, R = np.zeros((S, A, S)), np.zeros((S, A, S))
    for p in range(P):
        for d in range(D + 1):
            for right in range(2):
                s = (p * (D + 1) + d) * 2 + right
                for a in range(K):
                    d2 = min(d + 1, D)
                    r2 = right and (d >= L or a == t.correct[p, d])
                    P_[s, a, (p * (D + 1) + d2) * 2 + int(r2)] = 1.0
                P_[s, K, end] = 1.0
                R[s, K, end] = float((right and d >= L) or (d < L and t.easy[p]))
    P_[end, :, end] = 1.0
    init = np.zeros(S)
    init[[(p * (D + 1)) * 2 + 1 for p in range(P)]] = 1.0 / P
    terminal = np.zeros(S, bool)
    terminal[end] = True
    return TabularMDP.create(jnp.asarray(P_), jnp.asarray(R), gamma, jnp.asarray(init), terminal)


def optimal_success(config: ReasoningConfig = ReasoningConfig()) -> tuple[float, float]:
    """Exact best success rate within the episode's ``max_depth + 1`` steps, and the best
    success rate of answering before depth ``L`` (the shortcut's ceiling), by backward
    induction on :func:`reasoning_mdp` (float64, γ = 1)."""
    mdp = reasoning_mdp(config, 1.0)
    H = config.max_depth + 1
    with jax.enable_x64(True):
        P, R = jnp.asarray(mdp.P, jnp.float64), jnp.asarray(mdp.R, jnp.float64)
        init = jnp.asarray(mdp.init_dist, jnp.float64)
        best = finite_horizon(P, R, horizon=H, terminal_mask=mdp.terminal_mask).V[0] @ init
        short = finite_horizon(P, R, horizon=config.chain_length, terminal_mask=mdp.terminal_mask)
        return float(best), float(short.V[0] @ init)


@struct.dataclass
class ReasoningParams:
    correct: Array  # [P, L] int32
    easy: Array  # [P] bool
    max_steps_in_episode: int = 9


@struct.dataclass
class ReasoningState:
    problem: Array  # [] int32
    depth: Array  # [] int32
    right: Array  # [] bool, every step so far right
    time: Array  # [] int32


class ReasoningChain(Environment):
    """The toy reasoning MDP (see the module docstring)."""

    def __init__(self, config: ReasoningConfig = ReasoningConfig()):
        super().__init__()
        config.check()
        self.config = config
        self.tables = reasoning_tables(config)

    @property
    def name(self) -> str:
        return "reasoning_chain"

    @property
    def num_actions(self) -> int:
        return self.config.num_step_actions + 1

    @property
    def default_params(self) -> ReasoningParams:
        t = self.tables
        return ReasoningParams(
            jnp.asarray(t.correct, jnp.int32), jnp.asarray(t.easy), self.config.max_depth + 1
        )

    def observation_space(self, params=None) -> spaces.Box:
        n = self.config.num_problems + self.config.max_depth + 1
        return spaces.Box(0.0, 1.0, (n,), jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def _obs(self, state: ReasoningState) -> Array:
        c = self.config
        return jnp.concatenate([
            jax.nn.one_hot(state.problem, c.num_problems, dtype=jnp.float32),
            jax.nn.one_hot(state.depth, c.max_depth + 1, dtype=jnp.float32),
        ])  # fmt: skip

    def progress(self, state: ReasoningState) -> Array:
        """Ground-truth progress ``Φ*(s) = right · min(d, L) / L`` ``[]`` float32."""
        L = self.config.chain_length
        return state.right * jnp.minimum(state.depth, L).astype(jnp.float32) / L

    def reset_env(self, key: Array, params: ReasoningParams) -> tuple[Array, ReasoningState]:
        zero = jnp.zeros((), jnp.int32)
        p = jax.random.randint(key, (), 0, self.config.num_problems)
        state = ReasoningState(problem=p, depth=zero, right=jnp.ones((), bool), time=zero)
        return self._obs(state), state

    def step_env(self, key: Array, state: ReasoningState, action: Array, params: ReasoningParams):
        c = self.config
        a, d = jnp.asarray(action, jnp.int32), state.depth
        answer = a == c.num_step_actions
        right_step = (d >= c.chain_length) | (
            a == params.correct[state.problem, jnp.minimum(d, c.chain_length - 1)]
        )
        new = ReasoningState(
            problem=state.problem,
            depth=jnp.where(answer, d, jnp.minimum(d + 1, c.max_depth)),
            right=jnp.where(answer, state.right, state.right & right_step),
            time=state.time + 1,
        )
        solved = (state.right & (d >= c.chain_length)) | (
            (d < c.chain_length) & params.easy[state.problem]
        )
        reward = jnp.where(answer & solved, 1.0, 0.0).astype(jnp.float32)
        info = {
            "true_reward": reward,
            "outcome_reward": reward,
            "progress_reward": self.progress(new) - self.progress(state),
            "progress": self.progress(new),
        }
        return self._obs(new), new, reward, answer, info

    def is_terminated(self, state: ReasoningState, params: ReasoningParams) -> Array:
        return jnp.zeros((), bool)  # the answer step terminates (step_env); nothing else does


def make_reasoning_chain(**kwargs: Any) -> tuple[ReasoningChain, ReasoningParams]:
    """The ``"reasoning_chain"`` factory: ``make("reasoning_chain", chain_length=6, ...)``; an
    unknown keyword or a bad value is an error naming it."""
    fields = {f.name for f in dataclasses.fields(ReasoningConfig)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(
            f"make('reasoning_chain'): unknown keyword(s) {unknown}; known: {sorted(fields)}"
        )
    env = ReasoningChain(ReasoningConfig(**kwargs))
    return env, env.default_params


if "reasoning_chain" not in registered_names():
    register("reasoning_chain", make_reasoning_chain)
