"""Check family 17: PAR is bounded, monotone, saturating and a function of the centred reward
(Fu et al. 2025, arXiv 2502.18770; theory.md §7, §11 item 17).

PAR ``r_RL = (1/M) Σ_m σ(k·(r − r_ref,m))`` runs as the library transform
:func:`jaxrl.shaping.stream.par` (references as a ``[*B, M]`` reward channel) on a *stream* of
reward batches (``lax.scan`` over steps, the transform's state threaded through, as a trainer
would). A case: M ∈ {1, 10} references ~ N(μ, s²) per sample (μ ~ N(0, 5²), s ∈ [0.1, 5]),
k ∈ [0.5, 3], and ``kind``: the transform under test (``par``) or a mutation's
(:func:`~jaxrl.shaping.stream.sigmoid` = uncentred σ(k·r), :func:`~jaxrl.shaping.transform.identity`
= raw r, :func:`~jaxrl.shaping.stream.mean_std` = running mean-std normalisation). Derivatives by
autodiff through the transform. Tolerance 1e-12.

* **17a shape** (principles 1–2): on a stream whose last batch is a sorted grid of 64 rewards
  around the references plus r → ±1e12: bounded in [0, 1]; monotone (sorted outputs and
  dPAR/dr ≥ 0); concave where r ≥ max_m r_ref,m (d²PAR/dr² ≤ 0: maximum slope at a tie);
  saturation ``PAR(max r_ref + 10/k) − PAR(max r_ref + 5/k) < 0.007`` (each term gains at
  most σ(10) − σ(5) = 0.00665). Mutations:
  **raw r** and **mean-std normalisation** (both unbounded as r → ∞).
* **17b centring** (principle 3): over a stream of 8 batches of 32 samples, the output is
  unchanged when every sample's reward and references move by an offset of its own (the RM's
  per-prompt offset is unidentified; c ~ N(0, 10²), and c = −mean r_ref, i.e. the centred
  reward), and ``|PAR(r + h) − PAR(r)| ≤ (k/4)|h|`` (slope bound). Mutations: **uncentred PAR**
  σ(k·r), **raw r**, **mean-std normalisation** (its running statistics see the offsets).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.shaping.stream import mean_std, par, sigmoid
from jaxrl.shaping.transform import identity
from theory_checks.cases import stream_transition
from theory_checks.harness import Check, Mutation, as_pytest

GRID = 64
STEPS, BATCH = 8, 32
REF = "reference_reward"
SATURATION = 0.007  # theory.md §7: σ(10) − σ(5) = 0.00665


class ParCase(NamedTuple):
    seed: int
    M: int
    spread: float
    k: float
    kind: str = "par"


def _transform(kind: str):
    return {
        "par": lambda: par(reference=REF),
        "uncentred": sigmoid,
        "raw": identity,
        "mean_std": mean_std,
    }[kind]()


def _params(t, kind: str, k):
    return k if kind in ("par", "uncentred") else t.default_params


@functools.cache
def _stream(kind: str):
    """Jitted ``[S, *B]`` outputs of the transform scanned over ``[S, *B]`` rewards."""
    t = _transform(kind)

    def run(r, refs, k):
        p = _params(t, kind, k)

        def step(state, x):
            r, refs = x
            out, state = t.apply(p, state, stream_transition(r, channels={REF: refs}))
            return state, out

        return jax.lax.scan(step, t.init(p), (r, refs))[1]

    return run


@functools.cache
def _shape_fn(kind: str):
    """``(out, dout/dr, d²out/dr²)`` of the stream's last batch, w.r.t. that batch."""
    run = _stream(kind)

    @jax.jit
    def f(history, grid, refs, k):
        def last(x):
            return run(jnp.stack([history, x]), refs, k)[-1]

        grad = jax.grad(lambda x: jnp.sum(last(x)))
        hess = jax.grad(lambda x: jnp.sum(grad(x)))
        return last(grid), grad(grid), hess(grid)

    return f


def _refs(case: ParCase, rng: np.random.Generator, shape) -> np.ndarray:
    mu = 5.0 * rng.standard_normal()
    return mu + case.spread * rng.standard_normal((*shape, case.M))


def _shape_error(case: ParCase) -> float:
    rng = np.random.default_rng([case.seed, 1])
    ref = _refs(case, rng, ())
    far = 10.0 ** np.linspace(0.0, 12.0, 8)
    near = ref.mean() + (case.spread + 8.0 / case.k) * rng.uniform(-1, 1, GRID - 18)
    sat = ref.max() + np.array([5.0, 10.0]) / case.k  # saturation points: a clear win
    values = np.concatenate([near, ref.max() + far, ref.min() - far, sat])
    order = np.argsort(values)
    grid = values[order]
    history = ref.mean() + case.spread * rng.standard_normal(GRID)
    refs = np.broadcast_to(ref, (2, GRID, case.M))
    out, g, h = (np.asarray(x) for x in _shape_fn(case.kind)(history, grid, refs, case.k))
    win = grid >= ref.max()
    gain = out[np.argsort(order)][-2:]  # PAR(max r_ref + 5/k), PAR(max r_ref + 10/k)
    errs = [
        -float(out.min()),
        float(out.max()) - 1.0,  # bounded in [0, 1]
        -float(np.diff(out).min()),
        -float(g.min()),  # monotone
        float(np.max(h[win], initial=0.0)),  # concave on the winning side
        float(gain[1] - gain[0]) - SATURATION,  # each σ(k(r − r_ref,m)) gains ≤ σ(10) − σ(5)
    ]
    return max(0.0, *errs)


def _cases():
    draw = st.tuples(
        st.integers(0, 2**32 - 1),
        st.sampled_from([1, 10]),
        st.floats(0.1, 5.0),
        st.floats(0.5, 3.0),
    )
    return draw.map(lambda t: ParCase(*t))


def _kind(kind: str):
    return lambda case: case._replace(kind=kind)


PAR_SHAPE = Check(
    name="17a PAR bounded, monotone, concave beyond the references, saturating",
    theorem="Fu et al. 2025 (arXiv 2502.18770), design principles 1-2; theory.md 7",
    strategy=_cases(),
    error=_shape_error,
    tolerance=1e-12,
    mutations=(
        Mutation("raw r", "the RM score is passed through a bounded link", _kind("raw")),
        Mutation("mean-std normalisation", "bounded transform of r", _kind("mean_std")),
    ),
    description="par() on a stream; grid incl. r -> +-1e12; autodiff slope and curvature.",
)


# ----------------------------------------------------------------------------- 17b
@functools.cache
def _centring_fn(kind: str):
    run = _stream(kind)

    @jax.jit
    def f(r, refs, c, h, k):
        centre = -jnp.mean(refs, axis=-1)
        return (
            run(r, refs, k),
            run(r + c, refs + c[..., None], k),
            run(r + centre, refs + centre[..., None], k),
            run(r + h, refs, k),
        )

    return f


def _centring_error(case: ParCase) -> float:
    rng = np.random.default_rng([case.seed, 2])
    refs = _refs(case, rng, (STEPS, BATCH))
    r = refs.mean(-1) + (case.spread + 2.0 / case.k) * rng.standard_normal((STEPS, BATCH))
    c = 10.0 * rng.standard_normal((STEPS, BATCH))
    h = (case.spread + 1.0 / case.k) * rng.uniform(-1, 1, (STEPS, BATCH))
    out, shifted, centred, moved = (
        np.asarray(x) for x in _centring_fn(case.kind)(r, refs, c, h, case.k)
    )
    slope = np.abs(moved - out) - case.k / 4 * np.abs(h)
    return max(
        0.0,
        float(np.max(np.abs(shifted - out))),
        float(np.max(np.abs(centred - out))),
        float(slope.max()),
    )


PAR_CENTRED = Check(
    name="17b PAR depends on r - r_ref only (per-sample offsets, stream), slope <= k/4",
    theorem="Fu et al. 2025 (arXiv 2502.18770), design principle 3; theory.md 7",
    strategy=_cases(),
    error=_centring_error,
    tolerance=1e-12,
    mutations=(
        Mutation("uncentred PAR", "PAR centres r on the references", _kind("uncentred")),
        Mutation("raw r", "a centred, bounded-slope link", _kind("raw")),
        Mutation(
            "mean-std normalisation", "centring on the sample's own references", _kind("mean_std")
        ),
    ),
    description="Offsets c ~ N(0, 10^2) per sample and step, and c = -mean r_ref.",
)


test_par_shape = as_pytest(PAR_SHAPE)
test_par_centred = as_pytest(PAR_CENTRED)
