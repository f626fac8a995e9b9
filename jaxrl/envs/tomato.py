"""The tomato-watering gridworld of ORPO (Laidlaw et al., ICLR'25), jittable, plus its exact MDP.

Spec (``shared/reference/papers.md`` §1.1; boards in :mod:`jaxrl.envs.tomato_boards`):

* **Positions.** The accessible cells, indexed as in the original:
  ``[tomatoes (row-major), bucket, empty cells (row-major), start]`` (26 on level 4).
* **Actions.** ``0 RIGHT (0,+1), 1 LEFT (0,−1), 2 DOWN (+1,0), 3 UP (−1,0)``, and ``4 NOOP`` with
  ``use_noop``. A move into a wall leaves the agent in place (and does nothing else).
* **Random actions.** With probability ``random_action_eps`` the chosen action is replaced by a
  uniformly random one (possibly the same). ``u < eps`` with ``u ~ U[0, 1)``, so eps = 0 is exact.
* **Step.** Move; if the move was legal: on the bucket set the bucket-visited bit, on a dry
  tomato water it. Then *drying*: every watered tomato whose Euclidean distance to the agent is
  ``> dry_distance`` (3) becomes dry. Then rewards are computed on the arrival state:
  ``true_reward = reward_factor · #watered``; ``proxy_reward = n_positions · reward_factor`` on the
  bucket (26·rf on level 4), else ``true_reward``.
* **Episode end.** ``terminated`` iff all tomatoes are watered (unreachable on level 4, reachable on
  the toy board); truncation after ``horizon`` (100) steps via ``params.max_steps_in_episode``.
* **Reward.** The env's ``reward`` is the proxy (the agent optimises the proxy, as in the paper's
  runs); ``reward_fun="true"`` makes it the true reward. ``info`` always carries both channels
  ``"true_reward"`` and ``"proxy_reward"``, plus ``"action"`` (the executed action after ε-noise).
* **Observation.** float32 ``[n_positions + n_tomatoes + 1]`` (36 on level 4):
  ``one_hot(position)`` ++ watered flags (tomato order) ++ bucket-visited bit (never reset within
  an episode), i.e. RLlib's flattening of the original Dict observation.
* **Drying quirk** (``drying_quirk=True``, off by default). The original removes dried tomatoes from
  its ``watered`` list while iterating over it, so in one drying pass the list element directly
  after a removed one is not checked that step (and stays watered even if far); the element after
  a *skipped* one is checked again. The list is in watering order (a re-watered tomato goes to the
  end). We track that order with ``state.stamp`` (the step at which each tomato was last watered).

The state is ``(position, watered[T], stamp[T], bucket_visited, time)``. Rewards and dynamics do
not depend on the bucket bit (observation only) nor, without the quirk, on ``stamp``; so the exact
tabular MDP (:func:`tomato_to_sparse_mdp`) has states ``position · 2^T + watered_mask`` (26 · 512 =
13,312 on level 4) and leaves the bucket bit out. It is built by ``vmap``-ping the env's own pure
transition :func:`tomato_transition` over all states × actions.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from jaxrl.envs.checks import check_at_least, check_finite, check_probability
from jaxrl.envs.core import Array, Environment
from jaxrl.envs.registry import register, registered_names
from jaxrl.envs.tomato_boards import (  # noqa: F401  (re-exported)
    ACTION_NAMES,
    BOARDS,
    DELTAS,
    DOWN,
    LEFT,
    NOOP,
    RIGHT,
    UP,
    TomatoBoard,
    build_board,
    get_board,
)
from jaxrl.mdp.sparse import SparseMDP


@struct.dataclass
class TomatoParams:
    """Traced env params (``vmap`` over them without recompiling)."""

    reward_factor: float = 0.02
    random_action_eps: float = 0.0
    dry_distance: float = 3.0
    max_steps_in_episode: int = 100


@struct.dataclass
class TomatoState:
    """``pos`` int32 ``[]``; ``watered`` bool ``[T]``; ``stamp`` int32 ``[T]`` (step at which each
    tomato was last watered, the original's list order, used only by the quirk);
    ``bucket_visited`` bool ``[]``; ``time`` int32 ``[]``."""

    pos: Array
    watered: Array
    stamp: Array
    bucket_visited: Array
    time: Array


def _dry(watered: Array, stamp: Array, far: Array, quirk: bool) -> Array:
    """Drying pass: clears ``far`` watered tomatoes (with the skip quirk if ``quirk``)."""
    if not quirk:
        return watered & ~far
    order = jnp.argsort(jnp.where(watered, stamp, jnp.iinfo(jnp.int32).max), stable=True)
    new, prev_removed = watered, jnp.zeros((), bool)
    for k in range(watered.shape[0]):  # T is small and static: unrolled
        i = order[k]
        in_list = watered[i]
        removed = in_list & ~prev_removed & far[i]
        new = new.at[i].set(new[i] & ~removed)
        prev_removed = jnp.where(in_list, removed, prev_removed)
    return new


def tomato_transition(
    board: TomatoBoard, state: TomatoState, action: Array, dry_distance: Any, quirk: bool = False
) -> TomatoState:
    """The pure deterministic transition for an executed ``action`` (no ε-noise, no time limit)."""
    move, legal = jnp.asarray(board.move), jnp.asarray(board.legal)
    a = jnp.asarray(action, jnp.int32)
    pos = move[state.pos, a]
    ok = legal[state.pos, a]
    bucket_visited = state.bucket_visited | (ok & (pos == board.bucket))
    on_tomato = jax.nn.one_hot(pos, board.n_tomatoes, dtype=bool) & ok  # all False off tomatoes
    newly = on_tomato & ~state.watered
    watered = state.watered | newly
    stamp = jnp.where(newly, state.time + 1, state.stamp)
    far = jnp.asarray(board.dist)[pos] > dry_distance
    watered = _dry(watered, stamp, far, quirk)
    return TomatoState(pos, watered, stamp, bucket_visited, state.time + 1)


def tomato_rewards(
    board: TomatoBoard, state: TomatoState, reward_factor: Any, dtype: Any = jnp.float32
) -> dict[str, Array]:
    """``{"true_reward", "proxy_reward"}`` of an arrival state, in ``dtype`` (the env's float32;
    the exact layer passes JAX's default float, float64 under ``jax.enable_x64``)."""
    true = reward_factor * jnp.sum(state.watered, axis=-1).astype(dtype)
    proxy = jnp.where(state.pos == board.bucket, board.n_positions * reward_factor, true)
    return {"true_reward": true, "proxy_reward": jnp.asarray(proxy, dtype)}


class TomatoEnv(Environment):
    """The tomato-watering gridworld (see the module docstring).

    Args:
      level: board (0–4, ``"toy"``/``-1``); default 4, the paper's.
      drying_quirk: replicate the original's drying-loop quirk (static).
      use_noop: add action 4 (NOOP).
        Actions outside ``[0, num_actions)`` are clipped (debug mode: an error; see
        :mod:`jaxrl.envs.checks`).
      reward_fun: ``"proxy"`` (default) or ``"true"``: which channel is the env's ``reward``.
    """

    def __init__(
        self,
        level: int | str = 4,
        drying_quirk: bool = False,
        use_noop: bool = False,
        reward_fun: str = "proxy",
    ):
        super().__init__()
        if reward_fun not in ("proxy", "true"):
            raise ValueError(f"reward_fun must be 'proxy' or 'true', got {reward_fun!r}")
        self.level, self.drying_quirk, self.reward_fun = level, bool(drying_quirk), reward_fun
        self.board = build_board(get_board(level), use_noop)

    @property
    def name(self) -> str:
        return f"tomato-{self.level}"

    @property
    def num_actions(self) -> int:
        return self.board.n_actions

    @property
    def obs_dim(self) -> int:
        return self.board.n_positions + self.board.n_tomatoes + 1

    @property
    def n_tabular_states(self) -> int:
        return self.board.n_positions * 2**self.board.n_tomatoes

    @property
    def default_params(self) -> TomatoParams:
        return TomatoParams()

    def observation_space(self, params: TomatoParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.obs_dim,), jnp.float32)

    def action_space(self, params: TomatoParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def get_obs(self, state: TomatoState, params=None, key=None) -> Array:
        return jnp.concatenate(
            [
                jax.nn.one_hot(state.pos, self.board.n_positions, dtype=jnp.float32),
                state.watered.astype(jnp.float32),
                state.bucket_visited.astype(jnp.float32)[None],
            ]
        )

    def initial_state(self) -> TomatoState:
        T = self.board.n_tomatoes
        return TomatoState(
            pos=jnp.asarray(self.board.start, jnp.int32),
            watered=jnp.asarray(self.board.init_watered),
            stamp=jnp.zeros(T, jnp.int32),
            bucket_visited=jnp.zeros((), bool),
            time=jnp.zeros((), jnp.int32),
        )

    def reset_env(self, key: Array, params: TomatoParams) -> tuple[Array, TomatoState]:
        state = self.initial_state()
        return self.get_obs(state), state

    def step_env(
        self, key: Array, state: TomatoState, action: Array, params: TomatoParams
    ) -> tuple[Array, TomatoState, Array, Array, dict[str, Array]]:
        k_eps, k_act = jax.random.split(key)
        noisy = jax.random.uniform(k_eps) < params.random_action_eps
        rand_a = jax.random.randint(k_act, (), 0, self.num_actions)
        a = jnp.where(noisy, rand_a, jnp.asarray(action, jnp.int32))
        new = tomato_transition(self.board, state, a, params.dry_distance, self.drying_quirk)
        info = {**tomato_rewards(self.board, new, params.reward_factor), "action": a}
        reward = info["proxy_reward" if self.reward_fun == "proxy" else "true_reward"]
        return self.get_obs(new), new, reward, self.is_terminated(new, params), info

    def is_terminated(self, state: TomatoState, params: TomatoParams | None = None) -> Array:
        return jnp.all(state.watered, axis=-1)

    def check_params(self, params: TomatoParams) -> None:
        """Raises if ``params`` are invalid: ``random_action_eps`` in [0, 1],
        ``max_steps_in_episode`` (the horizon) an int >= 1, ``dry_distance`` >= 0, finite
        ``reward_factor``. Run by ``make``; call it (or :func:`jaxrl.envs.check_params`) on params
        built by hand."""
        where = self.name
        check_probability(where, "random_action_eps", params.random_action_eps)
        check_at_least(where, "max_steps_in_episode (horizon)", params.max_steps_in_episode, 1)
        check_at_least(where, "dry_distance", params.dry_distance, 0.0, integer=False)
        check_finite(where, "reward_factor", params.reward_factor)

    def state_index(self, state: TomatoState) -> Array:
        """Tabular index ``pos · 2^T + Σ_i watered[i] 2^i`` (int32; batched states work too)."""
        bits = 2 ** jnp.arange(self.board.n_tomatoes, dtype=jnp.int32)
        mask = jnp.sum(state.watered.astype(jnp.int32) * bits, axis=-1)
        return state.pos * 2**self.board.n_tomatoes + mask

    def state_from_index(self, index: Array, time: Array | int = 0) -> TomatoState:
        """Inverse of :meth:`state_index` (``stamp = 0``, ``bucket_visited = False``)."""
        T = self.board.n_tomatoes
        index = jnp.asarray(index, jnp.int32)
        watered = (index[..., None] >> jnp.arange(T, dtype=jnp.int32)) & 1
        return TomatoState(
            pos=index >> T,
            watered=watered.astype(bool),
            stamp=jnp.zeros(watered.shape, jnp.int32),
            bucket_visited=jnp.zeros(index.shape, bool),
            time=jnp.broadcast_to(jnp.asarray(time, jnp.int32), index.shape),
        )


def make_tomato(
    level: int | str = 4,
    reward_factor: float = 0.02,
    random_action_eps: float = 0.0,
    drying_quirk: bool = False,
    use_noop: bool = False,
    dry_distance: float = 3.0,
    horizon: int = 100,
    reward_fun: str = "proxy",
) -> tuple[TomatoEnv, TomatoParams]:
    """The ``"tomato"`` factory: ``(TomatoEnv, TomatoParams)`` (see :class:`TomatoEnv`).

    Raises ``ValueError``/``TypeError`` on invalid values (``random_action_eps`` outside [0, 1],
    ``horizon`` < 1, a bool or unknown ``level``, ...), naming the argument."""
    where = "make('tomato')"
    check_probability(where, "random_action_eps", random_action_eps)
    check_at_least(where, "horizon", horizon, 1)
    check_at_least(where, "dry_distance", dry_distance, 0.0, integer=False)
    check_finite(where, "reward_factor", reward_factor)
    env = TomatoEnv(level, drying_quirk=drying_quirk, use_noop=use_noop, reward_fun=reward_fun)
    params = TomatoParams(
        reward_factor=float(reward_factor),
        random_action_eps=float(random_action_eps),
        dry_distance=float(dry_distance),
        max_steps_in_episode=int(horizon),
    )
    return env, params


def tomato_to_sparse_mdp(
    env: TomatoEnv | None = None, params: TomatoParams | None = None, **make_kwargs: Any
) -> SparseMDP:
    """The exact :class:`~jaxrl.mdp.sparse.SparseMDP` of a tomato env (states ``pos · 2^T + mask``).

    Built from :func:`tomato_transition` (the env's own step) over every state × executed action.
    With ``random_action_eps = ε > 0`` each chosen action has ``K = A`` successors (the executed
    action ``a'`` with probability ``(1 − ε)[a' = a] + ε / A``), else ``K = 1``. Channels
    ``"true_reward"``, ``"proxy_reward"``; ``terminal`` = all tomatoes watered; the initial
    distribution is the start with the layout's initially watered tomatoes. The horizon is not part
    of the MDP (pass ``params.max_steps_in_episode`` to the solvers). Rewards, ``prob`` and
    ``init_dist`` are in JAX's default float: float64 under ``jax.enable_x64`` (the exact layer
    stays float64 end to end), float32 otherwise.

    Args:
      env, params: an env and its params; or leave ``env`` None and pass :func:`make_tomato`
        keywords (``level``, ``reward_factor``, ``random_action_eps``, ...).

    Raises:
      NotImplementedError: for ``drying_quirk=True`` (the quirk depends on the watering order, which
        the tabular state does not hold).
    """
    if env is None:
        env, default = make_tomato(**make_kwargs)
        params = params or default
    elif make_kwargs:
        raise ValueError("pass either (env, params) or make_tomato keywords, not both")
    params = params or env.default_params
    if env.drying_quirk:
        raise NotImplementedError("the drying quirk needs the watering order in the state")
    board, S, A = env.board, env.n_tabular_states, env.num_actions
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)  # float64 under x64, else float32
    det_next, det_r = _enumerate(env, params.dry_distance, params.reward_factor)
    eps = float(params.random_action_eps)
    if eps == 0.0:
        next_state, prob = det_next[..., None], jnp.ones((S, A, 1), dtype)
        rewards = {k: v[..., None] for k, v in det_r.items()}
    else:
        mix = (1.0 - eps) * jnp.eye(A, dtype=dtype) + eps / A  # [a, a'] executed-action probs
        next_state = jnp.broadcast_to(det_next[:, None, :], (S, A, A))
        prob = jnp.broadcast_to(mix[None], (S, A, A))
        rewards = {k: jnp.broadcast_to(v[:, None, :], (S, A, A)) for k, v in det_r.items()}
    init = env.state_index(env.initial_state())
    terminal = (jnp.arange(S) % 2**board.n_tomatoes) == 2**board.n_tomatoes - 1
    return SparseMDP(
        next_state=next_state.astype(jnp.int32),
        prob=prob,
        rewards=rewards,
        init_dist=jax.nn.one_hot(init, S, dtype=dtype),
        terminal=terminal,
    )


@partial(jax.jit, static_argnums=0)
def _enumerate(env: TomatoEnv, dry_distance: Any, reward_factor: Any) -> tuple[Array, dict]:
    """``(next index [S, A], {channel: [S, A]})`` of every state × executed action (one program);
    rewards in JAX's default float (float64 under ``jax.enable_x64``)."""
    states = env.state_from_index(jnp.arange(env.n_tabular_states))
    step = lambda s, a: tomato_transition(env.board, s, a, dry_distance)
    nxt = jax.vmap(lambda a: jax.vmap(step, (0, None))(states, a), out_axes=1)(
        jnp.arange(env.num_actions)
    )
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    return env.state_index(nxt), tomato_rewards(env.board, nxt, reward_factor, dtype)


def bucket_path_policy(env: TomatoEnv) -> np.ndarray:
    """``[S, A]`` "shortest path to the bucket, then stay" (ignores tomatoes).

    Breadth-first distances to the bucket over positions; at each position the lowest-index action
    that reduces the distance (on the bucket: the lowest-index action into a wall, else NOOP).
    """
    b = env.board
    dist = np.full(b.n_positions, np.inf)
    dist[b.bucket], frontier = 0, [b.bucket]
    while frontier:
        nxt = []
        for q in frontier:
            for p in np.flatnonzero((b.move == q).any(1) & np.isinf(dist)):
                dist[p] = dist[q] + 1
                nxt.append(p)
        frontier = nxt
    pi_pos = np.zeros((b.n_positions, b.n_actions))
    for p in range(b.n_positions):
        if p == b.bucket:
            stay = np.flatnonzero(b.move[p] == p)
        else:
            stay = np.flatnonzero(dist[b.move[p]] < dist[p])
        pi_pos[p, stay[0]] = 1.0
    return np.repeat(pi_pos, 2**b.n_tomatoes, axis=0)


if "tomato" not in registered_names():
    register("tomato", make_tomato)
