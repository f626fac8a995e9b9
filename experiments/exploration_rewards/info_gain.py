"""Information-gain turn rewards (IGPO; "Dialogue as Discovery") on twenty questions.

**System.** IGPO (Information Gain-based Policy Optimization, Ant Group 2025) trains multi-turn
agents with a dense turn reward: "the marginal increase in the policy's probability of producing
the correct answer", added to the outcome reward. It argues that outcome-only rewards cause
**advantage collapse** (all rollouts of a group get identical rewards, so the group-relative
advantage is zero) and poor credit assignment, and reports better accuracy and sample
efficiency. Nous ("Dialogue as Discovery") likewise rewards the entropy reduction over the task
space, from the agent's questions.

**Small-scale form.** Kept: a hidden ground truth (the target item), multi-turn information
gathering (yes/no attribute questions), a final answer (a guess) paid by the outcome, the turn
reward ``p(y*|h_{t+1}) − p(y*|h_t)`` added to it (:mod:`jaxrl.rewards.info_gain`), and a
group-relative learner (GRPO: groups of episodes with the same target; clipped ratio, KL to the
initial policy; :mod:`jaxrl.agents.group_relative`). Changed: the LLM's belief is replaced by the
**exact** Bayesian posterior (an oracle annotator with no error); the policy is an MLP on the
answers so far; PPO (:func:`jaxrl.experiment.ppo_runs.ppo_runs`) is the second
learner. Dropped: language, tool calls, the LLM's own belief as the probe.

**Conditions.** Two rewards, ``outcome`` (β = 0) and ``info_gain`` (β = ``info_coef``), each to
PPO and to the group-relative learner (GRPO), all seeds of a learner in one vmapped program.
Success = the mean env (outcome) reward of the training episodes that ended in an update.

**Claim (c) and verdict rules** (declared before running; 95% bootstrap CIs over seeds):

* ``speed`` — "the information-gain turn reward reaches the outcome-only success rate in fewer
  episodes". Per learner, the target τ = ``threshold_frac`` × (mean over seeds of the outcome-only
  success over the last ``window`` updates). Per run, the episodes-to-τ is the cumulative episode
  count at the first update whose moving mean (``window`` updates) of success ≥ τ; a run that
  never gets there counts as its whole budget (censored). Per learner: ``ci_greater(outcome
  episodes, info_gain episodes)`` (reproduced when the outcome CI lies above; partial when only
  the point is above). Both learners combined with ``combine(need="all")``. A learner whose τ
  does not exceed the outcome-only success of its first ``window`` updates (mean over seeds: the
  outcome-only run did not improve, so τ is reached at once) is ``not testable``.
* ``speed_igpo`` (added after the first QUICK run, rule declared before its own first run) —
  the same claim with IGPO's own advantage (every turn reward normalised over the group, then
  summed from each turn; ``GroupStatic(advantage="igpo")``): episodes-to-τ of outcome-only GRPO
  (the GRPO τ) CI above those of the info_gain reward with IGPO advantages (``ci_greater``;
  partial when only the point is above). ``not testable`` as for ``speed``.
* ``collapse`` — "and avoids advantage collapse". With the group-relative learner, the fraction
  of groups whose learner returns are all identical, averaged over training, per seed:
  reproduced when the outcome CI lies above the info_gain CI (``ci_greater``), partial when only
  the point is above.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.agents import group_relative as gr
from jaxrl.envs import make
from jaxrl.experiment.claims import Check, Claim, ci_greater, claims_caption, combine, estimate
from jaxrl.experiment.ppo_runs import grid_static, ppo_runs
from jaxrl.rewards.info_gain import InfoGainParams, info_gain_reward

EXPERIMENT = "exploration_rewards"
SYSTEM = "info_gain"
CITATION = "IGPO (Information Gain-based Policy Optimization, 2025); Dialogue as Discovery (Nous)"
CONDITIONS = ("outcome", "info_gain")
LEARNERS = ("ppo", "grpo", "igpo")  # igpo: the group learner with IGPO's turn-level advantages
TAGS = ("speed", "speed_igpo", "collapse")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    num_items: int = 8
    """N items (the hidden target is one of them)"""
    num_attributes: int = 6
    """M yes/no questions available"""
    max_questions: int = 2
    """Q questions before the guess"""
    table_seed: int = 0
    """seed of the fixed attribute table"""
    info_coef: float = 1.0
    """β of the information-gain turn reward in the info_gain condition"""
    ppo_steps: int = 131072
    """env steps per PPO run"""
    ppo_learning_rate: float = 2.5e-3
    """PPO step size"""
    grpo_updates: int = 240
    """group-relative updates per run"""
    num_groups: int = 8
    """groups per group-relative update"""
    group_size: int = 8
    """episodes per group (same target)"""
    grpo_learning_rate: float = 3e-3
    """group-relative step size"""
    kl_coef: float = 0.01
    """KL penalty to the initial policy (group-relative learner)"""
    ent_coef: float = 0.01
    """entropy bonus (both learners)"""
    window: int = 10
    """updates in the moving mean of success (and the final-success window)"""
    threshold_frac: float = 0.9
    """τ = threshold_frac × outcome-only final success"""

    def check(self) -> None:
        for f in ("num_items", "num_attributes", "ppo_steps", "grpo_updates", "num_groups",
                  "window"):  # fmt: skip
            self.require(getattr(self, f) > 0, f, "must be positive")
        self.require(self.group_size >= 2, "group_size", "must be >= 2")
        self.require(self.max_questions >= 0, "max_questions", "must be >= 0")
        self.require(self.num_items <= 2**self.num_attributes, "num_items", "> 2**num_attributes")
        self.require(self.info_coef > 0, "info_coef", "must be > 0")
        self.require(0 < self.threshold_frac <= 1, "threshold_frac", "must be in (0, 1]")
        self.require(self.grpo_updates % 4 == 0, "grpo_updates", "must be a multiple of 4")
        self.require(self.grpo_updates >= 2 * self.window, "grpo_updates", "< 2 * window")
        for f in ("ppo_learning_rate", "grpo_learning_rate"):
            self.require(getattr(self, f) > 0, f, "must be > 0")
        self.require(self.kl_coef >= 0 and self.ent_coef >= 0, "kl_coef", "coefs must be >= 0")


QUICK = Settings()
PAPER = Settings(num_items=16, num_attributes=8, max_questions=3, ppo_steps=524288,
                 grpo_updates=800)  # fmt: skip
TINY = Settings(ppo_steps=16384, grpo_updates=24, num_groups=4, group_size=4, window=4)


def _moving(x: np.ndarray, w: int) -> np.ndarray:
    """``[..., U]`` trailing moving mean over ``w`` updates (shorter at the start)."""
    c = np.cumsum(x, -1)
    out = c.copy()
    out[..., w:] = c[..., w:] - c[..., :-w]
    return out / np.minimum(np.arange(1, x.shape[-1] + 1), w)


def _episodes_to(success: np.ndarray, episodes: np.ndarray, tau: float, w: int) -> np.ndarray:
    """``[runs]`` cumulative episodes at the first update whose moving-mean success ≥ τ (the
    whole budget where never)."""
    hit = _moving(success, w) >= tau
    first = np.where(hit.any(-1), hit.argmax(-1), success.shape[-1] - 1)
    return np.take_along_axis(episodes, first[:, None], -1)[:, 0]


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Both rewards × both learners × ``seeds``; returns a JSON-able summary."""
    s = settings
    env, params = make("twenty_questions", num_items=s.num_items, num_attributes=s.num_attributes,
                       max_questions=s.max_questions, table_seed=s.table_seed)  # fmt: skip
    transform = info_gain_reward(env.table)
    n = 2 * seeds  # run index = condition * seeds + seed
    beta = jnp.repeat(jnp.array([0.0, s.info_coef], jnp.float32), seeds)
    tp = InfoGainParams(beta, jnp.ones(n, jnp.float32))
    k_ppo, k_gr = jax.random.split(jax.random.key(seed))
    out: dict = {"settings": jaxrl.config.to_json_dict(s), "seeds": seeds, "seed": seed}
    out["optimal_success"] = env.optimal_success()
    out["random_guess_success"] = 1.0 / s.num_items

    static = grid_static(s.ppo_steps)
    m = ppo_runs(env, params, k_ppo, n, s.ppo_steps, transform=transform, transform_params=tp,
                 learning_rate=s.ppo_learning_rate, ent_coef=s.ent_coef, static=static)  # fmt: skip
    ppo = {"success": m["return_env_reward"], "episodes": np.cumsum(m["episode_count"], -1)}

    group = {}
    for name in ("grpo", "igpo"):
        st = gr.GroupStatic(num_groups=s.num_groups, group_size=s.group_size,
                            num_updates=s.grpo_updates, num_chunks=4, advantage=name)  # fmt: skip
        trainer = gr.make_train(st, env, transform, params)
        hp = trainer.check(gr.GroupHParams(learning_rate=s.grpo_learning_rate, kl_coef=s.kl_coef,
                                           ent_coef=s.ent_coef)).broadcast(n)  # fmt: skip
        hp = hp._replace(transform=tp)
        keys = jnp.tile(jax.random.split(k_gr, seeds), 2)  # the same seed keys for both rewards
        _, mg = jax.jit(jax.vmap(trainer))(keys, hp)
        mg = {k: np.asarray(v) for k, v in mg.items()}
        group[name] = {"success": mg["return_env_reward"], "episodes": mg["episodes"],
                       "collapse": mg["collapse_fraction"]}  # fmt: skip

    for name, d in (("ppo", ppo), *group.items()):
        succ, eps = np.asarray(d["success"], np.float64), np.asarray(d["episodes"], np.float64)
        final = succ[:, -s.window :].mean(-1)
        tau = s.threshold_frac * float(final[:seeds].mean())
        to = _episodes_to(succ, eps, tau, s.window)
        initial = float(succ[:seeds, : s.window].mean())
        res = {"tau": tau, "initial_success": initial, "budget_episodes": eps[:, -1].tolist()}
        for c, cond in enumerate(CONDITIONS):
            sl = slice(c * seeds, (c + 1) * seeds)
            res[cond] = {
                "final_success": final[sl].tolist(),
                "episodes_to_tau": to[sl].tolist(),
                "reached": (_moving(succ[sl], s.window) >= tau).any(-1).astype(float).tolist(),
                "success_curve_mean": succ[sl].mean(0).tolist(),
                "episodes_curve_mean": eps[sl].mean(0).tolist(),
            }
            if "collapse" in d:
                col = np.asarray(d["collapse"], np.float64)[sl]
                res[cond]["collapse_fraction"] = col.mean(-1).tolist()
                res[cond]["collapse_curve_mean"] = col.mean(0).tolist()
        out[name] = res
    # IGPO's comparison: its info_gain runs against outcome-only GRPO's τ
    info = slice(seeds, 2 * seeds)
    succ = np.asarray(group["igpo"]["success"], np.float64)[info]
    eps = np.asarray(group["igpo"]["episodes"], np.float64)[info]
    to = _episodes_to(succ, eps, out["grpo"]["tau"], s.window)
    out["igpo"]["info_gain"]["episodes_to_grpo_tau"] = to.tolist()
    return out


def claims(summary: dict) -> list[Claim]:
    """``speed`` and ``collapse`` (see the module docstring for the rules)."""
    cid = lambda t: f"{EXPERIMENT}.{SYSTEM}.{t}"
    checks, q = {}, {}
    for ln in ("ppo", "grpo"):
        d = summary.get(ln)
        if d is None:
            continue
        eo = estimate(d["outcome"]["episodes_to_tau"], "mean")
        ei = estimate(d["info_gain"]["episodes_to_tau"], "mean")
        q[f"{ln}_episodes_outcome"], q[f"{ln}_episodes_info_gain"] = eo, ei
        if d["tau"] <= d["initial_success"]:
            checks[ln] = Check(
                "not testable",
                f"{ln}: τ {d['tau']:.3f} <= outcome-only initial success "
                f"{d['initial_success']:.3f} (no improvement to reach)",
            )
        else:
            checks[ln] = ci_greater(f"{ln} outcome episodes-to-τ", eo, "info_gain", ei)
    speed = Claim.from_check(
        cid("speed"), EXPERIMENT, CITATION,
        "the information-gain turn reward reaches the outcome-only success rate in fewer episodes",
        q, "per learner, outcome episodes-to-τ CI above info_gain's (τ = threshold_frac × "
        "outcome final success; unreached = budget); PPO and GRPO combined ('all')",
        combine(checks, "all"),
    )  # fmt: skip
    g, ig = summary.get("grpo", {}), summary.get("igpo")
    if ig is None or not g:
        chk_i, qi = Check("not testable", "no IGPO-advantage runs"), {}
    else:
        eo = estimate(g["outcome"]["episodes_to_tau"], "mean")
        ei = estimate(ig["info_gain"]["episodes_to_grpo_tau"], "mean")
        qi = {"grpo_episodes_outcome": eo, "igpo_episodes_info_gain": ei}
        if g["tau"] <= g["initial_success"]:
            chk_i = Check("not testable", f"grpo: τ {g['tau']:.3f} <= initial success")
        else:
            chk_i = ci_greater("grpo outcome episodes-to-τ", eo, "igpo info_gain", ei)
    speed_igpo = Claim.from_check(
        cid("speed_igpo"), EXPERIMENT, CITATION,
        "with IGPO's turn-level advantages, the information-gain reward reaches outcome-only "
        "GRPO's success rate in fewer episodes",
        qi, "episodes-to-τ (GRPO's τ) of outcome-only GRPO CI above the info_gain reward's "
        "with IGPO advantages (unreached = budget)", chk_i,
    )  # fmt: skip
    if "collapse_fraction" in g.get("outcome", {}):
        co = estimate(g["outcome"]["collapse_fraction"], "mean")
        ci = estimate(g["info_gain"]["collapse_fraction"], "mean")
        chk = ci_greater("outcome collapse fraction", co, "info_gain", ci)
        qc = {"collapse_outcome": co, "collapse_info_gain": ci}
    else:
        chk, qc = Check("not testable", "no group-relative runs"), {}
    collapse = Claim.from_check(
        cid("collapse"), EXPERIMENT, CITATION,
        "the information-gain turn reward avoids advantage collapse (groups with identical "
        "rewards)",
        qc, "GRPO: fraction of groups with identical learner returns over training, outcome CI "
        "above info_gain's", chk,
    )  # fmt: skip
    return [speed, speed_igpo, collapse]


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Success vs episodes per learner and reward; GRPO's collapse fraction; claims caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.2))
    for ax, ln in zip(axes[:3], LEARNERS, strict=True):
        d = summary[ln]
        for cond in CONDITIONS:
            ax.plot(d[cond]["episodes_curve_mean"], d[cond]["success_curve_mean"], label=cond)
        ax.axhline(d["tau"], color="k", ls="--", lw=0.8, label="τ")
        ax.axhline(summary["optimal_success"], color="g", ls=":", lw=0.8, label="optimum")
        ax.set_xlabel("episodes")
        ax.set_ylabel("success (training episodes)")
        ax.set_title(ln)
        ax.legend(fontsize=7)
    for ln, ls in (("grpo", "-"), ("igpo", "--")):
        for cond in CONDITIONS:
            axes[3].plot(summary[ln][cond]["collapse_curve_mean"], ls=ls, label=f"{ln} {cond}")
    axes[3].set_xlabel("group-relative update")
    axes[3].set_ylabel("fraction of groups with identical returns")
    axes[3].legend(fontsize=7)
    st = summary["settings"]
    lines = []
    for ln in LEARNERS:
        d = summary[ln]
        lines.append(
            f"{ln}: τ={d['tau']:.3f}; "
            + ", ".join(
                f"{c} final success {np.mean(d[c]['final_success']):.3f}, reached τ in "
                f"{int(np.sum(d[c]['reached']))}/{len(d[c]['reached'])} seeds, episodes-to-τ "
                f"{np.mean(d[c]['episodes_to_tau']):.0f}"
                for c in CONDITIONS
            )
        )
    caption = (
        f"Twenty questions N={st['num_items']}, M={st['num_attributes']}, Q={st['max_questions']}"
        f" (exact optimum {summary['optimal_success']:.3f}, random guess "
        f"{summary['random_guess_success']:.3f}); {summary['seeds']} seeds; PPO "
        f"{st['ppo_steps']} steps, GRPO and IGPO {st['grpo_updates']} updates x {st['num_groups']}x"
        f"{st['group_size']} episodes; β={st['info_coef']}.\n" + "\n".join(lines) + "\n"
        + claims_caption(cl)
    )  # fmt: skip
    fig.text(0.01, 0.01, caption, fontsize=5.5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.36, wspace=0.3)
    path = out / f"{EXPERIMENT}_{SYSTEM}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
