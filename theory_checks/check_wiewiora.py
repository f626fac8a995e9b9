"""Check family 1b: Wiewiora (2003), potential-based shaping ≡ Q-value initialisation (item 2).

**2 Wiewiora equivalence** (theory.md §1b, check 1.2). An episodic random MDP whose state S−1 is
terminal (absorbing, rewardless). Learner L is :func:`jaxrl.agents.q_learning.make_train` with a
PBRS :class:`~jaxrl.shaping.transform.RewardTransform` (``r + γ(1 − terminated)Φ(s') − Φ(s)``, so
Φ(terminal) = 0), a random initial table Q₀, constant step size α and ε-greedy behaviour on its
own table; one RNG stream drives it for 3000 steps (time limit 40, so truncated steps bootstrap
too) and the whole experience stream is recorded. Learner L' is unshaped with
``Q₀' = Q₀ + Φ(s)`` and replays *the same* stream (:func:`jaxrl.agents.q_learning.replay`); L is
replayed from the stream as well, and must reproduce its online table. Error = the largest of

* ``max_t max_{s non-terminal, a} |Q'_t − Q_t − Φ(s)|`` (every step t = 1..T),
* the number of (t, s) where ``argmax Q_t(s) ≠ argmax Q'_t(s)``, counted only where Q_t's top-two
  gap exceeds 1e-6 (the near-tie filter of theory.md §0.1; the random Q₀ makes ties rare),
* ``|Q_T(online) − Q_T(replayed)|``.

Tolerance 1e-10 (theory.md: observed ≈ 5e-15).

**Counterexample** (an assumption broken): Φ(terminal) = 5 collected on entering the terminal
(the shaping uses γ instead of ``γ(1 − terminated)`` there) while the terminal Q stays 0 in both
learners; theory.md's reference deviation is ≈ 3.1–3.6.

All randomness is fixed by integer seeds drawn by hypothesis; float64 throughout (the harness's
``jax.enable_x64``). Compiles once (one (S, A) shape; the MDP, Φ, Q₀ and all step sizes are traced).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.agents.q_learning import (
    QLearningHParams,
    QLearningStatic,
    flatten_experience,
    make_train,
    replay,
)
from jaxrl.mdp import TabularMDP
from jaxrl.shaping.potential import potential_from_table, potential_shaping
from jaxrl.shaping.transform import RewardTransform, Transition
from theory_checks.harness import Check, as_pytest, numpy_mdp

NUM_STEPS = 3000
TIME_LIMIT = 40
# One shape: the trainer's compile (~1.8 s CPU) dominates the check; S, A enter the identity only
# through the table sizes, while seeds, γ, α, ε, Φ and Q₀ vary per example.
SHAPES = ((6, 3),)
TIE_GAP = 1e-6
_LAST: dict = {}  # details of the latest run (for reports)


def _episodic_mdp(seed: int, S: int, A: int, gamma: float) -> TabularMDP:
    """``numpy_mdp`` with state S−1 terminal (absorbing, zero reward); d0 uniform on the rest."""
    base = numpy_mdp(seed, S, A, gamma)
    P, R = np.array(base.P), np.array(base.R)
    P[S - 1] = 0.0
    P[S - 1, :, S - 1] = 1.0
    R[S - 1] = 0.0
    term = np.zeros(S, bool)
    term[S - 1] = True
    d0 = (~term).astype(np.float64) / (S - 1)
    return TabularMDP(
        P=jnp.asarray(P),
        R=jnp.asarray(R),
        gamma=jnp.asarray(gamma),
        init_dist=jnp.asarray(d0),
        terminal_mask=jnp.asarray(term),
    )


def _pbrs_transform() -> RewardTransform:
    """PBRS with the Φ table as the transform's *params* ``(phi [S], w [], gamma [])``.

    ``F = (discount + w·γ·terminated)·Φ(s') − Φ(s)`` with the learner's ``discount = γ(1 −
    terminated)``. ``w = 0`` is correct PBRS (Φ(terminal) is never collected; the same F as
    ``jaxrl.shaping.potential.potential_based(potential_from_table(phi))``); ``w = 1`` collects
    ``γ·Φ(terminal)`` on entry (the counterexample). Params are traced, so one compile serves
    every example of a shape (a closure over Φ would recompile per example).
    """

    def apply(params, state, tr: Transition):
        phi, w, gamma = params
        phi_fn = potential_from_table(phi)
        term = jnp.asarray(tr.terminated, phi.dtype)
        F = potential_shaping(phi_fn(tr.obs), phi_fn(tr.next_obs), tr.discount + w * gamma * term)
        return tr.reward + F, state

    return RewardTransform(lambda p: (), apply, ())


@cache
def _trainer():
    static = QLearningStatic(
        num_steps=NUM_STEPS,
        num_envs=1,
        eval_every=NUM_STEPS,
        max_episode_steps=TIME_LIMIT,
        record_experience=True,
    )
    dummy = _episodic_mdp(0, 2, 2, 0.9)  # shapes come from the mdp passed to train
    return jax.jit(make_train(static, dummy, _pbrs_transform()))


@dataclass(frozen=True)
class WiewioraCase:
    seed: int
    n_states: int
    n_actions: int
    gamma: float
    alpha: float
    epsilon: float
    mdp: TabularMDP = field(repr=False)

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])


@st.composite
def _cases(draw):
    S, A = draw(st.sampled_from(SHAPES))
    seed = draw(st.integers(0, 2**32 - 1))
    gamma = draw(st.floats(0.5, 0.99))
    alpha = draw(st.sampled_from([0.05, 0.3, 1.0]))
    epsilon = draw(st.sampled_from([0.1, 0.5]))
    return WiewioraCase(seed, S, A, gamma, alpha, epsilon, _episodic_mdp(seed, S, A, gamma))


def _run(case: WiewioraCase, phi: np.ndarray, terminal_weight: float) -> float:
    S = case.n_states
    q0 = case.rng(3).standard_normal((S, case.n_actions))
    gamma = jnp.asarray(case.gamma, jnp.float64)
    hp = QLearningHParams(
        alpha=jnp.asarray(case.alpha),
        epsilon=jnp.asarray(case.epsilon),
        gamma=gamma,
        q_init=jnp.asarray(q0),
        transform=(jnp.asarray(phi), jnp.asarray(terminal_weight), gamma),
    )
    key = jax.random.key(case.seed % (2**31))
    state, metrics = _trainer()(key, hp, case.mdp)
    exp = flatten_experience(metrics["experience"])
    # L replays the stream with its (shaped) learner reward; L' with the true reward.
    q_T, hist = replay(
        jnp.asarray(q0), exp, case.alpha, gamma, reward=exp.learner_reward, return_history=True
    )
    _, hist_p = replay(
        jnp.asarray(q0 + phi[:, None]),
        exp,
        case.alpha,
        gamma,
        reward=exp.reward,
        return_history=True,
    )
    hist, hist_p = np.asarray(hist)[:, : S - 1], np.asarray(hist_p)[:, : S - 1]  # non-terminal
    deviation = float(np.max(np.abs(hist_p - hist - phi[None, : S - 1, None])))
    top2 = np.sort(hist, axis=-1)[..., -2:]
    clear = (top2[..., 1] - top2[..., 0]) > TIE_GAP
    mismatches = int(np.sum(clear & (hist.argmax(-1) != hist_p.argmax(-1))))
    online_vs_replay = float(np.max(np.abs(np.asarray(state.q) - np.asarray(q_T))))
    _LAST.update(deviation=deviation, mismatches=mismatches, online_vs_replay=online_vs_replay)
    # A greedy mismatch counts as an error of 1 (>> tolerance); the deviation is the headline.
    return max(deviation, float(mismatches > 0), online_vs_replay)


def _error(case: WiewioraCase) -> float:
    phi = 5.0 * case.rng(2).standard_normal(case.n_states)
    phi[-1] = 0.0  # Φ(terminal) = 0
    return _run(case, phi, terminal_weight=0.0)


def _counter() -> float:
    (S, A), gamma = SHAPES[0], 0.9
    case = WiewioraCase(11, S, A, gamma, 0.3, 0.1, _episodic_mdp(11, S, A, gamma))
    phi = 5.0 * case.rng(2).standard_normal(S)
    phi[-1] = 5.0  # Φ(terminal) = 5, collected on entry, while terminal Q stays 0
    return _run(case, phi, terminal_weight=1.0)


WIEWIORA = Check(
    name="2 Wiewiora shaping = Q initialisation",
    strategy=_cases(),
    error=_error,
    tolerance=1e-10,
    counterexample=_counter,
    examples=12,
    description="Q'_t = Q_t + Phi(s) at every step of a shared 3000-step stream; same greedy "
    "actions. Counterexample: Phi(terminal) = 5.",
)

test_wiewiora_property, test_wiewiora_counterexample = as_pytest(WIEWIORA)
