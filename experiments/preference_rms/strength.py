"""Preference strength and denoising against label noise (Secrets of RLHF II, Wang et al. 2024).

**The system** (from its abstract): incorrect and ambiguous preference pairs hinder a reward
model; Secrets II measures each pair's preference strength by the vote of several reward models
and mitigates the bad pairs (flipping, dropping, label smoothing, an adaptive margin) to make
better use of the data. Component: :mod:`jaxrl.rewards.preference_strength`.

**Small-scale form.** The preference testbed (:mod:`jaxrl.envs.preference_testbed`) with a
*single user type* (the default majority's weights on quality, harmlessness, length), so every
label has one gold answer and the only noise is the labeller's: pairs are drawn from π_ref and
labelled by the better gold utility, then flipped with probability ``flip_rate`` (20% and 40%).
An ensemble of ``members`` BT MLPs (each on its own bootstrap resample and initialisation, one
vmapped program over seeds × members) measures each pair's strength (mean and std of the
margin); the recipe flips pairs with mean below ``−flip_z``·RMS, drops the ``drop_fraction``
least confident pairs, smooths labels by ``smoothing`` and trains with the adaptive margin
``margin_coef``·max(μ, 0). Plain BT and the recipe train the same MLP for the same steps.
Kept: the voting ensemble, all four data/loss mitigations. Dropped: the contrastive and
meta-learning parts of the paper (its second half), LLM-scale models and human data.

Metrics, per seed: (i) held-out RM accuracy against the gold ordering on fresh noise-free π_ref
pairs (pairs with equal gold excluded); (ii) the gold reward PPO reaches on the bandit with the
RM's table (normalised on π_ref), the mean of ``return_gold_reward`` over the last quarter of
updates; all seeds × methods × noise levels in one vmapped PPO call.

**Claim** (issue 18): at 20–40% label noise the recipe raises both held-out RM accuracy and the
policy's gold reward over plain BT.

**Verdict rule.** For each noise level and metric, the paired per-seed difference recipe − BT
(same data, same seed): its 95% bootstrap CI of the mean lies above 0 → reproduced; only its
point estimate above 0 → partial; otherwise not reproduced. Claim ``accuracy`` and claim
``gold_reward`` combine their noise levels ("all"), claim ``both`` combines all four checks
("all").
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
    expected_gold,
    sample_pairs,
)
from jaxrl.experiment.claims import Check, Claim, claims_caption, combine, estimate
from jaxrl.rewards.preference_strength import (
    DenoiseConfig,
    bootstrap_weights,
    denoise_labels,
    pair_strength,
    train_reward_models,
)

EXPERIMENT = "preference_rms"
PAPER_NAME = "Wang et al. 2024, Secrets of RLHF in Large Language Models Part II: Reward Modeling"
METHODS = ("bt", "recipe")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    testbed_seed: int = 0
    """seed of the testbed tables"""
    num_prompts: int = 8
    """P prompts"""
    num_responses: int = 32
    """K responses per prompt"""
    num_pairs: int = 512
    """labelled training pairs per seed"""
    num_test_pairs: int = 2048
    """noise-free held-out pairs per seed (accuracy vs gold)"""
    flip_rates: tuple[float, ...] = (0.2, 0.4)
    """label-flip rates (one condition each)"""
    members: int = 5
    """ensemble size that measures the strength"""
    out_of_bag: bool = True
    """strength from the members that did not train on the pair (bootstrap out-of-bag)"""
    hidden: int = 64
    """width of the two hidden layers of every RM"""
    rm_steps: int = 300
    """full-batch AdamW steps of every RM fit"""
    rm_lr: float = 3e-3
    """RM learning rate"""
    rm_weight_decay: float = 1e-3
    """RM AdamW weight decay"""
    flip_z: float = 1.0
    """flip when the oriented mean margin < -flip_z x its RMS over pairs (<0: never flip)"""
    drop_fraction: float = 0.1
    """fraction of least confident pairs (smallest |mean margin|) dropped"""
    smoothing: float = 0.1
    """label smoothing epsilon"""
    margin_coef: float = 0.5
    """adaptive margin m = margin_coef * max(mean margin, 0)"""
    ppo_steps: int = 16384
    """PPO environment steps per run"""

    def check(self) -> None:
        for f in ("num_prompts", "num_responses", "num_pairs", "num_test_pairs", "members"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.members >= 2, "members", "an ensemble needs >= 2 members")
        self.require(self.hidden >= 1, "hidden", "must be >= 1")
        self.require(self.rm_steps >= 1, "rm_steps", "must be >= 1")
        self.require(self.rm_lr > 0, "rm_lr", "must be > 0")
        self.require(self.rm_weight_decay >= 0, "rm_weight_decay", "must be >= 0")
        self.require(
            len(self.flip_rates) >= 1 and all(0.0 <= f < 0.5 for f in self.flip_rates),
            "flip_rates",
            "need >= 1 rate, each in [0, 0.5)",
        )
        self.require(0.0 <= self.drop_fraction < 1.0, "drop_fraction", "must be in [0, 1)")
        self.require(0.0 <= self.smoothing < 0.5, "smoothing", "must be in [0, 0.5)")
        self.require(self.margin_coef >= 0, "margin_coef", "must be >= 0")
        self.require(
            self.ppo_steps >= 1024 and self.ppo_steps % 1024 == 0,
            "ppo_steps",
            "must be a positive multiple of 1024 (4 chunks of 256-step PPO updates)",
        )

    @property
    def denoise(self) -> DenoiseConfig:
        flip = None if self.flip_z < 0 else self.flip_z
        return DenoiseConfig(flip, self.drop_fraction, self.smoothing, self.margin_coef).check()


QUICK = Settings()
PAPER = Settings(num_pairs=1024, flip_rates=(0.2, 0.3, 0.4), members=8, ppo_steps=32768)


def testbed(s: Settings):
    """The single-user-type testbed (the default majority type's weights)."""
    cfg = PreferenceTestbedConfig(
        seed=s.testbed_seed,
        num_prompts=s.num_prompts,
        num_responses=s.num_responses,
        user_weights=((1.0, 0.2, 1.0),),
        user_fractions=(1.0,),
    )
    return build_preference_testbed(cfg)


def _gold_accuracy(diff, g_a, g_b):
    """Fraction of pairs with distinct gold that ``diff = r_a − r_b`` orders like the gold."""
    g = g_a - g_b
    valid = g != 0
    return jnp.sum((jnp.sign(diff) == jnp.sign(g)) & valid) / jnp.maximum(jnp.sum(valid), 1)


def _rm_stage(s: Settings, tb, key, flip_rate: float, seeds: int):
    """Per seed: data, ensemble strength, plain-BT and recipe RMs. Returns a dict of arrays."""
    dn, M, N = s.denoise, s.members, s.num_pairs
    hidden = (s.hidden, s.hidden)
    fit_kw = dict(
        hidden_sizes=hidden, steps=s.rm_steps, learning_rate=s.rm_lr, weight_decay=s.rm_weight_decay
    )

    @jax.jit
    def stage(key):
        k_data, k_test, k_boot, k_ens, k_fit = jax.random.split(key, 5)
        sample = lambda k, n, f: sample_pairs(k, tb, n, flip_rate=f)
        tr = jax.vmap(lambda k: sample(k, N, flip_rate))(jax.random.split(k_data, seeds))
        te = jax.vmap(lambda k: sample(k, s.num_test_pairs, 0.0))(jax.random.split(k_test, seeds))
        # ensemble: seeds x members models, each on its own bootstrap resample and init
        boot = bootstrap_weights(k_boot, seeds * M, N)
        rep = lambda x: jnp.repeat(x, M, axis=0)
        ens, model = train_reward_models(
            jax.random.split(k_ens, seeds * M),
            rep(tr.x_a),
            rep(tr.x_b),
            rep(tr.label),
            boot,
            jnp.zeros((seeds * M, N)),
            0.0,
            **fit_kw,
        )
        ens = jax.tree.map(lambda x: x.reshape(seeds, M, *x.shape[1:]), ens)
        hold = (boot == 0).reshape(seeds, M, N) if s.out_of_bag else None
        mean, std = jax.vmap(lambda p, xa, xb, y, h: pair_strength(p, model, xa, xb, y, h))(
            ens, tr.x_a, tr.x_b, tr.label, hold
        )
        label2, weight2, margin2 = jax.vmap(lambda y, m: denoise_labels(y, m, dn))(tr.label, mean)
        # plain BT (rows [:seeds]) and the recipe (rows [seeds:]) in one program, same inits
        both = lambda a, b: jnp.concatenate([a, b])
        k_init = jax.random.split(k_fit, seeds)
        params, _ = train_reward_models(
            both(k_init, k_init),
            both(tr.x_a, tr.x_a),
            both(tr.x_b, tr.x_b),
            both(tr.label, label2),
            both(jnp.ones((seeds, N)), weight2),
            both(jnp.zeros((seeds, N)), margin2),
            both(jnp.zeros(seeds), jnp.full((seeds,), dn.smoothing)),
            **fit_kw,
        )
        diff = jax.vmap(lambda p, xa, xb: model.apply(p, xa) - model.apply(p, xb))(
            params, both(te.x_a, te.x_a), both(te.x_b, te.x_b)
        )
        acc = jax.vmap(_gold_accuracy)(diff, both(te.gold_a, te.gold_a), both(te.gold_b, te.gold_b))
        tables = normalise_on_reference(jax.vmap(lambda p: model.apply(p, tb.features))(params), tb)
        truth = (tr.gold_a > tr.gold_b).astype(jnp.float32)  # gold label of each training pair
        wrong = (tr.label != truth) & (tr.gold_a != tr.gold_b)
        right = (tr.label == truth) & (tr.gold_a != tr.gold_b)
        flipped = label2 != tr.label
        kept = weight2 > 0
        return {
            "accuracy": acc.reshape(2, seeds),
            "tables": tables.reshape(2, seeds, *tables.shape[1:]),
            "noise_before": jnp.mean(wrong, 1),
            "noise_after": jnp.sum(((label2 != truth) & kept), 1) / jnp.sum(kept, 1),
            "flipped": jnp.mean(flipped, 1),
            "flip_precision": jnp.sum(flipped & wrong, 1) / jnp.maximum(jnp.sum(flipped, 1), 1),
            "strength_std": jnp.mean(std, 1),
            "strength_wrong": jnp.sum(mean * wrong, 1) / jnp.maximum(jnp.sum(wrong, 1), 1),
            "strength_right": jnp.sum(mean * right, 1) / jnp.maximum(jnp.sum(right, 1), 1),
        }

    return stage(key)


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Plain BT vs the recipe at each flip rate; returns a JSON-able summary (see the module)."""
    settings.check()
    if int(seeds) < 1:
        raise ValueError(f"run: seeds={seeds} must be >= 1")
    tb = testbed(settings)
    key = jax.random.key(seed)
    out = {"flip_rates": list(settings.flip_rates), "methods": list(METHODS), "conditions": {}}
    tables = []
    for i, f in enumerate(settings.flip_rates):
        r = _rm_stage(settings, tb, jax.random.fold_in(key, i), float(f), seeds)
        tables.append(r.pop("tables"))
        c = {k: np.asarray(v, np.float64) for k, v in r.items()}
        out["conditions"][str(f)] = {
            "accuracy": {m: c["accuracy"][j].tolist() for j, m in enumerate(METHODS)},
            **{k: c[k].tolist() for k in c if k != "accuracy"},
        }
    # PPO: every seed x method x flip rate in one vmapped call
    stacked = jnp.stack(tables)  # [F, 2, seeds, P, K]
    n_f = stacked.shape[0]
    m = train_on_tables(
        tb, stacked.reshape(-1, *stacked.shape[-2:]), jax.random.fold_in(key, 10_000),
        settings.ppo_steps,
    )  # fmt: skip
    gold = np.asarray(m["return_gold_reward"], np.float64)
    q = max(1, gold.shape[1] // 4)
    final = gold[:, -q:].mean(1).reshape(n_f, 2, seeds)
    for i, f in enumerate(settings.flip_rates):
        out["conditions"][str(f)]["gold_reward"] = {
            mth: final[i, j].tolist() for j, mth in enumerate(METHODS)
        }
    out["gold_curve_mean"] = {
        f"{f}/{mth}": gold.reshape(n_f, 2, seeds, -1)[i, j].mean(0).tolist()
        for i, f in enumerate(settings.flip_rates)
        for j, mth in enumerate(METHODS)
    }
    g = tb.gold[0]
    out["gold_ref"] = float(expected_gold(tb, tb.ref_logits, 0))
    out["gold_best"] = float(jnp.mean(jnp.max(g, -1)))
    out["seeds"] = int(seeds)
    return out


def _paired(name: str, diff: np.ndarray) -> tuple[Check, dict]:
    """Rule on the paired difference: CI lo > 0 reproduced; point > 0 partial; else not."""
    e = estimate(diff, "mean")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} recipe − BT = {e.fmt(3)}"), {f"{name} recipe−BT": e}


def claims(summary: dict) -> list[Claim]:
    """Claims ``accuracy``, ``gold_reward`` and ``both`` (rule in the module docstring)."""
    rule = (
        "per noise level, the 95% bootstrap CI of the mean paired difference recipe − BT over "
        "seeds lies above 0 (point above only: partial); all noise levels must reproduce"
    )
    statements = {
        "accuracy": "At 20–40% label noise the recipe raises held-out RM accuracy over plain BT.",
        "gold_reward": "At 20–40% label noise the recipe raises PPO's gold reward over plain BT.",
        "both": "At 20–40% label noise the recipe raises both RM accuracy and gold reward.",
    }
    checks = {"accuracy": {}, "gold_reward": {}}
    quants = {"accuracy": {}, "gold_reward": {}}
    for f, c in summary.get("conditions", {}).items():
        for metric in checks:
            d = c.get(metric)
            if not d or not all(m in d for m in METHODS):
                continue
            diff = np.asarray(d["recipe"], np.float64) - np.asarray(d["bt"], np.float64)
            ch, q = _paired(f"{metric}@flip={f}", diff)
            checks[metric][f"flip={f}"] = ch
            quants[metric].update(q)
    out = []
    for tag in ("accuracy", "gold_reward", "both"):
        if tag == "both":
            chs = {f"{k} {m}": v for m in checks for k, v in checks[m].items()}
            qs = {**quants["accuracy"], **quants["gold_reward"]}
        else:
            chs, qs = checks[tag], quants[tag]
        ch = combine(chs) if chs else Check("not testable", "no condition with both methods")
        out.append(
            Claim.from_check(
                f"{EXPERIMENT}.strength.{tag}", EXPERIMENT, PAPER_NAME, statements[tag], qs,
                rule, ch,
            )
        )  # fmt: skip
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Per-seed accuracy and gold reward by noise level and method, plus the mean gold curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    conds = summary["conditions"]
    colors = {"bt": "tab:gray", "recipe": "tab:blue"}
    lines = []
    for ax, metric in zip(axes[:2], ("accuracy", "gold_reward"), strict=True):
        for i, f in enumerate(conds):
            for j, mth in enumerate(METHODS):
                y = np.asarray(conds[f][metric][mth])
                x = i + (j - 0.5) * 0.3
                ax.scatter(np.full(y.size, x), y, color=colors[mth], s=14, alpha=0.7)
                ax.errorbar(x, y.mean(), yerr=y.std(), color=colors[mth], capsize=4, fmt="_")
                lines.append(f"flip {f} {mth} {metric}: mean {y.mean():.3f}")
        ax.set_xticks(range(len(conds)), [f"flip {f}" for f in conds])
        ax.set_title(metric.replace("_", " "))
    axes[1].axhline(summary["gold_ref"], color="k", ls=":", lw=1, label="π_ref")
    axes[1].legend(fontsize=7)
    for k, curve in summary["gold_curve_mean"].items():
        f, mth = k.split("/")
        axes[2].plot(curve, color=colors[mth], alpha=0.4 + 0.6 * float(f), label=k)
    axes[2].set_title("mean gold reward during PPO")
    axes[2].set_xlabel("update")
    axes[2].legend(fontsize=7)
    caption = "; ".join(lines) + "\n" + claims_caption(cl)
    fig.text(0.01, 0.0, caption, fontsize=5.5, va="top", wrap=True)
    path = out / "preference_rms_strength.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
