"""Check family 17: PAR is bounded, monotone, offset-invariant, saturating (theory.md §7, §11.17).

PAR (Fu et al. 2025): ``r_RL = (1/M) Σ_m σ(k·(r − r_ref,m))`` (:func:`jaxrl.shaping.stream.par`,
references as a ``[*B, M]`` reward channel). Cases: M ∈ {1, 2, 5, 10} references ~ N(0, s²) with
s ∈ [0.1, 5], k ∈ [0.5, 3], a sorted grid of 64 rewards around them, and an offset c ~ N(0, 10²).
Derivatives are taken by autodiff through the transform.

* **17a principles** (one error, the max of): bounded in [0, 1] (open in exact arithmetic;
  float64 σ rounds to 0 or 1 far out); monotone (sorted inputs give non-decreasing outputs and
  dPAR/dr ≥ 0); slope ≤ k/4; offset invariance ``|PAR(r + c, r_ref + c) − PAR(r, r_ref)|``
  (principle 3, reference 6.7e-16); concavity on the winning side, d²PAR/dr² ≤ 0 for r ≥ max_m
  r_ref,m (principle 2: maximum slope at a tie); saturation, one reference:
  ``PAR(r_ref + 10/k) − PAR(r_ref + 5/k) = σ(10) − σ(5) < 0.007`` (theory.md states it for
  k = 1). Tolerance 1e-12. Counterexample: the uncentred ``σ(k·r)`` ablation
  (:func:`jaxrl.shaping.stream.sigmoid`) is not offset-invariant: r = −11, c = 22 gives
  σ(11) − σ(−11) = 0.99997 (theory.md: 0.99998).
* **17b boundedness as r -> ∞**: PAR stays in [0, 1] for r up to max r_ref + 1e12.
  Counterexample (both must be unbounded; the error is the smaller of the two): the raw reward
  (r = 1e6, error ≈ 1e6) and mean-std normalisation with running statistics
  (:func:`jaxrl.shaping.stream.mean_std`: after 10⁴ N(0, 1) rewards one reward of 1e6 is mapped
  to ≈ 100 — it grows like √n, so no fixed bound holds).

tanh of the centred reward satisfies the same principles (theory.md §7); the check does not
single out the sigmoid (the test suite runs 17a's bounds on ``link="tanh"`` too).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.shaping.stream import mean_std, par, sigmoid
from jaxrl.shaping.transform import Transition, identity
from theory_checks.harness import Check, as_pytest

GRID = 64
REF = "reference_reward"


def _transition(reward, refs=None) -> Transition:
    reward = jnp.asarray(reward)
    zeros = jnp.zeros(reward.shape)
    no = jnp.zeros(reward.shape, bool)
    return Transition(
        obs=zeros,
        action=zeros,
        reward=reward,
        next_obs=zeros,
        terminated=no,
        truncated=no,
        discount=jnp.ones(reward.shape),
        channels={} if refs is None else {REF: refs},
        time=jnp.zeros(reward.shape, jnp.int32),
    )


@functools.cache
def _derivatives(uncentred: bool = False):
    """Jitted ``(out, out_shifted, dPAR/dr, d²PAR/dr²)`` on a ``[G]`` grid with ``[G, M]`` refs."""
    t = sigmoid() if uncentred else par(reference=REF)

    def f(r, refs, k):
        return t.apply(k, t.init(k), _transition(r, refs))[0]

    @jax.jit
    def run(r, refs, k, c):
        out = f(r, refs, k)
        shifted = f(r + c, refs + c, k)
        grad = jax.grad(lambda x: jnp.sum(f(x, refs, k)))
        hess = jax.grad(lambda x: jnp.sum(grad(x)))
        return out, shifted, grad(r), hess(r)

    return run


_cases = st.tuples(
    st.integers(0, 2**32 - 1),
    st.sampled_from([1, 2, 5, 10]),  # M (few shapes: one compile each)
    st.floats(0.1, 5.0),  # reference spread
    st.floats(0.5, 3.0),  # k
)


def _draw(case):
    seed, M, spread, k = case
    rng = np.random.default_rng([seed, 1])
    refs = spread * rng.standard_normal(M)
    r = np.sort(refs.mean() + (spread + 8.0 / k) * rng.uniform(-1, 1, GRID))
    c = 10.0 * rng.standard_normal()
    return r, refs, k, c


def _principles_error(r, refs, k, c, uncentred: bool = False) -> float:
    refs_b = np.broadcast_to(refs, (len(r), len(refs)))
    out, shifted, g, h = (
        np.asarray(x) for x in _derivatives(uncentred)(r, refs_b, float(k), float(c))
    )
    win = r >= refs.max()
    errs = [
        max(0.0, -float(out.min()), float(out.max()) - 1.0),  # bounded
        max(0.0, -float(np.diff(out).min(initial=0.0)), -float(g.min())),  # monotone
        max(0.0, float(g.max()) - k / 4),  # slope ≤ k/4
        float(np.max(np.abs(shifted - out))),  # offset invariance
        max(0.0, float(np.max(h[win], initial=0.0))),  # concave on the winning side
    ]
    if not uncentred:
        one = np.array([[refs[0]], [refs[0]]])
        sat = np.asarray(_derivatives()(refs[0] + np.array([5.0, 10.0]) / k, one, float(k), 0.0)[0])
        errs.append(max(0.0, float(sat[1] - sat[0]) - 0.007))  # saturation beyond a clear win
    return max(errs)


def _uncentred_counter() -> float:
    r = np.linspace(-11.0, -10.0, GRID)
    return _principles_error(r, np.zeros(1), 1.0, 22.0, uncentred=True)


PAR_PRINCIPLES = Check(
    name="17a PAR bounded, monotone, slope <= k/4, offset-invariant, concave (cx: uncentred)",
    strategy=_cases,
    error=lambda case: _principles_error(*_draw(case)),
    tolerance=1e-12,
    counterexample=_uncentred_counter,
    description="PAR = mean_m sigmoid(k (r - r_ref,m)); offset c ~ N(0, 10^2).",
)


# ----------------------------------------------------------------------------- 17b
@functools.cache
def _apply_jit(kind: str):
    t = {"par": lambda: par(reference=REF), "raw": identity, "mean_std": mean_std}[kind]()

    @jax.jit
    def run(r, refs, params, state):
        return t.apply(params, state, _transition(r, refs))

    return t, run


def _bounded_error(case) -> float:
    seed, M, spread, k = case
    rng = np.random.default_rng([seed, 2])
    refs = spread * rng.standard_normal(M)
    r = refs.max() + 10.0 ** np.linspace(0.0, 12.0, GRID)
    r = np.concatenate([r, refs.min() - 10.0 ** np.linspace(0.0, 12.0, GRID)])
    t, run = _apply_jit("par")
    out = np.asarray(run(r, np.broadcast_to(refs, (len(r), M)), k, t.init(k))[0])
    return max(0.0, -float(out.min()), float(out.max()) - 1.0)


def _unbounded_counter() -> float:
    refs = np.zeros((1, 1))
    t, run = _apply_jit("raw")
    raw = float(np.asarray(run(np.array([1e6]), refs, (), ())[0])[0])
    t, run = _apply_jit("mean_std")
    state = t.init(())
    history = np.random.default_rng(0).standard_normal(10_000)
    _, state = run(history, np.zeros((10_000, 1)), (), state)
    z = float(np.asarray(run(np.array([1e6]), refs, (), state)[0])[0])
    return min(raw - 1.0, z - 1.0)


PAR_BOUNDED = Check(
    name="17b PAR bounded as r -> inf (cx: raw r and mean-std unbounded)",
    strategy=_cases,
    error=_bounded_error,
    tolerance=1e-12,
    counterexample=_unbounded_counter,
    description="PAR in [0, 1] for r up to max r_ref + 1e12 and down to min r_ref - 1e12.",
)


test_par_principles_property, test_par_principles_counterexample = as_pytest(PAR_PRINCIPLES)
test_par_bounded_property, test_par_bounded_counterexample = as_pytest(PAR_BOUNDED)
