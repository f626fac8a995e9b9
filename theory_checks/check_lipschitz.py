"""Checks 9–10: Lipschitzness of Q (theory.md §3, Blondé et al.); 11 is in check_preconditioning.

Setting (theory.md §3): deterministic dynamics ``s' = f(s, a)``, deterministic policy
``a = μ(s)``, ``x = (s, a)`` and ``Q_T(x₀) = Σ_{t<T} γ^t r(x_t)`` (T = 200, float64) on

    f(s, a) = A s + B a + 0.05 sin(C s),   μ(s) = tanh(K s),   r(x) = tanh(wᵀx + b),

``s ∈ R²``, entries ~ N(0, 1), ``(A, B, C)`` rescaled so that ``c = γ L_f (1 + L_μ)`` is a drawn
target; ``L_r = ‖w‖``, ``L_f = ‖[A B]‖₂ + 0.05‖C‖₂``, ``L_μ = ‖K‖₂``. The bounds hold for every
finite T, so Q_T is checked exactly.

* **9 global bound** (c ∈ [0.2, 0.95]): FD ratios (near pairs, far pairs, a pair straddling the
  reward's level set ``wᵀx + b = 0``) and ``‖∇Q‖`` are ``≤ L_r/(1 − c)``; error
  ``max(0, ratio/bound − 1)``, tol 1e-6. Half the cases are the *aligned* linear system
  ``s' = (c/γ) s``, ``μ = 0``, ``r = tanh(w s)`` at ``s₀ = 0``, where ``∂Q/∂s₀ = w Σ c^t``: the
  bound is attained (``attained`` = max ratio/bound ≈ 1). Mutations: the hard-threshold reward
  ``1[wᵀx + b > 0]`` (claimed ``L_r = ‖w‖``); expanding dynamics ``c = 1.25`` (aligned system).
* **10 trajectory-wise bound** (c ∈ [0.2, 1.3]): the gradient norm of the rolled-out ``Q_T`` by
  *central differences* (no autodiff) at 12 starts is ``≤ Σ_t γ^t ‖∇r(x_t)‖ Π_{u<t} ‖[I; J_μ]
  J_f‖₂`` (Jacobians by JAX along the rollout); error ``max(0, ‖∇Q‖_FD − bound)/(1 + bound)``,
  tol 1e-6 (FD error ~1e-10). Mutation (own cases): the pointwise bound ``‖∇r(x₀)‖/(1 − γ)`` on
  contracting ``s' = a s`` started where ``r = tanh(w s)`` is saturated.
* **11 preconditioning**: :mod:`theory_checks.check_preconditioning` (same systems).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.rewards.adversarial import minimax_reward
from jaxrl.rewards.preconditioning import psi_from_penalty
from theory_checks.harness import Check, Mutation, as_pytest

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
    psi_hi: np.ndarray  # [] 1, or a mutation's ψ scale (ψ outside [ψ_min, 1])


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
    psi = sys.psi_hi * psi_from_penalty(jnp.sum(s * s), 4.0, sys.psi_min)
    options = [jnp.tanh(z), (z > 0).astype(x.dtype), gail, psi * gail]
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


@jax.jit
def _values_and_grads(sys: System, x0: jnp.ndarray):
    return jax.vmap(jax.value_and_grad(lambda x: _q(sys, x)))(x0)


def values_and_grads(sys: System, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Q_T(x₀) [N], ∇Q [N, d])`` only (cheaper than :func:`rollouts`), padded like it."""
    x0 = np.asarray(x0, np.float64)
    n = x0.shape[0]
    padded = np.concatenate([x0, np.zeros((N_PAD - n, x0.shape[1]))])
    return tuple(np.asarray(v)[:n] for v in _values_and_grads(sys, padded))


def q_values(sys: System, x0: np.ndarray, kind: int | None = None) -> np.ndarray:
    """``Q_T(x₀)`` ``[N]`` (reward ``kind``, default the system's)."""
    if kind is not None:
        sys = sys._replace(kind=np.int32(kind))
    return values_and_grads(sys, x0)[0]


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
    """One drawn system. ``scalar`` = ``(a, k, w, s0)``: instead of a random system, the scalar
    ``s' = a s``, ``μ = tanh(k s)`` (k = 0 here), ``r = tanh(w s)`` embedded in ``n_s = 2``,
    started near ``s0`` (the tight and the saturated-start constructions). The other fields
    select the reward kind, the bound (check 10) and ψ's scale (check 11) a mutation swaps."""

    seed: int
    n_s: int
    gamma: float
    c: float
    psi_min: float
    scalar: tuple[float, float, float, float] | None = None
    kind: int = TANH
    bound: str = "trajectory"  # or "pointwise"
    sign: float = 1.0
    psi_hi: float = 1.0


def build_system(case: LipCase) -> System:
    if case.scalar is not None:
        a, k, w, _ = case.scalar
        sys = _embedded_system(a, 0.0, 0.0, k, w, case.gamma)
    else:
        rng = np.random.default_rng([case.seed, 0])
        ns = case.n_s
        A, B, C = (rng.standard_normal((ns, ns)), rng.standard_normal((ns, 1)),
                   rng.standard_normal((ns, ns)))  # fmt: skip
        K = rng.standard_normal((1, ns))
        w, b = rng.standard_normal(ns + 1), rng.standard_normal()
        L_f1 = np.linalg.norm(np.concatenate([A, B], 1), 2) + SIN_AMP * np.linalg.norm(C, 2)
        alpha = case.c / (case.gamma * (1 + np.linalg.norm(K, 2)) * L_f1)
        sys = System(
            alpha * A, alpha * B, alpha * C, K, w, np.float64(b), np.float64(case.gamma),
            np.int32(TANH), np.float64(1.0), np.float64(0.0), np.float64(1.0),
        )  # fmt: skip
    return sys._replace(
        kind=np.int32(case.kind), sign=np.float64(case.sign),
        psi_min=np.float64(case.psi_min), psi_hi=np.float64(case.psi_hi),
    )  # fmt: skip


def _embedded_system(a, b, c, k, w, gamma) -> System:
    """A scalar system ``s' = a s + b u + 0.05 sin(c s)``, ``u = tanh(k s)``, ``r = tanh(w s)``
    embedded as the first coordinate of an ``n_s = 2`` system whose second coordinate is 0
    (same array shapes as the drawn cases, so no extra compilation)."""
    z = np.zeros
    A, C, K, B, W = z((2, 2)), z((2, 2)), z((1, 2)), z((2, 1)), z(3)
    A[0, 0], B[0, 0], C[0, 0], K[0, 0], W[0] = a, b, c, k, w
    one = np.float64(1.0)
    return System(A, B, C, K, W, np.float64(0.0), np.float64(gamma), np.int32(TANH), one,
                  np.float64(0.7), one)  # fmt: skip


def _starts(case: LipCase, n: int = N_STARTS, stream: int = 1) -> np.ndarray:
    x = np.random.default_rng([case.seed, stream]).standard_normal((n, case.n_s + 1))
    if case.scalar is None:
        return x
    out = np.zeros_like(x)  # on the embedded coordinate only
    out[:, 0] = case.scalar[3] + 0.01 * x[:, 0]
    return out


def lip_cases(c: tuple[float, float], tight: bool = False) -> st.SearchStrategy[LipCase]:
    """Random systems (``γ ∈ [0.5, 0.99]``, ``c`` in range, ``ψ_min ∈ [0, 1]``, ``n_s = 2``: one
    compile), and with ``tight`` half of them the aligned scalar system ``s' = (c/γ) s``,
    ``μ = 0``, ``r = tanh(w s)`` started at 0, where the global bound is attained as T → ∞."""

    @st.composite
    def build(draw):
        case = LipCase(
            seed=draw(st.integers(0, 2**32 - 1)),
            n_s=2,
            gamma=draw(st.floats(0.5, 0.99)),
            c=draw(st.floats(*c)),
            psi_min=draw(st.floats(0.0, 1.0)),
        )
        if tight and draw(st.booleans()):
            w = draw(st.floats(0.2, 3.0))
            case = case._replace(scalar=(case.c / case.gamma, 0.0, w, 0.0))
        return case

    return build()


# ----------------------------------------------------------------------------- 9 global
def max_lipschitz_ratio(sys: System, x: np.ndarray, fd_radius: float = 1e-4, seed: int = 0):
    """Largest of nearby FD ratios, far-pair ratios and ‖∇Q(x_i)‖ (``x [n ≤ 32, d]``)."""
    rng = np.random.default_rng([seed, 2])
    n = x.shape[0]
    delta = rng.standard_normal(x.shape)
    delta *= fd_radius / np.linalg.norm(delta, axis=1, keepdims=True)
    y_far = x[rng.permutation(n)] + rng.standard_normal(x.shape)
    q, g = values_and_grads(sys, np.concatenate([x, x + delta, y_far]))
    q0, q_near, q_far = q[:n], q[n : 2 * n], q[2 * n :]
    ratios = [
        np.abs(q_near - q0) / np.linalg.norm(delta, axis=1),
        np.abs(q_far - q0) / np.linalg.norm(y_far - x, axis=1),
        np.linalg.norm(g, axis=1),
    ]
    return float(np.max(np.concatenate(ratios)))


def level_set_ratio(sys: System, h: float = 5e-8) -> float:
    """FD ratio across the reward's level set ``wᵀx + b = 0`` (pair at distance ``2h``)."""
    w = np.asarray(sys.w)
    u = w / np.linalg.norm(w)
    x0 = -float(sys.b) * w / np.dot(w, w)
    q = values_and_grads(sys, np.stack([x0 - h * u, x0 + h * u]))[0]
    return float(abs(q[1] - q[0]) / (2 * h))


def global_bound(sys: System) -> float:
    """``L_r / (1 − c)`` with ``L_r = ‖w‖``; for ``c ≥ 1`` the formula's magnitude ``/|1 − c|``."""
    return lipschitz_constants(sys)[0] / abs(1 - contraction(sys))


_MEMO: dict[tuple[str, int], tuple[LipCase, object]] = {}


def _memo(tag: str, fn):
    """``fn(case)`` cached per case object (``error`` and ``attained`` evaluate the same case)."""

    def wrapped(case):
        hit = _MEMO.get((tag, id(case)))
        if hit is not None and hit[0] is case:
            return hit[1]
        if len(_MEMO) > 4096:
            _MEMO.clear()
        value = fn(case)
        _MEMO[(tag, id(case))] = (case, value)
        return value

    return wrapped


@partial(_memo, "global")
def _global_ratio(case: LipCase) -> float:
    sys = build_system(case)
    ratio = max(max_lipschitz_ratio(sys, _starts(case), seed=case.seed), level_set_ratio(sys))
    return ratio / global_bound(sys)


GLOBAL = Check(
    name="9 Lipschitz Q global bound",
    theorem="Blonde, Strasser & Kalousis 2022, global Lipschitz Q (theory.md §3)",
    strategy=lip_cases(c=(0.2, 0.95), tight=True),
    error=lambda case: max(0.0, _global_ratio(case) - 1),
    tolerance=1e-6,
    mutations=(
        Mutation(
            "hard-threshold reward",
            "r is L_r-Lipschitz (r = 1[w.x + b > 0])",
            mutate=lambda c: c._replace(kind=STEP),
        ),
        Mutation(
            "expanding dynamics",
            "c = gamma L_f (1 + L_mu) < 1 (here c = 1.25)",
            mutate=lambda c: c._replace(c=1.25, scalar=(1.25 / c.gamma, 0.0, 1.0, 0.0)),
        ),
    ),
    attained=_global_ratio,
    description="max(|grad Q|, FD ratios) <= L_r/(1 - gamma L_f (1 + L_mu)); half the cases are "
    "the aligned linear system where the bound is attained.",
)


# ----------------------------------------------------------------------------- 10 local
FD_STARTS = 12  #: starts per case for central differences (7 rollouts each, ≤ N_PAD)
FD_STEP = 1e-5


def fd_gradient_norms(sys: System, x: np.ndarray, h: float = FD_STEP) -> np.ndarray:
    """``‖∇Q(x_i)‖`` ``[n]`` by central differences of the rolled-out ``Q_T`` (no autodiff)."""
    n, d = x.shape
    eye = h * np.eye(d)
    pts = np.concatenate([x[:, None] + eye, x[:, None] - eye], 1).reshape(-1, d)
    q = values_and_grads(sys, pts)[0].reshape(n, 2, d)
    return np.linalg.norm((q[:, 0] - q[:, 1]) / (2 * h), axis=1)


@partial(_memo, "local")
def _local_ratio(case: LipCase) -> tuple[float, float]:
    """``(error, ‖∇Q‖_FD / bound)`` for the case's bound (trajectory-wise or pointwise)."""
    sys = build_system(case)
    x = _starts(case, FD_STARTS)
    gnorm = fd_gradient_norms(sys, x)
    _, traj, pointwise = q_grad_and_local_bound(sys, x)
    bound = traj if case.bound == "trajectory" else pointwise
    return float(np.max((gnorm - bound) / (1 + bound))), float(np.max(gnorm / bound))


@st.composite
def _saturated_starts(draw):
    """Contracting ``s' = a s`` started where ``r = tanh(w s)`` is flat (theory.md §3)."""
    a, w, s0 = draw(st.floats(0.3, 0.7)), draw(st.floats(2.0, 4.0)), draw(st.floats(1.5, 3.0))
    g = draw(st.floats(0.8, 0.99))
    seed = draw(st.integers(0, 2**32 - 1))
    return LipCase(seed, 2, g, a * g, 0.7, scalar=(a, 0.0, w, s0), bound="pointwise")


LOCAL = Check(
    name="10 Lipschitz Q local trajectory bound",
    theorem="Blonde, Strasser & Kalousis 2022, local Lipschitz Q (theory.md §3)",
    strategy=lip_cases(c=(0.2, 1.3)),
    error=lambda case: max(0.0, _local_ratio(case)[0]),
    tolerance=1e-6,
    mutations=(
        Mutation(
            "pointwise bound",
            "smoothness along the whole trajectory, not only at x0",
            strategy=_saturated_starts(),
        ),
    ),
    attained=lambda case: _local_ratio(case)[1],
    description="central-difference |grad Q_T(x0)| of rollouts <= sum_t gamma^t |grad r(x_t)| "
    "prod_u |[I; J_mu] J_f|; mutation: pointwise |grad r(x0)|/(1-gamma) on saturated starts.",
)


test_global = as_pytest(GLOBAL)
test_local = as_pytest(LOCAL)
