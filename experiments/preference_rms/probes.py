"""MRMBench: probing reward models' preference representations (issue 18).

**The system** ("Probing Preference Representations: A Multi-Dimensional Evaluation and Analysis
Method for Reward Models", MRMBench, 2025). Pairwise ranking test sets give one number per reward
model (RM) and say nothing about individual preference dimensions. MRMBench instead probes the
RM's representation: one probing task per preference dimension (six in the paper), a probe on the
frozen RM's hidden states; the benchmark score is the mean probe accuracy. The paper finds that
this score correlates strongly with the alignment performance of LLMs trained with the RM.

**Small-scale form.** RMs of varied quality are Bradley–Terry :class:`RewardMLP` s trained on
the multi-attribute testbed (:mod:`jaxrl.envs.preference_testbed`) from ``pair_counts`` ×
``flip_rates`` population-labelled pairs drawn from ``π_ref``, ``seeds`` RMs per condition. The
three gold attributes (quality, harmlessness, length) are the probing tasks. For each RM:

* **probe score** (the MRMBench score): the last hidden layer ``φ(p, a)`` on every (prompt,
  response); per attribute a closed-form ridge probe fitted on a random half of the responses
  (all prompts) and scored by *held-out pairwise ranking accuracy* (fraction of pairs of
  held-out responses to the same prompt that the probe orders like the gold attribute); the
  score is the mean over the three attributes (:mod:`jaxrl.analysis.probes`);
* **RM accuracy** (the classic benchmark, for comparison): the RM's expected pairwise accuracy
  on fresh pairs from ``π_ref`` labelled noise-free by the population utility, computed exactly
  (every within-prompt pair weighted by ``π_ref(a|p) π_ref(b|p)``);
* **gold**: PPO on the preference bandit with the RM's normalised table as reward
  (:func:`~experiments.preference_rms.common.train_on_tables`, every RM one run of one vmapped
  call); the mean episode gold utility over the last quarter of updates, normalised so that
  ``π_ref`` is 0 and the per-user best response is 1.

Kept: frozen-RM probing per dimension, a held-out split, correlation with the policy outcome
across RMs. Dropped: LLMs and text, the six real dimensions, classification probes (ours rank
continuous attributes), inference-time probing.

**Claims and verdict rules.** ρ is Spearman's rank correlation over the ``n`` RMs; its 95% CI is
the percentile bootstrap over RMs (2000 resamples; the same resamples for every score, so
differences are paired).

* ``preference_rms.probes.correlation``: the probe score correlates with the gold reward PPO
  reaches. Reproduced when the CI's lower limit of ρ(probe score, gold) > 0; partial when only
  the point estimate is > 0; not reproduced otherwise.
* ``preference_rms.probes.vs_accuracy`` (our comparison, not a claim of the paper's abstract):
  the probe score predicts gold better than the RM's own accuracy. Reproduced when the CI's
  lower limit of ρ(probe, gold) − ρ(RM accuracy, gold) > 0; partial when only the point
  estimate is > 0; not reproduced otherwise.

With fewer than 3 RMs (or a constant column) the claims are "not testable".
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.preference_rms.common import normalise_on_reference, train_on_tables
from jaxrl.analysis.probes import (
    bootstrap_spearman,
    hidden_features,
    probe_scores,
    ranking_accuracy,
)
from jaxrl.config import Config
from jaxrl.envs.preference_testbed import (
    ATTRIBUTES,
    PreferenceTestbedConfig,
    build_preference_testbed,
    expected_gold,
    sample_pairs,
)
from jaxrl.experiment.claims import Check, Claim, Estimate, claims_caption
from jaxrl.rewards.preference import PreferenceData, RewardMLP, bt_loss, fit_full_batch

EXPERIMENT = "preference_rms"
PAPER_NAME = "MRMBench (Probing Preference Representations of Reward Models, 2025)"
N_BOOT = 2000


@dataclasses.dataclass(frozen=True)
class Settings(Config):
    num_prompts: int = 8
    """P: prompts of the testbed"""
    num_responses: int = 32
    """K: responses per prompt"""
    testbed_seed: int = 0
    """seed of the testbed's tables (the same testbed for every RM)"""
    pair_counts: tuple[int, ...] = (32, 128, 512)
    """training pairs per RM (one condition each, crossed with flip_rates)"""
    flip_rates: tuple[float, ...] = (0.0, 0.2, 0.4)
    """label-flip rates of the RM's training labels"""
    rm_hidden: tuple[int, ...] = (64, 64)
    """hidden sizes of the RewardMLP (the probes read the last one)"""
    rm_steps: int = 200
    """full-batch AdamW steps per RM"""
    rm_lr: float = 3e-3
    """RM learning rate"""
    rm_weight_decay: float = 1e-4
    """RM AdamW weight decay"""
    probe_l2: float = 1e-2
    """ridge strength of the probes (per sample, on centred features of unit mean variance)"""
    probe_train_frac: float = 0.5
    """fraction of the responses whose (prompt, response) rows fit the probes"""
    ppo_steps: int = 8192
    """PPO environment steps per RM"""
    ppo_lr: float = 5e-3
    """PPO learning rate"""

    def check(self) -> None:
        for f in ("num_prompts", "num_responses", "rm_steps", "ppo_steps"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.num_responses >= 4, "num_responses", "need >= 4 (2 per split)")
        self.require(self.testbed_seed >= 0, "testbed_seed", "must be >= 0")
        self.require(
            len(self.pair_counts) > 0 and all(n >= 1 for n in self.pair_counts),
            "pair_counts",
            "need one or more counts >= 1",
        )
        self.require(
            len(self.flip_rates) > 0 and all(0.0 <= f <= 1.0 for f in self.flip_rates),
            "flip_rates",
            "need one or more rates in [0, 1]",
        )
        self.require(
            len(self.rm_hidden) > 0 and all(h >= 1 for h in self.rm_hidden),
            "rm_hidden",
            "need one or more hidden sizes >= 1",
        )
        for f in ("rm_lr", "ppo_lr"):
            self.require(getattr(self, f) > 0, f, "must be > 0")
        self.require(self.rm_weight_decay >= 0, "rm_weight_decay", "must be >= 0")
        self.require(self.probe_l2 > 0, "probe_l2", "must be > 0")
        self.require(0 < self.probe_train_frac < 1, "probe_train_frac", "must be in (0, 1)")


QUICK = Settings()
PAPER = Settings(
    num_responses=48,
    pair_counts=(16, 64, 256, 1024),
    flip_rates=(0.0, 0.2, 0.4),
    rm_steps=500,
    ppo_steps=16384,
)


def train_rms(model: RewardMLP, key, chosen, rejected, s: Settings):
    """``R`` BT RMs in one vmapped program (full-batch AdamW on :func:`bt_loss`, as
    :func:`~jaxrl.rewards.preference.train_bt_reward_model`): pairs ``[R, N, F]`` -> stacked
    params ``[R, ...]``."""
    tx = optax.adamw(s.rm_lr, weight_decay=s.rm_weight_decay)

    def fit(k, c, r):
        data = PreferenceData(c, r)
        params = model.init(k, c[:1])
        return fit_full_batch(lambda p: bt_loss(p, model.apply, data), params, tx, s.rm_steps)[0]

    keys = jax.random.split(key, chosen.shape[0])
    return jax.jit(jax.vmap(fit))(keys, chosen, rejected)


def _labelled_pairs(tb, n_pairs: int, keys, flips):
    """Population-labelled pairs from ``π_ref``, one set per key: ``(chosen, rejected)``
    ``[R, n_pairs, F]``. Labels are :func:`sample_pairs`' noise-free ones, then flipped with
    probability ``flips [R]`` (the flip step of :func:`label_pairs`, with a traced rate)."""

    def one(key, flip):
        k_pairs, k_flip = jax.random.split(key)
        pr = sample_pairs(k_pairs, tb, n_pairs)
        a_wins = jnp.logical_xor(pr.label > 0.5, jax.random.uniform(k_flip, (n_pairs,)) < flip)
        a_wins = a_wins[:, None]
        return jnp.where(a_wins, pr.x_a, pr.x_b), jnp.where(a_wins, pr.x_b, pr.x_a)

    return jax.vmap(one)(keys, flips)


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Train ``len(pair_counts) × len(flip_rates) × seeds`` RMs, probe them, run PPO on each."""
    s = settings
    if seeds < 1:
        raise ValueError(f"probes.run: seeds={seeds} must be >= 1")
    tb = build_preference_testbed(
        PreferenceTestbedConfig(
            seed=s.testbed_seed, num_prompts=s.num_prompts, num_responses=s.num_responses
        )
    )
    U, P, K = tb.shape
    k_data, k_rm, k_split, k_ppo = jax.random.split(jax.random.key(seed), 4)
    perm = np.asarray(jax.random.permutation(k_split, K))
    n_tr = min(max(2, round(s.probe_train_frac * K)), K - 2)
    train_idx, test_idx = np.sort(perm[:n_tr]), np.sort(perm[n_tr:])
    pop_gold = tb.population_gold  # [P, K]
    model = RewardMLP(tuple(s.rm_hidden))

    @jax.jit
    def evaluate(params):  # one RM -> (probe acc [M], probe r2 [M], rm acc, table [P, K])
        phi = hidden_features(model, params, tb.features)
        acc, r2 = probe_scores(phi, tb.attributes, train_idx, test_idx, s.probe_l2)
        r = model.apply(params, tb.features)
        return acc, r2, ranking_accuracy(r, pop_gold, tb.ref_probs), r

    n_cond = len(s.flip_rates) * seeds
    flips = jnp.repeat(jnp.asarray(s.flip_rates, jnp.float32), seeds)  # [n_cond]
    rows: dict[str, list] = {k: [] for k in ("pairs", "flip", "probe_acc", "probe_r2", "rm_acc")}
    tables = []
    for i, n_pairs in enumerate(s.pair_counts):
        keys = jax.random.split(jax.random.fold_in(k_data, i), n_cond)
        chosen, rejected = jax.jit(functools.partial(_labelled_pairs, tb, int(n_pairs)))(
            keys, flips
        )
        rows["pairs"] += [int(n_pairs)] * n_cond
        rows["flip"] += np.asarray(flips, np.float64).round(6).tolist()
        params = train_rms(
            model, jax.random.fold_in(k_rm, i), jnp.stack(chosen), jnp.stack(rejected), s
        )
        acc, r2, rm_acc, table = jax.vmap(evaluate)(params)
        rows["probe_acc"] += np.asarray(acc, np.float64).tolist()
        rows["probe_r2"] += np.asarray(r2, np.float64).tolist()
        rows["rm_acc"] += np.asarray(rm_acc, np.float64).tolist()
        tables.append(table)
    tables = normalise_on_reference(jnp.concatenate(tables), tb)
    metrics = train_on_tables(tb, tables, k_ppo, s.ppo_steps, learning_rate=s.ppo_lr)
    curve = np.asarray(metrics["return_gold_reward"], np.float64)  # [R, updates]
    final = curve[:, -max(1, curve.shape[1] // 4) :].mean(1)
    g_ref = float(jnp.sum(tb.user_fractions * expected_gold(tb, tb.ref_logits)))
    g_max = float(jnp.sum(tb.user_fractions * jnp.mean(jnp.max(tb.gold, -1), -1)))
    rows["gold"] = ((final - g_ref) / (g_max - g_ref)).tolist()
    probe = np.asarray(rows["probe_acc"])
    return {
        **rows,
        "probe_score": probe.mean(1).tolist(),
        "attributes": list(ATTRIBUTES),
        "gold_ref": g_ref,
        "gold_max": g_max,
        "num_rms": len(rows["gold"]),
        "probe_train_responses": int(n_tr),
    }


def _est(rho: float, boot: np.ndarray, n: int) -> Estimate:
    ok = boot[np.isfinite(boot)]
    if not math.isfinite(rho) or ok.size == 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return Estimate(rho, min(lo, rho), max(hi, rho), n)


def _grade(name: str, e: Estimate) -> Check:
    if not math.isfinite(e.point):
        return Check("not testable", f"{name} undefined (constant scores)")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} {e.fmt()} (n={e.n} RMs): CI lower limit {e.lo:.3g} vs 0")


def correlations(summary: dict, seed: int = 0) -> dict[str, Estimate]:
    """Spearman ρ with gold (and bootstrap CIs over RMs) of the probe score, each attribute's
    probe, the RM's accuracy, and ρ(probe) − ρ(RM accuracy)."""
    gold = np.asarray(summary["gold"], np.float64)
    acc = np.asarray(summary["probe_acc"], np.float64)
    rows = {"probe score": summary["probe_score"], "RM accuracy": summary["rm_acc"]}
    rows |= {f"probe {a}": acc[:, m] for m, a in enumerate(summary["attributes"])}
    rho, boot = bootstrap_spearman(np.stack(list(rows.values())), gold, N_BOOT, seed)
    n = gold.size
    out = {f"ρ({k}, gold)": _est(rho[i], boot[:, i], n) for i, k in enumerate(rows)}
    out["ρ(probe) − ρ(RM acc)"] = _est(rho[0] - rho[1], boot[:, 0] - boot[:, 1], n)
    return out


def claims(summary: dict) -> list[Claim]:
    """The two claims of the module docstring."""
    st1 = "The probe (MRMBench) score of an RM correlates with the gold reward PPO reaches with it."
    r1 = "Spearman ρ over RMs, bootstrap 95% CI over RMs: lower limit > 0 (point > 0 only: partial)"
    st2 = "The probe score predicts PPO's gold reward better than the RM's own accuracy does."
    r2 = "CI lower limit of ρ(probe, gold) − ρ(RM accuracy, gold) > 0 (point > 0 only: partial)"
    ids = [f"{EXPERIMENT}.probes.correlation", f"{EXPERIMENT}.probes.vs_accuracy"]
    if len(summary.get("gold", [])) < 3:
        none = Check("not testable", "fewer than 3 RMs")
        return [
            Claim.from_check(ids[0], EXPERIMENT, PAPER_NAME, st1, {}, r1, none),
            Claim.from_check(ids[1], EXPERIMENT, PAPER_NAME, st2, {}, r2, none),
        ]
    c = correlations(summary)
    q1 = {k: v for k, v in c.items() if k.startswith("ρ(probe")}
    q2 = {k: c[k] for k in ("ρ(probe score, gold)", "ρ(RM accuracy, gold)", "ρ(probe) − ρ(RM acc)")}
    return [
        Claim.from_check(
            ids[0],
            EXPERIMENT,
            PAPER_NAME,
            st1,
            q1,
            r1,
            _grade("ρ(probe score, gold)", q1[next(iter(q1))]),
        ),
        Claim.from_check(
            ids[1],
            EXPERIMENT,
            PAPER_NAME,
            st2,
            q2,
            r2,
            _grade("ρ(probe) − ρ(RM acc)", q2["ρ(probe) − ρ(RM acc)"]),
        ),
    ]


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Scatter of gold against the probe score and against RM accuracy, and each score's ρ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gold = np.asarray(summary["gold"])
    pairs, flip = np.asarray(summary["pairs"]), np.asarray(summary["flip"])
    fig, ax = plt.subplots(1, 3, figsize=(13, 4.2))
    for a, key, label in (
        (ax[0], "probe_score", "probe score (mean held-out ranking acc.)"),
        (ax[1], "rm_acc", "RM accuracy (π_ref pairs, population gold)"),
    ):
        sc = a.scatter(summary[key], gold, c=np.log2(pairs), s=18 + 60 * flip, cmap="viridis")
        a.set_xlabel(label)
        a.set_ylabel("PPO gold (0 = π_ref, 1 = best)")
    fig.colorbar(sc, ax=ax[1], label="log2 pairs (size: flip rate)")
    c = correlations(summary) if gold.size >= 3 else {}
    names = [k for k in c if k.endswith(", gold)")]
    pts = np.array([c[k].point for k in names])
    err = np.array([[c[k].point - c[k].lo for k in names], [c[k].hi - c[k].point for k in names]])
    ax[2].bar(range(len(names)), pts, yerr=err, capsize=3, color="tab:blue")
    ax[2].set_xticks(range(len(names)), [k[2:-7] for k in names], rotation=30, ha="right")
    ax[2].axhline(0, color="k", lw=0.5)
    ax[2].set_ylabel("Spearman ρ with PPO gold (95% CI)")
    lines = [f"{summary['num_rms']} RMs; " + "; ".join(f"{k} = {c[k].fmt()}" for k in c)]
    fig.text(0.01, 0.01, "\n".join([*lines, claims_caption(cl)]), fontsize=6.5, wrap=True,
             va="bottom")  # fmt: skip
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "preference_rms_probes.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
