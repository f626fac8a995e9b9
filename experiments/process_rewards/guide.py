"""The practitioner's guide to multi-turn agentic RL: PPO / GRPO / RLOO × reward density × size.

**System** ("A Practitioner's Guide to Multi-turn Agentic Reinforcement Learning", PEARLS Lab,
2025). The abstract, on the reward pillar: "while dense turn-level rewards accelerate training,
performance and stability is highly dependent on the choice of RL algorithm"; on the policy
pillar it studies "the interplay between reward sparsity and biased (PPO, GRPO) and unbiased
(RLOO) policy gradient methods"; on the environment pillar it varies task complexity incl. the
"optimal solution length". Issue 20 asks the sharper version: *dense turn rewards help most on
long solutions, and learner rankings change with reward density*.

**Small-scale form.** Kept: multi-turn episodes ending in a verified answer (the toy reasoning
MDP, :mod:`jaxrl.envs.reasoning_chain`, ``shortcut_fraction`` 0 by default so only the full chain
is right), the three learners (PPO with a critic and GAE, :func:`jaxrl.experiment.ppo_runs`;
GRPO and RLOO with group baselines and a KL to the initial policy,
:mod:`jaxrl.agents.group_relative`), sparse outcome vs dense turn rewards, and two solution
lengths ``L``. The dense turn reward is :func:`turn_reward`: ``r_t = c_o·outcome_t + c_p·
progress_t`` with the env's ground-truth turn reward ``progress_t = Φ*(s_{t+1}) − Φ*(s_t)``
(``Φ* = right·min(d, L)/L``), so an episode's dense return is exactly ``c_o·outcome + c_p·Φ*(s_T)``
(the tests check this sum). Dropped: LLM policies, SFT warm start, TextWorld/ALFWorld/SWE-Gym,
the SFT:RL budget split; turn rewards are oracle (not from a verifier or a learned model).

**Measurements** (per run; runs = seeds × {sparse, dense}, vmapped in one program per (learner,
L); the sparse and dense runs of a seed share their PRNG key in the group learners): success =
the per-update mean outcome of the training episodes; its trailing moving mean over ``window``
updates; *episodes to τ* = cumulative episodes at the first update whose moving mean ≥ τ =
``threshold_frac`` × the exact optimal success (the whole budget when never reached: censored,
so a speed-up is then a lower bound); *final success* = mean of the last ``window`` updates;
for the group learners the advantage-collapse fraction (groups whose returns are all equal).

**Claims and verdict rules** (declared before running; means over seeds, 95% bootstrap CIs):

* ``accelerate`` (abstract): per learner and L, the per-seed log speed-up
  ``log(episodes_to_τ sparse / episodes_to_τ dense)`` has CI lower limit > 0; reproduced when
  every (learner, L) case is, partial when some are or some have only the point > 0
  (:func:`~jaxrl.experiment.claims.combine`).
* ``long`` (issue): per learner, the CI of the log speed-up at the longest L lies above its CI at
  the shortest L (:func:`~jaxrl.experiment.claims.ci_greater`); combined over learners ("all").
* ``ranking`` (issue): at some L, the learners' order by final success changes with density:
  reproduced when a pair of learners is CI-separated in opposite directions under sparse and
  under dense rewards; partial when only the point-estimate order of the three differs; not
  reproduced when the point orders agree at every L.
* ``algo`` (abstract, "performance ... highly dependent on the choice of RL algorithm"): under
  dense rewards at the longest L, at least one pair of learners has CI-separated final success
  (reproduced); partial when the point estimates differ by more than 0.1 but all CIs overlap.

Budgets are per learner (PPO: ``ppo_steps`` env steps; group learners: ``group_updates`` ×
``num_groups`` × ``group_size`` episodes); rankings compare final success at these budgets.
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.agents import group_relative as gr
from jaxrl.envs import make
from jaxrl.envs.reasoning_chain import ReasoningConfig, optimal_success
from jaxrl.experiment.claims import Check, Claim, ci_greater, claims_caption, combine, estimate
from jaxrl.experiment.ppo_runs import grid_static, ppo_runs
from jaxrl.shaping.transform import RewardTransform

EXPERIMENT = "process_rewards"
SYSTEM = "guide"
CITATION = "A Practitioner's Guide to Multi-turn Agentic RL (PEARLS Lab, 2025)"
LEARNERS = ("ppo", "grpo", "rloo")
REWARDS = ("sparse", "dense")
TAGS = ("accelerate", "long", "ranking", "algo")


class TurnParams(NamedTuple):
    """Coefficients of :func:`turn_reward` (each ``[]`` or with a leading run axis)."""

    progress_coef: Any = 0.5
    """c_p: weight of the per-turn progress reward (0: the sparse outcome reward)"""
    outcome_coef: Any = 1.0
    """c_o: weight of the env's outcome reward"""


def turn_reward(progress_coef: float = 0.5, outcome_coef: float = 1.0) -> RewardTransform:
    """Dense turn reward ``r_t = c_o·r^env_t + c_p·channels["progress_reward"]_t`` ``[*B]``.

    The guide's "dense turn-level rewards" (a reward at every turn beside the final outcome);
    here the turn reward is the env's ground-truth progress difference, which telescopes: the
    episode return is ``c_o·outcome + c_p·(Φ*(s_T) − Φ*(s_0))`` with ``Φ*(s_0) = 0``.
    ``progress_coef = 0`` is exactly the env reward (the sparse condition)."""

    def init(params):
        del params
        return ()

    def apply(params: TurnParams, state, tr):
        if "progress_reward" not in tr.channels:
            have = sorted(tr.channels)
            raise KeyError(f"turn_reward needs channel 'progress_reward'; available: {have}")
        r = params.outcome_coef * tr.reward + params.progress_coef * tr.channels["progress_reward"]
        return r, state

    return RewardTransform(init, apply, TurnParams(progress_coef, outcome_coef))


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    chain_lengths: tuple[int, ...] = (2, 5)
    """solution lengths L (short first, longest last)"""
    extra_depth: int = 2
    """max_depth = L + extra_depth (room for padding steps)"""
    num_problems: int = 4
    """P problems"""
    num_step_actions: int = 3
    """K step choices per turn (one right)"""
    shortcut_fraction: float = 0.0
    """fraction of problems an early answer solves (0: only full chains succeed)"""
    env_seed: int = 0
    """seed of the problem tables"""
    progress_coef: float = 0.5
    """c_p of the dense condition"""
    ppo_steps: int = 65536
    """env steps per PPO run"""
    ppo_learning_rate: float = 2.5e-3
    """PPO step size"""
    group_updates: int = 160
    """GRPO / RLOO updates per run (a multiple of 4)"""
    num_groups: int = 8
    """groups per group-relative update"""
    group_size: int = 8
    """episodes per group (same problem)"""
    group_learning_rate: float = 3e-3
    """GRPO / RLOO step size"""
    kl_coef: float = 0.01
    """β of the KL to the initial policy (GRPO / RLOO)"""
    ent_coef: float = 0.01
    """entropy bonus (all learners)"""
    window: int = 8
    """updates in the moving mean of success and in the final-success window"""
    threshold_frac: float = 0.5
    """τ = threshold_frac × the exact optimal success"""

    def check(self) -> None:
        self.require(len(self.chain_lengths) >= 2, "chain_lengths", "need >= 2 lengths")
        self.require(all(x >= 1 for x in self.chain_lengths), "chain_lengths", "must be >= 1")
        ok = list(self.chain_lengths) == sorted(set(self.chain_lengths))
        self.require(ok, "chain_lengths", "must be strictly increasing")
        for f in ("num_problems", "ppo_steps", "group_updates", "num_groups", "window"):
            self.require(getattr(self, f) > 0, f, "must be positive")
        self.require(self.extra_depth >= 0, "extra_depth", "must be >= 0")
        self.require(self.num_step_actions >= 2, "num_step_actions", "must be >= 2")
        self.require(0 <= self.shortcut_fraction <= 1, "shortcut_fraction", "must be in [0, 1]")
        self.require(self.group_size >= 2, "group_size", "must be >= 2")
        self.require(self.progress_coef > 0, "progress_coef", "must be > 0")
        self.require(0 < self.threshold_frac <= 1, "threshold_frac", "must be in (0, 1]")
        self.require(self.group_updates % 4 == 0, "group_updates", "must be a multiple of 4")
        self.require(self.group_updates >= 2 * self.window, "group_updates", "< 2 * window")
        for f in ("ppo_learning_rate", "group_learning_rate"):
            self.require(getattr(self, f) > 0, f, "must be > 0")
        self.require(self.kl_coef >= 0 and self.ent_coef >= 0, "kl_coef", "coefs must be >= 0")

    def env_config(self, chain_length: int) -> ReasoningConfig:
        return ReasoningConfig(
            num_problems=self.num_problems,
            chain_length=chain_length,
            num_step_actions=self.num_step_actions,
            max_depth=chain_length + self.extra_depth,
            shortcut_fraction=self.shortcut_fraction,
            seed=self.env_seed,
        )


QUICK = Settings()
PAPER = Settings(chain_lengths=(2, 4, 6), ppo_steps=262144, group_updates=640)
TINY = Settings(ppo_steps=8192, group_updates=8, num_groups=4, group_size=4, window=2)


def _moving(x: np.ndarray, w: int) -> np.ndarray:
    """``[..., U]`` trailing moving mean over ``w`` updates (shorter at the start)."""
    c = np.cumsum(x, -1)
    out = c.copy()
    out[..., w:] = c[..., w:] - c[..., :-w]
    return out / np.minimum(np.arange(1, x.shape[-1] + 1), w)


def episodes_to(success: np.ndarray, episodes: np.ndarray, tau: float, w: int):
    """``([runs] episodes at the first update whose moving-mean success ≥ τ, [runs] reached)``;
    the run's whole budget where never reached (censored)."""
    hit = _moving(success, w) >= tau
    first = np.where(hit.any(-1), hit.argmax(-1), success.shape[-1] - 1)
    return np.take_along_axis(episodes, first[:, None], -1)[:, 0], hit.any(-1)


def _train(s: Settings, learner: str, env, params, key, seeds: int) -> dict[str, np.ndarray]:
    """``seeds`` × {sparse, dense} runs of one learner (run = reward · seeds + seed) in one
    vmapped program -> ``{"success", "episodes"[, "collapse"]}`` each ``[2·seeds, updates]``."""
    n = 2 * seeds
    tf = turn_reward()
    tp = TurnParams(
        jnp.repeat(jnp.array([0.0, s.progress_coef], jnp.float32), seeds),
        jnp.ones(n, jnp.float32),
    )
    if learner == "ppo":
        m = ppo_runs(env, params, key, n, s.ppo_steps, transform=tf, transform_params=tp,
                     learning_rate=s.ppo_learning_rate, ent_coef=s.ent_coef,
                     static=grid_static(s.ppo_steps))  # fmt: skip
        return {"success": m["return_env_reward"], "episodes": np.cumsum(m["episode_count"], -1)}
    st = gr.GroupStatic(num_groups=s.num_groups, group_size=s.group_size,
                        num_updates=s.group_updates, num_chunks=4, advantage=learner)  # fmt: skip
    trainer = gr.make_train(st, env, tf, params)
    hp = gr.GroupHParams(learning_rate=s.group_learning_rate, kl_coef=s.kl_coef,
                         ent_coef=s.ent_coef)  # fmt: skip
    hp = trainer.check(hp).broadcast(n)._replace(transform=tp)
    keys = jnp.tile(jax.random.split(key, seeds), 2)  # paired: a seed's key for both rewards
    _, m = jax.jit(jax.vmap(trainer))(keys, hp)
    return {"success": np.asarray(m["return_env_reward"]), "episodes": np.asarray(m["episodes"]),
            "collapse": np.asarray(m["collapse_fraction"])}  # fmt: skip


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Learners × rewards × chain lengths × ``seeds``; a JSON-able summary (per-seed lists)."""
    s = settings
    s.check()
    out: dict = {"settings": jaxrl.config.to_json_dict(s), "seeds": seeds, "seed": seed}
    out["lengths"] = {}
    keys = jax.random.split(jax.random.key(seed), len(s.chain_lengths) * len(LEARNERS))
    for i, L in enumerate(s.chain_lengths):
        cfg = s.env_config(L)
        env, params = make("reasoning_chain", **dataclasses.asdict(cfg))
        best, _ = optimal_success(cfg)
        tau = s.threshold_frac * best
        res: dict = {"optimal_success": best, "tau": tau}
        for j, ln in enumerate(LEARNERS):
            d = _train(s, ln, env, params, keys[i * len(LEARNERS) + j], seeds)
            succ = np.asarray(d["success"], np.float64)
            eps = np.asarray(d["episodes"], np.float64)
            to, reached = episodes_to(succ, eps, tau, s.window)
            final = succ[:, -s.window :].mean(-1)
            r: dict = {"budget_episodes": eps[:, -1].tolist()}
            for c, rw in enumerate(REWARDS):
                sl = slice(c * seeds, (c + 1) * seeds)
                r[rw] = {
                    "final_success": final[sl].tolist(),
                    "episodes_to_tau": to[sl].tolist(),
                    "reached": reached[sl].astype(float).tolist(),
                    "success_curve_mean": _moving(succ[sl], s.window).mean(0).tolist(),
                    "episodes_curve_mean": eps[sl].mean(0).tolist(),
                }
                if "collapse" in d:
                    r[rw]["collapse_fraction"] = np.asarray(d["collapse"])[sl].mean(-1).tolist()
            to_s, to_d = (np.asarray(r[rw]["episodes_to_tau"]) for rw in REWARDS)
            r["log_speedup"] = np.log(to_s / to_d).tolist()
            res[ln] = r
        out["lengths"][str(L)] = res
    return out


def _claim(tag: str, statement: str, q: dict, rule: str, check: Check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.{SYSTEM}.{tag}", EXPERIMENT, CITATION, statement, q, rule, check
    )


def _positive(name: str, x) -> tuple[Check, Any]:
    e = estimate(np.asarray(x, np.float64), "mean")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} {e.fmt()}"), e


def _order(est: dict) -> tuple[str, ...]:
    return tuple(sorted(est, key=lambda k: -est[k].point))


def claims(summary: dict) -> list[Claim]:
    """``accelerate``, ``long``, ``ranking``, ``algo`` (rules in the module docstring)."""
    lens = summary.get("lengths", {})
    Ls = sorted(lens, key=int)
    out = []
    s1 = "Dense turn-level rewards accelerate training (fewer episodes to the success threshold)."
    r1 = ("per learner and L: CI lower limit of mean log(episodes-to-τ sparse / dense) > 0; "
          "all cases needed (point > 0 only: partial)")  # fmt: skip
    checks, q = {}, {}
    for L in Ls:
        for ln in LEARNERS:
            if ln in lens[L]:
                c, e = _positive(f"log speed-up {ln} L={L}", lens[L][ln]["log_speedup"])
                checks[f"{ln} L={L}"], q[f"log speed-up {ln} L={L}"] = c, e
    chk = combine(checks) if checks else Check("not testable", "no runs")
    out.append(_claim("accelerate", s1, q, r1, chk))

    s2 = "Dense turn rewards help most on long solutions (larger speed-up at the longest L)."
    r2 = "per learner: CI of log speed-up at the longest L above that at the shortest L; all"
    checks, q = {}, {}
    if len(Ls) >= 2:
        lo, hi = Ls[0], Ls[-1]
        for ln in LEARNERS:
            if ln in lens[lo] and ln in lens[hi]:
                a = estimate(lens[hi][ln]["log_speedup"], "mean")
                b = estimate(lens[lo][ln]["log_speedup"], "mean")
                q[f"log speed-up {ln} L={hi}"], q[f"log speed-up {ln} L={lo}"] = a, b
                checks[ln] = ci_greater(f"{ln} L={hi}", a, f"L={lo}", b)
    chk = combine(checks) if checks else Check("not testable", "fewer than two lengths")
    out.append(_claim("long", s2, q, r2, chk))

    s3 = "Learner rankings (by final success) change with reward density."
    r3 = ("at some L a pair of learners is CI-separated in opposite directions under sparse and "
          "dense (reproduced); only the point order of the three differs: partial")  # fmt: skip
    q, verdicts, notes = {}, [], []
    for L in Ls:
        est = {
            rw: {ln: estimate(lens[L][ln][rw]["final_success"], "mean") for ln in LEARNERS
                 if ln in lens[L]}
            for rw in REWARDS
        }  # fmt: skip
        for rw in REWARDS:
            for ln, e in est[rw].items():
                q[f"final {ln} {rw} L={L}"] = e
        sp, de = est["sparse"], est["dense"]
        flip = [
            (a, b) for a, b in itertools.permutations(sp, 2)
            if sp[a].lo > sp[b].hi and de[b].lo > de[a].hi
        ]  # fmt: skip
        verdicts.append("reproduced" if flip else
                        "partial" if _order(sp) != _order(de) else "not reproduced")  # fmt: skip
        notes.append(f"L={L}: sparse order {'>'.join(_order(sp))}, dense {'>'.join(_order(de))}"
                     + (f", CI-separated reversal {flip}" if flip else ""))  # fmt: skip
    v = ("not testable" if not verdicts else "reproduced" if "reproduced" in verdicts
         else "partial" if "partial" in verdicts else "not reproduced")  # fmt: skip
    out.append(_claim("ranking", s3, q, r3, Check(v, "; ".join(notes) or "no runs")))

    s4 = "Under dense rewards, final performance depends on the RL algorithm (longest L)."
    r4 = ("dense, longest L: some learner pair CI-separated in final success (reproduced); "
          "point gap > 0.1 with overlapping CIs: partial")  # fmt: skip
    q = {}
    if Ls:
        de = {ln: estimate(lens[Ls[-1]][ln]["dense"]["final_success"], "mean")
              for ln in LEARNERS if ln in lens[Ls[-1]]}  # fmt: skip
        q = {f"final {ln} dense L={Ls[-1]}": e for ln, e in de.items()}
        sep = [(a, b) for a, b in itertools.permutations(de, 2) if de[a].lo > de[b].hi]
        gap = max(e.point for e in de.values()) - min(e.point for e in de.values())
        v = "reproduced" if sep else "partial" if gap > 0.1 else "not reproduced"
        chk = Check(v, f"separated pairs {sep}; point range {gap:.2f}")
    else:
        chk = Check("not testable", "no runs")
    out.append(_claim("algo", s4, q, r4, chk))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Moving-mean success vs episodes: rows = chain lengths, columns = learners."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lens = summary["lengths"]
    Ls = sorted(lens, key=int)
    fig, axes = plt.subplots(len(Ls), len(LEARNERS), figsize=(10, 2.6 * len(Ls) + 2.5),
                             squeeze=False)  # fmt: skip
    lines = []
    for i, L in enumerate(Ls):
        for j, ln in enumerate(LEARNERS):
            ax, d = axes[i, j], lens[L][ln]
            for rw, col in zip(REWARDS, ("tab:gray", "tab:blue"), strict=True):
                ax.plot(d[rw]["episodes_curve_mean"], d[rw]["success_curve_mean"], color=col,
                        label=rw)  # fmt: skip
            ax.axhline(lens[L]["tau"], color="k", ls=":", lw=0.8)
            ax.set_title(f"{ln.upper()}, L={L}", fontsize=9)
            ax.set_ylim(-0.02, 1.02)
            if i == len(Ls) - 1:
                ax.set_xlabel("episodes")
            if j == 0:
                ax.set_ylabel("success (moving mean)")
            fs = {rw: np.mean(d[rw]["final_success"]) for rw in REWARDS}
            col = "".join(
                f", collapse {rw} {np.mean(d[rw]['collapse_fraction']):.2f}"
                for rw in REWARDS if "collapse_fraction" in d[rw]
            )  # fmt: skip
            hit = {rw: int(np.sum(d[rw]["reached"])) for rw in REWARDS}
            lines.append(f"{ln} L={L}: final sparse {fs['sparse']:.2f} dense {fs['dense']:.2f}, "
                         f"speed-up x{np.exp(np.mean(d['log_speedup'])):.2f} (τ reached sparse "
                         f"{hit['sparse']}/{summary['seeds']}, dense {hit['dense']})"
                         + col)  # fmt: skip
    axes[0, 0].legend(fontsize=7)
    st = summary["settings"]
    caption = (
        f"{summary['seeds']} seeds; PPO {st['ppo_steps']} steps, GRPO/RLOO {st['group_updates']} "
        f"updates x {st['num_groups'] * st['group_size']} episodes; c_p={st['progress_coef']}; "
        f"τ (dotted) = {st['threshold_frac']} x optimal success. " + "; ".join(lines)
        + "\n" + claims_caption(cl)
    )  # fmt: skip
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.36, hspace=0.45)
    path = out / f"{EXPERIMENT}_{SYSTEM}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
