"""POLAR (policy discriminators as reward models) against Bradley–Terry on the preference bandit.

**The system** (Dou et al., 2025, "Pre-Trained Policy Discriminators are General Reward Models"):
a reward model is a *policy discriminator* ``r(reference, candidate)`` that says how much a
candidate looks like the output of the policy that produced the reference; it is pre-trained
(Policy Discriminative Learning) on a population of policies to tell samples of the same policy
from those of a different one, and then rewards a policy for behaving like a target policy given
a few of the target's samples (:mod:`jaxrl.rewards.polar`).

**Small-scale form.** The testbed is :mod:`jaxrl.envs.preference_testbed` (P prompts x K
responses); a "policy" is a softmax table ``logits [P, K]`` and a "response" a table entry
with RM features ``x(p, a)``. We use the bandit rather than trajectories because every
divergence between the learned and the target policy is then exact. Policies (population and
targets alike) are ``π_w ∝ exp(α · std_p(A w))``: a random direction ``w ~ N(0, I₃)`` over the
gold attributes ``A [P, K, 3]``, standardised over responses per prompt, at a random inverse
temperature ``α ~ U[temp_lo, temp_hi]``. Per seed: a fresh population of ``population``
policies pre-trains the discriminator (each triplet uses 1..M references); the target is a new
draw (not in the population). Kept: the contrastive BT pre-training objective over (reference,
same-policy, other-policy) samples, the use of target samples as the reference, RL on the
discriminator's score. Dropped: language models, scale, the SFT stage, prompt-matched
references (ours are at random prompts, and the reference is a set, mean-embedded).

**Labels.** One label = one query answered by the target: POLAR gets ``n`` samples of the
target (its reference set); BT gets ``n`` pairs at a uniform prompt (two distinct responses
drawn uniformly by default, which informs BT more than pairs from the peaked ``π_ref``),
labelled by which response the target gives the higher log-probability (flipped with
probability ``flip_rate``), and fits :func:`jaxrl.rewards.preference.train_bt_reward_model`.
POLAR's pre-training uses no target information (synthetic population; free in this count).

**Use.** Each RM is evaluated on every (p, a), normalised on ``π_ref``, and PPO learns from the
table (the one reward path, :func:`jaxrl.rewards.reward_model.bandit_table_reward`), as in
:func:`experiments.preference_rms.common.train_on_tables`, but keeping the final policy so its
response distribution is exact. An "oracle" run uses the target's own log-probability as reward.

**Claims and verdict rules** (mean over seeds, 95% bootstrap CI):

* ``polar.closer``: the learned policy's divergence from the target, ``KL(π ‖ π_T)`` averaged
  over prompts and users (exact), is lower with the POLAR reward than with a BT RM on the same
  number of labels. Per label budget: reproduced when BT's CI lies above POLAR's, partial when
  only POLAR's mean is lower, not reproduced otherwise; over budgets: all reproduced.
* ``polar.discriminates``: the pre-trained discriminator tells held-out policies apart: its
  triplet accuracy on a fresh population (lower CI limit) > 0.5.
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
    label_pairs,
)
from jaxrl.experiment.claims import Claim, ci_bound, ci_greater, claims_caption, combine, estimate
from jaxrl.rewards.polar import (
    PolicyDiscriminator,
    polar_accuracy,
    polar_batch,
    polar_reward,
    sample_table,
    train_polar,
)
from jaxrl.rewards.preference import preference_pairs, train_bt_reward_model

EXPERIMENT = "preference_rms"


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    num_prompts: int = 8
    """P prompts of the testbed"""
    num_responses: int = 32
    """K responses per prompt"""
    labels: tuple[int, ...] = (16,)
    """label budgets n: POLAR's reference samples of the target = BT's labelled pairs"""
    population: int = 64
    """policies in POLAR's pre-training population (per seed)"""
    temp_lo: float = 1.0
    """lowest inverse temperature α of a population/target policy"""
    temp_hi: float = 4.0
    """highest inverse temperature α"""
    pretrain_steps: int = 1000
    """Adam steps of POLAR pre-training (fresh triplets each step)"""
    pretrain_batch: int = 128
    """triplets per pre-training step"""
    pretrain_lr: float = 1e-3
    """POLAR pre-training learning rate"""
    bt_steps: int = 500
    """full-batch AdamW steps of the BT fit"""
    bt_pairs: str = "uniform"
    """BT's pairs: "uniform" (two distinct responses) or "ref" (both from π_ref, often equal)"""
    flip_rate: float = 0.0
    """probability a BT label is flipped (the issue's noise range is 0-0.4)"""
    ppo_steps: int = 8192
    """PPO environment steps per run"""
    ent_coef: float = 0.01
    """PPO entropy bonus"""
    eval_policies: int = 16
    """held-out policies for the discrimination accuracy"""

    def check(self) -> None:
        for f in ("num_prompts", "num_responses", "pretrain_steps", "pretrain_batch", "bt_steps",
                  "ppo_steps"):  # fmt: skip
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.population >= 2, "population", "needs >= 2 policies")
        self.require(self.eval_policies >= 2, "eval_policies", "needs >= 2 policies")
        self.require(len(self.labels) >= 1 and min(self.labels) >= 1, "labels", "budgets >= 1")
        self.require(0 < self.temp_lo <= self.temp_hi, "temp_lo", "need 0 < temp_lo <= temp_hi")
        self.require(0.0 <= self.flip_rate <= 0.5, "flip_rate", "must be in [0, 0.5]")
        self.require(self.bt_pairs in ("uniform", "ref"), "bt_pairs", "'uniform' or 'ref'")
        self.require(self.ent_coef >= 0, "ent_coef", "must be >= 0")
        self.require(self.pretrain_lr > 0, "pretrain_lr", "must be > 0")

    @property
    def testbed(self) -> PreferenceTestbedConfig:
        return PreferenceTestbedConfig(num_prompts=self.num_prompts,
                                       num_responses=self.num_responses)  # fmt: skip


QUICK = Settings()
PAPER = Settings(labels=(4, 8, 16, 32, 64), population=128, pretrain_steps=4000,
                 ppo_steps=32768, eval_policies=32)  # fmt: skip
PAPER_NAME = "Dou et al., Pre-Trained Policy Discriminators are General Reward Models (POLAR)"


def policy_family(key, attributes, n: int, temp_lo: float, temp_hi: float):
    """``n`` table policies ``[n, P, K]``: ``α · std_p(A w)``, ``w ~ N(0, I)``, ``α ~ U``."""
    k_w, k_a = jax.random.split(key)
    w = jax.random.normal(k_w, (n, attributes.shape[-1]))
    s = jnp.einsum("pkm,nm->npk", attributes, w)
    s = (s - s.mean(-1, keepdims=True)) / (s.std(-1, keepdims=True) + 1e-6)
    return jax.random.uniform(k_a, (n, 1, 1), minval=temp_lo, maxval=temp_hi) * s


def divergences(logits, target_logits):
    """Exact ``KL(π ‖ π_T)`` and total variation, averaged over the leading prompt axes:
    ``logits [..., P, K]`` vs ``target_logits [P, K]`` -> two ``[...]``."""
    lp, lt = jax.nn.log_softmax(logits, -1), jax.nn.log_softmax(target_logits, -1)
    kl = jnp.sum(jnp.exp(lp) * (lp - lt), -1).mean(-1)
    tv = 0.5 * jnp.sum(jnp.abs(jnp.exp(lp) - jnp.exp(lt)), -1).mean(-1)
    return kl, tv


def bt_pairs(key, ref_logits, n: int, source: str):
    """``n`` unlabelled pairs ``(p, a, b)`` ``[n]`` each at uniform prompts: ``"uniform"``: two
    distinct responses uniformly; ``"ref"``: both from ``π_ref`` (``ref_logits [P, K]``)."""
    k_p, k_a, k_b = jax.random.split(key, 3)
    P, K = ref_logits.shape
    if source == "ref":
        p, a = sample_table(k_a, ref_logits, n)
        return p, a, jax.random.categorical(k_b, ref_logits[p]).astype(jnp.int32)
    p = jax.random.randint(k_p, (n,), 0, P)
    a = jax.random.randint(k_a, (n,), 0, K)
    return p, a, (a + jax.random.randint(k_b, (n,), 1, K)) % K


def _rms_one_seed(key, tb, s: Settings, model: PolicyDiscriminator):
    """One seed's reward tables ``[n_budgets, 2, P, K]`` (POLAR, BT), target logits ``[P, K]``
    and held-out discrimination accuracy ``[]``."""
    k_pop, k_tgt, k_fit, k_eval, k_lab = jax.random.split(key, 5)
    M = max(s.labels)
    fam = lambda k, n: policy_family(k, tb.attributes, n, s.temp_lo, s.temp_hi)
    fit = train_polar(k_fit, fam(k_pop, s.population), tb.features, model,
                      steps=s.pretrain_steps, batch=s.pretrain_batch, max_refs=M,
                      learning_rate=s.pretrain_lr)  # fmt: skip
    k_e1, k_e2 = jax.random.split(k_eval)
    held = polar_batch(k_e1, fam(k_e2, s.eval_policies), 1024, M)
    acc = polar_accuracy(fit.params, model, tb.features, held)
    target = fam(k_tgt, 1)[0]
    log_t = jax.nn.log_softmax(target, -1)
    tables = []
    for i, n in enumerate(s.labels):
        k_ref, k_pairs, k_flip, k_bt = jax.random.split(jax.random.fold_in(k_lab, i), 4)
        p, a = sample_table(k_ref, target, n)  # n labels: n samples of the target
        polar = polar_reward(fit.params, model, tb.features[p, a], tb.features)
        # n labels: n pairs from π_ref, labelled by the target's log-probability
        pp, pa, pb = bt_pairs(k_pairs, tb.ref_logits, n, s.bt_pairs)
        lab = label_pairs(k_flip, log_t[pp, pa], log_t[pp, pb], s.flip_rate)
        data = preference_pairs(tb.features[pp, pa], tb.features[pp, pb], lab > 0.5)
        bt = train_bt_reward_model(k_bt, data, steps=s.bt_steps)
        tables.append(jnp.stack([polar, bt.reward(tb.features)]))
    tables = jnp.stack(tables)
    return normalise_on_reference(tables, tb), target, acc


def _ppo_policies(tb, tables, key, s: Settings):
    """PPO on each table ``[n, P, K]`` (:func:`~experiments.preference_rms.common.train_on_tables`);
    the final policies' exact logits ``[n, U, P, K]``."""
    _, policy = train_on_tables(
        tb, tables, key, s.ppo_steps, ent_coef=s.ent_coef, num_chunks=1, return_policy=True
    )
    return policy


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All seeds vmapped: pre-train, label, fit, PPO, exact divergences (see the docstring)."""
    s = settings
    if int(seeds) < 1:
        raise ValueError(f"run: seeds={seeds} must be >= 1")
    tb = build_preference_testbed(s.testbed)
    model = PolicyDiscriminator()
    k_rm, k_ppo = jax.random.split(jax.random.key(seed))
    tables, targets, acc = jax.jit(jax.vmap(lambda k: _rms_one_seed(k, tb, s, model)))(
        jax.random.split(k_rm, seeds)
    )  # [S, B, 2, P, K], [S, P, K], [S]
    oracle = normalise_on_reference(jax.nn.log_softmax(targets, -1), tb)  # [S, P, K]
    S, B = seeds, len(s.labels)
    flat = jnp.concatenate([tables.reshape(S * B * 2, *tb.ref_logits.shape), oracle])
    pol = _ppo_policies(tb, flat, k_ppo, s)  # [S*B*2 + S, U, P, K]
    w = tb.user_fractions
    kl, tv = divergences(pol, jnp.concatenate([jnp.repeat(targets, B * 2, 0), targets])[:, None])
    kl, tv = (jnp.einsum("nu,u->n", x, w) for x in (kl, tv))
    kl_rm, kl_or = kl[: S * B * 2].reshape(S, B, 2), kl[S * B * 2 :]
    tv_rm, tv_or = tv[: S * B * 2].reshape(S, B, 2), tv[S * B * 2 :]
    kl_ref, _ = divergences(jnp.broadcast_to(tb.ref_logits, targets.shape), targets)
    lt = jax.nn.log_softmax(targets, -1)[:, None, None]
    corr = jnp.mean(  # per-prompt Pearson correlation of each table with log π_T
        jnp.sum(_z(tables) * _z(jnp.broadcast_to(lt, tables.shape)), -1) / tables.shape[-1], -1
    )
    f = lambda x: np.asarray(x, np.float64).tolist()
    out = {"labels": list(s.labels), "seeds": int(seeds), "accuracy": f(acc),
           "kl_oracle": f(kl_or), "tv_oracle": f(tv_or), "kl_ref": f(kl_ref)}  # fmt: skip
    for b, n in enumerate(s.labels):
        for r, name in enumerate(("polar", "bt")):
            out[f"kl_{name}_{n}"] = f(kl_rm[:, b, r])
            out[f"tv_{name}_{n}"] = f(tv_rm[:, b, r])
            out[f"corr_{name}_{n}"] = f(corr[:, b, r])
    return out


def _z(x):
    x = x - x.mean(-1, keepdims=True)
    return x / (x.std(-1, keepdims=True) + 1e-8)


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(f"{EXPERIMENT}.polar.{tag}", EXPERIMENT, PAPER_NAME, statement,
                            quantities, rule, check)  # fmt: skip


def claims(summary: dict) -> list[Claim]:
    """``polar.closer`` and ``polar.discriminates`` (rules in the module docstring)."""
    st = "The pre-trained POLAR reward brings PPO closer to the target than BT on as many labels."
    rule = "per budget: BT's KL(π‖π_T) CI above POLAR's (mean only: partial); every budget"
    budgets = [n for n in summary.get("labels", []) if f"kl_polar_{n}" in summary]
    q, checks = {}, {}
    for n in budgets:
        a, b = estimate(summary[f"kl_bt_{n}"], "mean"), estimate(summary[f"kl_polar_{n}"], "mean")
        q[f"KL BT n={n}"], q[f"KL POLAR n={n}"] = a, b
        # reported, not in the rule: the paired (same target) per-seed difference
        d = np.subtract(summary[f"kl_bt_{n}"], summary[f"kl_polar_{n}"])
        q[f"KL BT - POLAR paired n={n}"] = estimate(d, "mean")
        checks[f"n={n}"] = ci_greater(f"BT KL (n={n})", a, f"POLAR KL (n={n})", b)
    out = [_claim("closer", st, q, rule, combine(checks))]
    st = "The pre-trained discriminator tells held-out policies' samples apart."
    rule = "held-out triplet accuracy: lower CI limit > 0.5"
    if summary.get("accuracy"):
        acc = estimate(summary["accuracy"], "mean")
        chk = ci_bound("held-out accuracy", acc, "lo", ">", 0.5)
        out.append(_claim("discriminates", st, {"held-out accuracy": acc}, rule, chk))
    else:
        out.append(_claim("discriminates", st, {}, rule, combine({})))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """KL(π‖π_T) per label budget for POLAR and BT (mean, 95% CI), the oracle and π_ref."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ns = summary["labels"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    lines = []
    for name, c in (("polar", "C0"), ("bt", "C1")):
        e = [estimate(summary[f"kl_{name}_{n}"], "mean") for n in ns]
        ax.errorbar(ns, [x.point for x in e], yerr=[[x.point - x.lo for x in e],
                    [x.hi - x.point for x in e]], color=c, marker="o", capsize=3,
                    label=name.upper())  # fmt: skip
        pts = ", ".join(f"n={n} {x.fmt()}" for n, x in zip(ns, e, strict=True))
        lines.append(f"{name.upper()} KL: {pts}")
    for key, ls, lab in (("kl_oracle", "--", "oracle (reward = log π_T)"),
                         ("kl_ref", ":", "π_ref")):  # fmt: skip
        e = estimate(summary[key], "mean")
        ax.axhline(e.point, color="grey", ls=ls, label=lab)
        lines.append(f"{lab} KL {e.fmt()}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labels (POLAR: target samples; BT: labelled pairs)")
    ax.set_ylabel("KL(π ‖ π_T), exact")
    ax.legend(fontsize=8)
    caption = "; ".join(lines) + f" ({summary['seeds']} seeds).\n" + claims_caption(cl)
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.38)
    path = out / "preference_rms_polar.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
