"""BARFI's tasks: environment, features, agents' base settings and the hyperparameter grids.

A task is an environment of papers.md §2.1 with the shared feature map of policy, critic and
BARFI's blend, the base static settings and hyperparameters of each trainer kind
(``"baselines"``: REINFORCE / actor-critic, :mod:`jaxrl.agents.reinforce`; ``"barfi"``:
:mod:`jaxrl.bilevel.barfi`) and a grid per kind and profile.

Grids (papers.md §2.3, the authors' ``experiments/PaperPlots`` configs) map an *axis* to its
values. An axis is a hyperparameter field, or several fields joined by ``+`` that take the same
value (CartPole's configs tie actor, reward and γ learning rates). Only traced hyperparameters can
be swept in one ``vmap``; the authors' grids over static settings (MountainCar's ``buffer`` and
``inner_mul``) are fixed at one value here. Where the ``paper`` grid is smaller than the authors',
its comment says what was dropped (the paper profile must fit 45 minutes on a 2-core CPU).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jaxrl.envs.barfi_envs  # noqa: F401  (registers the BARFI envs)
from jaxrl.agents import reinforce as rf
from jaxrl.bilevel import barfi
from jaxrl.envs import make

ENVS = ("gridworld", "cartpole", "mountaincar", "halfcheetah")
ENV_IDS = {
    "gridworld": "barfi_gridworld",
    "cartpole": "cartpole_aux",
    "mountaincar": "mountaincar_sparse_aux",
    "halfcheetah": "halfcheetah_aux",
}
#: the primary return of an episode that never succeeds (gridworld: 50 steps of −0.1; CartPole
#: counts steps; MountainCar's sparse reward): the zero of the normalised score (claims.py)
FLOOR = {"gridworld": -5.0, "cartpole": 0.0, "mountaincar": 0.0, "halfcheetah": 0.0}
#: the return range above the floor that a solved episode reaches (gridworld: the +100 goal
#: minus a few −0.1 steps; CartPole: the 500-step limit; MountainCar: the sparse success 1);
#: None where there is no natural ceiling (HalfCheetah's forward velocity)
SCALE = {"gridworld": 105.0, "cartpole": 500.0, "mountaincar": 1.0, "halfcheetah": None}

Grid = dict[str, tuple[float, ...]]

#: grids per task, profile and trainer kind (papers.md §2.3)
GRIDS: dict[str, dict[str, dict[str, Grid]]] = {
    "gridworld": {
        # authors': actor_lr {5e-3, 1e-3}, gamma_L2 {.06, .25, 1, 4, 16}, reward_L2 {0, .06}
        "paper": {
            "baselines": {"actor_lr": (5e-3, 1e-3)},
            "barfi": {
                "actor_lr": (5e-3, 1e-3),
                "gamma_l2": (0.06, 0.25, 1.0, 4.0, 16.0),
                "reward_l2": (0.0, 0.06),
            },
        },
        # 300 episodes: faster actor learning rates than the authors' 2000-episode grid
        "quick": {
            "baselines": {"actor_lr": (1e-2, 5e-3)},
            "barfi": {"actor_lr": (1e-2,), "reward_l2": (0.06, 4.0)},
        },
    },
    "cartpole": {
        # authors': lr {1e-3, 4e-3} (tied), reward_L2 {0, .25, 1, 4, 16}, gamma_L2 {.25, 1, 4, 16},
        # α_N {1e-3, 5e-4, 1e-4} (240 settings). Kept: both lrs, reward_L2 {0, 1, 16},
        # gamma_L2 {1, 16}, α_N 5e-4 (the power-iteration cap min(α_N, 1/|λ|max) often binds)
        "paper": {
            "baselines": {"actor_lr": (1e-3, 4e-3)},
            "barfi": {
                "actor_lr+reward_lr+gamma_lr": (1e-3, 4e-3),
                "reward_l2": (0.0, 1.0, 16.0),
                "gamma_l2": (1.0, 16.0),
            },
        },
        "quick": {
            "baselines": {"actor_lr": (1e-2, 4e-3)},
            "barfi": {"actor_lr": (1e-2,), "reward_lr+gamma_lr": (4e-3, 3e-2)},
        },
    },
    "mountaincar": {
        # authors': actor_lr 0.0625, reward_lr {1/64, 1/16}, buffer {5, 10, 50}, inner_mul {3, 5}
        # (buffer and inner_mul are static here: buffer 50, one on-policy inner step)
        "paper": {
            "baselines": {"actor_lr": (0.0625,)},
            "barfi": {"reward_lr+gamma_lr": (1 / 64, 1 / 16)},
        },
        "quick": {
            "baselines": {"actor_lr": (0.0625,)},
            "barfi": {"reward_lr+gamma_lr": (1 / 64, 1 / 16)},
        },
    },
    "halfcheetah": {  # authors': actor_lr {1e-4, 7.5e-5}, reward_L2 {1, 2}
        "paper": {
            "baselines": {"actor_lr": (1e-4, 7.5e-5)},
            "barfi": {"actor_lr": (1e-4, 7.5e-5), "reward_l2": (1.0, 2.0)},
        },
        "quick": {"baselines": {"actor_lr": (1e-4,)}, "barfi": {"actor_lr": (1e-4,)}},
    },
}


@dataclasses.dataclass(frozen=True)
class Task:
    """One environment × aux kind with its agents' base settings (see :func:`setup`)."""

    name: str
    aux: str
    env: Any
    env_params: Any
    features: rf.FeaturesFn
    n_features: int
    statics: dict[str, Any]
    """kind -> ``ReinforceStatic`` / ``BarfiStatic``"""
    hparams: dict[str, Any]
    """kind -> ``ReinforceHParams`` / ``BarfiHParams`` (the grid and the method override them)"""


def setup(name: str, aux: str, episodes: int, num_chunks: int) -> Task:
    """The task ``name`` with ``aux`` ("good"/"bad") and a budget of ``episodes``."""
    e, p = make(ENV_IDS[name], aux=aux)
    E, C = episodes, num_chunks
    if name == "gridworld":  # papers.md §2.3: RMSprop, γ .99, actor_reg .25, δ 3, α_N 5e-4
        f, n = rf.fourier_basis([0.0, 0.0], [1.0, 1.0], 3)  # 16 features (BARFI: 16-d basis)
        rh = rf.ReinforceHParams(actor_lr=5e-3, entropy_coef=0.25)
        # buffer 100, not 1000: it only feeds the curvature batch, and 1000 episodes per run
        # would hold ~0.5 GB across a 200-run sweep
        bs = barfi.BarfiStatic(episodes=E, num_chunks=C, buffer_size=100, hess_batch=15)
        bh = barfi.BarfiHParams(actor_lr=5e-3, reward_lr=5e-3, gamma_lr=5e-3, entropy_coef=0.25)
    elif name == "cartpole":  # Fourier basis (independent, order 3: 13 features)
        f, n = rf.fourier_basis([-2.4, -3.0, -0.21, -3.5], [2.4, 3.0, 0.21, 3.5], 3, False)
        rh = rf.ReinforceHParams(actor_lr=4e-3)
        # hess_batch 5, not the authors' 15 episodes of curvature: 5x cheaper at T = 500
        bs = barfi.BarfiStatic(episodes=E, num_chunks=C, buffer_size=50, hess_batch=5)
        bh = barfi.BarfiHParams(actor_lr=4e-3, reward_lr=4e-3, gamma_lr=4e-3)
    elif name == "mountaincar":  # papers.md: actor_lr 1/16, reward_lr 1/64, buffer 50
        f, n = rf.fourier_basis([-1.2, -0.07], [0.6, 0.07], 3)
        rh = rf.ReinforceHParams(actor_lr=0.0625)
        bs = barfi.BarfiStatic(episodes=E, num_chunks=C, buffer_size=50, hess_batch=5)
        bh = barfi.BarfiHParams(actor_lr=0.0625, reward_lr=1 / 64, gamma_lr=1 / 64)
    elif name == "halfcheetah":  # Adam in the paper, RMSprop here; gauss_std 0.1
        f = rf.bias_and_raw(10.0)
        n = 1 + int(e.observation_space(p).shape[0])
        rh = rf.ReinforceHParams(actor_lr=1e-4, gauss_std=0.1)
        bs = barfi.BarfiStatic(episodes=E, num_chunks=C, buffer_size=50, hess_batch=5)
        bh = barfi.BarfiHParams(actor_lr=1e-4, reward_lr=2.5e-3, gamma_lr=2.5e-3, reward_l2=1.0)
    else:
        raise ValueError(f"unknown task {name!r}; expected one of {ENVS}")
    rs = rf.ReinforceStatic(episodes=E, num_chunks=C)
    statics, hparams = {"baselines": rs, "barfi": bs}, {"baselines": rh, "barfi": bh}
    return Task(name, aux, e, p, f, n, statics, hparams)


def grid_points(grid: Grid) -> list[dict[str, float]]:
    """Every setting of ``grid`` (product over axes, last axis fastest), each as field -> value
    with tied axes (``"a+b"``) expanded to their fields."""
    axes = list(grid)
    points = []
    for values in itertools.product(*(grid[a] for a in axes)):
        point = {}
        for axis, v in zip(axes, values, strict=True):
            point.update({field: float(v) for field in axis.split("+")})
        points.append(point)
    return points
