"""CALM-style subgoal rewards on the key-door gridworld: faster learning, and which form is safe.

**System** (CALM, "Assessing the Zero-Shot Capabilities of LLMs for Action Evaluation in RL",
2024): an LLM decomposes a task into elementary subgoals and judges their achievement on
transitions; every time an option terminates (a subgoal is achieved) CALM pays an auxiliary
reward, which helps when the task reward is sparse and delayed (:mod:`jaxrl.rewards.subgoals`).

**Small-scale form.** Kept: an ordered decomposition into subgoals, a reward when the next
subgoal in order is achieved, judged from the agent's state. Replaced: the LLM is an **oracle
annotator** whose answer is the true decomposition of ``make("key_door")`` (1. holding the key;
2. at or past the door with the key; 3. at the goal), except that each subgoal is independently
replaced, with probability ``error_rate``, by a wrong state set (the noisy-TV cell, or the dead-end
top-right cell of the left room), fixed per run by its key. Dropped: language, MiniHack, the
options' policies (the subgoals only shape the reward of one PPO policy). Two reward forms:
the **plain bonus** (CALM's; ``+c`` the first time in an episode each subgoal is reached in
order, ``once=True``) and **PBRS** with ``Φ(s) = c·p(s)``, ``p`` the annotated progress of the
state (Ng et al. 1999). The memoryless "every time" bonus is measured in the exact layer only.

**Runs.** PPO (``jaxrl.experiment.ppo_runs``; all seeds × 5 conditions in one vmapped program):
extrinsic only; accurate annotator × {bonus, PBRS}; wrong annotator (``wrong_error_rate``) × {bonus,
PBRS}. Per run: AUC = mean over PPO updates of the episode success rate (``return_env_reward``;
the goal pays 1 and nothing else pays), and the final success rate (last ``final_window``
updates). **Exact layer** (float64, :func:`jaxrl.mdp.value_iteration` on ``key_door_mdp``, the
once-bonus on its product MDP :func:`~jaxrl.rewards.subgoals.once_bonus_mdp`), for each seed's
accurate and wrong annotator: the true (env-reward) return of the shaped-optimal policy divided
by the exact optimum J*, and whether PBRS's optimal action sets equal the original's.

**Claims and verdict rules** (declared before running; 95% bootstrap CIs over seeds):

* ``speed``: with an accurate annotator, CALM-style shaping speeds learning: the AUC of the
  accurate bonus and of the accurate PBRS runs each lie CI-above extrinsic-only
  (:func:`~jaxrl.experiment.claims.ci_greater`; both needed: ``combine("all")``, one: partial).
* ``optimum``: with a wrong annotator, the plain bonus changes the optimum while PBRS keeps it:
  (i) the upper CI limit of the bonus's true-return ratio J(π*_bonus)/J* < 1, and (ii) PBRS's
  optimal action sets equal the original's for every seed's annotator (the fraction is 1) and its
  ratio is 1 within 1e-9. Both needed.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import numpy as np

import jaxrl.config
from jaxrl.envs import make
from jaxrl.envs.key_door import KeyDoorGrid, key_door_mdp, tabular_state
from jaxrl.experiment.claims import (
    Check,
    Claim,
    ci_bound,
    ci_greater,
    claims_caption,
    combine,
    estimate,
)
from jaxrl.experiment.ppo_runs import grid_static, ppo_runs
from jaxrl.mdp import expected_return, optimal_action_sets, value_iteration
from jaxrl.rewards.subgoals import (
    annotate,
    once_bonus_mdp,
    shaped_table,
    subgoal_params,
    subgoal_reward,
)

EXPERIMENT = "exploration_rewards"
CITATION = "CALM (credit assignment with language models, 2024)"
CONDITIONS = ("extrinsic", "accurate bonus", "accurate PBRS", "wrong bonus", "wrong PBRS")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    ppo_steps: int = 200_000
    """PPO env steps per run (16 envs x 64 steps per update)"""
    max_steps: int = 100
    """episode time limit of make("key_door")"""
    coef: float = 0.5
    """c: bonus per subgoal reached, and the potential's scale Φ = c·p(s) (goal reward 1)"""
    wrong_error_rate: float = 1.0
    """the wrong annotator's per-subgoal replacement probability"""
    gamma: float = 0.99
    """PPO's and the exact layer's discount"""
    learning_rate: float = 2.5e-3
    """PPO learning rate"""
    ent_coef: float = 0.01
    """PPO entropy coefficient"""
    final_window: int = 10
    """updates averaged for the final success rate"""

    def check(self) -> None:
        self.require(self.ppo_steps >= 4096, "ppo_steps", "must be >= 4096 (one chunk)")
        self.require(self.max_steps >= 1, "max_steps", "must be >= 1")
        self.require(self.coef > 0, "coef", "must be > 0")
        self.require(0.0 <= self.wrong_error_rate <= 1.0, "wrong_error_rate", "must be in [0, 1]")
        self.require(0.0 < self.gamma < 1.0, "gamma", "must be in (0, 1)")
        self.require(self.learning_rate > 0, "learning_rate", "must be > 0")
        self.require(self.final_window >= 1, "final_window", "must be >= 1")


QUICK = Settings()
PAPER = Settings(ppo_steps=400_000)


def decomposition(grid: KeyDoorGrid) -> tuple[np.ndarray, np.ndarray]:
    """``(true_sets [3, 2C], distractors [2, 2C])`` over key_door's states ``cell + C·has_key``.

    True: 1. holding the key; 2. at or past the door (door column or right of it) with the key;
    3. a goal cell. Distractors (each both key states of one cell): the noisy TV, and the
    top-right cell of the left room (a dead end off the shortest path)."""
    C = grid.num_cells
    col, row = grid.coords[:, 1], grid.coords[:, 0]
    dcol = grid.coords[grid.door, 1]
    true = np.zeros((3, 2 * C))
    true[0, C:] = 1.0
    true[1, C + np.flatnonzero(col >= dcol)] = 1.0
    true[2, np.concatenate([grid.goals, grid.goals + C])] = 1.0
    left = np.flatnonzero(col < dcol)
    corner = int(left[np.lexsort((-col[left], row[left]))[0]])  # top row, rightmost
    dist = np.zeros((2, 2 * C))
    for i, c in enumerate((grid.tv, corner)):
        dist[i, [c, c + C]] = 1.0
    return true, dist


def _exact(mdp, sets: np.ndarray, coef: float, gamma: float, J: float, A0) -> dict:
    """True-return ratios of the shaped-optimal policies and PBRS's action-set equality."""
    out = {}
    for form in ("bonus_every", "pbrs"):
        prm = subgoal_params(sets, coef * (form == "bonus_every"), coef * (form == "pbrs"))
        sol = value_iteration(mdp.replace(R=shaped_table(mdp.R, gamma, mdp.terminal_mask, prm)))
        out[form] = float(expected_return(mdp, sol.pi)) / J
        if form == "pbrs":
            out["pbrs_same_sets"] = bool(np.all(optimal_action_sets(sol.Q) == A0))
    shaped, plain = once_bonus_mdp(mdp, sets, coef), once_bonus_mdp(mdp, sets, 0.0)
    sol = value_iteration(shaped)
    out["bonus_once"] = float(expected_return(plain, sol.pi)) / J
    return out


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All seeds × 5 conditions of PPO in one program, plus the exact layer per annotator."""
    settings.check()
    env, env_params = make("key_door", max_steps=settings.max_steps)
    grid = env.grid
    C = grid.num_cells
    true, dist = decomposition(grid)
    k_ann, k_ppo = jax.random.split(jax.random.key(seed))
    ann_keys = jax.random.split(k_ann, seeds)
    eps = settings.wrong_error_rate
    wrong = np.stack([np.asarray(annotate(k, true, dist, eps)) for k in ann_keys])  # [seeds, K, S]
    static = grid_static(settings.ppo_steps)
    c = settings.coef
    # condition -> (sets per seed, c_bonus, c_potential); runs are [seed, condition] flattened
    spec = [(true, 0.0, 0.0), (true, c, 0.0), (true, 0.0, c), (None, c, 0.0), (None, 0.0, c)]
    sets, cb, cp = [], [], []
    for s in range(seeds):
        for st, b, p in spec:
            sets.append(wrong[s] if st is None else st)
            cb.append(b)
            cp.append(p)
    params = subgoal_params(np.stack(sets).astype(np.float32), np.float32(cb), np.float32(cp))
    transform = subgoal_reward(
        lambda obs: tabular_state(obs, C), settings.gamma, once=True, num_envs=static.num_envs
    )
    metrics = ppo_runs(
        env, env_params, k_ppo, seeds * len(CONDITIONS), settings.ppo_steps,
        transform=transform, transform_params=params, learning_rate=settings.learning_rate,
        ent_coef=settings.ent_coef, gamma=settings.gamma, static=static,
    )  # fmt: skip
    succ = np.asarray(metrics["return_env_reward"], np.float64).reshape(seeds, len(CONDITIONS), -1)
    succ = np.nan_to_num(succ, nan=0.0)  # an update in which no episode ended: no success
    # exact layer (float64): each seed's accurate and wrong annotator
    with jax.enable_x64(True):
        mdp = key_door_mdp(env.config, settings.gamma)
        sol = value_iteration(mdp)
        J = float(expected_return(mdp, sol.pi))
        A0 = optimal_action_sets(sol.Q)
        cache: dict[bytes, dict] = {}

        def exact(s):
            b = np.asarray(s, bool).tobytes()
            if b not in cache:
                cache[b] = _exact(mdp, np.asarray(s, np.float64), c, settings.gamma, J, A0)
            return cache[b]

        ex = {"accurate": [exact(true) for _ in range(seeds)], "wrong": [exact(w) for w in wrong]}
    per_condition = {
        name: {
            "auc": succ[:, i].mean(-1).tolist(),
            "final": succ[:, i, -settings.final_window :].mean(-1).tolist(),
        }
        for i, name in enumerate(CONDITIONS)
    }
    return {
        "settings": jaxrl.config.to_json_dict(settings),
        "seeds": seeds,
        "conditions": list(CONDITIONS),
        "updates": int(succ.shape[-1]),
        "env_steps_per_update": static.num_envs * static.num_steps,
        "success_curve_mean": succ.mean(0).tolist(),  # [conditions, updates]
        "per_condition": per_condition,
        "wrong_subgoals_replaced": np.mean(np.any(wrong != true, -1), -1).tolist(),
        "exact_optimum": J,
        "exact": {
            ann: {k: [float(e[k]) for e in v] for k in ("bonus_once", "bonus_every", "pbrs")}
            | {"pbrs_same_sets": [float(e["pbrs_same_sets"]) for e in v]}
            for ann, v in ex.items()
        },
    }


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.calm.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """``speed`` and ``optimum`` (see the module docstring)."""
    pc = summary.get("per_condition", {})
    ex = summary.get("exact", {})
    s1 = "With an accurate annotator, CALM-style subgoal shaping speeds learning on key_door."
    r1 = (
        "AUC of the success curve: accurate bonus and accurate PBRS each CI-above extrinsic-only; "
        "both needed (one: partial)"
    )
    if all(k in pc for k in ("extrinsic", "accurate bonus", "accurate PBRS")):
        e0 = estimate(pc["extrinsic"]["auc"], "mean")
        eb = estimate(pc["accurate bonus"]["auc"], "mean")
        ep = estimate(pc["accurate PBRS"]["auc"], "mean")
        chk = combine(
            {
                "bonus": ci_greater("AUC accurate bonus", eb, "extrinsic", e0),
                "PBRS": ci_greater("AUC accurate PBRS", ep, "extrinsic", e0),
            }
        )
        q = {"AUC extrinsic": e0, "AUC accurate bonus": eb, "AUC accurate PBRS": ep}
        out = [_claim("speed", s1, q, r1, chk)]
    else:
        out = [_claim("speed", s1, {}, r1, Check("not testable", "no PPO runs"))]
    s2 = (
        "With a wrong annotator, the plain subgoal bonus changes the optimal policy, while the "
        "potential-based form keeps it (exact float64 solve)."
    )
    r2 = (
        "(i) upper CI limit of J(π*_bonus)/J* < 1 (the once-per-episode bonus PPO uses); "
        "(ii) PBRS optimal action sets equal the original's for every annotator and its ratio is "
        "1 within 1e-9; both needed"
    )
    if "wrong" not in ex:
        return out + [_claim("optimum", s2, {}, r2, Check("not testable", "no exact layer"))]
    w = ex["wrong"]
    eb = estimate(w["bonus_once"], "mean")
    ee = estimate(w["bonus_every"], "mean")
    ep = estimate(w["pbrs"], "mean")
    same = np.asarray(w["pbrs_same_sets"])
    ok = bool(np.all(same == 1.0)) and bool(np.all(np.abs(np.asarray(w["pbrs"]) - 1) < 1e-9))
    c_pbrs = Check(
        "reproduced" if ok else "not reproduced",
        f"PBRS keeps the optimal action sets for {int(same.sum())} of {same.size} annotators, "
        f"true-return ratio {ep.fmt(6)}",
    )
    chk = combine({"bonus": ci_bound("J(π*_bonus)/J*", eb, "hi", "<", 1.0), "PBRS": c_pbrs})
    q = {
        "J(pi*_bonus once)/J* wrong": eb,
        "J(pi*_bonus every)/J* wrong": ee,
        "J(pi*_PBRS)/J* wrong": ep,
        "J(pi*_bonus once)/J* accurate": estimate(ex["accurate"]["bonus_once"], "mean"),
        "J(pi*_bonus every)/J* accurate": estimate(ex["accurate"]["bonus_every"], "mean"),
    }
    return out + [_claim("optimum", s2, q, r2, chk)]


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Success curves per condition (mean over seeds) and the exact true-return ratios."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves = np.asarray(summary["success_curve_mean"])
    steps = (np.arange(curves.shape[-1]) + 1) * summary["env_steps_per_update"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    for name, c in zip(summary["conditions"], curves, strict=True):
        a1.plot(steps, c, label=name, lw=1.2)
    a1.set_xlabel("env steps")
    a1.set_ylabel("episode success rate")
    a1.legend(fontsize=7)
    forms = ("bonus_once", "bonus_every", "pbrs")
    x = np.arange(len(forms))
    for j, ann in enumerate(("accurate", "wrong")):
        vals = [np.mean(summary["exact"][ann][f]) for f in forms]
        a2.bar(x + 0.4 * j - 0.2, vals, 0.4, label=f"{ann} annotator")
    a2.set_xticks(x, ["bonus (once)", "bonus (every)", "PBRS"])
    a2.set_ylabel("J(π*_shaped) / J*  (exact)")
    a2.legend(fontsize=7)
    st = summary["settings"]
    pc = summary["per_condition"]
    lines = "; ".join(
        f"{n}: AUC {np.mean(pc[n]['auc']):.2f}, final {np.mean(pc[n]['final']):.2f}"
        for n in summary["conditions"]
    )
    caption = (
        f"PPO on key_door, {st['ppo_steps']} steps x {summary['seeds']} seeds per condition, "
        f"c={st['coef']:g}, wrong annotator error rate {st['wrong_error_rate']:g} (mean fraction "
        f"of subgoals replaced {np.mean(summary['wrong_subgoals_replaced']):.2f}); exact J* = "
        f"{summary['exact_optimum']:.4f}. {lines}\n" + claims_caption(cl)
    )
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.38)
    path = out / "exploration_rewards_calm.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
