"""Check family 18: gated reward accumulation (G-RA) dominance (theory.md §8, §11 item 18).

G-RA (Sun et al. 2025): ``R(τ) = r_high(τ) + 1[r_high(τ) ≥ δ]·Σ_t r_low,t``. Everything runs the
streaming transform :func:`jaxrl.shaping.gating.gated_reward_accumulation` step by step (one
jitted ``lax.scan`` over T = 16 steps of a batch of 2P = 200 episodes): the outcome channel is
paid on an episode's last step, low-priority step rewards are held in the state until then.
Episodes have random lengths in [1, T] (the steps after an episode's end are an unfinished,
reward-free next episode). 50 cases × 100 pairs = 5000 pairs, as theory.md.

* **18a gate dominance** [exact]: with r_low ≥ 0 and ``r_high(pass) ≥ δ > r_high(fail)``,
  ``R(pass) > R(fail)`` in every pair (error = number of violations); a failing episode returns
  exactly ``r_high`` (any difference counts 1); the streamed return equals :func:`gra_return`
  (≤ 1e-12); and the horizon bound ``R ≤ max r_high + T·L`` for ``0 ≤ r_low ≤ L``.
  Counterexample: ungated D-RA (``weighted_channels({"outcome": 1, "step": 1})``, the same stream)
  on pairs whose failing episode is "busy" (T steps) and whose passing one is short: the failing
  episode wins in most pairs.
* **18b three priority levels** [exact]: channels (outcome, format, step) with thresholds
  (δ_o, δ_f). Outcome fails -> R = R_outcome exactly; outcome passes but format fails -> R =
  R_outcome + R_format exactly; all pass -> R = R_outcome + R_format + Σ step; and an
  all-passing episode beats every outcome-failing one (r_format, r_step ≥ 0). Counterexample:
  signed step critics (r_low ∈ [−L, 0]) break dominance of the two-level gate in most pairs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.shaping.gating import gated_reward_accumulation, gra_return, weighted_channels
from jaxrl.shaping.transform import Transition
from theory_checks.harness import Check, as_pytest

T = 16
PAIRS = 100


def _transition(channels, last) -> Transition:
    last = jnp.asarray(last, bool)
    zeros = jnp.zeros(last.shape)
    return Transition(
        obs=zeros,
        action=zeros,
        reward=zeros,
        next_obs=zeros,
        terminated=last,
        truncated=jnp.zeros_like(last),
        discount=1.0 - last.astype(zeros.dtype),
        channels=channels,
        time=jnp.zeros(last.shape, jnp.int32),
    )


@functools.cache
def _runner(kind: str, n: int):
    """Jitted episode returns ``[n]`` of a transform streamed over ``[T, n]`` channels."""
    if kind == "gra":
        t = gated_reward_accumulation(["outcome", "step"], [0.0], batch_shape=(n,))
    elif kind == "gra3":
        t = gated_reward_accumulation(["outcome", "format", "step"], [0.0, 0.0], batch_shape=(n,))
    else:
        t = weighted_channels({"outcome": 1.0, "step": 1.0})

    @jax.jit
    def run(channels, last, params):
        def step(state, x):
            ch, l = x
            out, state = t.apply(params, state, _transition(ch, l))
            return state, out

        _, out = jax.lax.scan(step, t.init(params), (channels, last))
        return jnp.sum(out, axis=0)

    return t, run


def _episodes(rng, n, r_final, lengths, r_step, extra=None):
    """``[T, n]`` channels: outcome (and format) paid at step ``length − 1``; steps after it 0."""
    t = np.arange(T)[:, None]
    live = t < lengths[None, :]
    last = t == (lengths - 1)[None, :]
    channels = {"outcome": np.where(last, r_final[None, :], 0.0), "step": np.where(live, r_step, 0)}
    if extra is not None:
        channels["format"] = np.where(last, extra[None, :], 0.0)
    return channels, last


def _pairs(seed: int, delta: float, L: float, pairs: int, busy: bool = False, sign: float = 1.0):
    """Passing episodes (first half) and failing ones (second half)."""
    rng = np.random.default_rng([seed, 1])
    r_pass = delta + rng.uniform(0, 1, pairs)
    r_fail = delta - rng.uniform(1e-6, 1, pairs)
    if busy:  # short passing episodes, failing ones use the whole horizon
        lengths = np.concatenate([rng.integers(1, 4, pairs), np.full(pairs, T)])
    else:
        lengths = rng.integers(1, T + 1, 2 * pairs)
    r_step = sign * rng.uniform(0, L, (T, 2 * pairs))
    ch, last = _episodes(rng, 2 * pairs, np.concatenate([r_pass, r_fail]), lengths, r_step)
    return ch, last, r_pass, r_fail, lengths, r_step


def _violations(R, pairs) -> int:
    return int(np.sum(R[:pairs] <= R[pairs:]))


_cases = st.tuples(st.integers(0, 2**32 - 1), st.floats(-1.0, 1.0), st.floats(0.01, 2.0))


# ----------------------------------------------------------------------------- 18a
def _dominance_error(case) -> float:
    seed, delta, L = case
    ch, last, r_pass, r_fail, lengths, r_step = _pairs(seed, delta, L, PAIRS)
    t, run = _runner("gra", 2 * PAIRS)
    R = np.asarray(run(ch, last, jnp.asarray([delta])))
    r_high = np.concatenate([r_pass, r_fail])
    live = np.arange(T)[:, None] < lengths[None, :]
    formula = np.asarray(gra_return(r_high, np.where(live, r_step, 0.0), delta))
    fail_exact = float(np.any(R[PAIRS:] != r_fail))
    bound = max(0.0, float(np.max(R - (r_high.max() + T * L))))
    return _violations(R, PAIRS) + fail_exact + float(np.max(np.abs(R - formula))) + bound


def _dra_counter() -> float:
    pairs = 5000
    ch, last, *_ = _pairs(0, 0.5, 0.5, pairs, busy=True)
    t, run = _runner("dra", 2 * pairs)
    R = np.asarray(run(ch, last, t.default_params))
    return float(_violations(R, pairs))


GATE_DOMINANCE = Check(
    name="18a G-RA gate dominance, failing return = r_high (cx: ungated D-RA)",
    strategy=_cases,
    error=_dominance_error,
    tolerance=1e-12,
    counterexample=_dra_counter,
    description="r_low >= 0: R(pass) > R(fail) in every pair; error counts violations.",
)


# ----------------------------------------------------------------------------- 18b
def _three_level_error(case) -> float:
    seed, delta, L = case
    rng = np.random.default_rng([seed, 2])
    n = 2 * PAIRS
    d_fmt = float(rng.uniform(0, 1))
    r_out = delta + rng.uniform(-1, 1, n)
    r_fmt = rng.uniform(0, 2 * d_fmt + 1e-3, n)
    lengths = rng.integers(1, T + 1, n)
    r_step = rng.uniform(0, L, (T, n))
    ch, last = _episodes(rng, n, r_out, lengths, r_step, extra=r_fmt)
    t, run = _runner("gra3", n)
    R = np.asarray(run(ch, last, jnp.asarray([delta, d_fmt])))
    out_ok, fmt_ok = r_out >= delta, r_fmt >= d_fmt
    steps = np.where(np.arange(T)[:, None] < lengths[None, :], r_step, 0.0).sum(0)
    err = float(np.any(R[~out_ok] != r_out[~out_ok]))
    partial = out_ok & ~fmt_ok
    err += float(np.any(R[partial] != r_out[partial] + r_fmt[partial]))
    full = out_ok & fmt_ok
    err += float(np.max(np.abs(R[full] - (r_out[full] + r_fmt[full] + steps[full])), initial=0.0))
    if full.any() and (~out_ok).any():
        err += int(np.sum(R[full].min() <= R[~out_ok].max()))
    return err


def _negative_counter() -> float:
    pairs = 5000
    ch, last, *_ = _pairs(1, 0.5, 0.5, pairs, sign=-1.0)
    t, run = _runner("gra", 2 * pairs)
    return float(_violations(np.asarray(run(ch, last, jnp.asarray([0.5]))), pairs))


THREE_LEVELS = Check(
    name="18b G-RA three priority levels exact (cx: negative r_low breaks dominance)",
    strategy=_cases,
    error=_three_level_error,
    tolerance=1e-12,
    counterexample=_negative_counter,
    description="Closed gates drop lower channels exactly; all-pass beats outcome-fail.",
)


test_gate_dominance_property, test_gate_dominance_counterexample = as_pytest(GATE_DOMINANCE)
test_three_levels_property, test_three_levels_counterexample = as_pytest(THREE_LEVELS)
