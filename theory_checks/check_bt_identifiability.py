"""Bradley–Terry maximum likelihood is identifiable up to a constant (issue 18).

Property: on ``n`` items with a *connected* comparison graph and soft labels ``y_e ∈ (0, 1)``
(non-degenerate: no edge is won with certainty; ties ``y_e = 1/2`` are allowed and kept in the
likelihood), the BT log-likelihood

    L(r) = Σ_e y_e log σ(r_i − r_j) + (1 − y_e) log σ(r_j − r_i)

is strictly concave on the differences (its Hessian is a weighted graph Laplacian, with null
space span{1} exactly when the graph is connected) and bounded above with a finite maximiser
(soft labels), so every maximiser gives the same differences ``r_i − r_j`` (Hunter 2004, Ford
1957 for the existence condition). Checked by fitting from two different initialisations (random,
plus different constants) with damped Newton steps in float64 (min-norm steps through the
Laplacian's pseudo-inverse, so the init's component in the Hessian's null space is never
touched); error = ``max_i |(r¹ − mean r¹) − (r² − mean r²)|_i``, tolerance 1e-8.

Which ties break it? A tie *kept* in the likelihood (``y = 1/2``) is an informative
observation: ``½ log σ(d) + ½ log σ(−d)`` is strictly concave in ``d`` and pins ``d = 0`` — it
still connects its two items (the property's cases include such ties). What breaks
identifiability is the usual pipeline practice of **dropping tie pairs** from the BT loss: if the
two blocks of items are linked *only* by ties, dropping them disconnects the graph and the
offset between the blocks is free (the Hessian's null space becomes span{1_A, 1_B}); the two fits
then keep their inits' different block offsets. Mutations:

* **cross-block ties dropped**: every cross-block label becomes a tie and ties are dropped
  (breaks "connected comparison graph" through the ties);
* **cross-block edges removed**: the same disconnection without ties (breaks connectedness).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from theory_checks.harness import Check, Mutation, as_pytest


class BTCase(NamedTuple):
    """Items ``0..n-1`` split into blocks ``[0, n_a)`` and ``[n_a, n)``; edges ``[E, 2]`` and soft
    labels ``[E]`` (P(i beats j)); two initialisations ``[n]``; whether ties are dropped."""

    n: int
    n_a: int
    edges: np.ndarray
    labels: np.ndarray
    init1: np.ndarray
    init2: np.ndarray
    drop_ties: bool = False


@st.composite
def bt_cases(draw) -> BTCase:
    seed = draw(st.integers(0, 2**31 - 1))
    n_a, n_b = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    rng = np.random.default_rng(seed)
    n = n_a + n_b
    edges = []
    for lo, hi in ((0, n_a), (n_a, n)):  # a random spanning tree inside each block
        perm = rng.permutation(np.arange(lo, hi))
        edges += [(perm[k], perm[rng.integers(0, k)]) for k in range(1, len(perm))]
    for _ in range(int(rng.integers(1, 4))):  # >= 1 cross-block edge: connected
        edges.append((int(rng.integers(0, n_a)), int(rng.integers(n_a, n))))
    for _ in range(int(rng.integers(0, n))):  # extra random edges
        i, j = rng.choice(n, 2, replace=False)
        edges.append((int(i), int(j)))
    edges = np.asarray(edges, np.int64)
    labels = rng.uniform(0.05, 0.95, len(edges))
    labels[rng.random(len(edges)) < 0.2] = 0.5  # some kept ties
    init1 = rng.normal(0, 2, n)
    init2 = rng.normal(0, 2, n) + rng.normal(0, 5)
    return BTCase(n, n_a, edges, labels, init1, init2)


def _loglik(r, edges, y):
    d = r[edges[:, 0]] - r[edges[:, 1]]
    return float(np.sum(-y * np.logaddexp(0, -d) - (1 - y) * np.logaddexp(0, d)))


def bt_mle(r, edges, y, iters: int = 400) -> np.ndarray:
    """Maximise the BT log-likelihood from ``r`` by damped Newton with min-norm steps (each step
    lies in the Laplacian's range, so the null-space component of ``r`` is kept)."""
    r = np.array(r, np.float64)
    if len(edges) == 0:
        return r
    i, j = edges[:, 0], edges[:, 1]
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(r[i] - r[j])))
        g = np.zeros_like(r)
        np.add.at(g, i, y - p)
        np.add.at(g, j, -(y - p))
        if np.max(np.abs(g)) < 1e-14:
            break
        w = p * (1 - p)
        lap = np.zeros((len(r), len(r)))
        np.add.at(lap, (i, i), w)
        np.add.at(lap, (j, j), w)
        np.add.at(lap, (i, j), -w)
        np.add.at(lap, (j, i), -w)
        step = np.linalg.pinv(lap, rcond=1e-12, hermitian=True) @ g
        step *= min(1.0, 2.0 / np.max(np.abs(step)))  # trust region: far inits have tiny w
        t, base = 1.0, _loglik(r, edges, y)
        while _loglik(r + t * step, edges, y) < base + 1e-4 * t * g @ step and t > 1e-10:
            t *= 0.5
        r = r + t * step
    return r


def identifiability_error(case: BTCase) -> float:
    """``max_i |(r¹ − mean r¹) − (r² − mean r²)|`` of two fits from the two inits."""
    keep = np.ones(len(case.labels), bool)
    if case.drop_ties:
        keep = case.labels != 0.5
    e, y = case.edges[keep], case.labels[keep]
    r1, r2 = bt_mle(case.init1, e, y), bt_mle(case.init2, e, y)
    return float(np.max(np.abs((r1 - r1.mean()) - (r2 - r2.mean()))))


def _cross(case: BTCase) -> np.ndarray:
    return (case.edges[:, 0] < case.n_a) != (case.edges[:, 1] < case.n_a)


def _ties_dropped(case: BTCase) -> BTCase:
    labels = np.where(_cross(case), 0.5, case.labels)
    return case._replace(labels=labels, drop_ties=True)


def _cross_removed(case: BTCase) -> BTCase:
    keep = ~_cross(case)
    return case._replace(edges=case.edges[keep], labels=case.labels[keep])


CHECK = Check(
    name="18 BT identifiability",
    theorem="BT MLE on a connected graph with soft labels is unique up to a constant "
    "(Ford 1957; Hunter 2004)",
    strategy=bt_cases(),
    error=identifiability_error,
    tolerance=1e-8,
    mutations=(
        Mutation(
            "cross-block ties dropped",
            "connected comparison graph (ties dropped from the loss disconnect it)",
            mutate=_ties_dropped,
        ),
        Mutation("cross-block edges removed", "connected comparison graph", mutate=_cross_removed),
    ),
    description="Two BT fits from different inits agree on reward differences; dropping the "
    "only (tie) links between two blocks leaves their offset free.",
)

test_bt_identifiability = as_pytest(CHECK)
