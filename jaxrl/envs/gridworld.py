"""Sparse-reward gridworlds as exact :class:`~jaxrl.mdp.TabularMDP` s (and sampled envs).

A gridworld is drawn as a text layout, one string per row::

    S.....
    ......      S  start (the initial distribution is uniform over the S cells)
    ......      G  goal: terminal, ``goal_reward`` on entry (the only reward of the open map)
    ......      L  lava: ``lava_reward`` on every entry (not terminal)
    ......      T  trap: terminal, 0 reward
    .....G      #  wall (not a state); .  free cell

States are the non-wall cells in row-major order; actions are ``0 up, 1 right, 2 down, 3 left``.
A move into a wall or off the grid leaves the agent where it is. With ``slip > 0`` the move is,
with probability ``slip``, replaced by a uniformly random one of the four (possibly the intended
one). Terminal cells are absorbing and rewardless (the :mod:`jaxrl.mdp` convention); the reward
for reaching one is paid on the transition into it.

``make("gridworld", layout=..., gamma=..., slip=..., max_steps=..., obs_type=...)`` returns the
:class:`jaxrl.envs.tabular.TabularEnv` of the MDP (one-hot observations by default) once this
module is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrl.envs.checks import check_at_least, check_finite, check_probability
from jaxrl.envs.registry import register, registered_names
from jaxrl.envs.tabular import TabularEnv, TabularEnvParams, make_tabular
from jaxrl.mdp import TabularMDP

#: ``(d_row, d_col)`` of the actions up, right, down, left.
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])
ACTION_NAMES = ("up", "right", "down", "left")

#: 6x6 open room, start and goal in opposite corners (Manhattan distance 10).
OPEN_6X6 = ("S.....", "......", "......", "......", "......", ".....G")

#: The terminal-potential pitfall (Grześ 2017 as a gridworld): the 5-step route along the top
#: row crosses four lava cells, the 9-step detour through the bottom row is free; with
#: γ = 0.95 and lava −0.1 the detour is optimal (γ^8 ≈ 0.663 > γ^4 − 0.1·Σ_{t<4} γ^t ≈ 0.444).
LAVA_DETOUR = ("SLLLLG", ".LLLL.", "......")


@dataclasses.dataclass(frozen=True, eq=False)
class GridWorld:
    """A gridworld MDP and its geometry.

    Attributes:
      mdp: the exact MDP (``P, R [S, A, S]``, ``terminal_mask`` on goal and trap cells).
      layout: the text layout it was built from.
      coords: ``[S, 2]`` int (row, col) of each state.
      start: index of the (first) start state.
      goals: indices of the goal cells.
      distance: ``[S]`` Manhattan distance to the nearest goal (walls ignored), 0 on goals.
    """

    mdp: TabularMDP
    layout: tuple[str, ...]
    coords: np.ndarray
    start: int
    goals: tuple[int, ...]
    distance: np.ndarray

    @property
    def n_states(self) -> int:
        return int(self.coords.shape[0])

    @property
    def max_distance(self) -> int:
        return int(self.distance.max())

    def index(self, row: int, col: int) -> int:
        """State index of cell ``(row, col)`` (``ValueError`` for a wall or outside cell)."""
        hit = np.flatnonzero((self.coords[:, 0] == row) & (self.coords[:, 1] == col))
        if hit.size != 1:
            raise ValueError(f"({row}, {col}) is not a state of this gridworld")
        return int(hit[0])

    def cells(self, char: str) -> list[int]:
        """State indices of the cells drawn as ``char`` (e.g. ``"L"``)."""
        return [self.index(r, c) for r, c in self.coords if self.layout[r][c] == char]

    def render_policy(self, pi: Any) -> str:
        """The greedy action of ``pi [S, A]`` per cell as arrows (``G``/``T``/``#`` kept)."""
        arrows = "^>v<"
        a = np.argmax(np.asarray(pi), axis=-1)
        rows = [list(r) for r in self.layout]
        for s, (r, c) in enumerate(self.coords):
            if self.layout[r][c] not in "GT":
                rows[r][c] = arrows[a[s]]
        return "\n".join("".join(r) for r in rows)


def gridworld(
    layout: Sequence[str] = OPEN_6X6,
    gamma: float = 0.95,
    slip: float = 0.0,
    goal_reward: float = 1.0,
    lava_reward: float = -0.1,
    dtype: Any = jnp.float32,
) -> GridWorld:
    """Build a gridworld MDP from a text layout (see the module docstring).

    Args:
      layout: rows of equal length over ``S G L T # .``; at least one ``S`` and one ``G``/``T``.
      gamma: discount of the MDP.
      slip: probability that the move is replaced by a uniformly random one.
      goal_reward: reward on entering a ``G`` cell.
      lava_reward: reward on entering an ``L`` cell.
      dtype: float dtype of the MDP arrays.
    """
    layout = tuple(layout)
    if not layout or len({len(r) for r in layout}) != 1:
        raise ValueError(f"layout rows must be non-empty and of equal length, got {layout}")
    unknown = set("".join(layout)) - set("SGLT#.")
    if unknown:
        raise ValueError(f"layout has unknown cell characters {sorted(unknown)}")
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"slip must be in [0, 1], got {slip}")
    coords = np.array(
        [(r, c) for r, row in enumerate(layout) for c, ch in enumerate(row) if ch != "#"]
    )
    kind = np.array([layout[r][c] for r, c in coords])
    S, A = len(coords), len(MOVES)
    where = {(int(r), int(c)): s for s, (r, c) in enumerate(coords)}
    terminal = np.isin(kind, ["G", "T"])
    starts = np.flatnonzero(kind == "S")
    goals = np.flatnonzero(kind == "G")
    if starts.size == 0 or not terminal.any():
        raise ValueError("layout needs at least one start S and one terminal cell (G or T)")

    # Deterministic successor of each (s, a); walls and borders leave the agent in place.
    succ = np.empty((S, A), dtype=int)
    for s, (r, c) in enumerate(coords):
        for a, (dr, dc) in enumerate(MOVES):
            succ[s, a] = where.get((int(r + dr), int(c + dc)), s)
    P = np.zeros((S, A, S))
    for a in range(A):
        P[np.arange(S), a, succ[:, a]] += 1.0 - slip
        for b in range(A):
            P[np.arange(S), a, succ[:, b]] += slip / A
    entry = np.where(kind == "G", goal_reward, np.where(kind == "L", lava_reward, 0.0))
    R = np.broadcast_to(entry[None, None, :], (S, A, S)).copy()
    # Terminal states are absorbing and pay nothing.
    P[terminal] = 0.0
    for s in np.flatnonzero(terminal):
        P[s, :, s] = 1.0
    R[terminal] = 0.0
    init = np.zeros(S)
    init[starts] = 1.0 / starts.size
    targets = coords[goals] if goals.size else coords[terminal]
    distance = np.abs(coords[:, None, :] - targets[None, :, :]).sum(-1).min(-1)
    mdp = TabularMDP.create(
        jnp.asarray(P, dtype), jnp.asarray(R, dtype), gamma, jnp.asarray(init, dtype), terminal
    )
    return GridWorld(
        mdp=mdp,
        layout=layout,
        coords=coords,
        start=int(starts[0]),
        goals=tuple(int(g) for g in goals),
        distance=distance.astype(np.float64),
    )


def approach_bonus_table(grid: GridWorld, coefficient: float) -> np.ndarray:
    """``[S, A, S]`` reward ``R + c·1[d(s') < d(s)]``: the non-potential "progress" bonus.

    Randløv & Alstrøm's bicycle effect: a bonus for every step towards the goal with no matching
    penalty for stepping away is not potential-based, and for large enough ``c`` the optimal
    policy circles (toward, back, toward, ...) instead of finishing. Rows leaving a terminal
    state stay zero. Same numbers as :func:`jaxrl.shaping.baselines.progress_bonus`.
    """
    d = grid.distance
    closer = (d[None, None, :] < d[:, None, None]).astype(np.float64)
    live = 1.0 - np.asarray(grid.mdp.terminal_mask, np.float64)
    return np.asarray(grid.mdp.R, np.float64) + coefficient * closer * live[:, None, None]


def make_gridworld(
    layout: Sequence[str] = OPEN_6X6,
    gamma: float = 0.95,
    slip: float = 0.0,
    goal_reward: float = 1.0,
    lava_reward: float = -0.1,
    max_steps: int = 100,
    obs_type: str = "one_hot",
) -> tuple[TabularEnv, TabularEnvParams]:
    """The sampled :class:`TabularEnv` of :func:`gridworld` (the ``"gridworld"`` factory).

    Actions outside ``[0, 4)`` are clipped (debug mode: an error; :mod:`jaxrl.envs.checks`)."""
    where = "make('gridworld')"
    check_probability(where, "slip", slip)
    check_probability(where, "gamma", gamma, what="a discount")
    check_at_least(where, "max_steps", max_steps, 1)
    check_finite(where, "goal_reward", goal_reward)
    check_finite(where, "lava_reward", lava_reward)
    grid = gridworld(layout, gamma, slip, goal_reward, lava_reward)
    return make_tabular(grid.mdp, max_steps=max_steps, obs_type=obs_type)


if "gridworld" not in registered_names():
    register("gridworld", make_gridworld)
