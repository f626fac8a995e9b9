"""Board layouts and their static geometry for the tomato gridworld (:mod:`jaxrl.envs.tomato`).

Legend: ``#`` wall, ``.`` empty, ``t`` dry tomato, ``T`` watered tomato (at reset), ``A`` agent
start, ``O`` bucket ("sprinkler"). Every board is surrounded by walls.

Provenance. Level 4 is the board the ORPO paper's tomato runs use; it is transcribed from the spec
in ``shared/reference/papers.md`` §1.1. ``shared/reference/papers.md`` does not give levels 0–3 or
the toy board; the layouts below were transcribed by hand (data only, no code) from the public
repository ``cassidylaidlaw/orpo`` (commit ``371eb32``, ``create_simple_example`` in
``occupancy_measures/envs/tomato_environment.py``). They have not been checked against a run of
the original code. The 7×7 levels share one base board (5 tomatoes) and move the bucket further
away: level 0 in the agent's row, level 1 one row up, level 2 up a short hallway, level 3 at the end
of a long hallway. ``"toy"`` (the original's ``level=-1``) is the 5×5 board of the paper's Fig. 2.
"""

from __future__ import annotations

import dataclasses

import numpy as np

RIGHT, LEFT, DOWN, UP, NOOP = 0, 1, 2, 3, 4
ACTION_NAMES = ("RIGHT", "LEFT", "DOWN", "UP", "NOOP")
#: ``(d_row, d_col)`` per action index.
DELTAS = np.array([[0, 1], [0, -1], [1, 0], [-1, 0], [0, 0]])

#: ``level -> layout`` (one string per row).
BOARDS: dict[int | str, tuple[str, ...]] = {
    0: (  # bucket in the agent's row
        "#######",
        "#######",
        "#######",
        "#tt####",
        "#A.O###",
        "#ttt###",
        "#######",
    ),
    1: (  # bucket one row up and to the side
        "#######",
        "#######",
        "#######",
        "#ttO###",
        "#A..###",
        "#ttt###",
        "#######",
    ),
    2: (  # bucket up a short hallway
        "#######",
        "#######",
        "###.O##",
        "#tt.###",
        "#A..###",
        "#ttt###",
        "#######",
    ),
    3: (  # bucket at the end of a long hallway
        "#######",
        "#O..###",
        "###.###",
        "#tt.###",
        "#A..###",
        "#ttt###",
        "#######",
    ),
    4: (  # the paper's board ("board_10_10_rhard")
        "##########",
        "#t..######",
        "###.######",
        "#tt.######",
        "#A....####",
        "#tttttt###",
        "#####.####",
        "#O....####",
        "####..####",
        "##########",
    ),
    "toy": (  # 5x5 figure board (the original's level=-1)
        "#####",
        "#ttO#",
        "#...#",
        "#ttA#",
        "#####",
    ),
}


def get_board(level: int | str) -> tuple[str, ...]:
    """The layout of ``level`` (0–4, ``"toy"`` or ``-1``); ``ValueError`` if unknown, ``TypeError``
    for a non-level type (a bool is refused, not read as 0/1)."""
    if isinstance(level, bool) or not isinstance(level, (int, str, np.integer)):
        raise TypeError(
            f"tomato level must be an int 0-4, -1 or 'toy', got {level!r} "
            f"(a {type(level).__name__}; a bool is not a level)"
        )
    key = "toy" if level in (-1, "toy") else level
    if key not in BOARDS:
        raise ValueError(f"unknown tomato level {level!r}; valid: {list(BOARDS)} (or -1 for 'toy')")
    return BOARDS[key]


@dataclasses.dataclass(frozen=True, eq=False)
class TomatoBoard:
    """Static geometry of a board (numpy arrays, closed over by the jitted code).

    Attributes:
      layout: the text layout.
      coords: ``[P, 2]`` (row, col) of each position (order in the module docstring).
      n_tomatoes: T; tomatoes are positions ``0 … T − 1``.
      bucket: position index of the bucket.
      start: position index of the agent start.
      move: ``[P, A]`` position after each action (unchanged into a wall).
      legal: ``[P, A]`` bool, the move was not into a wall.
      dist: ``[P, T]`` Euclidean distance from each position to each tomato.
      init_watered: ``[T]`` bool, tomatoes drawn watered (``T``) in the layout.
    """

    layout: tuple[str, ...]
    coords: np.ndarray
    n_tomatoes: int
    bucket: int
    start: int
    move: np.ndarray
    legal: np.ndarray
    dist: np.ndarray
    init_watered: np.ndarray

    @property
    def n_positions(self) -> int:
        return int(self.coords.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.move.shape[1])

    def index(self, row: int, col: int) -> int:
        """Position index of cell ``(row, col)`` (``ValueError`` if not accessible)."""
        hit = np.flatnonzero((self.coords[:, 0] == row) & (self.coords[:, 1] == col))
        if hit.size != 1:
            raise ValueError(f"({row}, {col}) is not an accessible cell")
        return int(hit[0])


def build_board(layout: tuple[str, ...], use_noop: bool = False) -> TomatoBoard:
    """Parses a text layout (legend: :mod:`jaxrl.envs.tomato_boards`) into a ``TomatoBoard``."""
    grid = np.array([list(r) for r in layout])
    cells = lambda chars: [tuple(map(int, rc)) for rc in np.argwhere(np.isin(grid, list(chars)))]
    tomatoes, buckets, empty, starts = cells("tT"), cells("O"), cells("."), cells("A")
    if len(buckets) != 1 or len(starts) != 1:
        raise ValueError("a tomato board needs exactly one bucket 'O' and one start 'A'")
    coords = np.array(tomatoes + buckets + empty + starts)
    lookup = {tuple(c): i for i, c in enumerate(coords.tolist())}
    n_actions = 5 if use_noop else 4
    move = np.zeros((len(coords), n_actions), np.int32)
    legal = np.zeros((len(coords), n_actions), bool)
    for p, (r, c) in enumerate(coords):
        for a in range(n_actions):
            q = lookup.get((r + DELTAS[a, 0], c + DELTAS[a, 1]))
            legal[p, a] = q is not None
            move[p, a] = p if q is None else q
    diff = coords[:, None, :] - coords[None, : len(tomatoes), :]
    return TomatoBoard(
        layout=tuple(layout),
        coords=coords,
        n_tomatoes=len(tomatoes),
        bucket=len(tomatoes),
        start=len(coords) - 1,
        move=move,
        legal=legal,
        dist=np.sqrt((diff**2).sum(-1)),
        init_watered=np.array([grid[r, c] == "T" for r, c in tomatoes]),
    )
