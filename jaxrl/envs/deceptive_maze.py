"""A deceptive maze: the greedy distance-to-goal potential leads into a dead end.

Lehman & Stanley's deceptive maze (novelty search, 2011) in gridworld form
(:mod:`jaxrl.envs.gridworld`). The agent starts inside a U-shaped trap whose closed side faces the
goal::

    ......G......
    .............
    .###########.      S  start, inside the cup
    .#.........#.      G  goal (terminal, reward 1 on entry; the only reward)
    .#.........#.      #  wall
    .#.........#.
    .#....S....#.
    .#.........#.
    .............

The Manhattan distance to the goal (walls ignored, :attr:`GridWorld.distance`) falls straight up
to the cup's closed side at (3, 6), a local minimum (distance 3): every move from there is
blocked or goes away from the goal. The only way out goes *away* from the goal first (down out of
the cup's mouth), around the side and back up: the shortest solution is 22 moves
(:data:`SHORTEST_PATH`), against a greedy distance of 6 from the start.

``make("deceptive_maze", gamma=..., slip=..., max_steps=..., obs_type=...)`` returns the
:class:`jaxrl.envs.tabular.TabularEnv` of the exact MDP (one-hot observations by default).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxrl.envs.gridworld import MOVES, GridWorld, gridworld, make_gridworld
from jaxrl.envs.registry import register, registered_names
from jaxrl.envs.tabular import TabularEnv, TabularEnvParams
from jaxrl.mdp import value_iteration

#: 9x13 maze: start inside a cup that opens downward, away from the goal.
DECEPTIVE_MAZE = (
    "......G......",
    ".............",
    ".###########.",
    ".#.........#.",
    ".#.........#.",
    ".#.........#.",
    ".#....S....#.",
    ".#.........#.",
    ".............",
)
#: Moves on the shortest start-goal path of :data:`DECEPTIVE_MAZE`: 2 down + 6 sideways +
#: 8 up + 6 back across.
SHORTEST_PATH = 22


def deceptive_maze(
    layout: tuple[str, ...] = DECEPTIVE_MAZE, gamma: float = 0.99, slip: float = 0.0, dtype=None
) -> GridWorld:
    """The exact maze (:class:`GridWorld`: MDP, coords ``[S, 2]``, ``distance [S]``)."""
    kw = {} if dtype is None else {"dtype": dtype}
    return gridworld(layout, gamma=gamma, slip=slip, goal_reward=1.0, lava_reward=0.0, **kw)


def optimal_return(grid: GridWorld) -> float:
    """``J* = Σ_s d0(s) V*(s)`` by value iteration (= γ^(L−1) for a deterministic path of L
    moves with reward 1 on the last)."""
    sol = value_iteration(grid.mdp)
    return float(jnp.sum(grid.mdp.init_dist * sol.V))


def distance_potential(grid: GridWorld, scale: float | None = None) -> np.ndarray:
    """``[S]`` greedy potential ``Φ(s) = −d(s)/scale`` (``scale`` default: the max distance, so
    Φ ∈ [−1, 0] and Φ(goal) = 0). The deceptive signal: it ignores walls."""
    scale = float(grid.max_distance if scale is None else scale)
    if not scale > 0:
        raise ValueError(f"distance_potential: scale must be > 0, got {scale}")
    return -grid.distance / scale


def greedy_distance_policy(grid: GridWorld) -> np.ndarray:
    """``[S, A]`` deterministic policy that takes the move with the smallest distance of the
    *intended* successor cell (walls ignored by the distance, not by the move); ties go to the
    first action in ``up, right, down, left``. At a local minimum it bumps into the wall (stays).
    """
    where = {(int(r), int(c)): s for s, (r, c) in enumerate(grid.coords)}
    S, A = grid.n_states, len(MOVES)
    pi = np.zeros((S, A))
    for s, (r, c) in enumerate(grid.coords):
        # the successor actually reached (a wall leaves the agent in place)
        d = [grid.distance[where.get((int(r + dr), int(c + dc)), s)] for dr, dc in MOVES]
        pi[s, int(np.argmin(d))] = 1.0
    return pi


def make_deceptive_maze(
    gamma: float = 0.99, slip: float = 0.0, max_steps: int = 100, obs_type: str = "one_hot"
) -> tuple[TabularEnv, TabularEnvParams]:
    """The ``"deceptive_maze"`` factory: the sampled env of :func:`deceptive_maze`."""
    return make_gridworld(
        DECEPTIVE_MAZE,
        gamma=gamma,
        slip=slip,
        goal_reward=1.0,
        lava_reward=0.0,
        max_steps=max_steps,
        obs_type=obs_type,
    )


if "deceptive_maze" not in registered_names():
    register("deceptive_maze", make_deceptive_maze)
