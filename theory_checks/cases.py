"""Random cases for the theory checks: float64 random MDPs (theory.md §0.1) built from integer
seeds, so hypothesis shrinks them well, padded to a few shapes so jitted solvers compile rarely;
and the bare reward-stream transition the stream checks (16-18) feed their transforms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from jaxrl.mdp import TabularMDP
from jaxrl.shaping.transform import Transition

#: Every shape (S, A) of S ∈ [2, 12] × A ∈ [2, 5] (theory.md §0.1), drawn by default. Each jitted
#: solver compiles once per shape; the persistent compilation cache keeps those compiles.
FULL_SHAPES: tuple[tuple[int, int], ...] = tuple((S, A) for S in range(2, 13) for A in range(2, 6))
DEFAULT_SHAPES = FULL_SHAPES


def stream_transition(reward, last=None, channels=None, gamma: float = 1.0) -> Transition:
    """One step ``[*B]`` of a bare reward stream, for the stream transforms (PRM, PAR, gating).

    Observations and actions are zeros; ``last`` (default: never) ends the episode as
    ``terminated`` with ``discount = γ·(1 − last)``; nothing is truncated; ``time`` is 0.
    """
    reward = jnp.asarray(reward)
    zeros = jnp.zeros(reward.shape)
    last = jnp.zeros(reward.shape, bool) if last is None else jnp.asarray(last, bool)
    return Transition(
        obs=zeros,
        action=zeros,
        reward=reward,
        next_obs=zeros,
        terminated=last,
        truncated=jnp.zeros_like(last),
        discount=gamma * (1.0 - last.astype(zeros.dtype)),
        channels={} if channels is None else channels,
        time=jnp.zeros(reward.shape, jnp.int32),
    )


def dirichlet_rows(
    rng: np.random.Generator, shape: Sequence[int], alpha: float = 1.0
) -> np.ndarray:
    """``[*shape]`` float64 array whose last axis are Dirichlet(α) rows (zero rows fixed up)."""
    g = rng.gamma(alpha, size=tuple(shape))
    g = np.where(g.sum(-1, keepdims=True) > 0, g, 1.0)
    return g / g.sum(-1, keepdims=True)


def pad_mdp(mdp: TabularMDP, n_states: int) -> TabularMDP:
    """Embed ``mdp`` in ``n_states`` states: the extra ones are absorbing, terminal, rewardless,
    unreachable and never initial, so every value, occupancy and optimal action of the real states
    is exactly that of ``mdp`` (the linear systems are block triangular). Jitted solvers then
    compile once per padded shape, not once per drawn S.
    """
    S, A = np.shape(mdp.R)[:2]
    if n_states < S:
        raise ValueError(f"cannot pad an MDP with {S} states to {n_states}")
    if n_states == S:
        return mdp
    P = np.zeros((n_states, A, n_states))
    P[:S, :, :S] = np.asarray(mdp.P)
    P[S:] = np.eye(n_states)[S:][:, None, :]
    R = np.zeros((n_states, A, n_states))
    R[:S, :, :S] = np.asarray(mdp.R)
    term = np.ones(n_states, bool)
    term[:S] = np.asarray(mdp.terminal_mask)
    d0 = np.zeros(n_states)
    d0[:S] = np.asarray(mdp.init_dist)
    return TabularMDP(P=P, R=R, gamma=mdp.gamma, init_dist=d0, terminal_mask=term)


def numpy_mdp(
    seed: int,
    n_states: int,
    n_actions: int,
    gamma: float,
    sparsity_k: int | None = None,
    reward_scale: float = 1.0,
    n_terminal: int = 0,
) -> TabularMDP:
    """A float64 random MDP built with numpy from an integer seed (no compilation).

    Same distribution as :func:`jaxrl.mdp.random_mdp`: Dirichlet(1) rows (k-sparse if
    ``sparsity_k``), ``R ~ N(0, reward_scale²)``, ``n_terminal`` random absorbing zero-reward
    states, ``init_dist`` uniform over the non-terminal states. Its leaves are numpy float64
    arrays, so use it inside ``jax.enable_x64`` (as every check runs) or JAX will downcast them.
    """
    S, A = n_states, n_actions
    rng = np.random.default_rng([seed, 0])
    P = dirichlet_rows(rng, (S, A, S))
    if sparsity_k is not None and sparsity_k < S:
        keep = np.argsort(rng.random((S, A, S)), -1) < sparsity_k  # k random successors
        P = np.where(keep, dirichlet_rows(rng, (S, A, S)), 0.0)
        P /= P.sum(-1, keepdims=True)
    R = reward_scale * rng.standard_normal((S, A, S))
    term = np.zeros(S, bool)
    term[rng.permutation(S)[:n_terminal]] = True
    P[term] = np.eye(S)[term][:, None, :]
    R[term] = 0.0
    d0 = (~term).astype(np.float64) / (~term).sum()
    # numpy leaves: the jitted solvers take them as they are, and building jnp arrays here would
    # compile a tiny copy kernel per shape.
    return TabularMDP(
        P=P, R=R, gamma=np.asarray(gamma, np.float64), init_dist=d0, terminal_mask=term
    )


@dataclass(frozen=True)
class MDPCase:
    """One drawn MDP plus seeded helpers for the other random inputs of a check.

    ``n_states`` is the drawn S; ``mdp`` may be padded to ``n_padded >= n_states`` states by
    :func:`pad_mdp` (terminal, unreachable). Per-state arrays from the helpers have the padded
    length; :attr:`live` marks the real non-terminal states, :attr:`real` the real ones.
    """

    seed: int
    n_states: int
    n_actions: int
    gamma: float
    sparsity_k: int | None
    n_terminal: int
    mdp: TabularMDP = field(repr=False)

    @property
    def n_padded(self) -> int:
        return int(np.shape(self.mdp.R)[0])

    @property
    def real(self) -> np.ndarray:
        """``[n_padded]`` bool, the drawn states (False on padding)."""
        return np.arange(self.n_padded) < self.n_states

    @property
    def live(self) -> np.ndarray:
        """``[n_padded]`` bool, real and not terminal."""
        return self.real & ~np.asarray(self.mdp.terminal_mask)

    def rng(self, stream: int) -> np.random.Generator:
        """An independent numpy generator per ``stream`` (stream 0 built the MDP)."""
        return np.random.default_rng([self.seed, stream])

    def policy(self, alpha: float = 1.0, stream: int = 1) -> np.ndarray:
        """``[n_padded, A]`` Dirichlet(α) policy (α ∈ {0.3, 1, 5}; 5 = full-support reference)."""
        return dirichlet_rows(self.rng(stream), (self.n_padded, self.n_actions), alpha)

    def potential(self, scale: float = 5.0, stream: int = 2) -> np.ndarray:
        """``[n_padded]`` potential Φ ~ N(0, scale²), deliberately large (theory.md §0.1)."""
        return scale * self.rng(stream).standard_normal(self.n_padded)


#: States every drawn MDP is padded to by default (``mdp_cases(pad=True)``): one compile per A.
PAD_STATES = 12


def mdp_cases(
    *,
    shapes: Sequence[tuple[int, int]] | None = None,
    gamma: tuple[float, float] = (0.0, 0.999),
    sparse: bool = True,
    reward_scale: float = 1.0,
    n_terminal: tuple[int, int] = (0, 2),
    pad: bool = True,
) -> SearchStrategy[MDPCase]:
    """Strategy of :class:`MDPCase` per theory.md §0.1.

    Args:
      shapes: (S, A) pairs to draw from; default every shape of S ∈ [2, 12] × A ∈ [2, 5].
      gamma: closed range of γ, default [0, 0.999] (``(1.0, 1.0)`` for episodic checks; then
        use terminals).
      sparse: also draw k-sparse transitions, k ∈ [1, S] (k = 1: deterministic; None = dense).
      reward_scale: standard deviation of ``R``.
      n_terminal: closed range of the number of terminal states (capped at S − 1).
      pad: pad every MDP to ``PAD_STATES`` states with :func:`pad_mdp` (exact on the real
        states; use ``case.live``/``case.real`` masks). ``False`` for checks whose property
        involves every state (e.g. a uniform distribution over S), at one compile per shape.
    """

    @st.composite
    def build(draw):
        grid = shapes if shapes is not None else DEFAULT_SHAPES
        S, A = draw(st.sampled_from(list(grid)))
        seed = draw(st.integers(0, 2**32 - 1))
        g = draw(st.floats(gamma[0], gamma[1])) if gamma[0] < gamma[1] else gamma[0]
        k = draw(st.one_of(st.none(), st.integers(1, S))) if sparse else None
        nt = draw(st.integers(min(n_terminal[0], S - 1), min(n_terminal[1], S - 1)))
        mdp = numpy_mdp(seed, S, A, g, k, reward_scale, nt)
        if pad:
            mdp = pad_mdp(mdp, PAD_STATES)
        return MDPCase(seed, S, A, float(g), k, nt, mdp)

    return build()
