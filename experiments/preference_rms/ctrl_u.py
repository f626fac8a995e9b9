"""Ctrl-U on the preference bandit: does uncertainty weighting delay reward over-optimisation?

**System** (Zhang et al., "Ctrl-U: Robust Conditional Image Generation via Uncertainty-aware
Reward Modeling", ICLR 2025): a reward model gives inaccurate feedback on newly generated data;
Ctrl-U estimates the reward's uncertainty from its prediction variance and rectifies the reward,
down-weighting rewards with high uncertainty (:mod:`jaxrl.rewards.uncertainty`).

**Small-scale form.** Kept: a reward model fitted once on data from a reference policy, a policy
optimised against it (distribution shift), the variance of reward predictions as the
uncertainty, and the rectified reward ``w(σ)·μ`` with ``w = exp(−σ/τ)``. Changed / dropped: the
variance is that of an ensemble of ``E`` BT MLPs (own init + bootstrap resample) instead of two
diffusion samples under one condition; the policy is PPO on the bandit (not a diffusion model's
fine-tuning loss); the paper's consistency regulariser is dropped. Variant: the lower confidence
bound ``μ − κσ``.

**Setting.** ``num_pairs`` pairs from ``π_ref`` (short-winded: mean length ≈ 0.2), labelled by the
population; the gold length attribute rises up to ℓ* = 0.35 and falls beyond, so an RM fitted on
short responses can extrapolate "longer is better". The ensemble is evaluated on every
(prompt, response); ``μ`` is normalised on ``π_ref`` (mean 0, std 1) and ``σ`` by the same scale;
each condition's table goes to PPO through ``train_on_tables`` (all conditions × seeds in one
vmapped call). Gold = ``return_gold_reward`` per update, smoothed by a moving mean of ``smooth``
updates; per run: the update index of the smoothed gold's peak, the peak value, the final value
(mean of the last ``smooth`` updates) and the drop = peak − final.

**Claims and verdict rules** (mean over seeds, 95% bootstrap CIs; paired per seed, since every
condition of a seed shares its preference data and ensemble):

* ``overopt`` (the precondition, not a paper claim): with the plain ensemble-mean RM the gold
  peaks then falls: CI lower limit of the drop > 0 → reproduced; point > 0 only → partial.
* ``delay`` (Ctrl-U, τ = ``main_tau``) and ``delay_lcb`` (LCB, κ = ``main_kappa``): two checks on
  the per-seed differences to the plain mean RM, (i) peak update index later, (ii) peak gold
  higher; each reproduced when its CI lower limit > 0, partial when only the point is > 0;
  combined with :func:`jaxrl.experiment.claims.combine` ("all").
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from experiments.preference_rms.common import normalise_on_reference, train_on_tables
from jaxrl.envs.preference_testbed import (
    PreferenceTestbedConfig,
    build_preference_testbed,
    sample_pairs,
)
from jaxrl.experiment.claims import Check, Claim, claims_caption, combine, estimate
from jaxrl.rewards.uncertainty import ensemble_mean_std, rectify, train_bt_ensemble

EXPERIMENT = "preference_rms"
CITATION = "Ctrl-U (Zhang et al., ICLR 2025)"


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    testbed_seed: int = 0
    """seed of the preference testbed (prompts, responses, attributes)"""
    num_prompts: int = 8
    """P prompts"""
    num_responses: int = 32
    """K responses per prompt"""
    ref_length_penalty: float = 6.0
    """λ: how short-winded π_ref (the RM's data policy) is"""
    num_pairs: int = 64
    """preference pairs from π_ref per seed (few: the RM must extrapolate)"""
    flip_rate: float = 0.0
    """label-flip probability of the labellers"""
    members: int = 5
    """ensemble size E"""
    rm_steps: int = 300
    """full-batch AdamW steps per ensemble member"""
    rm_hidden: tuple[int, ...] = (64, 64)
    """RM MLP hidden sizes"""
    taus: tuple[float, ...] = (0.5, 1.0)
    """Ctrl-U temperatures τ of w = exp(−σ/τ) (σ in π_ref-normalised units)"""
    kappas: tuple[float, ...] = (1.0, 2.0)
    """LCB coefficients κ of μ − κσ"""
    main_tau: float = 1.0
    """the τ the `delay` claim tests (one of taus)"""
    main_kappa: float = 1.0
    """the κ the `delay_lcb` claim tests (one of kappas)"""
    ppo_steps: int = 32768
    """PPO env steps per run (256 per update)"""
    learning_rate: float = 1e-3
    """PPO learning rate"""
    ent_coef: float = 0.01
    """PPO entropy coefficient"""
    smooth: int = 8
    """moving-mean window (updates) of the gold curve"""

    def check(self) -> None:
        for f in ("num_prompts", "num_responses", "num_pairs", "rm_steps", "smooth"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.members >= 2, "members", "need >= 2 members for a spread")
        self.require(0.0 <= self.flip_rate <= 0.5, "flip_rate", "must be in [0, 0.5]")
        self.require(self.ppo_steps >= 256 * 2 * self.smooth, "ppo_steps", "< 2 smooth windows")
        self.require(all(t > 0 for t in self.taus), "taus", "must be > 0")
        self.require(all(k >= 0 for k in self.kappas), "kappas", "must be >= 0")
        self.require(self.main_tau in self.taus, "main_tau", "must be one of taus")
        self.require(self.main_kappa in self.kappas, "main_kappa", "must be one of kappas")
        self.require(self.learning_rate > 0, "learning_rate", "must be > 0")

    def conditions(self) -> list[tuple[str, str, float]]:
        """``(name, mode, coef)`` per condition; the first is the plain ensemble mean."""
        out = [("mean", "lcb", 0.0)]
        out += [(f"ctrl_u tau={t:g}", "ctrl_u", t) for t in self.taus]
        out += [(f"lcb kappa={k:g}", "lcb", k) for k in self.kappas]
        return out


QUICK = Settings()
PAPER = Settings(
    members=8, taus=(0.25, 0.5, 1.0, 2.0), kappas=(0.5, 1.0, 2.0), ppo_steps=65536, smooth=16
)


def _tables(settings: Settings, tb, key) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One seed: pairs from π_ref -> ensemble -> (condition tables [C, P, K], μ, σ [P, K])."""
    k_data, k_rm = jax.random.split(key)
    pairs = sample_pairs(k_data, tb, settings.num_pairs, flip_rate=settings.flip_rate)
    fit = train_bt_ensemble(
        k_rm, pairs.x_a, pairs.x_b, pairs.label, settings.members, settings.rm_hidden,
        settings.rm_steps,
    )  # fmt: skip
    mean, std = ensemble_mean_std(fit.rewards(tb.features))  # [P, K] each
    mu = normalise_on_reference(mean, tb)
    # σ in μ's units: divide by the π_ref std of the raw mean (as normalise_on_reference does)
    p = tb.ref_probs
    c = jnp.mean(jnp.sum(p * mean, -1))
    sd_ref = jnp.sqrt(jnp.mean(jnp.sum(p * (mean - c) ** 2, -1)))
    sigma = std / jnp.maximum(sd_ref, 1e-8)
    tables = [rectify(mu, sigma, c, mode) for _, mode, c in settings.conditions()]
    return jnp.stack(tables), mu, sigma


def _smooth(x: np.ndarray, w: int) -> np.ndarray:
    """Moving mean over the last axis (``valid`` windows): ``[..., T] -> [..., T − w + 1]``."""
    c = np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 0)]), -1)
    return (c[..., w:] - c[..., :-w]) / w


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All seeds × conditions; returns per-condition, per-seed peak index, peak, final gold."""
    settings.check()
    tb = build_preference_testbed(
        PreferenceTestbedConfig(
            seed=settings.testbed_seed,
            num_prompts=settings.num_prompts,
            num_responses=settings.num_responses,
            ref_length_penalty=settings.ref_length_penalty,
        )
    )
    k_rm, k_ppo = jax.random.split(jax.random.key(seed))
    tables, mu, sigma = jax.jit(jax.vmap(lambda k: _tables(settings, tb, k)))(
        jax.random.split(k_rm, seeds)
    )  # [S, C, P, K], [S, P, K]
    conds = settings.conditions()
    C = len(conds)
    flat = tables.reshape(seeds * C, *tables.shape[2:])
    metrics = train_on_tables(
        tb, flat, k_ppo, settings.ppo_steps, learning_rate=settings.learning_rate,
        ent_coef=settings.ent_coef,
    )  # fmt: skip
    gold = np.asarray(metrics["return_gold_reward"], np.float64).reshape(seeds, C, -1)
    sm = _smooth(gold, settings.smooth)
    peak_idx = np.argmax(sm, -1) + settings.smooth - 1  # update index at the window's end
    # RM diagnostics: the normalised μ's argmax per prompt, its gold and length
    g = np.asarray(tb.population_gold)
    am = np.argmax(np.asarray(mu), -1)  # [S, P]
    rows = np.arange(g.shape[0])
    lengths = np.asarray(tb.lengths)
    ref = np.asarray(tb.ref_probs)
    summary = {
        "settings": jaxrl.config.to_json_dict(settings),
        "conditions": [c[0] for c in conds],
        "updates": int(gold.shape[-1]),
        "gold_curve_mean": gold.mean(0).tolist(),  # [C, T] over seeds
        "gold_curve_smooth": sm.tolist(),  # [S, C, T']
        "rm_argmax_gold": [float(np.mean(g[rows, a])) for a in am],
        "rm_argmax_length": [float(np.mean(lengths[a])) for a in am],
        "ref_gold": float(np.mean(np.sum(ref * g, -1))),
        "best_gold": float(np.mean(g.max(-1))),
        "ref_length": float(np.mean(ref @ lengths)),
        "sigma_median": [float(np.median(s)) for s in np.asarray(sigma)],
        "per_condition": {},
    }
    for c, (name, _, _) in enumerate(conds):
        summary["per_condition"][name] = {
            "peak_index": peak_idx[:, c].astype(float).tolist(),
            "peak_gold": sm[:, c].max(-1).tolist(),
            "final_gold": sm[:, c, -1].tolist(),
            "drop": (sm[:, c].max(-1) - sm[:, c, -1]).tolist(),
        }
    return summary


def _positive(name: str, x) -> tuple[Check, object]:
    """Check "x > 0" on a per-seed sample: CI lower limit > 0 reproduced, point > 0 partial."""
    e = estimate(np.asarray(x, np.float64), "mean")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} {e.fmt()}"), e


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.ctrl_u.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """``overopt``, ``delay`` (Ctrl-U), ``delay_lcb`` (see the module docstring)."""
    pc = summary.get("per_condition", {})
    st = summary.get("settings", {})
    out = []
    s0 = "With the plain ensemble-mean RM, gold utility peaks and then falls (over-optimisation)."
    r0 = "CI lower limit of (peak − final smoothed gold) > 0; point > 0 only: partial"
    if "mean" in pc:
        chk, e = _positive("drop", pc["mean"]["drop"])
        q = {"drop mean-RM": e, "peak gold mean-RM": estimate(pc["mean"]["peak_gold"], "mean")}
        out.append(_claim("overopt", s0, q, r0, chk))
    else:
        out.append(_claim("overopt", s0, {}, r0, Check("not testable", "no mean-RM runs")))
    for tag, name, what in (
        ("delay", f"ctrl_u tau={st.get('main_tau', float('nan')):g}", "Ctrl-U weighting"),
        ("delay_lcb", f"lcb kappa={st.get('main_kappa', float('nan')):g}", "the LCB variant"),
    ):
        s = (
            f"Under distribution shift, {what} ({name}) delays over-optimisation: the gold peak "
            "comes later and is higher than with the plain mean RM."
        )
        r = (
            "paired per-seed differences to mean-RM: (i) peak update index, (ii) peak gold; "
            "each CI lower limit > 0 (point > 0 only: partial); both needed"
        )
        if name not in pc or "mean" not in pc:
            out.append(_claim(tag, s, {}, r, Check("not testable", f"no runs of {name}")))
            continue
        a, b = pc[name], pc["mean"]
        d_idx = np.subtract(a["peak_index"], b["peak_index"])
        d_peak = np.subtract(a["peak_gold"], b["peak_gold"])
        c1, e1 = _positive("Δ peak index", d_idx)
        c2, e2 = _positive("Δ peak gold", d_peak)
        q = {
            "Δ peak index": e1,
            "Δ peak gold": e2,
            f"final gold {name}": estimate(a["final_gold"], "mean"),
            "final gold mean-RM": estimate(b["final_gold"], "mean"),
        }
        out.append(_claim(tag, s, q, r, combine({"later": c1, "higher": c2})))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Gold curves (mean over seeds) per condition, with the claims as the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves = np.asarray(summary["gold_curve_mean"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, c in zip(summary["conditions"], curves, strict=True):
        ax.plot(np.arange(c.size), c, label=name, lw=1.2)
    ax.axhline(summary["ref_gold"], color="k", ls=":", lw=0.8, label="π_ref gold")
    ax.set_xlabel("PPO update")
    ax.set_ylabel("gold utility of sampled responses")
    ax.legend(fontsize=7)
    pk = summary["per_condition"]
    lines = [
        f"{n}: peak {np.mean(pk[n]['peak_gold']):.2f} at update "
        f"{np.mean(pk[n]['peak_index']):.0f}, final {np.mean(pk[n]['final_gold']):.2f}"
        for n in summary["conditions"]
    ]
    first = summary["settings"]["smooth"] - 1  # a peak in the first window: no rise at all
    n_first = int(np.sum(np.asarray(pk["mean"]["peak_index"]) == first))
    caption = (
        f"RM argmax length {np.mean(summary['rm_argmax_length']):.2f} (π_ref mean "
        f"{summary['ref_length']:.2f}, ℓ*=0.35); PPO starts from the uniform policy; mean-RM "
        f"gold peaks in the first window in {n_first} of {len(pk['mean']['peak_index'])} seeds. "
        + "; ".join(lines)
        + "\n"
        + claims_caption(cl)
    )
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.4)
    path = out / "preference_rms_ctrl_u.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
