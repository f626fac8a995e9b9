"""Robo-Dopamine on the toy reasoning MDP: a learned progress model as potential vs as raw reward.

**System** (seed-papers.txt, "Robo-Dopamine: General Process Reward Modeling for High-Precision
Robotic Manipulation"): a step-aware General Reward Model (GRM) of task progress, trained on
3,400+ hours of data; the abstract says existing PRMs' "reward shaping procedures are
theoretically unsound, often inducing a semantic trap that misguides policy optimization", and
that Dopamine-RL's "Policy-Invariant Reward Shaping ... enables the agent to leverage dense
rewards for efficient self-improvement without altering the optimal policy, thereby
fundamentally avoiding the semantic trap"; GRM-based RL "significantly improves policy learning
efficiency".

**Small-scale form** (:mod:`jaxrl.rewards.progress_model`). Kept: a progress model regressed on
step-progress labels and used (a) as a potential (``r + c·(γΦ̂(s') − Φ̂(s))``) and (b) raw
(``r + c·Φ̂(s')``). Changed: the GRM is an MLP on ``reasoning_chain``'s obs
``[one_hot(p), one_hot(depth)]`` fitted by least squares to ``info["progress"] = Φ*(s')`` plus
Gaussian label noise (``noise_scale``), on rollouts from a mix of a uniform-random policy and a
reference policy (right chain, then answer or pad with probability 1/2 each step). The obs does
not show whether the chain is still right, so Φ̂ estimates ``E[Φ* | p, depth]`` under the data.
Dropped: multi-view fusion, step-wise discretisation, one-shot adaptation, real robots.

**Exact part** (float64, per seed's fitted Φ̂): on ``reasoning_mdp`` the transforms' tables (the
same code as in PPO) are solved at the learner's γ and over the episode's ``D + 1`` steps
(γ = 1; the potential's finite-horizon table has Φ(·, H) = 0), for every ``c`` in ``exact_coefs``;
the success rate within the episode of the uniform policy over the shaped-optimal actions
(γ-solve) is the true return of the shaped-optimal policy.

**PPO part**: ``outcome`` / ``potential`` (c = ``ppo_coef_potential``) / ``raw``
(c = ``ppo_coef_raw``), seeds × conditions in one vmapped program; final success and episode
length over the last ``final_window`` updates, success-curve area.

**Claims and verdict rules** (declared before running; CIs are 95% bootstrap over seeds):

* ``invariance_exact``: the potential use keeps the outcome-optimal action sets (both solves) for
  every seed and ``c``: all → reproduced, else not reproduced.
* ``trap_exact``: the raw use (i) changes the action sets (shaped-optimal ⊄ outcome-optimal) for
  some ``c`` in every seed and (ii) at the largest ``c`` its shaped-optimal policy's success has a
  CI upper limit below the optimal success: both → reproduced, one → partial, none → not.
* ``safe_ppo``: paired per-seed Δ final success, potential − raw: CI lower limit > 0 →
  reproduced; point > 0 only → partial; else not reproduced.
* ``trap_ppo``: paired per-seed (i) Δ final length raw − outcome and (ii) Δ final success
  outcome − raw: each CI lower limit > 0 (point > 0: partial), combined with ``combine`` ("all").
* ``speedup``: paired per-seed Δ success-curve area, potential − outcome: CI lower limit > 0 →
  reproduced; point > 0 only → partial; else not reproduced.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from experiments.process_rewards.grpo_r import (
    curves_figure,
    exact_compare,
    potential_tables,
    reasoning_obs_table,
)
from jaxrl.envs import make
from jaxrl.envs.reasoning_chain import ReasoningConfig, optimal_success, reasoning_mdp
from jaxrl.experiment.claims import Check, Claim, Estimate, combine, estimate
from jaxrl.experiment.ppo_runs import ppo_runs
from jaxrl.rewards.progress_model import (
    ProgressMLP,
    ProgressShapingParams,
    fit_progress_model,
    progress_reward,
)
from jaxrl.shaping.depth_reward import apply_obs_transform_to_table

EXPERIMENT = "process_rewards"
CITATION = "Robo-Dopamine (Dopamine-Reward / Dopamine-RL, seed-papers.txt)"
CONDITIONS = ("outcome", "potential", "raw")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    num_problems: int = 8
    """P problems of reasoning_chain"""
    chain_length: int = 4
    """L right steps per problem"""
    num_step_actions: int = 4
    """K step actions (the answer is action K)"""
    max_depth: int = 8
    """D: steps allowed before the answer (episode length D + 1)"""
    shortcut_fraction: float = 0.25
    """fraction of shortcut-easy problems"""
    env_seed: int = 0
    """seed of the problem tables"""
    gamma: float = 0.99
    """the learner's γ (and the γ of the exact infinite-horizon solve)"""
    data_episodes: int = 512
    """episodes in each seed's progress-model dataset"""
    ref_fraction: float = 0.5
    """fraction of dataset episodes from the reference policy (the rest: uniform random)"""
    noise_scale: float = 0.1
    """std of the Gaussian label noise on the progress labels"""
    rm_hidden: tuple[int, ...] = (64,)
    """progress-model MLP hidden sizes"""
    rm_steps: int = 400
    """full-batch Adam steps of the progress model"""
    exact_coefs: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    """coefficients c of the exact check (both uses)"""
    ppo_coef_potential: float = 1.0
    """c of the potential condition in PPO"""
    ppo_coef_raw: float = 0.05
    """c of the raw progress-as-reward condition in PPO"""
    ppo_steps: int = 32768
    """PPO env steps per run (1024 per update)"""
    learning_rate: float = 2.5e-3
    """PPO learning rate"""
    ent_coef: float = 0.01
    """PPO entropy coefficient"""
    final_window: int = 4
    """updates averaged for the final success / episode length"""

    def check(self) -> None:
        for f in ("num_problems", "chain_length", "max_depth", "ppo_steps", "final_window",
                  "data_episodes", "rm_steps"):  # fmt: skip
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.num_step_actions >= 2, "num_step_actions", "must be >= 2")
        self.require(self.max_depth >= self.chain_length, "max_depth", "must be >= chain_length")
        self.require(0 <= self.shortcut_fraction <= 1, "shortcut_fraction", "must be in [0, 1]")
        self.require(0 < self.gamma < 1, "gamma", "must be in (0, 1)")
        self.require(0 <= self.ref_fraction <= 1, "ref_fraction", "must be in [0, 1]")
        self.require(self.noise_scale >= 0, "noise_scale", "must be >= 0")
        self.require(len(self.exact_coefs) >= 1, "exact_coefs", "must be non-empty")
        self.require(all(c > 0 for c in self.exact_coefs), "exact_coefs", "must be > 0")
        self.require(self.ppo_coef_potential >= 0, "ppo_coef_potential", "must be >= 0")
        self.require(self.ppo_coef_raw >= 0, "ppo_coef_raw", "must be >= 0")
        self.require(self.learning_rate > 0, "learning_rate", "must be > 0")
        self.require(self.ppo_steps >= 4096 * 2, "ppo_steps", "must be >= 8192 (two chunks)")

    def env_config(self) -> ReasoningConfig:
        return ReasoningConfig(
            num_problems=self.num_problems, chain_length=self.chain_length,
            num_step_actions=self.num_step_actions, max_depth=self.max_depth,
            shortcut_fraction=self.shortcut_fraction, seed=self.env_seed,
        )  # fmt: skip


QUICK = Settings()
PAPER = Settings(data_episodes=2048, rm_steps=800, ppo_steps=131072, final_window=8)


# ----------------------------------------------------------------------------- data + fit
def collect_progress_data(env, env_params, key, episodes: int, ref_fraction: float):
    """Rollouts of a random/reference policy mix: ``(next_obs [N·T, F], progress [N·T],
    weight [N·T])`` with ``T = D + 1``; weight 0 on steps after the episode ended."""
    c = env.config
    K, L, T = c.num_step_actions, c.chain_length, c.max_depth + 1

    def episode(k):
        k_reset, k_ref, k_steps = jax.random.split(k, 3)
        _, state = env.reset_env(k_reset, env_params)
        is_ref = jax.random.uniform(k_ref) < ref_fraction

        def step(carry, k):
            state, alive = carry
            k_a, k_pad, k_ans = jax.random.split(k, 3)
            d = state.depth
            right = env_params.correct[state.problem, jnp.minimum(d, L - 1)]
            pad = jax.random.randint(k_pad, (), 0, K)
            ref_a = jnp.where(d < L, right, jnp.where(jax.random.uniform(k_ans) < 0.5, K, pad))
            a = jnp.where(is_ref, ref_a, jax.random.randint(k_a, (), 0, K + 1))
            obs, new, _, term, info = env.step_env(k, state, a, env_params)
            return (new, alive & ~term), (obs, info["progress"], alive)

        _, out = jax.lax.scan(step, (state, jnp.ones((), bool)), jax.random.split(k_steps, T))
        return out

    obs, prog, alive = jax.vmap(episode)(jax.random.split(key, episodes))
    F = obs.shape[-1]
    return obs.reshape(-1, F), prog.reshape(-1), alive.reshape(-1).astype(jnp.float32)


def fit_seed(settings: Settings, env, env_params, key):
    """One seed's dataset + progress model: ``(model params, clean-label MSE, noisy loss)``."""
    k_data, k_fit = jax.random.split(key)
    obs, prog, w = collect_progress_data(
        env, env_params, k_data, settings.data_episodes, settings.ref_fraction
    )
    fit = fit_progress_model(k_fit, obs, prog, w, settings.noise_scale, settings.rm_hidden,
                             settings.rm_steps)  # fmt: skip
    mse = jnp.sum(w * (fit.predict(obs) - prog) ** 2) / jnp.sum(w)
    return fit.params, mse, fit.losses[-1]


# ----------------------------------------------------------------------------- exact layer
@functools.partial(jax.jit, static_argnums=(0, 1))
def _progress_tables(model: ProgressMLP, gamma: float, params, c, R, obs, terminal_mask):
    """The transform's ``[S, A, S']`` tables (one compiled program for every seed and c):
    potential use at γ, raw use at γ and at γ = 1."""
    tf, zero = progress_reward(model, gamma), jnp.zeros_like(c)
    tp, tr = ProgressShapingParams(c, zero, params), ProgressShapingParams(zero, c, params)
    table = lambda t, g: apply_obs_transform_to_table(tf, t, R, obs, g, terminal_mask)
    return table(tp, gamma), table(tr, gamma), table(tr, 1.0)


def exact_progress(settings: Settings, model: ProgressMLP, params) -> dict:
    """One fitted Φ̂: per use (``potential``, ``raw``) :func:`exact_compare` lists over
    ``exact_coefs``, and ``phi`` (Φ̂ on the MDP's states)."""
    cfg, g = settings.env_config(), settings.gamma
    out = {"potential": [], "raw": []}
    with jax.enable_x64(True):
        mdp = reasoning_mdp(cfg, g)
        obs = jnp.asarray(reasoning_obs_table(cfg))
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        phi = model.apply(p64, obs)
        for c in settings.exact_coefs:
            R_g, R_r, R_r1 = _progress_tables(model, g, p64, jnp.float64(c), mdp.R, obs,
                                              mdp.terminal_mask)  # fmt: skip
            _, R_fh, _ = potential_tables(cfg, phi, c, g)
            out["potential"].append(exact_compare(cfg, g, R_g, R_fh))
            out["raw"].append(exact_compare(cfg, g, R_r, R_r1))
    res = {k: {f: [r[f] for r in rows] for f in rows[0]} for k, rows in out.items()}
    res["phi"] = np.asarray(phi).tolist()
    return res


# ----------------------------------------------------------------------------- run
def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Fit one progress model per seed, the exact check per seed, then PPO (seeds × conditions
    in one vmapped program)."""
    settings.check()
    if seeds < 1:
        raise ValueError(f"seeds={seeds}; must be >= 1")
    cfg = settings.env_config()
    env, env_params = make("reasoning_chain", **dataclasses.asdict(cfg))
    k_fit, k_ppo = jax.random.split(jax.random.key(seed))
    model = ProgressMLP(tuple(settings.rm_hidden))
    params, mse, loss = jax.jit(jax.vmap(lambda k: fit_seed(settings, env, env_params, k)))(
        jax.random.split(k_fit, seeds)
    )
    per_seed = [
        exact_progress(settings, model, jax.tree.map(lambda x, i=i: x[i], params))
        for i in range(seeds)
    ]
    exact = {
        use: {f: [ps[use][f] for ps in per_seed] for f in per_seed[0][use]}  # [seeds, coefs]
        for use in ("potential", "raw")
    }
    C = len(CONDITIONS)
    coef = {"outcome": (0.0, 0.0), "potential": (settings.ppo_coef_potential, 0.0),
            "raw": (0.0, settings.ppo_coef_raw)}  # fmt: skip
    cp = jnp.asarray([coef[c][0] for c in CONDITIONS] * seeds, jnp.float32)
    cr = jnp.asarray([coef[c][1] for c in CONDITIONS] * seeds, jnp.float32)
    tp = ProgressShapingParams(cp, cr, jax.tree.map(lambda x: jnp.repeat(x, C, 0), params))
    m = ppo_runs(
        env, env_params, k_ppo, seeds * C, settings.ppo_steps,
        transform=progress_reward(model, settings.gamma), transform_params=tp,
        learning_rate=settings.learning_rate, ent_coef=settings.ent_coef, gamma=settings.gamma,
    )  # fmt: skip
    succ = np.asarray(m["return_outcome_reward"], np.float64).reshape(seeds, C, -1)
    length = np.asarray(m["episode_length"], np.float64).reshape(seeds, C, -1)
    w = settings.final_window
    best, shortcut = optimal_success(cfg)
    summary = {
        "settings": jaxrl.config.to_json_dict(settings),
        "conditions": list(CONDITIONS),
        "updates": int(succ.shape[-1]),
        "optimal_success": best,
        "shortcut_success": shortcut,
        "model_mse_clean": np.asarray(mse, np.float64).tolist(),
        "model_final_loss": np.asarray(loss, np.float64).tolist(),
        "phi_states": [ps["phi"] for ps in per_seed],
        "exact": exact,
        "success_curve_mean": succ.mean(0).tolist(),
        "length_curve_mean": length.mean(0).tolist(),
        "per_condition": {},
    }
    for i, name in enumerate(CONDITIONS):
        summary["per_condition"][name] = {
            "auc_success": succ[:, i].mean(-1).tolist(),
            "final_success": succ[:, i, -w:].mean(-1).tolist(),
            "final_length": length[:, i, -w:].mean(-1).tolist(),
        }
    return summary


# ----------------------------------------------------------------------------- claims
def _positive(name: str, x) -> tuple[Check, Estimate]:
    e = estimate(np.asarray(x, np.float64), "mean")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} {e.fmt()}"), e


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.robo_dopamine.{tag}", EXPERIMENT, CITATION, statement, quantities, rule,
        check,
    )  # fmt: skip


def _untestable(tag, s, r, why) -> Claim:
    return _claim(tag, s, {}, r, Check("not testable", why))


def claims(summary: dict) -> list[Claim]:
    """``invariance_exact``, ``trap_exact``, ``safe_ppo``, ``trap_ppo``, ``speedup``."""
    out = []
    ex = summary.get("exact", {})
    coefs = summary.get("settings", {}).get("exact_coefs", [])
    s = "Potential-based use of the learned progress model keeps the optimal policy for any c."
    r = "exact, every seed's Φ̂ and every c: action sets equal (γ-solve and finite horizon)"
    if "potential" in ex:
        eq = np.minimum(ex["potential"]["equal"], ex["potential"]["equal_fh"])  # [seeds, coefs]
        frac = np.mean(eq, -1)
        v = "reproduced" if np.all(eq == 1) else "not reproduced"
        chk = Check(v, f"sets equal in {int(eq.sum())} of {eq.size} (seed, c) cases, c in {coefs}")
        out.append(_claim("invariance_exact", s, {"fraction of c kept": estimate(frac, "mean")},
                          r, chk))  # fmt: skip
    else:
        out.append(_untestable("invariance_exact", s, r, "no exact data"))
    s = ("Raw progress-as-reward falls into a semantic trap: it changes the optimal policy and its "
         "optimum fails the task.")  # fmt: skip
    r = ("exact: (i) shaped-optimal ⊄ outcome-optimal for some c in every seed; (ii) success of "
         "the shaped-optimal policy at the largest c: CI upper limit < optimal success; both: "
         "reproduced, one: partial")  # fmt: skip
    if "raw" in ex:
        sub = np.asarray(ex["raw"]["subset"])  # [seeds, coefs]
        i1 = bool(np.all(np.any(sub == 0, -1)))
        e_s = estimate(np.asarray(ex["raw"]["success"])[:, -1], "mean")
        e_l = estimate(np.asarray(ex["raw"]["length"])[:, -1], "mean")
        best = summary["optimal_success"]
        i2 = e_s.hi < best - 1e-9
        first = [float(coefs[int(np.argmin(row))]) if np.any(row == 0) else np.nan for row in sub]
        n = int(i1) + int(i2)
        v = "reproduced" if n == 2 else "partial" if n == 1 else "not reproduced"
        chk = Check(v, (f"policy changed in {int(np.sum(np.any(sub == 0, -1)))} of {len(sub)} "
                        f"seeds; at c={coefs[-1]:g}: success {e_s.fmt()} vs optimal {best:.3f}, "
                        f"episode length {e_l.fmt()}"))  # fmt: skip
        q = {"success at largest c": e_s, "episode length at largest c": e_l,
             "smallest c that changes the policy": estimate(first, "mean")}  # fmt: skip
        out.append(_claim("trap_exact", s, q, r, chk))
    else:
        out.append(_untestable("trap_exact", s, r, "no exact data"))
    pc = summary.get("per_condition", {})
    have = all(k in pc for k in CONDITIONS)
    s = "In PPO, the potential use ends with higher success than raw progress-as-reward."
    r = "paired per-seed Δ final success (potential − raw): CI lower limit > 0; point > 0: partial"
    if have:
        chk, e = _positive("Δ final success", np.subtract(pc["potential"]["final_success"],
                                                          pc["raw"]["final_success"]))  # fmt: skip
        out.append(_claim("safe_ppo", s, {"Δ final success": e}, r, chk))
    else:
        out.append(_untestable("safe_ppo", s, r, "no PPO runs"))
    s = "In PPO, raw progress-as-reward lengthens episodes and lowers success vs outcome-only."
    r = ("paired per-seed (i) Δ final length raw − outcome, (ii) Δ final success outcome − raw: "
         "each CI lower limit > 0 (point > 0: partial); both needed")  # fmt: skip
    if have:
        c1, e1 = _positive("Δ length", np.subtract(pc["raw"]["final_length"],
                                                   pc["outcome"]["final_length"]))  # fmt: skip
        c2, e2 = _positive("Δ success", np.subtract(pc["outcome"]["final_success"],
                                                    pc["raw"]["final_success"]))  # fmt: skip
        q = {"Δ final length raw − outcome": e1, "Δ final success outcome − raw": e2}
        out.append(_claim("trap_ppo", s, q, r, combine({"longer": c1, "lower success": c2})))
    else:
        out.append(_untestable("trap_ppo", s, r, "no PPO runs"))
    s = "The potential use improves learning efficiency (success-curve area) over outcome-only."
    r = "paired per-seed Δ area (potential − outcome): CI lower limit > 0; point > 0: partial"
    if have:
        chk, e = _positive("Δ success area", np.subtract(pc["potential"]["auc_success"],
                                                         pc["outcome"]["auc_success"]))  # fmt: skip
        out.append(_claim("speedup", s, {"Δ success area": e}, r, chk))
    else:
        out.append(_untestable("speedup", s, r, "no PPO runs"))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Success / episode-length curves per condition (mean over seeds); claims as caption."""
    st, pc = summary["settings"], summary["per_condition"]
    n = len(pc["outcome"]["final_success"])
    head = (
        f"{n} seeds, {st['ppo_steps']} PPO steps/run, γ={st['gamma']}, c_pot="
        f"{st['ppo_coef_potential']}, c_raw={st['ppo_coef_raw']}; progress model: "
        f"{st['data_episodes']} episodes, label noise {st['noise_scale']}, clean-label MSE "
        f"{np.mean(summary['model_mse_clean']):.4f}. "
    )
    return curves_figure(summary, cl, out, "robo_dopamine", head)
