"""Check family 16: Gao et al.'s Clip and Delta bound the PRM return (theory.md §6, §11 item 16).

Cases: K ∈ [1, 400] PRM step scores ~ U[0, 1], for half the cases followed by n ∈ [1, 600]
repeated 0.99 steps (the "repeat correct but useless steps" hack), a Clip offset η ∈ [0, 1] and
the Delta last-step convention ``keep_last`` (r̃_K = r_K) or not (r̃_K = 0). Trajectories are
padded to T = 1024 with junk behind a validity mask, so every jitted shape compiles once.
Everything goes through the library code (:mod:`jaxrl.shaping.prm`): the pure functions and the
streaming transforms (``prm_clip``, ``prm_delta`` scanned step by step).

* **16a Clip return-to-go ≤ 0**: ``max_t Σ_{k≥t} min(r_k − η, 0) ≤ 0`` (inequality, slack ≥
  −1e-12), via ``prm_clip``. Counterexample: the shift without the clip, ``r − η``, on 250
  repeated 0.9 steps with η = 0.5 earns 250 · 0.4 = 100, growing with length. (theory.md quotes
  100 for an oscillating 0.9, 0.1, … hack of length 500; with η = 0.5 that sequence's shifted
  return is 0, so the repeated-0.9 hack is used here.)
* **16b Delta telescopes**: on the valid prefix ``Σ_{k≥t} r̃_k = r_t − r_K + keep·r_K`` (error
  ≤ 1e-12, theory.md 6.1); the streaming ``prm_delta`` (emitted one step late) has the same
  returns-to-go shifted by one; the result on the valid prefix is the same whatever junk fills
  the padding (and the padding gets 0); ``|return| ≤ max r − min r`` (≤ 1); and Clip-Delta's
  return-to-go lies in ``[min c − max c, max c − min c]`` for c = Clip(r) (6.2). Counterexample:
  the rectified delta ``max(r_k − r_{k+1}, 0)`` no longer telescopes: the oscillating hack
  0.9, 0.1, … of length 500 earns 200 instead of r_0 − r_K = 0.8 (error 199.2, reported
  relative to 1 + max |r|: 104.8).
* **16c length invariance** (6.3): inserting n repeated 0.99 steps strictly inside a trajectory
  (K ≥ 2; appending them would change the last score r_K) does not change its Delta or
  Clip-Delta return (error ≤ 1e-12). Counterexample: the raw PRM sum grows by 0.99·n: 588
  repeats in a 700-step trajectory add 582.12 (theory.md: 582).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.shaping.prm import clip_rewards, delta_rewards, prm_clip, prm_delta, returns_to_go
from jaxrl.shaping.transform import Transition
from theory_checks.harness import Check, as_pytest

T_PAD = 1024
HACK = 0.99


def _transition(reward, last=None) -> Transition:
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
        discount=1.0 - last.astype(zeros.dtype),
        channels={},
        time=jnp.zeros(reward.shape, jnp.int32),
    )


@functools.cache
def _stream_delta():
    """Jitted ``prm_delta`` scanned over a ``[T]`` trajectory (one environment)."""
    t = prm_delta(batch_shape=())

    @jax.jit
    def run(rewards, last, keep_last):
        def step(state, x):
            out, state = t.apply(keep_last, state, _transition(x[0], x[1]))
            return state, out

        _, out = jax.lax.scan(step, t.init(keep_last), (rewards, last))
        return out

    return run


@jax.jit
def _clip_rtg(rewards, mask, eta):
    t = prm_clip()
    out, _ = t.apply(eta, t.init(eta), _transition(rewards))
    return returns_to_go(jnp.where(mask, out, 0.0))


@jax.jit
def _delta_outputs(rewards, junk, mask, eta, keep_last):
    """Delta with two different paddings, Clip-Delta, and returns-to-go."""
    d = delta_rewards(rewards, mask=mask, keep_last=keep_last)
    d_junk = delta_rewards(jnp.where(mask, rewards, junk), mask=mask, keep_last=keep_last)
    c = clip_rewards(rewards, eta)
    cd = delta_rewards(c, mask=mask, keep_last=keep_last)
    return d, d_junk, c, returns_to_go(d), returns_to_go(cd)


def _padded(r: np.ndarray, rng: np.random.Generator):
    L = len(r)
    rewards = np.concatenate([r, rng.uniform(-5, 5, T_PAD - L)])  # junk padding
    mask = np.arange(T_PAD) < L
    return rewards, mask


_cases = st.tuples(
    st.integers(0, 2**32 - 1),  # seed
    st.integers(1, 400),  # K
    st.one_of(st.just(0), st.integers(1, 600)),  # repeats of the hack step
    st.floats(0.0, 1.0),  # η
    st.booleans(),  # keep_last
)


def _scores(case) -> np.ndarray:
    seed, K, n, _, _ = case
    rng = np.random.default_rng([seed, 1])
    return np.concatenate([rng.uniform(0, 1, K), np.full(n, HACK)])


# ----------------------------------------------------------------------------- 16a
def _clip_error(case) -> float:
    r = _scores(case)
    rewards, mask = _padded(r, np.random.default_rng([case[0], 2]))
    rtg = np.asarray(_clip_rtg(rewards, mask, case[3]))
    return max(0.0, float(rtg.max()))


def _shift_counter() -> float:
    r = np.full(250, 0.9)
    return max(0.0, float(np.max(np.asarray(returns_to_go(jnp.asarray(r) - 0.5)))))


CLIP_BOUNDED = Check(
    name="16a Clip return-to-go <= 0 (cx: shift without clip)",
    strategy=_cases,
    error=_clip_error,
    tolerance=1e-12,
    counterexample=_shift_counter,
    description="max_t sum_{k>=t} min(r_k - eta, 0) <= 0 for any sequence.",
)


# ----------------------------------------------------------------------------- 16b
def _telescoping_error(r: np.ndarray, deltas: np.ndarray, keep_last: bool) -> float:
    """``max_t |Σ_{k≥t} r̃_k − (r_t − r_K + keep·r_K)|`` relative to ``1 + max |r|``."""
    rtg = np.cumsum(deltas[::-1])[::-1]
    target = r - r[-1] + (r[-1] if keep_last else 0.0)
    return float(np.max(np.abs(rtg - target))) / (1 + float(np.max(np.abs(r))))


def _delta_error(case) -> float:
    r = _scores(case)
    L, eta, keep = len(r), case[3], case[4]
    rewards, mask = _padded(r, np.random.default_rng([case[0], 2]))
    junk = np.random.default_rng([case[0], 3]).uniform(-5, 5, T_PAD)
    d, d_junk, c, rtg, rtg_cd = (
        np.asarray(x) for x in _delta_outputs(rewards, junk, mask, eta, float(keep))
    )
    errs = [_telescoping_error(r, d[:L], keep)]
    # Padding: junk behind the mask changes nothing, and padding steps get 0.
    errs.append(float(np.max(np.abs(d - d_junk))) + float(np.max(np.abs(d[L:]), initial=0.0)))
    # Streaming form: one step late, same returns-to-go.
    last = np.arange(T_PAD) == L - 1
    s = np.asarray(_stream_delta()(rewards, last, float(keep)))[:L]
    rtg_s = np.cumsum(s[::-1])[::-1]
    errs.append(float(np.max(np.abs(rtg_s[1:] - rtg[: L - 1]), initial=0.0)))
    errs.append(abs(float(rtg_s[0]) - float(rtg[0])))  # same episode return
    # Bounds: |delta return-to-go| ≤ range of r (+ r_K when kept); Clip-Delta within ± range(c).
    span = float(r.max() - r.min())
    extra = float(abs(r[-1])) if keep else 0.0
    errs.append(max(0.0, float(np.max(np.abs(rtg[:L]))) - span - extra))
    cv = c[:L]
    c_span = float(cv.max() - cv.min())
    c_extra = float(abs(cv[-1])) if keep else 0.0
    errs.append(max(0.0, float(np.max(np.abs(rtg_cd[:L]))) - c_span - c_extra))
    return max(errs)


def _rectified_counter() -> float:
    r = np.tile([0.9, 0.1], 250)
    d = np.asarray(delta_rewards(jnp.asarray(r)))
    rectified = np.maximum(d, 0.0)  # non-linear post-processing of the deltas
    rectified[-1] = d[-1]  # same last-step convention (0)
    return _telescoping_error(r, rectified, keep_last=False)


DELTA_TELESCOPES = Check(
    name="16b Delta telescopes, bounded, padding-free (cx: rectified delta)",
    strategy=_cases,
    error=_delta_error,
    tolerance=1e-12,
    counterexample=_rectified_counter,
    description="sum_{k>=t} delta_k = r_t - r_K (+ r_K if kept); streaming = trajectory form.",
)


# ----------------------------------------------------------------------------- 16c
def _with_repeats(r: np.ndarray, n: int, at: int) -> np.ndarray:
    return np.concatenate([r[:at], np.full(n, HACK), r[at:]])


@jax.jit
def _returns(rewards, mask, eta, keep_last):
    d = delta_rewards(rewards, mask=mask, keep_last=keep_last)
    cd = delta_rewards(clip_rewards(rewards, eta), mask=mask, keep_last=keep_last)
    return jnp.sum(d), jnp.sum(cd), jnp.sum(jnp.where(mask, rewards, 0.0))


def _length_error(case, which: int = 0) -> float:
    seed, K, n, eta, keep = case
    if K < 2:
        assume(False)  # repeats go strictly inside: the first and last scores stay the same
    n = max(n, 1)
    rng = np.random.default_rng([seed, 1])
    r = rng.uniform(0, 1, K)
    at = int(rng.integers(1, K))  # insert between steps at − 1 and at
    out = []
    for traj in (r, _with_repeats(r, n, at)):
        rewards, mask = _padded(traj, np.random.default_rng([seed, 2]))
        out.append([float(x) for x in _returns(rewards, mask, eta, float(keep))])
    (d0, cd0, raw0), (d1, cd1, raw1) = out
    if which == 1:  # the raw PRM sum (counterexample)
        return abs(raw1 - raw0)
    return max(abs(d1 - d0), abs(cd1 - cd0))


def _raw_counter() -> float:
    # 112 random steps + 588 repeats of 0.99 (700 steps): the raw return grows by 582.12.
    return _length_error((0, 112, 588, 0.0, False), which=1)


LENGTH_INVARIANT = Check(
    name="16c Delta return independent of repeated steps (cx: raw PRM sum)",
    strategy=_cases,
    error=_length_error,
    tolerance=1e-12,
    counterexample=_raw_counter,
    description="Inserting n repeated 0.99 steps leaves the Delta / Clip-Delta return unchanged.",
)


test_clip_bounded_property, test_clip_bounded_counterexample = as_pytest(CLIP_BOUNDED)
test_delta_telescopes_property, test_delta_telescopes_counterexample = as_pytest(DELTA_TELESCOPES)
test_length_invariant_property, test_length_invariant_counterexample = as_pytest(LENGTH_INVARIANT)
