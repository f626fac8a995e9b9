"""Check family 18: gated reward accumulation (G-RA; Sun et al. 2025, arXiv 2508.10548;
theory.md §8, §11 item 18).

``R(τ) = r_high(τ) + 1[r_high(τ) ≥ δ]·Σ_t r_low,t`` (generalised: channel i counts only if every
higher-priority channel clears its gate). Every return is produced by streaming the library
transform :func:`jaxrl.shaping.gating.gated_reward_accumulation` step by step (one jitted
``lax.scan`` over T = 16 steps of 200 episodes of random length 1–16; outcome (and format) paid
on an episode's last step, step rewards r_low ∈ [0, L] every step). A case: seed, 2 or 3
priority levels (outcome, [format,] step), L ∈ [0.01, 2], ``kind`` (which rule the learner's
rewards go through) and the sign of r_low. Tolerance 1e-12.

* **18a gate dominance**: with r_low ≥ 0, every episode whose outcome passes (r_high ≥ δ) beats
  every episode whose outcome fails (error ``max(0, max R(fail) − min R(pass))``); a failing
  episode returns exactly r_high; and ``R ≤ max r_high (+ max r_format) + T·L``. Continuous
  outcomes δ ± U(0, 1). Mutations: **ungated D-RA** (:func:`weighted_channels`, the plain sum: a
  gate that lets low-priority rewards through) and **negative r_low** (signed step critics).
* **18b non-invariance among passing episodes** (theory.md §8 caution, §11's gap): G-RA pays a
  passing episode the plain sum r_high + Σ r_low, an outcome-passing but format-failing one
  r_high + r_format, a failing one r_high, exactly (relative error), including on the gate's
  boundary: discrete outcome levels {0, 0.25, 0.5, 1} (as the paper's SWE outcomes) with
  δ ∈ {0.25, 0.5, 1}. So among passing episodes the order is the plain sum's, not r_high's: the
  report's *attained* is the largest fraction of passing pairs whose order flips relative to
  r_high alone. Mutations: **per-step gate on a sparse outcome** (:func:`gated_channels`, the
  per-step rule, gates r_low on r_high,t = 0 before the end) and **strict gate** (r_high > δ).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

from jaxrl.shaping.gating import gated_channels, gated_reward_accumulation, weighted_channels
from theory_checks.cases import stream_transition
from theory_checks.harness import Check, Mutation, as_pytest

T = 16
N = 200
LEVELS = np.array([0.0, 0.25, 0.5, 1.0])


class GraCase(NamedTuple):
    seed: int
    levels: int  # 2: (outcome, step); 3: (outcome, format, step)
    L: float
    discrete: bool  # outcomes on LEVELS (18b) or continuous δ ± U(0, 1) (18a)
    kind: str = "gra"  # "gra", "dra", "per-step", "strict"
    sign: float = 1.0


@functools.cache
def _runner(kind: str, levels: int):
    """Jitted episode returns ``[N]`` of the rule ``kind`` streamed over ``[T, N]`` channels."""
    names = ["outcome", "step"] if levels == 2 else ["outcome", "format", "step"]
    if kind in ("gra", "strict"):
        t = gated_reward_accumulation(names, np.zeros(levels - 1), batch_shape=(N,))
    elif kind == "per-step":
        t = gated_channels(names, np.zeros(levels - 1))
    else:
        t = weighted_channels({n: 1.0 for n in names})

    @jax.jit
    def run(channels, last, thresholds):
        params = t.default_params if kind == "dra" else thresholds

        def step(state, x):
            channels, last = x
            tr = stream_transition(jnp.zeros(last.shape), last, channels)
            out, state = t.apply(params, state, tr)
            return state, out

        return jnp.sum(jax.lax.scan(step, t.init(params), (channels, last))[1], axis=0)

    return run


def _episodes(case: GraCase):
    """Channels ``[T, N]``, last flags, thresholds and per-episode sums."""
    rng = np.random.default_rng([case.seed, 1])
    if case.discrete:
        delta = float(rng.choice(LEVELS[1:]))
        r_out = rng.choice(LEVELS, N)
    else:
        delta = float(rng.uniform(-1, 1))
        r_out = delta + np.where(
            np.arange(N) < N // 2, rng.uniform(0, 1, N), -rng.uniform(1e-6, 1, N)
        )
    d_fmt = float(rng.uniform(0, 1))
    r_fmt = rng.uniform(0, 2 * d_fmt + 1e-3, N) if case.levels == 3 else np.zeros(N)
    lengths = rng.integers(1, T + 1, N)
    t = np.arange(T)[:, None]
    last = t == (lengths - 1)[None, :]
    r_step = np.where(t < lengths, case.sign * rng.uniform(0, case.L, (T, N)), 0.0)
    channels = {"outcome": np.where(last, r_out, 0.0), "step": r_step}
    thresholds = [delta]
    if case.levels == 3:
        channels["format"] = np.where(last, r_fmt, 0.0)
        thresholds.append(d_fmt)
    thresholds = np.array(thresholds)
    if case.kind == "strict":  # r_high > δ instead of ≥ δ
        thresholds = np.nextafter(thresholds, np.inf)
    R = np.asarray(_runner(case.kind, case.levels)(channels, last, thresholds))
    return R, r_out, r_fmt, r_step.sum(0), delta, d_fmt


def _dominance_error(case: GraCase) -> float:
    R, r_out, r_fmt, _, delta, _ = _episodes(case)
    ok = r_out >= delta
    errs = [
        float(R[~ok].max() - R[ok].min()),  # every pass beats every fail
        float(np.max(np.abs(R[~ok] - r_out[~ok]))),
    ]  # failing: exactly r_high
    errs.append(float(R.max() - (r_out.max() + r_fmt.max() + T * case.L)))  # horizon bound
    return max(0.0, *errs)


def _cases(discrete: bool):
    draw = st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([2, 3]), st.floats(0.01, 2.0))
    return draw.map(lambda t: GraCase(*t, discrete=discrete))


GATE_DOMINANCE = Check(
    name="18a G-RA gate dominance: any passing episode beats any failing one",
    theorem="Sun et al. 2025 (arXiv 2508.10548), G-RA; theory.md 8",
    strategy=_cases(discrete=False),
    error=_dominance_error,
    tolerance=1e-12,
    mutations=(
        Mutation(
            "ungated D-RA",
            "low-priority rewards count only behind a passed gate",
            lambda c: c._replace(kind="dra"),
        ),
        Mutation("negative r_low", "r_low >= 0", lambda c: c._replace(sign=-1.0)),
    ),
    description="Streaming gated_reward_accumulation, 2 or 3 priority levels, 200 episodes.",
)


# ----------------------------------------------------------------------------- 18b
def _expected(case: GraCase):
    R, r_out, r_fmt, steps, delta, d_fmt = _episodes(case)
    out_ok = r_out >= delta
    all_ok = out_ok & (r_fmt >= d_fmt) if case.levels == 3 else out_ok
    expected = r_out + np.where(out_ok, r_fmt, 0.0) + np.where(all_ok, steps, 0.0)
    return R, expected, r_out, all_ok


def _passing_error(case: GraCase) -> float:
    R, expected, _, _ = _expected(case)
    return float(np.max(np.abs(R - expected))) / (1.0 + float(np.max(np.abs(expected))))


def _flipped(case: GraCase) -> float:
    """Fraction of pairs of passing episodes with distinct r_high ordered against r_high."""
    R, _, r_out, ok = _expected(case)
    i, j = np.triu_indices(int(ok.sum()), 1)
    Rp, hp = R[ok], r_out[ok]
    distinct = hp[i] != hp[j]
    flips = np.sign(Rp[i] - Rp[j]) != np.sign(hp[i] - hp[j])
    return float(np.sum(flips & distinct) / max(1, np.sum(distinct)))


PASSING_ORDER = Check(
    name="18b G-RA pays passing episodes the plain sum (not invariant among them)",
    theorem="Sun et al. 2025 (arXiv 2508.10548); theory.md 8 (caution), 11.18",
    strategy=_cases(discrete=True),
    error=_passing_error,
    tolerance=1e-12,
    attained=_flipped,
    mutations=(
        Mutation(
            "per-step gate on a sparse outcome",
            "gate on the episode's r_high",
            lambda c: c._replace(kind="per-step"),
        ),
        Mutation("strict gate", "gate is r_high >= delta", lambda c: c._replace(kind="strict")),
    ),
    description="attained = max fraction of passing pairs whose order flips vs r_high alone.",
)


test_gate_dominance = as_pytest(GATE_DOMINANCE)
test_passing_order = as_pytest(PASSING_ORDER)
