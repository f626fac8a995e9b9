"""Checks 9–11: Lipschitzness of Q and pessimistic preconditioning (theory.md §3, Blondé et al.).

Setting (theory.md §3): deterministic dynamics ``s' = f(s, a)``, deterministic policy
``a = μ(s)``, ``x = (s, a)`` and ``Q(x₀) = Σ_{t<T} γ^t r(x_t)`` with
``x_{t+1} = (f(x_t), μ(f(x_t)))``, here on small smooth nonlinear systems (float64, T = 200)

    f(s, a) = A s + B a + 0.05 sin(C s),   μ(s) = tanh(K s),   r(x) = tanh(wᵀx + b),

with ``s ∈ R^{n_s}``, ``n_s ∈ {1, 2}``, ``a ∈ R``; entries of A, B, C, K, w, b ~ N(0, 1), then
``(A, B, C)`` rescaled so that ``c = γ L_f (1 + L_μ)`` equals a drawn target. Provable constants:
``L_r = ‖w‖``, ``L_f = ‖[A B]‖₂ + 0.05‖C‖₂``, ``L_μ = ‖K‖₂``. Every bound below holds for each
finite horizon T (the theorems' sums truncated), so Q_T is checked exactly, with no tail term.
Gradients ``∇_{x₀}Q`` are by ``jax.grad`` through the rollout (``lax.scan``).

* **9 global bound** (c < 1): ``‖∇Q(x₀)‖`` at 32 random starts and finite-difference ratios
  ``|Q(x) − Q(y)|/‖x − y‖`` for 32 nearby pairs (‖x − y‖ = 1e-4) and 32 far pairs (random
  starts) are ``≤ L_r / (1 − c)``; error ``max(0, max ratio / bound − 1)``, tolerance 1e-6.
  Counterexamples: (a) the step reward ``r = 1[s₀ > 0]`` (not Lipschitz; the bound is evaluated
  with ``L_r = 1``, its jump) on a pair straddling ``s₀ = 0`` at distance 1e-7: ratio ≈ 1e7;
  (b) ``c ≥ 1`` (an expanding scalar system, A = 1.2, γ = 0.99, c ≈ 1.24): the formula's
  magnitude ``L_r/|1 − c|`` is exceeded by a factor that grows with T.
* **10 local, trajectory-wise bound** (any c; drawn in [0.2, 1.3]):
  ``‖∇Q(x₀)‖ ≤ Σ_t γ^t ‖∇r(x_t)‖ Π_{u<t} ‖[I; J_μ(s_{u+1})] J_f(x_u)‖₂``; error
  ``max(0, ‖∇Q‖ − bound)/(1 + bound)``, tolerance 1e-10. Counterexample: the *pointwise* bound
  ``‖∇r(x₀)‖/(1 − γ)`` on a contracting scalar system started where the reward is saturated
  (``r = tanh(3s)``, ``s₀ = 2``, ``s' = 0.5 s``): the trajectory enters the steep region.
* **11 pessimistic preconditioning**: for ``r ≥ 0`` (the minimax GAIL reward
  ``softplus(wᵀx + b)``, :func:`jaxrl.rewards.adversarial.minimax_reward`) and
  ``ψ(s) = clamp(exp(−‖s‖²/4), ψ_min, 1)`` (:func:`jaxrl.rewards.preconditioning.
  psi_from_penalty`, ψ_min ∈ [0, 1]), ``Q_{ψr} ≤ Q_r`` at 32 starts; and on a random finite MDP
  (6 states, 3 actions) with ``R = softplus(N(0, 1)) ≥ 0`` and ``ψ ~ U(ψ_min, 1)`` per
  ``(s, a, s')``, ``V^π_{ψR} ≤ V^π_R`` for a random π and ``V*_{ψR} ≤ V*_R`` (policy iteration).
  Error ``max(0, max(Q_{ψr} − Q_r))``, tolerance 1e-10. Counterexample: the non-saturating
  reward ``log σ(wᵀx + b) ≤ 0`` (negative): the preconditioned Q is larger (optimistic).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.mdp import policy_evaluation, policy_iteration
from jaxrl.rewards.adversarial import minimax_reward
from jaxrl.rewards.preconditioning import psi_from_penalty
from theory_checks.harness import _MODE, Check, as_pytest, dirichlet_rows, numpy_mdp

HORIZON = 200
N_STARTS = 32
N_PAD = 3 * N_STARTS  #: every rollout batch is padded to this many starts
SIN_AMP = 0.05


#: reward kinds (a traced selector, so one compiled rollout serves every check and counterexample)
TANH, STEP, GAIL, GAIL_PSI = 0, 1, 2, 3


class System(NamedTuple):
    """Arrays of one nonlinear system + reward (float64); see the module docstring."""

    A: np.ndarray  # [ns, ns]
    B: np.ndarray  # [ns, 1]
    C: np.ndarray  # [ns, ns]
    K: np.ndarray  # [1, ns]
    w: np.ndarray  # [ns + 1]
    b: np.ndarray  # []
    gamma: np.ndarray  # []
    kind: np.ndarray  # [] int: TANH, STEP, GAIL, GAIL_PSI
    # reward extras (check 11): r = sign·softplus(sign·(wᵀx + b)); ψ floor
    sign: np.ndarray  # [] +1 minimax (≥ 0), −1 non-saturating (≤ 0)
    psi_min: np.ndarray  # []


def lipschitz_constants(sys: System) -> tuple[float, float, float]:
    """Provable ``(L_r, L_f, L_μ)`` for the tanh reward."""
    L_r = float(np.linalg.norm(sys.w))
    L_f = float(
        np.linalg.norm(np.concatenate([sys.A, sys.B], 1), 2) + SIN_AMP * np.linalg.norm(sys.C, 2)
    )
    L_mu = float(np.linalg.norm(sys.K, 2))
    return L_r, L_f, L_mu


def contraction(sys: System) -> float:
    """``c = γ L_f (1 + L_μ)``."""
    _, L_f, L_mu = lipschitz_constants(sys)
    return float(sys.gamma) * L_f * (1 + L_mu)


# ----------------------------------------------------------------------------- dynamics (jax)
def _f(sys, s, a):
    return sys.A @ s + sys.B @ a + SIN_AMP * jnp.sin(sys.C @ s)


def _mu(sys, s):
    return jnp.tanh(sys.K @ s)


def _split(sys, x):
    ns = sys.A.shape[0]
    return x[:ns], x[ns:]


def _reward(sys, x):
    s, _ = _split(sys, x)
    z = jnp.dot(sys.w, x) + sys.b
    gail = sys.sign * minimax_reward(sys.sign * z)  # softplus(z) ≥ 0 or log σ(z) ≤ 0
    psi = psi_from_penalty(jnp.sum(s * s), 4.0, sys.psi_min)
    options = [jnp.tanh(z), (s[0] > 0).astype(x.dtype), gail, psi * gail]
    return jnp.select([sys.kind == k for k in range(4)], options)


def _next_x(sys, x):
    s, a = _split(sys, x)
    s2 = _f(sys, s, a)
    return jnp.concatenate([s2, _mu(sys, s2)])


def _q(sys, x0):
    def step(x, _):
        return _next_x(sys, x), _reward(sys, x)

    _, rs = jax.lax.scan(step, x0, None, length=HORIZON)
    return jnp.sum(sys.gamma ** jnp.arange(HORIZON, dtype=x0.dtype) * rs)


@jax.jit
def _rollouts(sys: System, x0: jnp.ndarray):
    """Per start ``x0 [N, d]``: ``Q_T(x₀)``, ``∇_{x₀}Q`` ``[d]``, ``‖∇r(x_t)‖`` ``[T]`` and
    ``J_t = ∂x_{t+1}/∂x_t = [I; J_μ(s_{t+1})] J_f(x_t)`` ``[T, d, d]``."""

    def one(x0):
        q, g = jax.value_and_grad(lambda x: _q(sys, x))(x0)

        def step(x, _):
            gr = jnp.linalg.norm(jax.grad(lambda y: _reward(sys, y))(x))
            return _next_x(sys, x), (gr, jax.jacfwd(lambda y: _next_x(sys, y))(x))

        _, (gr, J) = jax.lax.scan(step, x0, None, length=HORIZON)
        return q, g, gr, J

    return jax.vmap(one)(x0)


def rollouts(sys: System, x0: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`_rollouts` on ``x0`` zero-padded to :data:`N_PAD` rows (one compiled shape)."""
    x0 = np.asarray(x0, np.float64)
    n = x0.shape[0]
    if n > N_PAD:
        raise ValueError(f"at most {N_PAD} starts per call, got {n}")
    padded = np.concatenate([x0, np.zeros((N_PAD - n, x0.shape[1]))])
    return tuple(np.asarray(v)[:n] for v in _rollouts(sys, padded))


def q_values(sys: System, x0: np.ndarray, kind: int | None = None) -> np.ndarray:
    """``Q_T(x₀)`` ``[N]`` (reward ``kind``, default the system's)."""
    if kind is not None:
        sys = sys._replace(kind=np.int32(kind))
    return rollouts(sys, x0)[0]


def q_grad_and_local_bound(sys: System, x0: np.ndarray):
    """``(‖∇Q(x₀)‖, trajectory-wise bound, pointwise bound ‖∇r(x₀)‖/(1 − γ))`` ``[N]`` each.

    The spectral norms ``‖J_t‖₂`` are taken in numpy (a batched SVD compiles slowly in XLA)."""
    _, g, gr, J = rollouts(sys, x0)
    norms = np.linalg.norm(J, ord=2, axis=(-2, -1))  # [N, T]
    prods = np.concatenate([np.ones_like(norms[:, :1]), np.cumprod(norms[:, :-1], axis=1)], 1)
    disc = float(sys.gamma) ** np.arange(HORIZON)
    traj = np.sum(disc * gr * prods, axis=1)
    return np.linalg.norm(g, axis=1), traj, gr[:, 0] / (1 - float(sys.gamma))


# ----------------------------------------------------------------------------- cases
class LipCase(NamedTuple):
    seed: int
    n_s: int
    gamma: float
    c: float
    psi_min: float


def build_system(case: LipCase) -> System:
    rng = np.random.default_rng([case.seed, 0])
    ns = case.n_s
    A, B, C = (
        rng.standard_normal((ns, ns)),
        rng.standard_normal((ns, 1)),
        rng.standard_normal((ns, ns)),
    )
    K = rng.standard_normal((1, ns))
    w, b = rng.standard_normal(ns + 1), rng.standard_normal()
    L_f1 = np.linalg.norm(np.concatenate([A, B], 1), 2) + SIN_AMP * np.linalg.norm(C, 2)
    alpha = case.c / (case.gamma * (1 + np.linalg.norm(K, 2)) * L_f1)
    return System(
        alpha * A, alpha * B, alpha * C, K, w, np.float64(b), np.float64(case.gamma),
        np.int32(TANH), np.float64(1.0), np.float64(case.psi_min),
    )  # fmt: skip


def _starts(seed: int, ns: int, n: int = N_STARTS, stream: int = 1) -> np.ndarray:
    return np.random.default_rng([seed, stream]).standard_normal((n, ns + 1))


def lip_cases(c: tuple[float, float]) -> st.SearchStrategy[LipCase]:
    """Cases with ``γ ∈ [0.5, 0.99]``, ``c`` in the given range, ``ψ_min ∈ [0, 1]``; ``n_s = 2``
    (one compile per jitted function), or ``n_s ∈ {1, 2}`` under ``--thorough``."""

    @st.composite
    def build(draw):
        n_s = draw(st.sampled_from([1, 2] if _MODE["thorough"] else [2]))
        return LipCase(
            seed=draw(st.integers(0, 2**32 - 1)),
            n_s=n_s,
            gamma=draw(st.floats(0.5, 0.99)),
            c=draw(st.floats(*c)),
            psi_min=draw(st.floats(0.0, 1.0)),
        )

    return build()


# ----------------------------------------------------------------------------- 9 global
def max_lipschitz_ratio(sys: System, x: np.ndarray, fd_radius: float = 1e-4, seed: int = 0):
    """Largest of nearby FD ratios, far-pair ratios and (tanh reward) ‖∇Q(x_i)‖."""
    rng = np.random.default_rng([seed, 2])
    n = x.shape[0]
    delta = rng.standard_normal(x.shape)
    delta *= fd_radius / np.linalg.norm(delta, axis=1, keepdims=True)
    y_far = x[rng.permutation(n)] + rng.standard_normal(x.shape)
    q, g = rollouts(sys, np.concatenate([x, x + delta, y_far]))[:2]
    q0, q_near, q_far = q[:n], q[n : 2 * n], q[2 * n :]
    ratios = [
        np.abs(q_near - q0) / np.linalg.norm(delta, axis=1),
        np.abs(q_far - q0) / np.linalg.norm(y_far - x, axis=1),
        np.linalg.norm(g, axis=1),  # ‖∇Q‖ at all 3n points (0 for the step reward)
    ]
    return float(np.max(np.concatenate(ratios)))


def global_bound(sys: System, L_r: float | None = None) -> float:
    """``L_r / (1 − c)``; for ``c ≥ 1`` (no valid bound) the formula's magnitude ``/|1 − c|``."""
    L_r = lipschitz_constants(sys)[0] if L_r is None else L_r
    return L_r / abs(1 - contraction(sys))


def _global_error(case: LipCase) -> float:
    sys = build_system(case)
    ratio = max_lipschitz_ratio(sys, _starts(case.seed, case.n_s), seed=case.seed)
    return max(0.0, ratio / global_bound(sys) - 1)


def _embedded_system(a, b, c, k, w, gamma) -> System:
    """A scalar system ``s' = a s + b u + 0.05 sin(c s)``, ``u = tanh(k s)``, ``r = tanh(w s)``
    embedded as the first coordinate of an ``n_s = 2`` system whose second coordinate is 0
    (same array shapes as the drawn cases, so no extra compilation)."""
    z = np.zeros
    A, C, K, B, W = z((2, 2)), z((2, 2)), z((1, 2)), z((2, 1)), z(3)
    A[0, 0], B[0, 0], C[0, 0], K[0, 0], W[0] = a, b, c, k, w
    one = np.float64(1.0)
    kind = np.int32(TANH)
    return System(A, B, C, K, W, np.float64(0.0), np.float64(gamma), kind, one, np.float64(0.7))


def step_reward_counterexample() -> tuple[float, float]:
    """``(error, FD ratio)`` for r = 1[s₀ > 0] on a pair straddling 0 at distance 1e-7."""
    sys = build_system(LipCase(seed=7, n_s=1, gamma=0.9, c=0.8, psi_min=0.7))
    x = np.array([[-5e-8, 0.3]])
    y = np.array([[5e-8, 0.3]])
    q = q_values(sys, np.concatenate([x, y]), STEP)
    ratio = abs(q[1] - q[0]) / 1e-7
    return ratio / global_bound(sys, L_r=1.0) - 1, float(ratio)


def expanding_counterexample() -> tuple[float, float]:
    """``(error, c)`` for s' = 1.2 s + 0.05 sin(s), μ = 0, r = tanh(s), γ = 0.99 (c ≈ 1.24)."""
    sys = _embedded_system(1.2, 0.0, 1.0, 0.0, 1.0, 0.99)
    x = np.array([[0.0, 0.0, 0.0], [1e-3, 0.0, 0.0]])
    ratio = float(np.max(np.asarray(q_grad_and_local_bound(sys, x)[0])))
    return ratio / global_bound(sys) - 1, contraction(sys)


GLOBAL = Check(
    name="9 Lipschitz Q global bound",
    strategy=lip_cases(c=(0.2, 0.95)),
    error=_global_error,
    tolerance=1e-6,
    counterexample=lambda: max(step_reward_counterexample()[0], expanding_counterexample()[0]),
    examples=25,
    description="max(|grad Q|, FD ratios) <= L_r/(1 - gamma L_f (1 + L_mu)) for c < 1; "
    "counterexamples: step reward (ratio ~1e7), c >= 1.",
)


# ----------------------------------------------------------------------------- 10 local
def _local_error(sys: System, x: np.ndarray, pointwise: bool = False) -> float:
    gnorm, traj_bound, pw_bound = (np.asarray(v) for v in q_grad_and_local_bound(sys, x))
    bound = pw_bound if pointwise else traj_bound
    return float(np.max(np.maximum(0.0, gnorm - bound) / (1 + bound)))


def pointwise_counterexample() -> float:
    """Error of the pointwise bound ‖∇r(x₀)‖/(1−γ): s' = 0.5 s, r = tanh(3 s), s₀ = 2, γ = 0.9."""
    sys = _embedded_system(0.5, 0.0, 0.0, 0.0, 3.0, 0.9)
    return _local_error(sys, np.array([[2.0, 0.0, 0.0]]), pointwise=True)


LOCAL = Check(
    name="10 Lipschitz Q local trajectory bound",
    strategy=lip_cases(c=(0.2, 1.3)),
    error=lambda case: _local_error(build_system(case), _starts(case.seed, case.n_s)),
    tolerance=1e-10,
    counterexample=pointwise_counterexample,
    examples=25,
    description="|grad Q(x0)| <= sum_t gamma^t |grad r(x_t)| prod_u |[I; J_mu] J_f|; "
    "counterexample: pointwise |grad r(x0)|/(1-gamma).",
)


# ----------------------------------------------------------------------------- 11 pessimism
def _precondition_gap(sys: System, x: np.ndarray) -> float:
    q = q_values(sys, x, GAIL)
    q_psi = q_values(sys, x, GAIL_PSI)
    return float(np.max(q_psi - q))


def _tabular_gap(case: LipCase) -> float:
    mdp = numpy_mdp(case.seed, 6, 3, case.gamma)
    rng = np.random.default_rng([case.seed, 3])
    R = np.logaddexp(0.0, rng.standard_normal(mdp.R.shape))  # softplus ≥ 0
    psi = rng.uniform(case.psi_min, 1.0, R.shape)
    m_r, m_psi = mdp.replace(R=R), mdp.replace(R=psi * R)
    pi = dirichlet_rows(rng, (6, 3))
    gaps = [
        np.asarray(policy_evaluation(m_psi, pi)) - np.asarray(policy_evaluation(m_r, pi)),
        np.asarray(policy_iteration(m_psi)[1]) - np.asarray(policy_iteration(m_r)[1]),
    ]
    return float(np.max(np.concatenate(gaps)))


def _pessimism_error(case: LipCase) -> float:
    sys = build_system(case)
    gap = max(_precondition_gap(sys, _starts(case.seed, case.n_s)), _tabular_gap(case))
    return max(0.0, gap)


def optimistic_counterexample() -> float:
    """Non-saturating reward log σ(z) ≤ 0, preconditioned: max(Q_ψr − Q_r) > 0."""
    case = LipCase(seed=11, n_s=2, gamma=0.9, c=0.8, psi_min=0.7)
    sys = build_system(case)._replace(sign=np.float64(-1.0))
    return max(0.0, _precondition_gap(sys, _starts(case.seed, case.n_s)))


PESSIMISM = Check(
    name="11 pessimistic reward preconditioning",
    strategy=lip_cases(c=(0.2, 0.95)),
    error=_pessimism_error,
    tolerance=1e-10,
    counterexample=optimistic_counterexample,
    examples=25,
    description="r >= 0, psi in [psi_min, 1] => Q_{psi r} <= Q_r (rollouts) and V^pi, V* "
    "(finite MDP); counterexample: negative reward log sigma(D).",
)


test_global_property, test_global_counterexample = as_pytest(GLOBAL)
test_local_property, test_local_counterexample = as_pytest(LOCAL)
test_pessimism_property, test_pessimism_counterexample = as_pytest(PESSIMISM)
