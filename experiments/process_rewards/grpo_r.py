"""GRPO-R on the toy reasoning MDP: a depth step reward as a potential vs as a per-step bonus.

**System** (seed-papers.txt, "Reasoning Hallucination ... GRPO-R"): the abstract introduces
"GRPO-R, an enhanced reinforcement learning algorithm that incorporates step-level deep reasoning
rewards via potential-based shaping", claims "stronger generalization guarantees" and "improved
reasoning quality and reduced hallucination rates". Its depth signal is a Reasoning Score from an
LRM's late-layer logits.

**Small-scale form** (:mod:`jaxrl.shaping.depth_reward`). Kept: a step-level reward for reasoning
depth, in potential-based form. Changed: depth is the env's step count (read from the obs's
depth one-hot), ``Φ(s) = min(depth, L)/L``; the learner is PPO (not GRPO's group baseline) on
``reasoning_chain`` (P problems, L right steps among K, answer action K; padding after the L-th
step is free; a shallow answer is right only on shortcut-easy problems). Dropped: the Reasoning
Score, hallucination detection, the generalisation bound. Added for contrast: the plain-bonus form
``+c`` per reasoning step, which the potential form is meant to avoid.

**Exact part** (float64, no seeds): on ``reasoning_mdp(config, γ)`` for every ``c`` in
``exact_coefs``, the shaped tables are solved (i) by value iteration at the learner's γ (< 1), on
the tables of the same transforms as in PPO run on every ``[S, A, S']`` transition, and (ii) by
backward induction over the episode's ``H = D + 1`` steps at γ = 1 (the potential's table there
has Φ(·, H) = 0, which finite-horizon invariance needs; ``equal_fh_static`` records the static
Φ kept at the time limit, Grześ 2017). Compared with the outcome-only solve:
optimal action sets equal (all non-terminal states), shaped-optimal ⊆ outcome-optimal, and the
success rate and expected episode length (within H steps) of the uniform policy over the
γ-solve's shaped-optimal actions.

**PPO part**: conditions ``outcome`` (env reward only), ``potential`` (c = ``ppo_coef_potential``)
and ``bonus`` (c = ``ppo_coef_bonus``), all seeds × conditions in one vmapped program. Per run:
the success curve (``return_outcome_reward`` per update), its area (mean over updates), final
success and final episode length (means over the last ``final_window`` updates).

**Claims and verdict rules** (declared before running):

* ``invariance_exact``: the potential form keeps the outcome-optimal action sets for every ``c`` in
  ``exact_coefs``, in both solves: all equal → reproduced, else not reproduced.
* ``bonus_hack_exact``: the bonus form (i) changes the action sets (shaped-optimal ⊄
  outcome-optimal) for some ``c`` in the grid in the γ-solve, and (ii) at the largest ``c`` its
  shaped-optimal policy's expected episode length exceeds the outcome-optimal policy's: both →
  reproduced, one → partial, none → not reproduced.
* ``speedup`` (PPO): paired per-seed difference of success-curve area, potential − outcome:
  95% CI lower limit > 0 → reproduced; point > 0 only → partial; else not reproduced.
* ``hack_ppo`` (PPO): paired per-seed difference of final episode length, bonus − outcome: CI lower
  limit > 0 → reproduced; point > 0 only → partial; else not reproduced (final success of both is
  reported beside it).
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.envs import make
from jaxrl.envs.reasoning_chain import ReasoningConfig, optimal_success, reasoning_mdp
from jaxrl.experiment.claims import Check, Claim, Estimate, claims_caption, estimate
from jaxrl.experiment.ppo_runs import ppo_runs
from jaxrl.mdp import finite_horizon, optimal_action_sets, value_iteration
from jaxrl.mdp.finite_horizon import finite_horizon_evaluation
from jaxrl.shaping.depth_reward import (
    apply_obs_transform_to_table,
    depth_potential,
    depth_potential_shaping,
    step_bonus,
)
from jaxrl.shaping.potential import dynamic_shaped_rewards, shaped_reward_table
from jaxrl.shaping.transform import RewardTransform

EXPERIMENT = "process_rewards"
CITATION = "GRPO-R (Reasoning Hallucination / Reasoning Score paper, seed-papers.txt)"


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
    exact_coefs: tuple[float, ...] = (0.001, 0.005, 0.02, 0.1, 0.5, 1.0, 5.0)
    """shaping coefficients c of the exact check (both forms)"""
    ppo_coef_potential: float = 1.0
    """c of the potential condition in PPO"""
    ppo_coef_bonus: float = 0.05
    """c of the bonus condition in PPO"""
    ppo_steps: int = 32768
    """PPO env steps per run (1024 per update)"""
    learning_rate: float = 2.5e-3
    """PPO learning rate"""
    ent_coef: float = 0.01
    """PPO entropy coefficient"""
    final_window: int = 4
    """updates averaged for the final success / episode length"""

    def check(self) -> None:
        for f in ("num_problems", "chain_length", "max_depth", "ppo_steps", "final_window"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.num_step_actions >= 2, "num_step_actions", "must be >= 2")
        self.require(self.max_depth >= self.chain_length, "max_depth", "must be >= chain_length")
        self.require(0 <= self.shortcut_fraction <= 1, "shortcut_fraction", "must be in [0, 1]")
        self.require(0 < self.gamma < 1, "gamma", "must be in (0, 1)")
        self.require(len(self.exact_coefs) >= 1, "exact_coefs", "must be non-empty")
        self.require(all(c > 0 for c in self.exact_coefs), "exact_coefs", "must be > 0")
        self.require(self.ppo_coef_potential >= 0, "ppo_coef_potential", "must be >= 0")
        self.require(self.ppo_coef_bonus >= 0, "ppo_coef_bonus", "must be >= 0")
        self.require(self.learning_rate > 0, "learning_rate", "must be > 0")
        self.require(self.ppo_steps >= 4096 * 2, "ppo_steps", "must be >= 8192 (two chunks)")

    def env_config(self) -> ReasoningConfig:
        return ReasoningConfig(
            num_problems=self.num_problems, chain_length=self.chain_length,
            num_step_actions=self.num_step_actions, max_depth=self.max_depth,
            shortcut_fraction=self.shortcut_fraction, seed=self.env_seed,
        )  # fmt: skip


QUICK = Settings()
PAPER = Settings(ppo_steps=131072, final_window=8)
CONDITIONS = ("outcome", "potential", "bonus")


# ----------------------------------------------------------------------------- exact layer
def reasoning_obs_table(config: ReasoningConfig) -> np.ndarray:
    """``[S, P + D + 1]`` the obs each state of ``reasoning_mdp`` emits (state
    ``(p·(D + 1) + d)·2 + right`` -> ``[one_hot(p), one_hot(d)]``; the end state: zeros)."""
    P, D = config.num_problems, config.max_depth
    S = P * (D + 1) * 2 + 1
    obs = np.zeros((S, P + D + 1))
    for p in range(P):
        for d in range(D + 1):
            for right in range(2):
                s = (p * (D + 1) + d) * 2 + right
                obs[s, p] = obs[s, P + d] = 1.0
    return obs


def fh_sets_equal(config: ReasoningConfig, shaped_R_fh) -> float:
    """1.0 if backward induction over the episode's ``H = D + 1`` steps (γ = 1) on
    ``shaped_R_fh`` (``[S, A, S']`` or ``[H, S, A, S']``) has the outcome-only optimal action
    sets at every t and non-terminal state, else 0.0 (call under float64)."""
    mdp = reasoning_mdp(config, 1.0)
    live = ~np.asarray(mdp.terminal_mask)
    H, term = config.max_depth + 1, mdp.terminal_mask
    fh0 = optimal_action_sets(finite_horizon(mdp.P, mdp.R, horizon=H, terminal_mask=term).Q)
    fh1 = optimal_action_sets(finite_horizon(mdp.P, shaped_R_fh, horizon=H, terminal_mask=term).Q)
    return float(np.array_equal(np.asarray(fh0)[:, live], np.asarray(fh1)[:, live]))


def exact_compare(config: ReasoningConfig, gamma: float, shaped_R, shaped_R_fh) -> dict:
    """Outcome-only vs shaped rewards on ``reasoning_mdp`` (call under float64).

    Args:
      shaped_R: ``[S, A, S']`` shaped table for the infinite-horizon solve at ``gamma``.
      shaped_R_fh: ``[S, A, S']`` or ``[H, S, A, S']`` shaped table for the finite-horizon
        (γ = 1, H = D + 1) solve.

    Returns floats: ``equal`` / ``subset`` (1.0 or 0.0; γ-solve, non-terminal states: sets equal /
    shaped-optimal ⊆ outcome-optimal), ``equal_fh`` (:func:`fh_sets_equal`), ``success`` /
    ``length`` (success rate and expected episode length within the episode's H steps) of the
    uniform policy over the γ-solve's shaped-optimal actions, ``success_opt`` / ``length_opt``
    of the same for the outcome-optimal actions."""
    mdp = reasoning_mdp(config, gamma)
    live = ~np.asarray(mdp.terminal_mask)
    H, term = config.max_depth + 1, mdp.terminal_mask
    R_len = jnp.broadcast_to(jnp.asarray(live, mdp.P.dtype)[:, None, None], mdp.P.shape)
    sets0 = np.asarray(optimal_action_sets(value_iteration(mdp).Q))
    sets1 = np.asarray(optimal_action_sets(value_iteration(mdp.replace(R=shaped_R)).Q))

    def evaluate(sets):
        pi = jnp.asarray(sets, mdp.P.dtype)
        pi = pi / pi.sum(-1, keepdims=True)
        out = []
        for R in (mdp.R, R_len):
            V, _ = finite_horizon_evaluation(mdp.P, R, pi, horizon=H, terminal_mask=term)
            out.append(float(V[0] @ mdp.init_dist))
        return out

    s1, l1 = evaluate(sets1)
    s0, l0 = evaluate(sets0)
    return {
        "equal": float(np.array_equal(sets0[live], sets1[live])),
        "subset": float(np.all(~sets1[live] | sets0[live])),
        "equal_fh": fh_sets_equal(config, shaped_R_fh),
        "success": s1,
        "length": l1,
        "success_opt": s0,
        "length_opt": l0,
    }


def potential_tables(config: ReasoningConfig, phi_states, c: float, gamma: float):
    """PBRS tables of ``c·Φ`` (``phi_states [S]``, Φ of each state's obs) for
    :func:`exact_compare`: ``(R_γ [S, A, S'], R_fh [H, S, A, S'], R_fh_static [S, A, S'])``.

    ``R_fh`` zeroes Φ at the horizon (Φ(·, H) = 0), which policy invariance of the finite-horizon
    objective needs (Grześ 2017); ``R_fh_static`` keeps the static Φ at truncation (what a
    learner that bootstraps truncation with V(final obs) would need a γ-solve for)."""
    mdp = reasoning_mdp(config, 1.0)
    H, term = config.max_depth + 1, mdp.terminal_mask
    phi = c * jnp.asarray(phi_states)
    R_g = shaped_reward_table(mdp.R, phi, gamma, term)
    R_fh = dynamic_shaped_rewards(mdp.R, jnp.broadcast_to(phi, (H + 1, phi.shape[0])), 1.0, term)
    return R_g, R_fh, shaped_reward_table(mdp.R, phi, 1.0, term)


def exact_depth_rewards(settings: Settings) -> dict:
    """Per form (``potential``, ``bonus``) and ``c`` in ``exact_coefs``: :func:`exact_compare`
    (lists over the coefficients). The potential form's tables come from the transform itself
    (γ-solve) and from Φ on the states (finite horizon); ``potential`` also gets
    ``equal_fh_static`` (static Φ kept at the time limit)."""
    cfg = settings.env_config()
    P, D, L, K = cfg.num_problems, cfg.max_depth, cfg.chain_length, cfg.num_step_actions
    g = settings.gamma
    pot, bonus = depth_potential_shaping(P, D, L, g), step_bonus(K)
    out = {"potential": [], "bonus": []}
    with jax.enable_x64(True):
        mdp = reasoning_mdp(cfg, g)
        obs = jnp.asarray(reasoning_obs_table(cfg))
        phi = depth_potential(P, D, L)(obs)
        for c in settings.exact_coefs:
            c64 = jnp.float64(c)
            R_g = apply_obs_transform_to_table(pot, c64, mdp.R, obs, g, mdp.terminal_mask)
            _, R_fh, R_static = potential_tables(cfg, phi, c, g)
            row = exact_compare(cfg, g, R_g, R_fh)
            row["equal_fh_static"] = fh_sets_equal(cfg, R_static)
            out["potential"].append(row)
            R_b = apply_obs_transform_to_table(bonus, c64, mdp.R, obs, g, mdp.terminal_mask)
            out["bonus"].append(exact_compare(cfg, g, R_b, R_b))
    return {k: {f: [r[f] for r in rows] for f in rows[0]} for k, rows in out.items()}


# ----------------------------------------------------------------------------- PPO
def depth_transform(settings: Settings) -> RewardTransform:
    """``r + c_pot·F_depth + c_bonus·1[step]``; params ``[2]`` = (c_pot, c_bonus)."""
    cfg = settings.env_config()
    pot = depth_potential_shaping(cfg.num_problems, cfg.max_depth, cfg.chain_length,
                                  settings.gamma)  # fmt: skip
    bonus = step_bonus(cfg.num_step_actions)

    def apply(params, state, tr):
        r, _ = pot.apply(params[..., 0], (), tr)
        r, _ = bonus.apply(params[..., 1], (), tr._replace(reward=r))
        return r, state

    return RewardTransform(lambda p: (), apply, jnp.zeros(2), settings.gamma)


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Exact part + PPO (seeds × conditions in one vmapped program)."""
    settings.check()
    if seeds < 1:
        raise ValueError(f"seeds={seeds}; must be >= 1")
    cfg = settings.env_config()
    exact = exact_depth_rewards(settings)
    env, env_params = make("reasoning_chain", **dataclasses.asdict(cfg))
    coef = {"outcome": (0.0, 0.0), "potential": (settings.ppo_coef_potential, 0.0),
            "bonus": (0.0, settings.ppo_coef_bonus)}  # fmt: skip
    C = len(CONDITIONS)
    tp = jnp.asarray([coef[c] for c in CONDITIONS] * seeds, jnp.float32)  # [seeds·C, 2]
    m = ppo_runs(
        env, env_params, jax.random.key(seed), seeds * C, settings.ppo_steps,
        transform=depth_transform(settings), transform_params=tp,
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
        "exact": exact,
        "success_curve_mean": succ.mean(0).tolist(),  # [C, T]
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
def _exact(x: float) -> Estimate:
    """An exact number (no sampling): a zero-width interval, n = 1."""
    return Estimate(float(x), float(x), float(x), 1)


def _positive(name: str, x) -> tuple[Check, Estimate]:
    e = estimate(np.asarray(x, np.float64), "mean")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} {e.fmt()}"), e


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.grpo_r.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """``invariance_exact``, ``bonus_hack_exact``, ``speedup``, ``hack_ppo`` (module docstring)."""
    out = []
    ex = summary.get("exact", {})
    coefs = summary.get("settings", {}).get("exact_coefs", [])
    s = "The potential-based depth reward keeps the outcome-optimal policy (action sets) for any c."
    r = "exact: action sets equal for every c in the grid, γ-solve and finite-horizon solve"
    if "potential" in ex:
        eq = np.minimum(ex["potential"]["equal"], ex["potential"]["equal_fh"])
        n_ok = int(np.sum(eq))
        v = "reproduced" if n_ok == len(eq) else "not reproduced"
        chk = Check(v, f"sets equal for {n_ok} of {len(eq)} coefficients c in {coefs}")
        out.append(_claim("invariance_exact", s, {"fraction of c kept": _exact(n_ok / len(eq))},
                          r, chk))  # fmt: skip
    else:
        out.append(_claim("invariance_exact", s, {}, r, Check("not testable", "no exact data")))
    s = "A plain +c bonus per reasoning step changes the optimal policy and is hacked by padding."
    r = ("exact: (i) shaped-optimal ⊄ outcome-optimal for some c (γ-solve); (ii) at the largest c "
         "the shaped-optimal episode is longer; both: reproduced, one: partial")  # fmt: skip
    if "bonus" in ex:
        b = ex["bonus"]
        changed = [c for c, sub in zip(coefs, b["subset"], strict=True) if not sub]
        i1 = bool(changed)
        i2 = b["length"][-1] > b["length_opt"][-1] + 1e-9
        n = int(i1) + int(i2)
        v = "reproduced" if n == 2 else "partial" if n == 1 else "not reproduced"
        chk = Check(v, (
            f"policy changed for c in {changed}; at c={coefs[-1]:g}: length {b['length'][-1]:.2f} "
            f"vs optimal {b['length_opt'][-1]:.2f}, success {b['success'][-1]:.3f} vs "
            f"{b['success_opt'][-1]:.3f}"
        ))  # fmt: skip
        q = {
            "smallest c that changes the policy": _exact(min(changed) if changed else np.nan),
            "episode length at largest c": _exact(b["length"][-1]),
            "success at largest c": _exact(b["success"][-1]),
        }
        out.append(_claim("bonus_hack_exact", s, q, r, chk))
    else:
        out.append(_claim("bonus_hack_exact", s, {}, r, Check("not testable", "no exact data")))
    pc = summary.get("per_condition", {})
    s = "The potential-based depth reward speeds learning (success-curve area) over outcome-only."
    r = "paired per-seed Δ area (potential − outcome): CI lower limit > 0; point > 0: partial"
    if "potential" in pc and "outcome" in pc:
        d = np.subtract(pc["potential"]["auc_success"], pc["outcome"]["auc_success"])
        chk, e = _positive("Δ success area", d)
        q = {"Δ success area": e,
             "final success potential": estimate(pc["potential"]["final_success"], "mean"),
             "final success outcome": estimate(pc["outcome"]["final_success"], "mean")}  # fmt: skip
        out.append(_claim("speedup", s, q, r, chk))
    else:
        out.append(_claim("speedup", s, {}, r, Check("not testable", "no PPO runs")))
    s = "PPO with the per-step bonus lengthens episodes (padding) relative to outcome-only."
    r = "paired per-seed Δ final length (bonus − outcome): CI lower limit > 0; point > 0: partial"
    if "bonus" in pc and "outcome" in pc:
        d = np.subtract(pc["bonus"]["final_length"], pc["outcome"]["final_length"])
        chk, e = _positive("Δ final length", d)
        q = {"Δ final length": e,
             "final success bonus": estimate(pc["bonus"]["final_success"], "mean"),
             "final success outcome": estimate(pc["outcome"]["final_success"], "mean")}  # fmt: skip
        out.append(_claim("hack_ppo", s, q, r, chk))
    else:
        out.append(_claim("hack_ppo", s, {}, r, Check("not testable", "no PPO runs")))
    return out


def curves_figure(summary: dict, cl: list[Claim], out, name: str, head: str) -> pathlib.Path:
    """Success and episode-length curves (mean over seeds) per condition of a reasoning-chain
    PPO summary; caption: ``head`` (budgets), each condition's final numbers, the claims.
    Writes ``out / f"process_rewards_{name}.png"`` (shared with ``robo_dopamine``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4.5))
    for cond, c, ln in zip(summary["conditions"], summary["success_curve_mean"],
                           summary["length_curve_mean"], strict=True):  # fmt: skip
        a1.plot(c, label=cond, lw=1.2)
        a2.plot(ln, label=cond, lw=1.2)
    a1.axhline(summary["optimal_success"], color="k", ls=":", lw=0.8, label="optimal")
    a1.axhline(summary["shortcut_success"], color="grey", ls="--", lw=0.8, label="shortcut")
    a1.set(xlabel="PPO update", ylabel="success (outcome reward)")
    a2.set(xlabel="PPO update", ylabel="episode length")
    a1.legend(fontsize=7)
    lines = [
        f"{k}: final success {np.mean(v['final_success']):.2f}, length "
        f"{np.mean(v['final_length']):.2f}"
        for k, v in summary["per_condition"].items()
    ]
    caption = head + "; ".join(lines) + "\n" + claims_caption(cl)
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.42)
    path = out / f"process_rewards_{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Success and episode-length curves (mean over seeds) per condition; claims as caption."""
    st, pc = summary["settings"], summary["per_condition"]
    n = len(pc["outcome"]["final_success"])
    head = (
        f"{n} seeds, {st['ppo_steps']} PPO steps/run, γ={st['gamma']}, c_pot="
        f"{st['ppo_coef_potential']}, c_bonus={st['ppo_coef_bonus']}. "
    )
    return curves_figure(summary, cl, out, "grpo_r", head)
