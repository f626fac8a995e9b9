"""A sparse-reward key-door-goal gridworld with a noisy TV (the exploration testbed).

The agent must walk to the key, through the door (passable only while holding the key) and on to
the goal, which pays ``goal_reward`` and ends the episode; nothing else pays. One cell is a
**noisy TV** (Burda et al. 2019's thought experiment): whenever the agent stands on it, the last
``tv_dim`` entries of the observation are fresh uniform noise, and zero elsewhere. The TV pays
nothing and changes nothing else, so a prediction-error curiosity bonus is unbounded there while
the task is not served by watching.

Layout characters (one string per row, equal lengths)::

    S start   K key   D door   G goal (terminal)   V noisy TV   # wall   . free

Moves are ``0 up, 1 right, 2 down, 3 left`` (as :mod:`jaxrl.envs.gridworld`); a move into a wall,
off the grid, or into the door without the key leaves the agent in place. Entering ``K`` picks
the key up for the rest of the episode.

* observation: ``[one_hot(cell) (C), has_key (1), tv (tv_dim)]`` float32;
* info reward channels: ``true_reward``; three **indicator** channels for measurement (never a
  learner's reward unless a transform chooses them): ``tv_reward`` (1 on every step that arrives
  on the TV), ``key_reward`` (1 on the step the key is picked up), ``door_reward`` (1 on a step
  that arrives on the door cell). The episode tracker sums them, so ``return_tv_reward`` is the
  number of steps an episode spent at the TV.

The exact layer: :func:`key_door_mdp` is the same task as a :class:`~jaxrl.mdp.TabularMDP` over
``2C`` states ``cell + C·has_key`` (the TV noise is not state: it does not affect dynamics or
reward), so its optimal return is an exact solve; :func:`tabular_state` maps an observation to
that index, which is how a transform or an oracle reads the agent's state.
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
from jaxrl.envs.gridworld import MOVES
from jaxrl.envs.registry import register, registered_names
from jaxrl.mdp import TabularMDP

#: Start top-left, noisy TV two cells away, key at the bottom-left, the door in the middle wall,
#: the goal at the far bottom-right: the shortest solution is 8 + 12 + 12 = 32 moves. PPO on the
#: env reward alone (16 envs, 4e5 steps) solved it in 1 of 8 seeds.
KEY_DOOR = (
    "S.V.....#........",
    "........#........",
    "........#........",
    "........#........",
    "........D........",
    "........#........",
    "........#........",
    "........#........",
    "K.......#.......G",
)
#: A small instance for tests (shortest solution 2 + 4 + 3 = 9 moves).
KEY_DOOR_SMALL = (
    "SV.#..",
    "...D..",
    "K..#.G",
)


@dataclasses.dataclass(frozen=True)
class KeyDoorConfig(Config):
    layout: tuple[str, ...] = KEY_DOOR
    """rows over S K D G V # . (one S, K, D, V; at least one G)"""
    goal_reward: float = 1.0
    """reward on entering a goal cell (the only reward)"""
    tv_dim: int = 8
    """entries of uniform noise in the observation while the agent is on the TV (0: no TV)"""
    max_steps: int = 100
    """time limit (truncation)"""

    def check(self) -> None:
        layout = self.layout
        self.require(
            isinstance(layout, tuple) and layout and all(isinstance(r, str) for r in layout),
            "layout",
            "must be a non-empty tuple of strings",
        )
        self.require(len({len(r) for r in layout}) == 1, "layout", "rows differ in length")
        unknown = sorted(set("".join(layout)) - set("SKDGV#."))
        self.require(not unknown, "layout", f"unknown cell characters {unknown}")
        for ch in "SKDV":
            n = "".join(layout).count(ch)
            self.require(n == 1, "layout", f"needs exactly one {ch!r}, has {n}")
        self.require("G" in "".join(layout), "layout", "needs at least one goal 'G'")
        self.require(bool(np.isfinite(self.goal_reward)), "goal_reward", "must be finite")
        self.require(self.tv_dim >= 0, "tv_dim", "must be >= 0")
        self.require(self.max_steps >= 1, "max_steps", "must be >= 1")


@dataclasses.dataclass(frozen=True, eq=False)
class KeyDoorGrid:
    """The geometry of a layout: cells, special cells and the deterministic successor tables.

    Attributes:
      layout: the rows.
      coords: ``[C, 2]`` (row, col) of each non-wall cell (row-major order).
      start, key, door, tv: cell indices.
      goals: ``[G]`` goal cell indices.
      succ: ``[2, C, A]`` successor cell without / with the key.
    """

    layout: tuple[str, ...]
    coords: np.ndarray
    start: int
    key: int
    door: int
    tv: int
    goals: np.ndarray
    succ: np.ndarray

    @property
    def num_cells(self) -> int:
        return int(self.coords.shape[0])


def key_door_grid(layout: tuple[str, ...]) -> KeyDoorGrid:
    """Parses a (checked) layout into a :class:`KeyDoorGrid`."""
    coords = np.array(
        [(r, c) for r, row in enumerate(layout) for c, ch in enumerate(row) if ch != "#"]
    )
    kind = np.array([layout[r][c] for r, c in coords])
    where = {(int(r), int(c)): i for i, (r, c) in enumerate(coords)}
    cell = {ch: int(np.flatnonzero(kind == ch)[0]) for ch in "SKDV"}
    succ = np.empty((2, len(coords), len(MOVES)), int)
    for i, (r, c) in enumerate(coords):
        for a, (dr, dc) in enumerate(MOVES):
            j = where.get((int(r + dr), int(c + dc)), i)
            succ[1, i, a] = j
            succ[0, i, a] = i if j == cell["D"] else j  # the door is a wall without the key
    return KeyDoorGrid(
        layout,
        coords,
        cell["S"],
        cell["K"],
        cell["D"],
        cell["V"],
        np.flatnonzero(kind == "G"),
        succ,
    )


def key_door_mdp(config: KeyDoorConfig = KeyDoorConfig(), gamma: float = 0.99) -> TabularMDP:
    """The task as an exact MDP over ``2C`` states ``cell + C·has_key`` (float64, deterministic);
    goal cells are terminal (absorbing, rewardless), the reward is paid on entering one."""
    config.check()
    grid = key_door_grid(config.layout)
    C, A = grid.num_cells, len(MOVES)
    P, R = np.zeros((2 * C, A, 2 * C)), np.zeros((2 * C, A, 2 * C))
    for k in range(2):
        for i in range(C):
            for a in range(A):
                j = grid.succ[k, i, a]
                k2 = 1 if (k == 1 or j == grid.key) else 0
                P[i + C * k, a, j + C * k2] = 1.0
                R[i + C * k, a, j + C * k2] = config.goal_reward if j in grid.goals else 0.0
    terminal = np.zeros(2 * C, bool)
    terminal[np.concatenate([grid.goals, grid.goals + C])] = True
    P[terminal], R[terminal] = 0.0, 0.0
    for s in np.flatnonzero(terminal):
        P[s, :, s] = 1.0
    init = np.zeros(2 * C)
    init[grid.start] = 1.0
    return TabularMDP.create(jnp.asarray(P), jnp.asarray(R), gamma, jnp.asarray(init), terminal)


def tabular_state(obs: Array, num_cells: int) -> Array:
    """Index ``cell + C·has_key`` of :func:`key_door_mdp` from observations ``[..., obs_dim]``
    (int32 ``[...]``): the oracle's view of the agent's state."""
    cell = jnp.argmax(obs[..., :num_cells], axis=-1)
    return (cell + num_cells * (obs[..., num_cells] > 0.5)).astype(jnp.int32)


@struct.dataclass
class KeyDoorParams:
    goal_reward: Any = 1.0
    max_steps_in_episode: int = 100


@struct.dataclass
class KeyDoorState:
    cell: Array  # [] int32
    has_key: Array  # [] bool
    time: Array  # [] int32


class KeyDoorEnv(Environment):
    """The key-door-goal gridworld with a noisy TV (see the module docstring)."""

    def __init__(self, config: KeyDoorConfig = KeyDoorConfig()):
        super().__init__()
        config.check()
        self.config = config
        self.grid = key_door_grid(config.layout)
        self._succ = jnp.asarray(self.grid.succ, jnp.int32)
        self._is_goal = jnp.zeros(self.grid.num_cells, bool).at[self.grid.goals].set(True)

    @property
    def name(self) -> str:
        return "key_door"

    @property
    def num_actions(self) -> int:
        return len(MOVES)

    @property
    def obs_dim(self) -> int:
        return self.grid.num_cells + 1 + self.config.tv_dim

    @property
    def default_params(self) -> KeyDoorParams:
        return KeyDoorParams(self.config.goal_reward, self.config.max_steps)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.obs_dim,), jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(len(MOVES))

    def _obs(self, state: KeyDoorState, key: Array) -> Array:
        at_tv = state.cell == self.grid.tv
        noise = jax.random.uniform(key, (self.config.tv_dim,)) * at_tv
        place = jax.nn.one_hot(state.cell, self.grid.num_cells, dtype=jnp.float32)
        return jnp.concatenate([place, state.has_key.astype(jnp.float32)[None], noise])

    def reset_env(self, key: Array, params: KeyDoorParams) -> tuple[Array, KeyDoorState]:
        zero = jnp.zeros((), jnp.int32)
        state = KeyDoorState(cell=zero + self.grid.start, has_key=jnp.zeros((), bool), time=zero)
        return self._obs(state, key), state

    def step_env(self, key: Array, state: KeyDoorState, action: Array, params: KeyDoorParams):
        nxt = self._succ[
            state.has_key.astype(jnp.int32), state.cell, jnp.asarray(action, jnp.int32)
        ]
        picked = (nxt == self.grid.key) & ~state.has_key
        new = KeyDoorState(cell=nxt, has_key=state.has_key | picked, time=state.time + 1)
        terminated = self._is_goal[nxt]
        reward = jnp.where(terminated, params.goal_reward, 0.0).astype(jnp.float32)
        info = {
            "true_reward": reward,
            "tv_reward": (nxt == self.grid.tv).astype(jnp.float32),
            "key_reward": picked.astype(jnp.float32),
            "door_reward": (nxt == self.grid.door).astype(jnp.float32),
        }
        return self._obs(new, key), new, reward, terminated, info

    def is_terminated(self, state: KeyDoorState, params: KeyDoorParams) -> Array:
        return self._is_goal[state.cell]


def make_key_door(**kwargs: Any) -> tuple[KeyDoorEnv, KeyDoorParams]:
    """The ``"key_door"`` factory: ``make("key_door", layout=..., tv_dim=..., max_steps=...)``;
    an unknown keyword or a bad value is an error naming it."""
    fields = {f.name for f in dataclasses.fields(KeyDoorConfig)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(f"make('key_door'): unknown keyword(s) {unknown}; known: {sorted(fields)}")
    env = KeyDoorEnv(KeyDoorConfig(**kwargs))
    return env, env.default_params


if "key_door" not in registered_names():
    register("key_door", make_key_door)
