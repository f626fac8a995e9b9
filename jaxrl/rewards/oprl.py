"""OPRL: an implicit process reward model trained with trajectory-level DPO (Liu et al. 2025).

Liu et al., "Online Process Reward Learning for Agentic RL", arXiv 2509.19199 (theory.md §9). The
implicit PRM is a policy ``π_φ`` whose step reward is the log-ratio to a reference snapshot,

    r_φ(s_t, a_t) = β log π_φ(a_t|s_t) / π_ref(a_t|s_t),                     (step reward)

trained with the trajectory DPO (Bradley–Terry) loss on outcome-ranked pairs (τ⁺, τ⁻),

    J(φ) = −E log σ( β log π_φ(τ⁺)/π_ref(τ⁺) − β log π_φ(τ⁻)/π_ref(τ⁻) ).

The setting here is a toy token tree with history-as-state (:class:`TokenTree`): every node is its
own state, ``branch`` actions per node, and each action reaches one of ``outcomes`` children with
equal probability (``outcomes = 1``: deterministic, the LLM case). Nodes are numbered level by
level; node ``i`` of level ``d`` has children ``i·B·m + a·m + o`` at level ``d + 1``.

On full-support preference data with Bradley–Terry labels ``P(τ_i ≻ τ_j) = σ(r_i − r_j)`` the
DPO optimum has ``β log π_φ(τ)/π_ref(τ) = r(τ) − V(root)``, i.e. ``π_φ`` is the KL-regularised
optimum ``π*(a|s) ∝ π_ref(a|s) e^{Q(s,a)/β}`` (:func:`optimal_logits`, soft values
:func:`soft_values`), and on a deterministic tree its step rewards are potential-based shaping of
the outcome reward, ``r_o·1[s' leaf] + Φ(s') − Φ(s)`` with ``Φ = V`` and ``Φ(leaf) = 0`` (γ = 1;
Rafailov et al. 2024, "From r to Q*"). :func:`train_implicit_prm` fits ``π_φ``'s tabular logits
by full-batch L-BFGS to that optimum.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = Any


class TokenTree(NamedTuple):
    """Static shape of a token tree: ``depth`` steps, ``branch`` actions, ``outcomes`` children
    per action (reached with probability ``1/outcomes``)."""

    depth: int
    branch: int
    outcomes: int = 1

    @property
    def level_sizes(self) -> list[int]:
        """Nodes per level ``0..depth`` (the last level are the leaves)."""
        return [(self.branch * self.outcomes) ** d for d in range(self.depth + 1)]

    @property
    def n_internal(self) -> int:
        return sum(self.level_sizes[:-1])

    @property
    def n_leaves(self) -> int:
        return self.level_sizes[-1]


class TreePaths(NamedTuple):
    """Every root-to-leaf trajectory of a tree, one per leaf ``ℓ`` (row ``ℓ``), ``[N, H]`` ints.

    ``nodes``: internal node s_t (global index < n_internal); ``actions``: a_t; ``next_nodes``:
    s_{t+1} in the numbering of all nodes (internal first, then leaves), so the last column is
    ``n_internal + ℓ``.
    """

    nodes: np.ndarray
    actions: np.ndarray
    next_nodes: np.ndarray


def tree_paths(tree: TokenTree) -> TreePaths:
    """The ``(B·m)^H`` trajectories of ``tree`` (numpy; leaf ``ℓ`` is trajectory ``ℓ``)."""
    H, Bm, m = tree.depth, tree.branch * tree.outcomes, tree.outcomes
    offsets = np.cumsum([0] + tree.level_sizes)
    leaf = np.arange(tree.n_leaves)
    nodes = np.stack([offsets[d] + leaf // Bm ** (H - d) for d in range(H)], 1)
    child = np.stack([leaf // Bm ** (H - 1 - d) for d in range(H)], 1)  # index in level d + 1
    next_nodes = offsets[1 : H + 1][None, :] + child
    return TreePaths(nodes, (child // m) % tree.branch, next_nodes)


def soft_values(tree: TokenTree, log_ref, r_leaf, beta):
    """Soft values ``V [n_internal + n_leaves]`` of the KL-regularised outcome objective.

    ``V(leaf) = r_o``, ``Q(s, a) = E_{s'} V(s')`` and ``V(s) = β log Σ_a π_ref(a|s) e^{Q(s,a)/β}``.

    Args:
      log_ref: ``[n_internal, B]`` log π_ref (normalised rows).
      r_leaf: ``[n_leaves]`` outcome rewards r_o.
      beta: KL coefficient β > 0.
    """
    V, _ = _backup(tree, log_ref, r_leaf, beta)
    return V


def optimal_logits(tree: TokenTree, log_ref, r_leaf, beta):
    """``[n_internal, B]`` logits ``log π_ref + Q/β`` of the KL-regularised optimum π*."""
    _, Q = _backup(tree, log_ref, r_leaf, beta)
    return jnp.asarray(log_ref) + Q / beta


def _backup(tree: TokenTree, log_ref, r_leaf, beta):
    sizes, B, m = tree.level_sizes, tree.branch, tree.outcomes
    log_ref = jnp.asarray(log_ref)
    V = [None] * (tree.depth + 1)
    Q = [None] * tree.depth
    V[-1] = jnp.asarray(r_leaf)
    start = tree.n_internal
    for d in reversed(range(tree.depth)):
        start -= sizes[d]
        Q[d] = V[d + 1].reshape(sizes[d], B, m).mean(-1)
        V[d] = beta * jax.nn.logsumexp(log_ref[start : start + sizes[d]] + Q[d] / beta, axis=-1)
    return jnp.concatenate(V), jnp.concatenate(Q)


def implicit_step_rewards(logits_phi, logits_ref, beta, paths: TreePaths):
    """``[N, H]`` OPRL step rewards ``β log π_φ(a_t|s_t)/π_ref(a_t|s_t)`` along every path.

    ``logits_ref`` may also be ``[H, n_internal, B]``: a reference per time step.
    """
    lp_phi = jax.nn.log_softmax(logits_phi, -1)[paths.nodes, paths.actions]
    lp_ref = jax.nn.log_softmax(logits_ref, -1)
    if lp_ref.ndim == 3:
        lp_ref = lp_ref[jnp.arange(paths.nodes.shape[1]), paths.nodes, paths.actions]
    else:
        lp_ref = lp_ref[paths.nodes, paths.actions]
    return beta * (lp_phi - lp_ref)


def trajectory_log_ratio(logits_phi, logits_ref, beta, paths: TreePaths):
    """``[N]`` ``β log π_φ(τ)/π_ref(τ)`` with ``π(τ)`` the product of the step probabilities
    (the transition probabilities cancel)."""
    p_phi = jax.nn.softmax(logits_phi, -1)[paths.nodes, paths.actions]
    p_ref = jax.nn.softmax(logits_ref, -1)[paths.nodes, paths.actions]
    return beta * (jnp.log(jnp.prod(p_phi, -1)) - jnp.log(jnp.prod(p_ref, -1)))


class Preferences(NamedTuple):
    """Trajectory pairs ``(i, j)`` ``[P]`` and soft labels ``prob [P] = P(τ_i ≻ τ_j)``."""

    i: Array
    j: Array
    prob: Array


def bradley_terry_pairs(r_traj) -> Preferences:
    """Every unordered pair of ``N`` trajectories with BT labels ``σ(r_i − r_j)`` (full support)."""
    r = np.asarray(r_traj)
    i, j = np.triu_indices(len(r), 1)
    return Preferences(i, j, 1.0 / (1.0 + np.exp(-(r[i] - r[j]))))


def dpo_loss(logits_phi, logits_ref, beta, paths: TreePaths, prefs: Preferences):
    """Trajectory DPO: mean soft-label BT negative log-likelihood of the margins
    ``z_i − z_j``, ``z = Σ_t`` :func:`implicit_step_rewards`."""
    z = jnp.sum(implicit_step_rewards(logits_phi, logits_ref, beta, paths), axis=-1)
    margin = z[prefs.i] - z[prefs.j]
    p = prefs.prob
    return jnp.mean(-p * jax.nn.log_sigmoid(margin) - (1 - p) * jax.nn.log_sigmoid(-margin))


class PRMFit(NamedTuple):
    """A trained implicit PRM: logits ``[n_internal, B]``, final loss, gradient norm, iterations."""

    logits: Array
    loss: Array
    grad_norm: Array
    iterations: Array


@jax.jit
def train_implicit_prm(
    logits_ref, beta, paths: TreePaths, prefs: Preferences, max_iters=300, grad_tol=1e-12
) -> PRMFit:
    """Fit π_φ (initialised at π_ref) to :func:`dpo_loss` by full-batch L-BFGS (optax, zoom line
    search) until ``‖∇‖∞ ≤ grad_tol`` or ``max_iters``. float64 is needed to reach the optimum
    to ~1e-12."""

    def loss(lg):
        return dpo_loss(lg, logits_ref, beta, paths, prefs)

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def cond(c):
        _, _, g, it = c
        return (it < max_iters) & (jnp.max(jnp.abs(g)) > grad_tol)

    def body(c):
        lg, st, _, it = c
        v, g = value_and_grad(lg, state=st)
        updates, st = opt.update(g, st, lg, value=v, grad=g, value_fn=loss)
        return optax.apply_updates(lg, updates), st, g, it + 1

    lg0 = jnp.asarray(logits_ref)
    init = (lg0, opt.init(lg0), jnp.full_like(lg0, jnp.inf), jnp.asarray(0))
    lg, _, _, it = jax.lax.while_loop(cond, body, init)
    v, g = jax.value_and_grad(loss)(lg)
    return PRMFit(lg, v, jnp.max(jnp.abs(g)), it)
