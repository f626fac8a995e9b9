"""Tabular Q-learning (and SARSA / expected SARSA) on a finite MDP, jitted and vmapped over seeds.

Three layers, each usable on its own: the **pure updates** (one transition, ``q [S, A]`` in and
out; bootstrap discount ``γ·(1 − terminated)``) and the **replay** of a given
:class:`Experience` stream (Wiewiora 2003; ``theory_checks/check_wiewiora.py``), both from
:mod:`jaxrl.agents.td_updates` and re-exported here, and **online training**:
``make_train(static, mdp_or_env, transform)`` gives a :class:`QLearningTrainer` (the
:mod:`jaxrl.agents.trainer` protocol), ``trainer(key, hparams) -> (state, metrics)`` pure and
jittable, ``vmap``-able over keys, hyperparameters (``jax.vmap(trainer)(keys, hp.broadcast(n))``)
and MDPs (``hparams.mdp``).

Experience is sampled from the :class:`~jaxrl.mdp.TabularMDP` itself:
``s0 ~ init_dist``, ``s' ~ P[s, a]``, reward ``R[s, a, s']``; reaching a terminal state
(``terminal_mask[s']``) *terminates* the episode (no bootstrap) and the env resets to
``init_dist``; hitting ``max_episode_steps`` first *truncates* it (bootstrap from ``s'``, then
reset). ``terminated`` wins over ``truncated`` on the same step (as in :mod:`jaxrl.envs.core`).

Reward shaping goes through the :class:`~jaxrl.shaping.transform.RewardTransform` API, exactly as
for the deep agents. The :class:`~jaxrl.shaping.transform.Transition` a transform sees has

* ``obs`` / ``next_obs``: the state **one-hot** ``[N, S]`` in the Q-table's dtype (default; the
  same observation :class:`jaxrl.envs.tabular.TabularEnv` emits, so one ``phi_fn(obs)`` shapes
  both this learner and a deep agent on that env) or, with ``static.transform_obs="index"``, the
  int32 state index ``[N]``. ``next_obs`` is the arrival state (never the reset state).
* ``reward`` and ``channels["true_reward"]``: the MDP reward ``R[s, a, s']`` (the true reward).
* ``discount``: the learner's ``γ·(1 − terminated)``; ``time``: the step index in the episode.

The learner optimises the transformed reward; the metrics report the true reward.

Metrics (one row per chunk of ``static.eval_every`` steps: ``[1]`` from ``chunk``,
``[num_chunks]`` from ``trainer(key, hp)``):

* ``"eval_greedy_return"``: exact ``J(greedy(Q))`` by :func:`jaxrl.mdp.expected_return` (the
  unnormalised return under the MDP's true reward, γ = ``mdp.gamma``, ``d0 = init_dist``; ties in
  ``Q`` go to the lowest action index). Noise-free, so it is the figure's curve.
* ``"eval_env_steps"``: environment steps per seed so far (summed over ``num_envs``).
* ``"return_true_reward"``, ``"return_learner_reward"``: mean *undiscounted* return of the
  episodes that finished in the chunk (the previous value is repeated when none finished;
  ``"episode_count"`` says how many did), ``"episode_length"``.
* ``"experience"`` (only with ``static.record_experience``): an :class:`Experience` with leaves
  ``[eval_every, num_envs]`` per chunk, ``[num_steps, num_envs]`` from ``trainer(key, hp)``
  (``learner_reward`` = the transformed reward), ready for :func:`replay` after
  ``flatten_experience``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents.hparams import (
    BASE_BOUNDS,
    NONNEGATIVE,
    PROBABILITY,
    broadcast_hparams,
    check_hparams,
)
from jaxrl.agents.td_updates import (  # noqa: F401  (re-exported: the tabular learner's API)
    ALGORITHMS,
    Experience,
    _step_size,
    _td_update,
    epsilon_greedy,
    epsilon_greedy_probs,
    expected_sarsa_update,
    flatten_experience,
    inverse_cdf,
    q_learning_update,
    replay,
    sarsa_update,
)
from jaxrl.agents.trainer import TrainerBase
from jaxrl.mdp import TabularMDP, expected_return, greedy_policy
from jaxrl.shaping.transform import RewardTransform, Transition, check_gamma, identity

Array = Any

TRANSFORM_OBS = ("one_hot", "index")


# ----------------------------------------------------------------------------- online training
@dataclass(frozen=True)
class QLearningStatic:
    """Shapes and counts, closed over by :func:`make_train` (changing one recompiles)."""

    num_steps: int = 10_000
    """environment steps per parallel env (per seed)"""
    num_envs: int = 1
    """parallel copies of the MDP per seed; their transitions update one shared table in env
    order within a step (so the stream is t-major, env-minor)"""
    max_episode_steps: int | None = None
    """time limit (truncation, bootstrapped); None: the env's ``max_steps_in_episode`` or 100"""
    eval_every: int = 1_000
    """steps per chunk (per env); metrics, incl. the exact J(greedy(Q)), once per chunk"""
    algorithm: str = "q_learning"
    """``"q_learning"``, ``"sarsa"`` or ``"expected_sarsa"``"""
    transform_obs: str = "one_hot"
    """what ``Transition.obs`` holds for the reward transform: ``"one_hot"`` or ``"index"``"""
    record_experience: bool = False
    """return the whole stream as ``metrics["experience"]`` (``[num_steps, num_envs]`` leaves)"""

    @property
    def num_chunks(self) -> int:
        return self.num_steps // self.eval_every

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """Raise naming the field and its value (also run by ``make_train``)."""
        for name in ("num_steps", "num_envs", "eval_every", "max_episode_steps"):
            v = getattr(self, name)
            if v is None and name == "max_episode_steps":
                continue
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"QLearningStatic.{name} must be an int, got {v!r}")
            if v <= 0:
                raise ValueError(f"QLearningStatic.{name} must be a positive int, got {v!r}")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(
                f"QLearningStatic.max_episode_steps must be >= 1, got {self.max_episode_steps}"
            )
        if self.num_steps % self.eval_every:
            raise ValueError(
                f"QLearningStatic.eval_every={self.eval_every} must divide "
                f"num_steps={self.num_steps}"
            )
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"QLearningStatic.algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}"
            )
        if self.transform_obs not in TRANSFORM_OBS:
            raise ValueError(
                f"QLearningStatic.transform_obs must be one of {TRANSFORM_OBS}, got "
                f"{self.transform_obs!r}"
            )


class QLearningHParams(NamedTuple):
    """Traced hyperparameters: every leaf may carry a leading vmap axis."""

    alpha: Any = 0.1
    """step size"""
    epsilon: Any = 0.1
    """behaviour ε-greedy exploration (uniform tie-breaking among greedy actions)"""
    gamma: Any = None
    """the learner's γ; None: the MDP's ``gamma``"""
    q_init: Any = 0.0
    """initial table, a scalar or ``[S, A]``"""
    alpha_decay: Any = 0.0
    """per-(s, a) step size ``α·(n + 1)^(−alpha_decay)``; 0 = constant, 0.5 < ω <= 1 converges"""
    transform: Any = ()
    """the reward transform's params pytree"""
    mdp: Any = None
    """the MDP experience is sampled from (same S and A as the trainer's); None: the trainer's.
    A traced MDP lets one compiled function sweep or ``vmap`` over MDPs."""

    broadcast = broadcast_hparams

    def check(self) -> QLearningHParams:
        """Raise ``ValueError`` naming a non-finite or out-of-range field; returns ``self``."""
        bounds = {"alpha": (0.0, None), "epsilon": PROBABILITY, "alpha_decay": NONNEGATIVE}
        if self.gamma is not None:
            bounds["gamma"] = BASE_BOUNDS["gamma"]
        return check_hparams(self, bounds, positive=("alpha",))


class QLearningState(NamedTuple):
    """Everything a run needs to continue bit-identically."""

    q: Array  # [S, A]
    counts: Array  # [S, A] visits (float, for the step-size schedule)
    state: Array  # [N] int32 current state
    action: Array  # [N] int32 next action (SARSA carries it; others re-choose)
    time: Array  # [N] int32 step index within the episode
    transform_state: Any
    ep_true: Array  # [N] running undiscounted true return
    ep_learner: Array  # [N] running undiscounted learner return
    last: Array  # [3] last reported (true, learner, length) means
    key: Array
    step: Array  # [] int32 steps done (per env)


class _Window(NamedTuple):
    true: Array
    learner: Array
    length: Array
    count: Array


def _jnp_tree(tree):
    """numpy leaves -> jnp (a traced index into a numpy array fails)."""
    return jax.tree.map(jnp.asarray, tree)


def _as_mdp(mdp_or_env) -> tuple[TabularMDP, int]:
    if isinstance(mdp_or_env, TabularMDP):
        return mdp_or_env, 100
    params = getattr(mdp_or_env, "default_params", None)
    if params is not None and hasattr(params, "mdp"):
        return params.mdp, int(params.max_steps_in_episode)
    if hasattr(mdp_or_env, "mdp"):  # TabularEnvParams
        return mdp_or_env.mdp, int(mdp_or_env.max_steps_in_episode)
    raise TypeError(
        "make_train: pass a TabularMDP, a TabularEnv or TabularEnvParams, got "
        f"{type(mdp_or_env).__name__}"
    )


def _dtype(mdp: TabularMDP):
    return jnp.result_type(mdp.P.dtype)


def _choose(u: Array, q: Array, states: Array, epsilon) -> Array:
    """ε-greedy actions ``[N]`` for ``states [N]`` by inverse CDF of the uniforms ``u [N]``."""
    return inverse_cdf(epsilon_greedy_probs(q[states], epsilon), u)


@dataclass(frozen=True, eq=False)  # hashed by identity, so jax.jit(trainer) works
class QLearningTrainer(TrainerBase):
    """The tabular learner under the trainer protocol (:mod:`jaxrl.agents.trainer`).

    ``init(key, hp)``, ``chunk(state, hp)`` (every metric ``[1]``; ``experience`` leaves
    ``[eval_every, num_envs]``, one row per step), ``evaluate(state, hp) -> []``, ``check(hp)``
    and ``trainer(key, hp)``. Experience is sampled from ``hp.mdp`` when it is set, else from
    :attr:`mdp`: ``jax.vmap(lambda m: trainer(key, hp._replace(mdp=m)))(mdps)`` sweeps MDPs with
    one compiled function.
    """

    static: QLearningStatic
    mdp: TabularMDP
    transform: RewardTransform
    limit: int
    """the time limit (truncation) in steps"""

    def _mdp(self, hp: QLearningHParams) -> TabularMDP:
        return _jnp_tree(self.mdp if hp.mdp is None else hp.mdp)

    def _obs(self, states: Array, mdp: TabularMDP) -> Array:
        if self.static.transform_obs == "index":
            return states
        return jax.nn.one_hot(states, mdp.n_states, dtype=_dtype(mdp))

    def _reset(self, u: Array, mdp: TabularMDP) -> Array:
        return inverse_cdf(jnp.broadcast_to(mdp.init_dist, (self.static.num_envs, mdp.n_states)), u)

    def check(self, hparams: QLearningHParams, allow_gamma_mismatch: bool = False):
        """Validate concrete hyperparameters before compiling (bad values, γ mismatch with the
        transform; a float32 MDP's γ counts as equal to the float64 it was rounded from)."""
        mdp = self.mdp if hparams.mdp is None else hparams.mdp
        gamma = np.asarray(mdp.gamma if hparams.gamma is None else hparams.gamma)
        if gamma.dtype == np.float32 and self.transform.gamma is not None:
            # a float32 MDP stores 0.9 as 0.89999998; check_gamma's atol is 1e-12
            close = np.abs(gamma - self.transform.gamma) <= 4 * np.finfo(np.float32).eps
            gamma = np.where(close, self.transform.gamma, gamma.astype(np.float64))
        check_gamma(self.transform, gamma, allow_gamma_mismatch)
        return hparams.check()

    def init(self, key: Array, hp: QLearningHParams) -> QLearningState:
        """A fresh table (``hp.q_init``), states drawn from ``init_dist`` and first actions."""
        mdp = self._mdp(hp)
        dt, N = _dtype(mdp), self.static.num_envs
        key, k_init = jax.random.split(key)
        u = jax.random.uniform(k_init, (2, N), dt)
        q = jnp.broadcast_to(jnp.asarray(hp.q_init, dt), (mdp.n_states, mdp.n_actions))
        states = self._reset(u[0], mdp)
        zeros = jnp.zeros((N,), dt)
        return QLearningState(
            q=q,
            counts=jnp.zeros((mdp.n_states, mdp.n_actions), dt),
            state=states,
            action=_choose(u[1], q, states, hp.epsilon),
            time=jnp.zeros((N,), jnp.int32),
            transform_state=self.transform.init(hp.transform),
            ep_true=zeros,
            ep_learner=zeros,
            last=jnp.zeros((3,), dt),
            key=key,
            step=jnp.zeros((), jnp.int32),
        )

    def _transition(self, hp, mdp, st: QLearningState, u: Array):
        """Sample ``a, s'`` for every env and shape ``R[s, a, s']`` through the transform."""
        dt, alg = _dtype(mdp), self.static.algorithm
        gamma = mdp.gamma if hp.gamma is None else jnp.asarray(hp.gamma, dt)
        s = st.state
        a = st.action if alg == "sarsa" else _choose(u[0], st.q, s, hp.epsilon)
        s_next = inverse_cdf(mdp.P[s, a], u[1])
        r = mdp.R[s, a, s_next]
        term = mdp.terminal_mask[s_next]
        trunc = (st.time + 1 >= self.limit) & ~term
        discount = gamma * (1.0 - term.astype(dt))
        tr = Transition(
            obs=self._obs(s, mdp),
            action=a,
            reward=r,
            next_obs=self._obs(s_next, mdp),
            terminated=term,
            truncated=trunc,
            discount=discount,
            channels={"true_reward": r},
            time=st.time,
        )
        shaped, tstate = self.transform.apply(hp.transform, st.transform_state, tr)
        shaped = jnp.broadcast_to(jnp.asarray(shaped, dt), (self.static.num_envs,))
        if alg == "sarsa":  # a' from the pre-update table (Sutton & Barto's order)
            a_next = _choose(u[2], st.q, s_next, hp.epsilon)
        else:
            a_next = jnp.argmax(st.q[s_next], axis=-1).astype(jnp.int32)
        exp = Experience(s, a, r, shaped, s_next, a_next, term, trunc)
        return exp, discount, tstate

    def _learn(self, hp, st: QLearningState, exp: Experience, discount: Array):
        """The TD updates of one step's ``N`` transitions, in env order, on the shared table."""
        alg = self.static.algorithm

        def upd(qc, x):
            q, counts = qc
            s_i, a_i, r_i, d_i, sn_i, an_i = x
            lr = _step_size(hp.alpha, hp.alpha_decay, counts[s_i, a_i])
            q = _td_update(alg, q, s_i, a_i, r_i, d_i, sn_i, an_i, lr, hp.epsilon)
            return (q, counts.at[s_i, a_i].add(1.0)), None

        xs = (exp.state, exp.action, exp.learner_reward, discount, exp.next_state)
        xs = (*xs, exp.next_action)
        if self.static.num_envs == 1:  # no inner loop (a smaller program to compile)
            (q, counts), _ = upd((st.q, st.counts), jax.tree.map(lambda x: x[0], xs))
        else:
            (q, counts), _ = jax.lax.scan(upd, (st.q, st.counts), xs)
        return q, counts

    def _env_step(self, hp, mdp, carry, _):
        st, win = carry
        dt = _dtype(mdp)
        # one uniform draw per step and env (a small program): action, s', a' (SARSA), reset, a0
        key, k_u = jax.random.split(st.key)
        u = jax.random.uniform(k_u, (5, self.static.num_envs), dt)
        exp, discount, tstate = self._transition(hp, mdp, st, u)
        q, counts = self._learn(hp, st, exp, discount)
        ended = exp.terminated | exp.truncated
        new_s = jnp.where(ended, self._reset(u[3], mdp), exp.next_state)
        if self.static.algorithm == "sarsa":  # a new episode's first action: the updated table
            new_a = jnp.where(ended, _choose(u[4], q, new_s, hp.epsilon), exp.next_action)
        else:
            new_a = st.action
        ep_true, ep_learner = st.ep_true + exp.reward, st.ep_learner + exp.learner_reward
        length = (st.time + 1).astype(dt)
        endf = ended.astype(dt)
        win = _Window(
            win.true + jnp.sum(ep_true * endf),
            win.learner + jnp.sum(ep_learner * endf),
            win.length + jnp.sum(length * endf),
            win.count + jnp.sum(endf),
        )
        st = st._replace(
            q=q,
            counts=counts,
            state=new_s,
            action=new_a,
            time=jnp.where(ended, 0, st.time + 1),
            transform_state=tstate,
            ep_true=ep_true * (1 - endf),
            ep_learner=ep_learner * (1 - endf),
            key=key,
            step=st.step + 1,
        )
        return (st, win), (exp if self.static.record_experience else None)

    def evaluate(self, state: QLearningState, hp: QLearningHParams) -> Array:
        """``[]``: the exact ``J(greedy(Q))`` (:func:`jaxrl.mdp.expected_return`, true reward,
        the MDP's γ and ``init_dist``; ties to the lowest action). Noise-free: one "episode"."""
        return expected_return(self._mdp(hp), greedy_policy(state.q))

    def chunk(self, st: QLearningState, hp: QLearningHParams):
        """``static.eval_every`` steps per env, then the metrics of the module docstring."""
        mdp = self._mdp(hp)
        zero = jnp.zeros((), _dtype(mdp))
        (st, win), exp = jax.lax.scan(
            partial(self._env_step, hp, mdp),
            (st, _Window(zero, zero, zero, zero)),
            None,
            self.static.eval_every,
        )
        has = win.count > 0
        n = jnp.maximum(win.count, 1.0)
        means = jnp.where(has, jnp.stack([win.true, win.learner, win.length]) / n, st.last)
        st = st._replace(last=means)
        metrics = {
            "eval_greedy_return": self.evaluate(st, hp)[None],
            "eval_env_steps": (st.step * self.static.num_envs)[None],
            "return_true_reward": means[0, None],
            "return_learner_reward": means[1, None],
            "episode_length": means[2, None],
            "episode_count": win.count[None],
        }
        if self.static.record_experience:
            metrics["experience"] = exp
        return st, metrics


def make_train(
    static: QLearningStatic,
    mdp_or_env,
    transform: RewardTransform | None = None,
) -> QLearningTrainer:
    """Build the tabular trainer (see the module docstring for semantics and metrics).

    Args:
      static: shapes and counts (hashable; closed over).
      mdp_or_env: a :class:`~jaxrl.mdp.TabularMDP`, or a :class:`jaxrl.envs.tabular.TabularEnv`
        (its default params' MDP and time limit are used; experience is still sampled from the
        MDP directly).
      transform: reward transform applied to every step before the update (default: identity).
    """
    mdp, default_limit = _as_mdp(mdp_or_env)
    transform = identity() if transform is None else transform
    limit = static.max_episode_steps or default_limit
    return QLearningTrainer(static=static, mdp=mdp, transform=transform, limit=limit)
