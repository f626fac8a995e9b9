"""Check family 19: OPRL step rewards are potential-based shaping (theory.md §9, §11 item 19).

OPRL (Liu et al. 2025, arXiv 2509.19199) uses the implicit step reward
``r_φ(s_t, a_t) = β log π_φ(a_t|s_t) / π_old(a_t|s_t)``. Setting: a token tree of depth 4 and
branching 3 with history-as-state (every node is its own state; deterministic transitions), a
random reference policy ``π_ref`` (Dirichlet(1) rows) and random leaf (outcome) rewards ``r_o``.

* **19a step reward = PBRS of the outcome reward** [D]: with the KL-regularised optimum
  ``π*(a|s) ∝ π_ref(a|s) e^{V(s')/β}`` built from the soft value ``V(leaf) = r_o``,
  ``V(s) = β log Σ_a π_ref(a|s) e^{V(s')/β}``,

      β log π*(a|s) / π_ref(a|s) = r_o · 1[s' terminal] + Φ(s') − Φ(s),
      Φ = V on non-terminals, Φ(terminal) = 0

  (PBRS with γ = 1; the "From r to Q*" identity). ``π*`` is computed as normalised
  probabilities and its log-ratio compared with the right-hand side; error relative to
  ``1 + max |V|``, tolerance 1e-12. The same error includes (as 1.0) any difference between the
  optimal action sets (tolerance 1e-9 · (1 + scale)) of the shaped step-reward objective and the
  sparse outcome objective, by exact backward induction (γ = 1, no KL term).
  Counterexample: stochastic transitions — each action reaches one of a pair of children w.p.
  0.5. Then ``π* ∝ π_ref e^{Q(s,a)/β}`` with ``Q(s, a) = E[V(s')]``, so the per-sample step reward
  is ``Q(s, a) − V(s) ≠ V(s') − V(s)``: PBRS only in expectation (gap ≈ 1.9 for unit-variance
  leaf rewards, β = 1).
* **19b trajectory-sum identity** (i): ``Σ_t β log π_φ(a_t|s_t)/π_old(a_t|s_t) = β log
  π_φ(τ)/π_old(τ)`` on all 81 root-to-leaf trajectories, with ``π_φ(τ)`` the *product* of the step
  probabilities, for random ``π_φ``, ``π_old``; and, by autodiff, equal DPO losses
  ``−log σ(z(τ⁺) − z(τ⁻))`` and equal gradients w.r.t. ``π_φ``'s logits for the two forms of the
  margin ``z``. Error relative to ``1 + scale``, tolerance 1e-12. Counterexample: the reference
  changes inside the trajectory (``π_old`` on even steps, another policy ``π_θ`` on odd steps):
  the step sum is no longer the trajectory log-ratio.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from theory_checks.harness import Check, as_pytest, dirichlet_rows

DEPTH = 4
BRANCH = 3


def _logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    mx = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(mx, axis) + np.log(np.sum(np.exp(x - mx), axis=axis))


def level_sizes(depth: int = DEPTH, branch: int = BRANCH, outcomes: int = 1) -> list[int]:
    """Nodes per level; node ``i`` at level ``d`` has children ``i·b·m + a·m + o`` at ``d + 1``."""
    return [(branch * outcomes) ** d for d in range(depth + 1)]


def soft_values(log_ref, r_leaf, beta, outcomes: int = 1):
    """Soft values ``V[d] [N_d]`` and ``Q[d] [N_d, B]`` of the KL-regularised outcome objective.

    ``V(leaf) = r_o``; ``Q(s, a) = E_{s'} V(s')`` (equiprobable ``outcomes`` children per action);
    ``V(s) = β log Σ_a π_ref(a|s) e^{Q(s, a)/β}``.
    """
    depth = len(log_ref)
    V = [None] * (depth + 1)
    Q = [None] * depth
    V[depth] = r_leaf
    for d in reversed(range(depth)):
        n, b = log_ref[d].shape
        Q[d] = V[d + 1].reshape(n, b, outcomes).mean(-1)
        V[d] = beta * _logsumexp(log_ref[d] + Q[d] / beta)
    return V, Q


def step_reward_gap(log_ref, r_leaf, beta, outcomes: int = 1) -> tuple[float, float, list]:
    """``(max gap, scale, steps)``: ``β log π*/π_ref`` vs ``r_o 1[end] + Φ(s') − Φ(s)``."""
    depth = len(log_ref)
    V, Q = soft_values(log_ref, r_leaf, beta, outcomes)
    gap, steps = 0.0, []
    for d in range(depth):
        n, b = log_ref[d].shape
        z = log_ref[d] + Q[d] / beta
        p = np.exp(z - z.max(-1, keepdims=True))
        pi_star = p / p.sum(-1, keepdims=True)
        step = beta * (np.log(pi_star) - log_ref[d])  # [n, b], the same for every outcome
        child = V[d + 1].reshape(n, b, outcomes)
        leaf = d + 1 == depth
        outcome = child if leaf else np.zeros_like(child)  # V(leaf) = r_o
        phi_next = np.zeros_like(child) if leaf else child  # Φ(terminal) = 0
        target = outcome + phi_next - V[d][:, None, None]
        gap = max(gap, float(np.max(np.abs(step[:, :, None] - target))))
        steps.append(np.broadcast_to(step[:, :, None], child.shape))
    scale = max(float(np.max(np.abs(v))) for v in V)
    return gap, scale, steps


def _optimal_sets(Q: np.ndarray, scale: float) -> np.ndarray:
    return Q >= Q.max(-1, keepdims=True) - 1e-9 * (1 + scale)


def backward_induction(step_rewards, terminal_rewards, outcomes: int = 1):
    """``Q[d] [N_d, B]`` of the undiscounted (γ = 1) objective with per-step rewards
    ``step_rewards[d] [N_d, B, m]`` and ``terminal_rewards [N_H]`` (max over actions)."""
    depth = len(step_rewards)
    W = terminal_rewards
    Qs = [None] * depth
    for d in reversed(range(depth)):
        n, b, m = step_rewards[d].shape
        Qs[d] = (step_rewards[d] + W.reshape(n, b, m)).mean(-1)
        W = Qs[d].max(-1)
    return Qs


def _tree(seed: int, outcomes: int, reward_scale: float, depth: int = DEPTH):
    rng = np.random.default_rng([seed, 0])
    sizes = level_sizes(depth, BRANCH, outcomes)
    log_ref = [np.log(dirichlet_rows(rng, (sizes[d], BRANCH), 1.0)) for d in range(depth)]
    r_leaf = reward_scale * rng.standard_normal(sizes[depth])
    return log_ref, r_leaf


def pbrs_error(seed: int, beta: float, reward_scale: float, outcomes: int = 1) -> float:
    """19a error: relative PBRS gap, or 1.0 if the optimal action sets differ."""
    log_ref, r_leaf = _tree(seed, outcomes, reward_scale)
    gap, scale, steps = step_reward_gap(log_ref, r_leaf, beta, outcomes)
    sizes = [lr.shape[0] for lr in log_ref]
    zeros = [np.zeros((n, BRANCH, outcomes)) for n in sizes]
    Q_sparse = backward_induction(zeros, r_leaf, outcomes)
    Q_shaped = backward_induction(steps, np.zeros_like(r_leaf), outcomes)
    same = all(
        np.array_equal(_optimal_sets(qa, scale), _optimal_sets(qb, scale))
        for qa, qb in zip(Q_sparse, Q_shaped, strict=True)
    )
    return max(gap / (1 + scale), 0.0 if same else 1.0)


_pbrs_cases = st.tuples(
    st.integers(0, 2**32 - 1),
    st.floats(0.05, 5.0),
    st.sampled_from([0.1, 1.0, 10.0]),
)

OPRL_PBRS = Check(
    name="19a OPRL step reward = outcome + Phi(s') - Phi(s), same optimal sets",
    strategy=_pbrs_cases,
    error=lambda args: pbrs_error(*args),
    tolerance=1e-12,
    counterexample=lambda: pbrs_error(seed=0, beta=1.0, reward_scale=1.0, outcomes=2),
    examples=50,
    description="Deterministic depth-4 branching-3 token tree. Cex: stochastic pair of children.",
)


# ----------------------------------------------------------------------------- 19b
def _paths(depth: int = DEPTH, branch: int = BRANCH):
    """``(nodes, actions)`` ``[B^H, H]``: global node index and action at each step of each path."""
    sizes = level_sizes(depth, branch)
    offsets = np.cumsum([0] + sizes[:-1])
    leaves = np.arange(branch**depth)
    nodes = np.stack([offsets[d] + leaves // branch ** (depth - d) for d in range(depth)], 1)
    actions = np.stack([(leaves // branch ** (depth - 1 - d)) % branch for d in range(depth)], 1)
    return nodes, actions


_NODES, _ACTIONS = _paths()
_N_INTERNAL = sum(level_sizes()[:-1])


def _margins(logits_phi, logits_old, beta):
    """``(z_step, z_traj)`` ``[B^H]``: step-sum and trajectory forms of the implicit reward."""
    lp_phi = jax.nn.log_softmax(logits_phi, -1)[_NODES, _ACTIONS]
    lp_old = jax.nn.log_softmax(logits_old, -1)[_NODES, _ACTIONS]
    z_step = jnp.sum(beta * (lp_phi - lp_old), axis=-1)
    p_phi = jax.nn.softmax(logits_phi, -1)[_NODES, _ACTIONS]
    p_old = jax.nn.softmax(logits_old, -1)[_NODES, _ACTIONS]
    z_traj = beta * (jnp.log(jnp.prod(p_phi, -1)) - jnp.log(jnp.prod(p_old, -1)))
    return z_step, z_traj


@jax.jit
def _sum_identity(logits_phi, logits_old, beta, pos, neg):
    def loss(lg, which):
        z = _margins(lg, logits_old, beta)[which]
        return jnp.mean(-jax.nn.log_sigmoid(z[pos] - z[neg]))

    z_step, z_traj = _margins(logits_phi, logits_old, beta)
    l_step, g_step = jax.value_and_grad(loss)(logits_phi, 0)
    l_traj, g_traj = jax.value_and_grad(loss)(logits_phi, 1)
    return z_step, z_traj, l_step, l_traj, g_step, g_traj


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b))) / (1 + float(np.max(np.abs(a))))


def sum_identity_error(seed: int, beta: float, logit_scale: float) -> float:
    rng = np.random.default_rng([seed, 1])
    phi = logit_scale * rng.standard_normal((_N_INTERNAL, BRANCH))
    old = logit_scale * rng.standard_normal((_N_INTERNAL, BRANCH))
    perm = rng.permutation(BRANCH**DEPTH)
    half = len(perm) // 2
    pos, neg = perm[:half], perm[half : 2 * half]
    z_s, z_t, l_s, l_t, g_s, g_t = _sum_identity(phi, old, beta, pos, neg)
    return max(_rel(z_s, z_t), _rel(l_s, l_t), _rel(g_s, g_t))


def mixed_reference_error(seed: int = 0, beta: float = 1.0) -> float:
    """Reference π_old on even steps, π_θ on odd steps: step sum vs β log π_φ(τ)/π_old(τ)."""
    rng = np.random.default_rng([seed, 2])
    phi, old, theta = (rng.standard_normal((_N_INTERNAL, BRANCH)) for _ in range(3))

    def logp(lg):
        lg = lg - lg.max(-1, keepdims=True)
        return (lg - np.log(np.exp(lg).sum(-1, keepdims=True)))[_NODES, _ACTIONS]

    ref = np.where(np.arange(DEPTH) % 2 == 0, logp(old), logp(theta))
    z_step = np.sum(beta * (logp(phi) - ref), -1)
    z_traj = beta * (logp(phi).sum(-1) - logp(old).sum(-1))
    return _rel(z_step, z_traj)


OPRL_SUM = Check(
    name="19b OPRL step rewards sum to beta log pi_phi(tau)/pi_old(tau)",
    strategy=st.tuples(
        st.integers(0, 2**32 - 1), st.floats(0.05, 5.0), st.sampled_from([0.3, 1.0, 3.0])
    ),
    error=lambda args: sum_identity_error(*args),
    tolerance=1e-12,
    counterexample=mixed_reference_error,
    examples=30,
    description="Margins, DPO loss and its gradient agree. Cex: reference changes mid-trajectory.",
)


test_oprl_pbrs_property, test_oprl_pbrs_counterexample = as_pytest(OPRL_PBRS)
test_oprl_sum_property, test_oprl_sum_counterexample = as_pytest(OPRL_SUM)
