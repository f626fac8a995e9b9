"""Twenty questions: find a hidden item by asking yes/no attribute questions, then guess.

The small-scale form of the multi-turn information-seeking tasks of IGPO (Information Gain-based
Policy Optimization, Ant Group 2025) and "Dialogue as Discovery" (Nous): an agent must acquire
information about a hidden ground truth over several turns before it answers.

* ``N`` items, each a distinct binary attribute vector: the table ``[N, M]`` is random but fixed
  by ``table_seed`` (:func:`attribute_table`).
* Each episode draws the hidden target uniformly from the ``N`` items (the reset key fixes it).
* Actions ``0..M-1``: ask attribute ``j`` (the truthful answer ``table[target, j]`` is observed);
  actions ``M..M+N-1``: guess item ``i``, which ends the episode (terminated) with reward 1 if
  ``i`` is the target, else 0. Asking pays nothing. After ``max_questions`` questions a
  further question is a **forfeit**: it is not answered and ends the episode (terminated,
  reward 0), so no policy observes more than ``Q`` answers (the time limit ``Q + 1`` never
  binds).
* Observation ``[2M]`` float32: ``asked_j`` (1 if attribute ``j`` was asked) then ``yes_j`` (1 if
  the answer was yes). The exact Bayesian posterior over items (uniform prior, truthful answers)
  is uniform over the items consistent with the answers, a function of the observation alone
  (:func:`jaxrl.rewards.info_gain.posterior` computes it from the table).
* Info reward channel ``true_reward`` (the outcome).

Exact oracle: :func:`optimal_success` is the best success probability any policy can reach with
``max_questions`` questions (an exact DP over adaptive decision trees).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxrl.config import Config
from jaxrl.envs.core import Array, Environment
from jaxrl.envs.registry import register, registered_names


@dataclasses.dataclass(frozen=True)
class TwentyQuestionsConfig(Config):
    num_items: int = 16
    """N candidate items (one is the hidden target)"""
    num_attributes: int = 8
    """M yes/no attributes (the questions)"""
    max_questions: int = 3
    """Q: the episode is truncated after Q + 1 steps without a guess"""
    table_seed: int = 0
    """seed of the fixed random attribute table"""

    def check(self) -> None:
        self.require(self.num_items >= 2, "num_items", "must be >= 2")
        self.require(self.num_attributes >= 1, "num_attributes", "must be >= 1")
        self.require(
            self.num_items <= 2**self.num_attributes,
            "num_items",
            f"more than 2**num_attributes = {2**self.num_attributes} distinct items",
        )
        self.require(self.max_questions >= 0, "max_questions", "must be >= 0")


def attribute_table(num_items: int, num_attributes: int, seed: int) -> np.ndarray:
    """``[N, M]`` int32 in {0, 1}: ``N`` distinct binary vectors drawn uniformly without
    replacement from ``{0, 1}^M`` (numpy, fixed by ``seed``)."""
    if num_items > 2**num_attributes:
        raise ValueError(f"num_items={num_items} > 2**num_attributes={2**num_attributes}")
    rng = np.random.default_rng(seed)
    codes = rng.choice(2**num_attributes, size=num_items, replace=False)
    bits = (codes[:, None] >> np.arange(num_attributes)[None, :]) & 1
    return bits.astype(np.int32)


def optimal_success(table: np.ndarray, max_questions: int) -> float:
    """The best success probability of any policy (uniform target, ``max_questions`` questions).

    With truthful answers a policy is an adaptive decision tree of depth ``Q``; its leaves
    partition the items, and the best guess in a leaf of ``k`` consistent items is right with
    probability ``1/k`` for each of them, so success = (number of non-empty leaves) / N. The DP
    ``cells(S, q) = max(1, max_j cells(S∩A_j, q−1) + cells(S∖A_j, q−1))`` (an empty side counts
    0; a question that does not split ``S`` is wasted) is exact, memoised over item subsets.
    """
    table = np.asarray(table)
    n, m = table.shape
    yes = [sum(1 << i for i in range(n) if table[i, j]) for j in range(m)]

    @functools.cache
    def cells(s: int, q: int) -> int:
        if s == 0:
            return 0
        best = 1
        if q > 0 and s & (s - 1):  # more than one item left
            for a in yes:
                s1, s0 = s & a, s & ~a
                if s1 and s0:
                    best = max(best, cells(s1, q - 1) + cells(s0, q - 1))
        return best

    return cells((1 << n) - 1, int(max_questions)) / n


@struct.dataclass
class TwentyQuestionsParams:
    table: Any  # [N, M] int32
    max_steps_in_episode: int = 4


@struct.dataclass
class TwentyQuestionsState:
    target: Array  # [] int32
    asked: Array  # [M] bool
    yes: Array  # [M] bool
    time: Array  # [] int32


class TwentyQuestionsEnv(Environment):
    """Twenty questions over a fixed attribute table (see the module docstring)."""

    def __init__(self, config: TwentyQuestionsConfig = TwentyQuestionsConfig()):
        super().__init__()
        config.check()
        self.config = config
        self.table = attribute_table(config.num_items, config.num_attributes, config.table_seed)

    @property
    def name(self) -> str:
        return "twenty_questions"

    @property
    def num_actions(self) -> int:
        return self.config.num_attributes + self.config.num_items

    @property
    def default_params(self) -> TwentyQuestionsParams:
        return TwentyQuestionsParams(jnp.asarray(self.table), self.config.max_questions + 1)

    def optimal_success(self) -> float:
        """:func:`optimal_success` of this env's table and question budget."""
        return optimal_success(self.table, self.config.max_questions)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2 * self.config.num_attributes,), jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def _obs(self, state: TwentyQuestionsState) -> Array:
        return jnp.concatenate([state.asked, state.yes]).astype(jnp.float32)

    def reset_env(self, key: Array, params: TwentyQuestionsParams):
        m = self.config.num_attributes
        target = jax.random.randint(key, (), 0, self.config.num_items, jnp.int32)
        off = jnp.zeros(m, bool)
        state = TwentyQuestionsState(target, off, off, jnp.zeros((), jnp.int32))
        return self._obs(state), state

    def step_env(self, key: Array, state: TwentyQuestionsState, action: Array, params):
        del key
        m = self.config.num_attributes
        action = jnp.asarray(action, jnp.int32)
        ask = action < m
        forfeit = ask & (state.time >= self.config.max_questions)  # budget spent: no answer
        j = jnp.clip(action, 0, m - 1)
        hit = ask & ~forfeit & (jnp.arange(m) == j)
        answer = params.table[state.target, j] > 0
        new = state.replace(
            asked=state.asked | hit,
            yes=jnp.where(hit, answer, state.yes),
            time=state.time + 1,
        )
        terminated = ~ask | forfeit
        reward = jnp.where(terminated & (action - m == state.target), 1.0, 0.0)
        reward = reward.astype(jnp.float32)
        return self._obs(new), new, reward, terminated, {"true_reward": reward}

    def is_terminated(self, state: TwentyQuestionsState, params) -> Array:
        return jnp.zeros((), bool)


def make_twenty_questions(**kwargs: Any) -> tuple[TwentyQuestionsEnv, TwentyQuestionsParams]:
    """``make("twenty_questions", num_items=, num_attributes=, max_questions=, table_seed=)``;
    an unknown keyword or a bad value is an error naming it."""
    fields = {f.name for f in dataclasses.fields(TwentyQuestionsConfig)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(
            f"make('twenty_questions'): unknown keyword(s) {unknown}; known: {sorted(fields)}"
        )
    env = TwentyQuestionsEnv(TwentyQuestionsConfig(**kwargs))
    return env, env.default_params


if "twenty_questions" not in registered_names():
    register("twenty_questions", make_twenty_questions)
