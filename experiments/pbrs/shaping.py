"""The shaped rewards of ``experiments.pbrs`` and the exact optimum each one implies.

Every task's learner reward is one :func:`~jaxrl.shaping.chain` whose shaping terms are all
present in every run; a variant is a vector of weights on their coefficients (a params tuple with
a leading ``[variants · seeds]`` axis), so all variants train in one vmapped program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs.gridworld import GridWorld
from jaxrl.experiment.sweep import per_seed
from jaxrl.mdp import expected_return, greedy_policy, value_iteration
from jaxrl.shaping import (
    RewardTransform,
    apply_to_table,
    chain,
    from_channel,
    mountain_car_energy,
    mountain_car_height,
    naive_potential,
    potential_based,
    potential_from_table,
    progress_bonus,
)

MCAR_GAMMA = 0.99


def progress_potential(grid: GridWorld, scale: float):
    """``Φ(s) = scale·(1 − d(s)/D)`` ∈ [0, scale]: 0 at the farthest cell, ``scale`` at the goal
    (d = Manhattan distance to the goal, D its maximum). Returns ``(phi_fn, values [S])``."""
    values = jnp.asarray(scale * (1.0 - grid.distance / grid.max_distance), jnp.float32)
    return potential_from_table(values), values


def grid_transform(grid: GridWorld, gamma: float, scale: float, c: float) -> RewardTransform:
    """chain(PBRS good Φ, PBRS misleading Φ, bicycle bonus); params select the variant.

    Good: the progress potential ``scale·(1 − d/D)``; misleading: ``scale·d/D`` (its mirror
    image, largest far from the goal); bonus: ``c·1[d(s') < d(s)]``.
    """
    good, _ = progress_potential(grid, scale)
    misleading = lambda o: scale - good(o)
    dist = potential_from_table(jnp.asarray(grid.distance, jnp.float32))
    return chain(
        potential_based(good, gamma=gamma),
        potential_based(misleading, gamma=gamma),
        progress_bonus(lambda o: -dist(o), c),
    )


def pitfall_transform(grid: GridWorld, gamma: float, scale: float) -> RewardTransform:
    """chain(correct PBRS, naive PBRS) of the progress potential ``scale·(1 − d/D)``."""
    phi, _ = progress_potential(grid, scale)
    return chain(potential_based(phi, gamma=gamma), naive_potential(phi, gamma))


def mcar_transform(energy_scale: float, height_scale: float, bonus: float) -> RewardTransform:
    """chain(sparse reward, PBRS energy, PBRS −height, uphill bonus) for MountainCar-v0."""
    energy = mountain_car_energy(energy_scale)
    e_goal = float(energy(jnp.array([0.5, 0.0])))  # Φ ≈ 0 at the goal: no big step at the end
    height = mountain_car_height(1.0)
    return chain(
        from_channel("sparse_reward"),
        potential_based(lambda o: energy(o) - e_goal, gamma=MCAR_GAMMA),
        potential_based(lambda o: -height_scale * height(o), gamma=MCAR_GAMMA),
        progress_bonus(height, bonus),
    )


def variant_params(weights: dict, names, seeds: int, transform: RewardTransform):
    """The chain's params with a leading ``[V·seeds]`` axis (variant-major): each shaping
    transform's default coefficient times the variant's weight; ``()`` entries are kept."""
    w = per_seed([weights[v] for v in names], seeds, np.float32)
    out, i = [], 0
    for default in transform.default_params:
        if isinstance(default, tuple) and not default:
            out.append(())
            continue
        out.append(jnp.asarray(w[:, i] * np.float32(default)))
        i += 1
    if i != w.shape[1]:
        raise ValueError(f"{w.shape[1]} weights per variant for {i} shaping transforms")
    return tuple(out)


def exact_reference(grid: GridWorld, transform: RewardTransform, params, names) -> dict:
    """Per variant: the true return of the optimal policy of the shaped MDP (value iteration on
    the table the transform itself produces) and its greedy policy as arrows."""
    with jax.enable_x64(True):
        mdp = jax.tree.map(
            lambda x: (
                jnp.asarray(x, jnp.float64)
                if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
                else jnp.asarray(x)
            ),
            grid.mdp,
        )
        q_true = value_iteration(mdp).Q
        j_star = float(expected_return(mdp, greedy_policy(q_true)))
        out = {"optimal_true_return": j_star, "variants": {}}
        n = len(names)
        seeds = len(jax.tree.leaves(params)[0]) // n
        for i, name in enumerate(names):
            p = jax.tree.map(lambda x, i=i: jnp.asarray(x)[i * seeds], params)
            R = apply_to_table(transform, mdp.R, mdp.gamma, mdp.terminal_mask, params=p)
            q = value_iteration(mdp.replace(R=jnp.asarray(R, jnp.float64))).Q
            pi = greedy_policy(q)
            out["variants"][name] = {
                "shaped_optimum_true_return": float(expected_return(mdp, pi)),
                "policy": grid.render_policy(pi),
            }
    return out
