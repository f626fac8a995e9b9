"""VPL with a single user type reduces to Bradley–Terry (Poddar et al. 2024, Eq. 3).

Setting (population form, exact): ``n`` items with gold utilities ``g_t [n]`` per user type ``t``;
two users, each labelling every pair ``(i, j)`` with the BT probability ``Q_u[i, j] =
σ(g_{t(u)},i − g_{t(u)},j)`` (infinite data). VPL's objective with a tabular decoder linear in a
scalar latent, ``r_i(z) = θ_i + w_i·z``, and one Gaussian posterior ``q_u = N(μ_u, σ_u²)`` per user
(the optimum of any encoder that sees the user's data):

    L = Σ_u [ Σ_{i<j} E_{z~q_u} CE(Q_u[i,j], σ(r_i(z) − r_j(z))) + β · KL(q_u ‖ N(0, 1)) ],

the expectation by 24-node Gauss–Hermite quadrature, minimised by L-BFGS (float64). The BT MLE
``b`` on the two users' pooled pairs minimises ``Σ_{i<j} CE(Q̄[i,j], σ(b_i − b_j))``.

Property: with one user type (both users share ``g``), VPL's reward differences at each user's
posterior mean equal the BT MLE's: ``max_{u,i,j} |(r_i(μ_u) − r_j(μ_u)) − (b_i − b_j)| ≤ 1e-5``
(z carries nothing, so the KL term drives ``w·z`` out of the optimum).

Mutation: **two user types** (user 1's utilities re-drawn): the pooled BT MLE averages the types
while VPL's per-user rewards follow each one, so the same error is large.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from scipy.optimize import minimize

from theory_checks.harness import Check, Mutation, as_pytest

N_ITEMS = 4
BETA = 0.1
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)  # ∫ f(x) e^{-x²/2} dx
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()  # E_{ε~N(0,1)} f(ε) = Σ w_k f(x_k)
_IU = np.triu_indices(N_ITEMS, 1)


class VPLCase(NamedTuple):
    gold: np.ndarray  # [2 users, n] gold utility of each user's type
    seed: int


@st.composite
def vpl_cases(draw) -> VPLCase:
    seed = draw(st.integers(0, 2**31 - 1))
    g = np.random.default_rng(seed).normal(0.0, 1.0, N_ITEMS)
    return VPLCase(np.stack([g, g]), seed)


def _ce(q, d):
    """Cross-entropy ``−[q log σ(d) + (1−q) log σ(−d)]``."""
    return -(q * jax.nn.log_sigmoid(d) + (1.0 - q) * jax.nn.log_sigmoid(-d))


def _vpl_objective(x, q):
    """Negative ELBO of the tabular VPL model; ``x = [θ (n), w (n), μ (2), log σ (2)]``,
    ``q [2, n(n-1)/2]`` the users' pair probabilities."""
    n = N_ITEMS
    th, w, mu, ls = x[:n], x[n : 2 * n], x[2 * n : 2 * n + 2], x[2 * n + 2 :]
    z = mu[:, None] + jnp.exp(ls)[:, None] * jnp.asarray(_NODES)[None]  # [2, nodes]
    r = th[None, None] + w[None, None] * z[..., None]  # [2, nodes, n]
    d = r[..., _IU[0]] - r[..., _IU[1]]  # [2, nodes, pairs]
    nll = jnp.sum(jnp.asarray(_WEIGHTS)[None, :, None] * _ce(q[:, None], d))
    kl = jnp.sum(0.5 * (jnp.exp(2 * ls) + mu**2 - 1.0) - ls)
    return nll + BETA * kl


def _bt_objective(b, q):
    return jnp.sum(_ce(jnp.mean(q, 0), b[_IU[0]] - b[_IU[1]]))


_VPL_VG = jax.jit(jax.value_and_grad(_vpl_objective))  # compiled once, shared by every case
_BT_VG = jax.jit(jax.value_and_grad(_bt_objective))


def _argmin(vg, x0, q):
    fun = lambda x: tuple(np.asarray(v, np.float64) for v in vg(jnp.asarray(x), q))
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0,
                                                                  "maxiter": 5000})  # fmt: skip
    return res.x


def vpl_bt_gap(case: VPLCase) -> float:
    """``max |Δr_VPL(μ_u) − Δb_BT|`` over users and pairs (see the module docstring)."""
    n = N_ITEMS
    g = jnp.asarray(case.gold, jnp.float64)
    q = jax.nn.sigmoid(g[:, _IU[0]] - g[:, _IU[1]])  # [2, pairs]
    rng = np.random.default_rng(case.seed + 1)
    # start off the symmetric saddle (w = 0, μ = 0), so two types can separate if they differ
    x0 = np.concatenate([np.zeros(n), rng.normal(0, 0.5, n), [0.5, -0.5], np.zeros(2)])
    x = _argmin(_VPL_VG, x0, q)
    b = _argmin(_BT_VG, np.zeros(n), q)
    th, w, mu = x[:n], x[n : 2 * n], x[2 * n : 2 * n + 2]
    r = th[None] + w[None] * mu[:, None]  # [2, n] reward at each user's posterior mean
    gap = (r[:, _IU[0]] - r[:, _IU[1]]) - (b[_IU[0]] - b[_IU[1]])[None]
    return float(np.max(np.abs(gap)))


def _two_types(case: VPLCase) -> VPLCase:
    other = np.random.default_rng(case.seed + 2).normal(0.0, 1.0, N_ITEMS)
    return case._replace(gold=np.stack([case.gold[0], -case.gold[0] + 0.5 * other]))


CHECK = Check(
    name="VPL single user type reduces to BT",
    theorem="Poddar et al. 2024, Eq. 3 with one user type: the ELBO optimum's reward "
    "differences equal the BT MLE's",
    strategy=vpl_cases(),
    error=vpl_bt_gap,
    tolerance=1e-5,
    mutations=(Mutation("two user types", "a single user type", mutate=_two_types),),
    min_cases=10,
    description="Tabular VPL (latent-linear decoder, per-user Gaussian posterior) against the "
    "pooled BT MLE on 4 items, population pair probabilities.",
)

test_vpl = as_pytest(CHECK)
