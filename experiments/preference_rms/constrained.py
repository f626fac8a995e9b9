"""Constrained RLHF with composite reward models (Moskovitz et al. 2023; issue 18).

**The system** (from the abstract): the reward is a composition of component RMs, each a proxy
that is useful only up to a *proxy point*, past which more component reward means worse gold
(human) ratings; correlation between the components moves these points. Constrained RL keeps
each component at its threshold, with the component weights learned as Lagrange multipliers.

**Small-scale form.** The preference testbed (:mod:`jaxrl.envs.preference_testbed`): one BT RM
per gold attribute (quality, harmlessness, length), each trained on pairs from π_ref labelled by
that attribute alone (noisy: ``flip_rate``), evaluated on every (prompt, response) and normalised
on π_ref. The gold utility is the population gold (a fixed weighted sum of the attributes). PPO on
the preference bandit (:mod:`experiments.preference_rms.common`):

* fixed weights: one run per point of a simplex grid of weights (its vertices are the
  single-component runs), reward ``Σ w_i r_i``;
* proxy points: on each single-component run, the component's (smoothed, ``smooth`` updates)
  RM reward at the update where the smoothed gold reward peaks
  (:func:`jaxrl.rewards.constrained.proxy_point`), per seed;
* constrained: ``max Σ μ_i v_i s.t. v_i ≤ θ_i`` with θ_i = the seed's proxy point of component
  i, by the Lagrangian transform :func:`~jaxrl.rewards.constrained.constrained_table_reward`
  (multipliers learned by dual steps inside the reward transform, alongside PPO).

Kept: component RMs from preferences, proxy points from gold-correlation curves, Lagrangian
weights learned alongside the policy, the ρ lever (``harm_quality_corr``). Dropped: language
models, KL-to-reference penalty (PPO's entropy bonus only), the paper's gradient-free
threshold search (the proxy points come from the single-component runs). The testbed is fixed
(seed ``testbed_seed``); seeds vary the RM data, RM init and PPO.

"Final gold" is the mean gold reward of the sampled responses over the last ``final_frac`` of
the updates. Every quantity is an IQM over seeds with a 95% stratified-bootstrap CI.

**Verdict rules** (declared here; numbers from the data):

* ``beats_fixed`` (at each ρ in ``constrained_corrs``): the CI of the constrained run's final
  gold lies above the CI of *every* fixed-weight grid point's final gold: reproduced; some
  grid points beaten or only above in point estimate: partial; none: not reproduced
  (:func:`~jaxrl.experiment.claims.combine` of :func:`~jaxrl.experiment.claims.ci_greater`).
* ``proxy_moves``: for quality or harmlessness (the two components ρ couples), the proxy-point
  CIs at the first and last ρ of ``corrs`` are disjoint: reproduced (at least one component);
  point estimates differ but CIs overlap: partial (reported as such); else not reproduced.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxrl.config
from experiments.preference_rms.common import bandit_static, normalise_on_reference, train_on_tables
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams
from jaxrl.envs.preference_bandit import PreferenceBandit
from jaxrl.envs.preference_testbed import (
    ATTRIBUTES,
    PreferenceTestbedConfig,
    build_preference_testbed,
    label_pairs,
    sample_pairs,
)
from jaxrl.experiment.claims import (
    Check,
    Claim,
    ci_greater,
    ci_relation,
    claims_caption,
    combine,
    estimate,
)
from jaxrl.experiment.sweep import run_sweep
from jaxrl.rewards.constrained import (
    ConstrainedParams,
    constrained_table_reward,
    proxy_point,
    simplex_grid,
)
from jaxrl.rewards.preference import PreferenceData, RewardMLP, bt_loss, fit_full_batch

EXPERIMENT = "preference_rms"
PAPER_TITLE = (
    "Moskovitz et al. 2023, Confronting reward model overoptimization with constrained RLHF"
)
COUPLED = ("quality", "harmlessness")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    corrs: tuple[float, ...] = (0.0, 0.8)
    """ρ values (harm_quality_corr) whose proxy points are compared (first vs last)"""
    constrained_corrs: tuple[float, ...] = (0.0,)
    """ρ values at which the constrained run is compared with the fixed-weight grid"""
    testbed_seed: int = 0
    """seed of the (fixed) testbed tables"""
    num_pairs: int = 512
    """preference pairs per component RM"""
    flip_rate: float = 0.1
    """label-flip rate of the attribute labellers"""
    rm_steps: int = 300
    """full-batch AdamW steps per RM"""
    rm_hidden: int = 32
    """RM MLP width (two layers)"""
    ppo_steps: int = 8192
    """PPO environment steps per run"""
    grid_divisions: int = 3
    """simplex grid of fixed weights: entries k / grid_divisions"""
    smooth: int = 4
    """moving-average window (updates) of the gold-correlation curves"""
    final_frac: float = 0.1
    """fraction of the last updates averaged for the final gold reward"""
    dual_lr: float = 0.02
    """η: dual step per vector-env step"""
    avg_rate: float = 0.1
    """α: rate of the running component averages in the constrained transform"""

    def check(self) -> None:
        self.require(len(self.corrs) >= 2, "corrs", "needs at least two ρ values")
        for f in ("corrs", "constrained_corrs"):
            self.require(all(-1 <= r <= 1 for r in getattr(self, f)), f, "ρ must be in [-1, 1]")
        self.require(self.testbed_seed >= 0, "testbed_seed", "must be >= 0")
        self.require(self.num_pairs >= 8, "num_pairs", "must be >= 8")
        self.require(0 <= self.flip_rate < 0.5, "flip_rate", "must be in [0, 0.5)")
        for f in ("rm_steps", "rm_hidden", "grid_divisions", "smooth"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.ppo_steps >= 2048, "ppo_steps", "must be >= 2048 (8 updates)")
        self.require(0 < self.final_frac <= 1, "final_frac", "must be in (0, 1]")
        self.require(self.dual_lr > 0, "dual_lr", "must be > 0")
        self.require(0 < self.avg_rate <= 1, "avg_rate", "must be in (0, 1]")


QUICK = Settings()
PAPER = Settings(
    corrs=(0.0, 0.4, 0.8), constrained_corrs=(0.0, 0.8), num_pairs=1024, ppo_steps=32768, smooth=8
)


def fit_component_rms(key, tb, settings: Settings, seeds: int) -> jnp.ndarray:
    """One BT RM per (seed, attribute), all in one vmapped fit: tables ``[seeds, M, P, K]``
    (normalised on π_ref). Pairs from π_ref, labelled by that attribute (flip_rate noise)."""
    M = len(ATTRIBUTES)
    model = RewardMLP((settings.rm_hidden, settings.rm_hidden))
    tx = optax.adamw(3e-3, weight_decay=1e-4)

    def data(k, m):
        k_s, k_l = jax.random.split(k)
        pr = sample_pairs(k_s, tb, settings.num_pairs)
        attr = tb.attributes[..., m]
        lab = label_pairs(k_l, attr[pr.prompt, pr.a], attr[pr.prompt, pr.b], settings.flip_rate)
        keep = (lab > 0.5)[:, None]  # ordered as (chosen, rejected)
        return PreferenceData(jnp.where(keep, pr.x_a, pr.x_b), jnp.where(keep, pr.x_b, pr.x_a))

    def fit_one(k, m):
        k_d, k_i = jax.random.split(k)
        d = data(k_d, m)
        params = model.init(k_i, d.chosen[:1])
        loss = lambda p: bt_loss(p, model.apply, d)
        params = fit_full_batch(loss, params, tx, settings.rm_steps)[0]
        return model.apply(params, tb.features)  # [P, K]

    keys = jax.random.split(key, seeds * M)
    ms = jnp.tile(jnp.arange(M), seeds)
    tables = jax.jit(jax.vmap(fit_one))(keys, ms).reshape(seeds, M, *tb.ref_logits.shape)
    return normalise_on_reference(tables, tb)


def _final(curve: np.ndarray, frac: float) -> np.ndarray:
    """Mean of the last ``frac`` of a curve ``[..., T]``."""
    n = max(1, int(round(frac * curve.shape[-1])))
    return curve[..., -n:].mean(-1)


def _constrained_runs(tb, tables, thresholds, key, settings: Settings) -> tuple[dict, tuple]:
    """PPO with the Lagrangian transform, one run per seed: ``tables [S, M, P, K]``,
    ``thresholds [S, M]`` -> (metrics ``[S, updates]``, final (λ, v̄) ``[S, M]``)."""
    S, M = thresholds.shape
    U, P, K = tb.shape
    trainer = make_train(
        bandit_static(settings.ppo_steps), PreferenceBandit(tb), constrained_table_reward(P, U)
    )
    hp = trainer.check(PPOHParams(learning_rate=5e-3, gamma=0.99, ent_coef=0.01)).broadcast(S)
    params = ConstrainedParams(
        tables=jnp.broadcast_to(tables[:, :, None], (S, M, U, P, K)).astype(jnp.float32),
        threshold=jnp.asarray(thresholds, jnp.float32),
        base_weights=jnp.full((S, M), 1.0 / M, jnp.float32),
        dual_lr=jnp.full((S,), settings.dual_lr, jnp.float32),
        avg_rate=jnp.full((S,), settings.avg_rate, jnp.float32),
    )
    keys = jax.random.key_data(jax.random.split(key, S))
    metrics, state = run_sweep(
        None, None, trainer, keys, hp._replace(transform=params), progress=False,
        return_state=True,
    )  # fmt: skip
    ts = state.transform_state
    return {k: np.asarray(v) for k, v in metrics.items()}, (
        np.asarray(ts.lam),
        np.asarray(ts.value),
    )


def _lists(x) -> list:
    return np.asarray(x, np.float64).tolist()


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Component RMs, fixed-weight grid, proxy points and constrained runs at every ρ.

    Returns per ρ (key ``"rho=<ρ>"``): ``weights [G][M]``, ``final_gold [G][seeds]``,
    ``proxy [M][seeds]``, ``peak_update [M][seeds]``, mean curves ``component_curve`` /
    ``gold_curve [M][T]`` of the single-component runs, and where constrained:
    ``constrained_gold [seeds]``, ``lam``, ``value``, ``threshold [seeds][M]``,
    ``constrained_gold_curve [T]``."""
    settings.check()
    if seeds < 2:
        raise ValueError(f"run: seeds={seeds} must be >= 2 (CIs over seeds)")
    M = len(ATTRIBUTES)
    grid = simplex_grid(M, settings.grid_divisions)
    out = {"attributes": list(ATTRIBUTES), "seeds": seeds, "rhos": []}
    for i, rho in enumerate(settings.corrs):
        cfg = PreferenceTestbedConfig(seed=settings.testbed_seed, harm_quality_corr=float(rho))
        tb = build_preference_testbed(cfg)
        k_rm, k_fix, k_con = jax.random.split(jax.random.fold_in(jax.random.key(seed), i), 3)
        tables = fit_component_rms(k_rm, tb, settings, seeds)  # [S, M, P, K]
        constrained = rho in settings.constrained_corrs
        w = grid if constrained else grid[:M]
        mix = jnp.einsum("gm,smpk->gspk", jnp.asarray(w, jnp.float32), tables)
        met = train_on_tables(tb, mix.reshape(-1, *mix.shape[2:]), k_fix, settings.ppo_steps)
        gold = met["return_gold_reward"].reshape(len(w), seeds, -1)
        learner = met["return_learner_reward"].reshape(len(w), seeds, -1)
        proxy, peak = proxy_point(learner[:M], gold[:M], settings.smooth)  # [M, S]
        entry = {
            "rho": float(rho),
            "weights": _lists(w),
            "final_gold": _lists(_final(gold, settings.final_frac)),
            "proxy": _lists(proxy),
            "peak_update": _lists(peak),
            "num_updates": int(gold.shape[-1]),
            "component_curve": _lists(learner[:M].mean(1)),
            "gold_curve": _lists(gold[:M].mean(1)),
        }
        if constrained:
            cm, (lam, value) = _constrained_runs(tb, tables, proxy.T, k_con, settings)
            cg = cm["return_gold_reward"]
            entry |= {
                "constrained_gold": _lists(_final(cg, settings.final_frac)),
                "constrained_gold_curve": _lists(cg.mean(0)),
                "lam": _lists(lam),
                "value": _lists(value),
                "threshold": _lists(proxy.T),
            }
        out["rhos"].append(entry)
    return out


def _claim(tag: str, statement: str, quantities: dict, rule: str, check: Check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.constrained.{tag}", EXPERIMENT, PAPER_TITLE, statement, quantities, rule,
        check,
    )  # fmt: skip


def _wname(w) -> str:
    return "w=(" + ",".join(f"{x:.2f}" for x in w) + ")"


def claims(summary: dict) -> list[Claim]:
    """The two claims of the module docstring, computed from ``run``'s summary."""
    out = []
    rule1 = "constrained final-gold CI above every fixed-weight grid point's CI"
    st1 = "Constrained optimisation (Lagrangian weights) beats every fixed-weight combination"
    entries = [e for e in summary.get("rhos", []) if "constrained_gold" in e]
    for e in entries:
        con = estimate(e["constrained_gold"])
        fixed = {_wname(w): estimate(g) for w, g in zip(e["weights"], e["final_gold"], strict=True)}
        checks = {n: ci_greater("constrained", con, n, f) for n, f in fixed.items()}
        tag = f"beats_fixed_rho{e['rho']:g}"
        out.append(
            _claim(
                tag,
                f"{st1} on gold reward (ρ={e['rho']:g})",
                {"constrained": con, **fixed},
                rule1,
                combine(checks, "all"),
            )  # fmt: skip
        )
    if not entries:
        out.append(_claim("beats_fixed", st1, {}, rule1, Check("not testable", "no runs")))
    rhos = summary.get("rhos", [])
    st2 = "The correlation between components moves the proxy points"
    rule2 = "proxy-point CIs at the first and last ρ disjoint for quality or harmlessness"
    if len(rhos) < 2:
        out.append(_claim("proxy_moves", st2, {}, rule2, Check("not testable", "< 2 ρ values")))
        return out
    a, b = rhos[0], rhos[-1]
    names = summary["attributes"]
    q, checks = {}, {}
    for comp in COUPLED:
        m = names.index(comp)
        ea, eb = estimate(a["proxy"][m]), estimate(b["proxy"][m])
        na, nb = f"{comp} ρ={a['rho']:g}", f"{comp} ρ={b['rho']:g}"
        q |= {na: ea, nb: eb}
        rel = ci_relation(eb, ea)
        censored = [
            f"{np.mean(np.asarray(e['peak_update'][m]) == e['num_updates'] - 1):.0%}"
            for e in (a, b)
        ]
        v = "reproduced" if rel != "not distinguishable from" else "partial"
        if v == "partial" and ea.point == eb.point:
            v = "not reproduced"
        checks[comp] = Check(
            v, f"{nb} {eb.fmt()} is {rel} {na} {ea.fmt()} (gold peak at the last update: "
            f"{censored[0]} / {censored[1]} of seeds)",
        )  # fmt: skip
    out.append(_claim("proxy_moves", st2, q, rule2, combine(checks, 1)))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Gold-correlation curves per component and ρ; final gold of the grid vs constrained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, rhos = summary["attributes"], summary["rhos"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for j, e in enumerate(rhos):
        for m, name in enumerate(names):
            c = np.asarray(e["component_curve"][m])
            g = np.asarray(e["gold_curve"][m])
            ax.plot(c, g, color=f"C{m}", ls=("-", "--", ":")[j % 3], lw=1,
                    label=f"{name}, ρ={e['rho']:g}")  # fmt: skip
            ax.axvline(np.mean(e["proxy"][m]), color=f"C{m}", ls=("-", "--", ":")[j % 3], lw=0.5)
    ax.set(xlabel="component RM reward (normalised on π_ref)", ylabel="gold reward",
           title="single-component runs (vertical: mean proxy point)")  # fmt: skip
    ax.legend(fontsize=6)
    ax = axes[1]
    lines = []
    for e in rhos:
        if "constrained_gold" not in e:
            continue
        fg = np.asarray(e["final_gold"])
        x = np.arange(len(fg))
        ax.errorbar(x, fg.mean(1), fg.std(1), fmt="o", ms=3, label=f"fixed, ρ={e['rho']:g}")
        cg = np.asarray(e["constrained_gold"])
        ax.axhline(cg.mean(), ls="--", lw=1, color="k")
        ax.set_xticks(x, [_wname(w)[2:] for w in e["weights"]], rotation=70, fontsize=6)
        best = int(np.argmax(fg.mean(1)))
        lines.append(
            f"ρ={e['rho']:g}: constrained final gold {cg.mean():.3f} (mean of {cg.size} seeds), "
            f"best fixed {_wname(e['weights'][best])} {fg[best].mean():.3f}; final λ mean "
            + ", ".join(f"{n} {v:.2f}" for n, v in zip(names, np.mean(e["lam"], 0), strict=True))
        )
    ax.set(ylabel="final gold reward (mean ± sd over seeds)",
           title="fixed-weight grid vs constrained (dashed)")  # fmt: skip
    ax.legend(fontsize=7)
    caption = "\n".join(lines + [claims_caption(cl)])
    fig.text(0.01, 0.0, caption, fontsize=5.5, va="top", wrap=True)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "preference_rms_constrained.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
