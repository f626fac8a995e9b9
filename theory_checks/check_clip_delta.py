"""Check family 16: Gao et al.'s Clip and Delta bound the PRM return (theory.md §6, §11 item 16).

A case is a rollout of T = 1024 PRM step scores (one environment) holding several episodes: the
first has K ∈ [1, 400] scores ~ U[0, 1] followed by n ∈ [0, 600] hack steps (repeated 0.99, or
the oscillating 0.9, 0.1, … of theory.md), the rest are random episodes of 1–64 steps, the last
one cut at T. Plus a Clip offset η ∈ [0, 1], the Delta last-step convention ``keep_last`` and
``kind``, which refinement the learner's rewards go through (the library's, or a mutation's).
Every reward is produced by :mod:`jaxrl.shaping.prm` (the ``prm_clip`` transform on a batch of
Transitions, the streaming ``prm_delta`` scanned step by step, ``delta_rewards``/``clip_rewards``)
and compared, per episode, with the theorem's closed form. Tolerance 1e-12.

* **16a Clip**: every return-to-go of ``prm_clip``'s rewards is ≤ 0. Mutation **clip keeps
  positive rewards** (``r − η``, the shift without the ``min(·, 0)``: the hack earns ~0.5 per
  step, theory.md's 100 for 500 steps).
* **16b Delta telescopes**: ``Σ_{k≥t} r̃_k = r_t − r_K + keep·r_K`` in every episode for
  ``delta_rewards(done=…)``; the streaming ``prm_delta`` has the same returns shifted one step;
  ``|G_t| ≤ max r − min r (+ |r_K|)``, and Clip-Delta's within ± the range of Clip(r) (6.2).
  Mutations: **off-by-one in delta** (the episode end flag one step late: the last delta reads
  the next episode's first score) and **rectified delta** ``max(r̃, 0)`` (theory.md: 200 on the
  oscillating hack).
* **16c length invariance** (6.3): inserting n ≥ 1 repeated 0.99 steps strictly inside the first
  episode (K ≥ 2) leaves its Delta and Clip-Delta returns unchanged. Mutation **raw PRM sum**
  (the identity refinement: the return grows by 0.99·n; theory.md: 582 for 588 repeats).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from jaxrl.shaping.prm import clip_rewards, delta_rewards, prm_clip, prm_delta
from jaxrl.shaping.transform import RewardTransform, identity
from theory_checks.cases import stream_transition
from theory_checks.harness import Check, Mutation, as_pytest

T = 1024
HACK = 0.99


class PrmCase(NamedTuple):
    seed: int
    K: int  # scored steps of the first episode
    n: int  # hack steps appended to it
    oscillate: bool  # hack = 0.9, 0.1, ... instead of repeated 0.99
    eta: float
    keep_last: bool
    kind: str = "gao"  # the library's refinement, or a mutation's name


def _rollout(case: PrmCase):
    """``(scores [T], done [T])``: the hacked first episode, then random ones (last cut at T)."""
    rng = np.random.default_rng([case.seed, 1])
    hack = np.tile([0.9, 0.1], case.n)[: case.n] if case.oscillate else np.full(case.n, HACK)
    episodes = [np.concatenate([rng.uniform(0, 1, case.K), hack])]
    while sum(map(len, episodes)) < T:
        episodes.append(rng.uniform(0, 1, int(rng.integers(1, 65))))
    ends = np.cumsum([len(e) for e in episodes]) - 1
    done = np.zeros(T, bool)
    done[ends[ends < T]] = True
    done[-1] = True
    return np.concatenate(episodes)[:T], done


def _episodes(done: np.ndarray) -> list[slice]:
    ends = np.flatnonzero(done)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [slice(s, e + 1) for s, e in zip(starts, ends, strict=True)]


def _rtg(x: np.ndarray, ep: slice) -> np.ndarray:
    return np.cumsum(x[ep][::-1])[::-1]


# ----------------------------------------------------------------------------- 16a
def _shift_only() -> RewardTransform:
    """Mutant Clip that keeps positive rewards: ``r − η`` without ``min(·, 0)``."""
    return RewardTransform(lambda p: (), lambda p, s, tr: (tr.reward - p, s), 0.0)


@functools.cache
def _clip_fn(kind: str):
    t = prm_clip() if kind == "gao" else _shift_only()
    return jax.jit(lambda r, done, eta: t.apply(eta, t.init(eta), stream_transition(r, done))[0])


def _clip_error(case: PrmCase) -> float:
    r, done = _rollout(case)
    out = np.asarray(_clip_fn(case.kind)(r, done, case.eta))
    return max(0.0, max(float(_rtg(out, ep).max()) for ep in _episodes(done)))


def _cases(min_k: int = 1):
    return st.builds(
        PrmCase,
        st.integers(0, 2**32 - 1),
        st.integers(min_k, 400),
        st.one_of(st.just(0), st.integers(1, 600)),
        st.booleans(),
        st.floats(0.0, 1.0),
        st.booleans(),
        st.just("gao"),
    )


CLIP_BOUNDED = Check(
    name="16a Clip return-to-go <= 0",
    theorem="Gao et al. 2024 (arXiv 2410.15115), Clip; theory.md 6.1",
    strategy=_cases(),
    error=_clip_error,
    tolerance=1e-12,
    mutations=(
        Mutation(
            "clip keeps positive rewards",
            "r~ = min(r - eta, 0)",
            lambda c: c._replace(kind="keeps positive"),
        ),
    ),
    description="max over episodes and t of sum_{k>=t} prm_clip(r)_k <= 0.",
)


# ----------------------------------------------------------------------------- 16b
@functools.cache
def _stream_delta():
    """Jitted ``prm_delta`` scanned over a ``[T]`` rollout (one environment)."""
    t = prm_delta(batch_shape=())

    @jax.jit
    def run(r, done, keep_last):
        def step(state, x):
            out, state = t.apply(keep_last, state, stream_transition(x[0], x[1]))
            return state, out

        return jax.lax.scan(step, t.init(keep_last), (r, done))[1]

    return run


@jax.jit
def _delta_fns(r, done, eta, keep_last, rectify):
    """Trajectory Delta, streaming Delta, Clip(r), Clip-Delta; ``rectify``: the mutant max(·, 0)."""

    def post(x):
        return jnp.where(rectify, jnp.maximum(x, 0.0), x)

    c = clip_rewards(r, eta)
    d = post(delta_rewards(r, done=done, keep_last=keep_last))
    s = post(_stream_delta()(r, done, keep_last))
    return d, s, c, post(delta_rewards(c, done=done, keep_last=keep_last))


def _delta_error(case: PrmCase) -> float:
    r, done = _rollout(case)
    flags = done.copy()
    if case.kind == "off-by-one":
        flags = np.roll(done, 1)
        flags[0], flags[-1] = False, True  # the rollout's end is always an end
    d, s, c, cd = (
        np.asarray(x)
        for x in _delta_fns(r, flags, case.eta, float(case.keep_last), case.kind == "rectified")
    )
    keep = float(case.keep_last)
    err = 0.0
    for ep in _episodes(done):
        rv, cv = r[ep], c[ep]
        target = rv - rv[-1] + keep * rv[-1]
        g, g_s = _rtg(d, ep), _rtg(s, ep)
        err = max(err, float(np.max(np.abs(g - target))))
        # streaming: one step late, G_stream(t) = G(t − 1), same episode return
        err = max(err, float(np.max(np.abs(g_s[1:] - g[:-1]), initial=0.0)), abs(g_s[0] - g[0]))
        bound = float(rv.max() - rv.min()) + keep * abs(float(rv[-1]))
        err = max(err, float(np.max(np.abs(g))) - bound)
        c_bound = float(cv.max() - cv.min()) + keep * abs(float(cv[-1]))
        err = max(err, float(np.max(np.abs(_rtg(cd, ep)))) - c_bound)
    return max(0.0, err) / (1.0 + float(np.max(np.abs(r))))


DELTA_TELESCOPES = Check(
    name="16b Delta telescopes per episode (trajectory and streaming), bounded",
    theorem="Gao et al. 2024 (arXiv 2410.15115), Delta; theory.md 6.1-6.2",
    strategy=_cases(),
    error=_delta_error,
    tolerance=1e-12,
    mutations=(
        Mutation(
            "off-by-one in delta",
            "deltas never cross an episode end",
            lambda c: c._replace(kind="off-by-one"),
        ),
        Mutation(
            "rectified delta",
            "r~_k = r_k - r_{k+1} (linear)",
            lambda c: c._replace(kind="rectified"),
        ),
    ),
    description="sum_{k>=t} delta_k = r_t - r_K (+ r_K if kept); |G| <= range (6.1, 6.2).",
)


# ----------------------------------------------------------------------------- 16c
@jax.jit
def _first_returns(r, done, first, eta, keep_last):
    """``[3]`` returns of the first episode (``first`` mask): Delta, Clip-Delta and raw."""
    d = delta_rewards(r, done=done, keep_last=keep_last)
    cd = delta_rewards(clip_rewards(r, eta), done=done, keep_last=keep_last)
    t = identity()
    raw = t.apply(t.default_params, t.init(t.default_params), stream_transition(r, done))[0]
    return jnp.stack([jnp.sum(jnp.where(first, x, 0.0)) for x in (d, cd, raw)])


def _length_error(case: PrmCase) -> float:
    assume(case.K >= 2)  # repeats go strictly inside: the first and last scores stay the same
    r, done = _rollout(case._replace(n=0))
    K, n = case.K, max(case.n, 1)
    at = int(np.random.default_rng([case.seed, 2]).integers(1, K))
    r2 = np.concatenate([r[:at], np.full(n, HACK), r[at:]])[:T]
    done2 = np.concatenate([done[:at], np.zeros(n, bool), done[at:]])[:T]
    done2[-1] = True
    out = [
        np.asarray(_first_returns(x, dn, np.arange(T) < L, case.eta, float(case.keep_last)))
        for x, dn, L in ((r, done, K), (r2, done2, K + n))
    ]
    use = [2] if case.kind == "raw" else [0, 1]
    return float(np.max(np.abs(out[1][use] - out[0][use])))


LENGTH_INVARIANT = Check(
    name="16c Delta / Clip-Delta return independent of repeated steps",
    theorem="Gao et al. 2024 (arXiv 2410.15115); theory.md 6.3",
    strategy=_cases(min_k=2),
    error=_length_error,
    tolerance=1e-12,
    mutations=(
        Mutation(
            "raw PRM sum", "the PRM scores are refined (Delta)", lambda c: c._replace(kind="raw")
        ),
    ),
    description="Inserting n repeated 0.99 steps leaves the Delta / Clip-Delta return unchanged.",
)


test_clip_bounded = as_pytest(CLIP_BOUNDED)
test_delta_telescopes = as_pytest(DELTA_TELESCOPES)
test_length_invariant = as_pytest(LENGTH_INVARIANT)
