"""Hand-designed potentials Φ(obs) for the gymnax classic-control tasks.

Each factory returns ``phi_fn(obs [*B, obs_dim]) -> [*B]`` for :func:`potential_based`. Every
potential is bounded on the task's observation space, so PBRS with it is policy invariant (Ng et
al. 1999); ``scale`` only sets the size of F relative to the task reward (and is itself the
``coefficient`` of the transform, so either can be swept). Signs: *larger Φ = closer to the goal*,
so moving towards the goal earns F > 0.

Observation layouts (gymnax 1.0):

* MountainCar-v0 / MountainCarContinuous-v0: ``[position x, velocity v]``; x ∈ [−1.2, 0.6]
  (goal x ≥ 0.5; track height ∝ sin 3x), v ∈ [−0.07, 0.07] per step; gravity pulls with
  ``v ← v − g·cos(3x)``, g = 0.0025.
* CartPole-v1: ``[x, ẋ, θ, θ̇]``, θ in radians, 0 = upright; terminates at |θ| > 12°.
* Pendulum-v1: ``[cos θ, sin θ, θ̇]``, θ = 0 upright, θ̇ ∈ [−8, 8] rad/s; g = 10, m = 1, l = 1
  (a rod: moment of inertia m l²/3 about the pivot, centre of mass at l/2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

Array = Any
PhiFn = Callable[[Array], Array]

#: gymnax MountainCar gravity constant (velocity units per step per unit cos 3x).
MOUNTAIN_CAR_GRAVITY = 0.0025


def mountain_car_height(scale: float = 1.0) -> PhiFn:
    """``Φ = scale·sin(3x)``: the car's height on the track (dimensionless, in [−1, 1]).

    −1 at the valley floor x = −π/6 ≈ −0.52, ≈ +1 at the goal x = 0.5; larger is higher. Note
    that height alone penalises the (necessary) swing back up the left hill only mildly there.
    """

    def phi(obs):
        obs = jnp.asarray(obs)
        return scale * jnp.sin(3.0 * obs[..., 0])

    return phi


def mountain_car_energy(scale: float = 1.0, gravity: float = MOUNTAIN_CAR_GRAVITY) -> PhiFn:
    """Mechanical energy as an equivalent height: ``Φ = scale·(sin(3x)/3 + v²/(2g))``.

    gymnax's dynamics ``v ← v − g·cos(3x)`` are those of a unit mass in the potential
    ``U(x) = g·sin(3x)/3``, so ``E = U + v²/2`` is conserved without the engine, and ``E/g`` is
    "height + ½v²/g" in track-position units (x units): ∈ [−1/3, ≈ 1.31] on the observation space.
    Pumping energy (swinging) earns F > 0 even while the car goes downhill, which height alone
    does not reward.
    """

    def phi(obs):
        obs = jnp.asarray(obs)
        x, v = obs[..., 0], obs[..., 1]
        return scale * (jnp.sin(3.0 * x) / 3.0 + 0.5 * v**2 / gravity)

    return phi


def cartpole_upright(scale: float = 1.0) -> PhiFn:
    """``Φ = −scale·|θ|`` (θ in radians): 0 upright, negative when tilted (≥ −0.21 before
    termination at 12°). Leaning back towards upright earns F > 0."""

    def phi(obs):
        obs = jnp.asarray(obs)
        return -scale * jnp.abs(obs[..., 2])

    return phi


def pendulum_height(scale: float = 1.0) -> PhiFn:
    """``Φ = scale·cos θ`` = ``scale·obs[0]``: +1 upright, −1 hanging (dimensionless height of the
    tip over the pivot, in units of l)."""

    def phi(obs):
        obs = jnp.asarray(obs)
        return scale * obs[..., 0]

    return phi


def pendulum_energy(
    scale: float = 1.0, g: float = 10.0, m: float = 1.0, l: float = 1.0, target: bool = True
) -> PhiFn:
    """Pendulum mechanical energy (joules): ``E = m g (l/2) cos θ + (m l²/6) θ̇²``.

    (Uniform rod: potential energy of the centre of mass at l/2 with θ = 0 upright; kinetic energy
    ½·(m l²/3)·θ̇².) The upright rest state has ``E_up = m g l/2`` (= 5 J by default).

    ``target=True`` (default): ``Φ = −scale·|E − E_up|`` ≤ 0, the energy-based swing-up potential
    (0 on the upright-rest energy level, −2·E_up = −10 J hanging at rest); ``target=False``:
    ``Φ = scale·E`` (∈ [−5, ≈ 15.7] J), which also rewards spinning faster than needed.
    """
    e_up = m * g * l / 2.0

    def phi(obs):
        obs = jnp.asarray(obs)
        cos_th, thdot = obs[..., 0], obs[..., 2]
        energy = e_up * cos_th + m * l**2 * thdot**2 / 6.0
        return -scale * jnp.abs(energy - e_up) if target else scale * energy

    return phi
