"""BARFI's environments and auxiliary rewards (papers.md §2.1), on the gymnax-1.0 contract.

Every env here puts the task's **primary** reward in the env ``reward`` *and* in
``info["true_reward"]``, and the designer's **auxiliary** (heuristic) reward in
``info["aux_reward"]``. ``aux="good"`` is the helpful heuristic, ``aux="bad"`` the misaligned one.

Registered names (``jaxrl.envs.make(name, aux=...)``):

* ``"barfi_gridworld"``: :class:`BarfiGridworld`, the continuous "almost gridworld" of
  ``barfi-gw``: position in [0, 1]², start (0.125, 0.125), goal region G1 = [0.75, 0.99]²
  (terminal, primary reward +100), −0.1 per other step, 4 actions (0 up, 1 down, 2 left, 3 right)
  of length 0.18 executed as 4 sub-steps of 0.045 (positions clipped to the unit square; the
  motion stops at the sub-step that enters G1), 10% uniformly random actions, horizon 50.

  - good aux: ``−dist(pos, c)`` summed over the sub-steps, c = (0.87, 0.87) the centre of G1;
  - bad aux: ``+50`` per sub-step that ends inside the central box [0.4, 0.6]² (never consumed);
  - both are 0 for sub-steps that end in G1 (aux is 0 at terminal states).

  The original's ``dist`` reads ``pos2[1]`` where it means ``pos1[1]``, so its "distance" is
  ``|x − 0.87|`` (the y coordinate is ignored). We use the true Euclidean distance by default;
  ``dist_quirk=True`` reproduces the original.
  Observation: the position ``[x, y]`` (float32). BARFI's lidar readings are omitted (there are
  no walls inside the square here).

* ``"cartpole_aux"``: gymnax CartPole-v1 (primary +1 per step, horizon 500) with a PD-controller
  aux on the *pre-step* state: ``a_pd = 1[P·θ + D·θ̇ > 0]`` (push right when the pole falls right),
  P = 0.1, D = 0.5. good: +5 if the action equals ``a_pd`` else −1; bad: −5 if equal else +1.

* ``"mountaincar_sparse_aux"``: gymnax MountainCar-v0 dynamics (random start in [−0.6, −0.4]) with
  a sparse primary reward (1 on reaching the goal, else 0) and horizon 2000. Aux (bang-bang on the
  pre-step velocity v): the bang-bang action is ``2`` (right) if ``v ≥ 0`` else ``0`` (left);
  good: ``+scale`` if the action equals it, else ``−scale``; bad: the negation.

* ``"halfcheetah_aux"`` (GPU profile; needs brax): ``brax/halfcheetah`` with its control cost
  switched off (``ctrl_cost_weight=0``), so the primary reward is the forward reward
  (``reward_run``); aux = ``−w·‖a‖²`` on the clipped action with w = 1 (good) or 4 (bad).

:class:`AuxReward` is the generic wrapper: it remembers the observation each step leaves and
computes ``aux_fn(prev_obs, action, info) -> []`` (and optionally replaces the reward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.checks import check_at_least, check_finite, check_positive, check_probability
from jaxrl.envs.core import Array, Environment, PyTree
from jaxrl.envs.gymnax_adapter import make_gymnax
from jaxrl.envs.registry import make, register, registered_names
from jaxrl.envs.wrappers import StepOut, Wrapper, _jit_method

AUX = "aux_reward"
AUX_KINDS = ("good", "bad")


def _check_aux(aux: str) -> None:
    if not isinstance(aux, str) or aux not in AUX_KINDS:
        raise ValueError(f"aux must be one of {AUX_KINDS}, got {aux!r}")


# ----------------------------------------------------------------------------- gridworld
GOAL_LOW, GOAL_HIGH = 0.75, 0.99
GOAL_CENTRE = (0.87, 0.87)
BOX_LOW, BOX_HIGH = 0.4, 0.6
START = (0.125, 0.125)
#: unit moves of actions 0 up, 1 down, 2 left, 3 right
MOVES = ((0.0, 1.0), (0.0, -1.0), (-1.0, 0.0), (1.0, 0.0))


@struct.dataclass
class GridParams:
    """Traced params of :class:`BarfiGridworld`."""

    step_length: float = 0.18
    random_action_prob: float = 0.1
    goal_reward: float = 100.0
    step_reward: float = -0.1
    box_bonus: float = 50.0
    max_steps_in_episode: int = 50


@struct.dataclass
class GridState:
    pos: Array  # [2] float32
    time: Array  # [] int32


def in_goal(pos: Array) -> Array:
    """``pos [..., 2]`` inside G1 = [0.75, 0.99]² (bool ``[...]``)."""
    return jnp.all((pos >= GOAL_LOW) & (pos <= GOAL_HIGH), axis=-1)


def in_box(pos: Array) -> Array:
    """``pos [..., 2]`` inside the central box [0.4, 0.6]² (bool ``[...]``)."""
    return jnp.all((pos >= BOX_LOW) & (pos <= BOX_HIGH), axis=-1)


def goal_distance(pos: Array, quirk: bool = False) -> Array:
    """Distance to the centre of G1; with ``quirk`` the original's ``|x − 0.87|``."""
    d = pos - jnp.asarray(GOAL_CENTRE, pos.dtype)
    if quirk:
        return jnp.abs(d[..., 0])
    return jnp.sqrt(jnp.sum(d**2, axis=-1))


def gridworld_aux(pos: Array, aux: str, box_bonus: Any = 50.0, quirk: bool = False) -> Array:
    """The aux reward of one *sub-step* ending at ``pos [..., 2]`` (0 inside the goal)."""
    _check_aux(aux)
    if aux == "good":
        r = -goal_distance(pos, quirk)
    else:
        r = jnp.where(in_box(pos), box_bonus, 0.0)
    return jnp.where(in_goal(pos), 0.0, r).astype(jnp.float32)


class BarfiGridworld(Environment):
    """BARFI's continuous gridworld (module docstring). ``sub_steps`` is static."""

    def __init__(self, aux: str = "good", dist_quirk: bool = False, sub_steps: int = 4):
        super().__init__()
        _check_aux(aux)
        self.aux, self.dist_quirk, self.sub_steps = aux, bool(dist_quirk), int(sub_steps)

    @property
    def name(self) -> str:
        return f"barfi_gridworld-{self.aux}"

    @property
    def num_actions(self) -> int:
        return 4

    @property
    def default_params(self) -> GridParams:
        return GridParams()

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (2,), jnp.float32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def reset_env(self, key, params):
        state = GridState(jnp.asarray(START, jnp.float32), jnp.zeros((), jnp.int32))
        return state.pos, state

    def move(self, pos: Array, action: Array, params: GridParams) -> tuple[Array, Array, Array]:
        """Deterministic sub-stepped move: ``(new pos, reached goal, summed aux)``."""
        delta = jnp.asarray(MOVES, jnp.float32)[action] * (params.step_length / self.sub_steps)

        def sub(carry, _):
            p, done, aux = carry
            q = jnp.clip(p + delta, 0.0, 1.0)
            q = jnp.where(done, p, q)  # the motion stops once the goal is entered
            a = gridworld_aux(q, self.aux, params.box_bonus, self.dist_quirk)
            aux = aux + jnp.where(done, 0.0, a)
            return (q, done | in_goal(q), aux), None

        init = (pos, in_goal(pos), jnp.zeros((), jnp.float32))
        (pos, done, aux), _ = jax.lax.scan(sub, init, None, self.sub_steps)
        return pos, done, aux

    def step_env(self, key, state: GridState, action, params: GridParams):
        k_eps, k_act = jax.random.split(key)
        rand = jax.random.uniform(k_eps) < params.random_action_prob
        a = jnp.where(rand, jax.random.randint(k_act, (), 0, 4), jnp.asarray(action, jnp.int32))
        pos, done, aux = self.move(state.pos, a, params)
        reward = jnp.where(done, params.goal_reward, params.step_reward).astype(jnp.float32)
        new = GridState(pos, state.time + 1)
        info = {"true_reward": reward, AUX: aux, "action": a}
        return pos, new, reward, done, info

    def is_terminated(self, state: GridState, params=None) -> Array:
        return in_goal(state.pos)

    def check_params(self, params: GridParams) -> None:
        """Raises on invalid params: ``random_action_prob`` in [0, 1], ``step_length`` > 0,
        finite rewards, ``max_steps_in_episode`` >= 1. Run by ``make``."""
        where = self.name
        check_probability(where, "random_action_prob", params.random_action_prob)
        check_positive(where, "step_length", params.step_length)
        check_finite(where, "step_length", params.step_length)
        for field in ("goal_reward", "step_reward", "box_bonus"):
            check_finite(where, field, getattr(params, field))
        check_at_least(where, "max_steps_in_episode (horizon)", params.max_steps_in_episode, 1)


def make_barfi_gridworld(
    aux: str = "good", dist_quirk: bool = False, horizon: int = 50, random_action_prob=0.1
):
    """``make("barfi_gridworld", aux=..., horizon=50, random_action_prob=0.1)``; actions outside
    ``[0, 4)`` are clipped (debug mode: an error)."""
    where = "make('barfi_gridworld')"
    check_at_least(where, "horizon", horizon, 1)
    check_probability(where, "random_action_prob", random_action_prob)
    env = BarfiGridworld(aux, dist_quirk)
    return env, GridParams(
        random_action_prob=float(random_action_prob), max_steps_in_episode=int(horizon)
    )


# ----------------------------------------------------------------------------- aux wrapper
@struct.dataclass
class AuxState:
    env_state: PyTree
    obs: Array  # the observation the next step leaves


class AuxReward(Wrapper):
    """Adds ``info["aux_reward"] = aux_fn(prev_obs, action, info)`` to an auto-resetting env.

    ``reward_fn(prev_obs, action, reward, terminated, info)``, if given, replaces the env reward
    (and ``info["true_reward"]``). ``prev_obs`` is the observation the step leaves (kept in
    :class:`AuxState`), never a reset observation.
    """

    def __init__(self, env, aux_fn: Callable, reward_fn: Callable | None = None):
        super().__init__(env)
        self.aux_fn, self.reward_fn = aux_fn, reward_fn

    @_jit_method
    def reset(self, key, params=None):
        obs, s = self._env.reset(key, self._params(params))
        return obs, AuxState(s, obs)

    @_jit_method
    def step(self, key, state: AuxState, action, params=None) -> StepOut:
        obs, s, reward, term, trunc, info = self._env.step(
            key, state.env_state, action, self._params(params)
        )
        if self.reward_fn is not None:
            reward = self.reward_fn(state.obs, action, reward, term, info)
        reward = jnp.asarray(reward, jnp.float32)
        aux = jnp.asarray(self.aux_fn(state.obs, action, info), jnp.float32)
        info = {**info, "true_reward": reward, AUX: aux}
        return obs, AuxState(s, obs), reward, term, trunc, info


# ----------------------------------------------------------------------------- cartpole
PD_P, PD_D = 0.1, 0.5


def pd_action(obs: Array, p: float = PD_P, d: float = PD_D) -> Array:
    """CartPole PD controller on the pole angle: 1 (push right) iff ``P·θ + D·θ̇ > 0``."""
    return (p * obs[..., 2] + d * obs[..., 3] > 0).astype(jnp.int32)


def cartpole_aux(obs: Array, action: Array, aux: str) -> Array:
    """good: +5 if ``action == pd_action(obs)`` else −1; bad: −5 if equal else +1."""
    _check_aux(aux)
    agree = jnp.asarray(action, jnp.int32) == pd_action(obs)
    hi, lo = (5.0, -1.0) if aux == "good" else (-5.0, 1.0)
    return jnp.where(agree, hi, lo).astype(jnp.float32)


def make_cartpole_aux(aux: str = "good", horizon: int = 500):
    _check_aux(aux)
    check_at_least("make('cartpole_aux')", "horizon", horizon, 1)
    env, params = make_gymnax("CartPole-v1", max_steps_in_episode=int(horizon))
    return AuxReward(env, lambda o, a, i: cartpole_aux(o, a, aux)), params


# ----------------------------------------------------------------------------- mountaincar
def bang_bang_action(obs: Array) -> Array:
    """2 (push right) if the velocity is ≥ 0, else 0 (push left)."""
    return jnp.where(obs[..., 1] >= 0, 2, 0).astype(jnp.int32)


def mountaincar_aux(obs: Array, action: Array, aux: str, scale: float = 1.0) -> Array:
    _check_aux(aux)
    agree = jnp.asarray(action, jnp.int32) == bang_bang_action(obs)
    r = jnp.where(agree, scale, -scale)
    return (r if aux == "good" else -r).astype(jnp.float32)


def make_mountaincar_sparse_aux(aux: str = "good", horizon: int = 2000, scale: float = 1.0):
    _check_aux(aux)
    check_at_least("make('mountaincar_sparse_aux')", "horizon", horizon, 1)
    check_finite("make('mountaincar_sparse_aux')", "scale", scale)
    env, params = make_gymnax("MountainCar-v0", max_steps_in_episode=int(horizon))
    sparse = lambda o, a, r, term, info: term.astype(jnp.float32)  # 1 at the goal, else 0
    return (
        AuxReward(env, lambda o, a, i: mountaincar_aux(o, a, aux, scale), reward_fn=sparse),
        params,
    )


# ----------------------------------------------------------------------------- halfcheetah
HALFCHEETAH_AUX_WEIGHT = {"good": 1.0, "bad": 4.0}


def control_cost_aux(action: Array, weight: float) -> Array:
    a = jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)
    return -weight * jnp.sum(a**2, axis=-1)


def make_halfcheetah_aux(aux: str = "good", backend: str = "spring", episode_length: int = 1000):
    """Brax HalfCheetah: primary = forward reward, aux = −w‖a‖² (w = 1 good, 4 bad). GPU only."""
    _check_aux(aux)
    env, params = make(
        "brax/halfcheetah",
        backend=backend,
        episode_length=episode_length,
        ctrl_cost_weight=0.0,
    )
    w = HALFCHEETAH_AUX_WEIGHT[aux]
    return AuxReward(env, lambda o, a, i: control_cost_aux(a, w)), params


for _name, _factory in (
    ("barfi_gridworld", make_barfi_gridworld),
    ("cartpole_aux", make_cartpole_aux),
    ("mountaincar_sparse_aux", make_mountaincar_sparse_aux),
    ("halfcheetah_aux", make_halfcheetah_aux),
):
    if _name not in registered_names():
        register(_name, _factory)
