"""Teacher-driven and learner-adaptive potentials for tabular Q-learning.

**System** (Devidze, "Reward Design for Reinforcement Learning Agents", thesis, 2025). The
abstract says: in *teacher-driven* design an expert "equipped with the optimal policy and the
corresponding value function, designs reward signals that expedite the agent's convergence to
optimal behavior"; in *adaptive* design "the expert tailors the rewards based on the learner's
current policy, ensuring alignment and optimal progression" (a third, agent-driven meta-learning
part is not covered here). The abstract states no numbers.

**Small-scale form** (:mod:`jaxrl.shaping.teacher`). Kept: an expert with V*; its reward as
potential-based shaping Φ = V* (Ng et al. 1999); a noisy teacher Φ = V* + σ·ε (ε ~ N(0, I) per
seed, σ = ``noise_scales`` x max_s V*(s)); a learner-adaptive teacher Φ_t = β·V* + (1 − β)·V^{π_t}
recomputed from the learner's greedy policy π_t every ``eval_every`` steps. Dropped: the thesis's
interpretability constraints (sparse, informativeness-optimised reward tables) and its
optimisation-based designs; the learner is ε-greedy tabular Q-learning
(:mod:`jaxrl.agents.q_learning`, Q₀ = 0), all seeds x conditions in one ``vmap`` per MDP.
Tasks: the small key-door gridworld (:func:`jaxrl.envs.key_door.key_door_mdp`, 9-move solution,
reward only at the goal) and the open 6x6 gridworld (:func:`jaxrl.envs.gridworld.gridworld`).

**Metrics** per run: ``J(greedy Q)/J*`` (exact, true reward) after every chunk; ``auc`` = its mean
over chunks; ``steps`` = env steps until it first reaches ``threshold`` (``num_steps`` if never:
censored, the count of runs that never reach it is reported). Exact check (float64): the optimal
action sets of the shaped MDP equal the true MDP's, for every teacher potential of every seed
(the adaptive one at its final snapshot).

**Claims and verdict rules** (declared before running; 95% bootstrap CIs of the mean over seeds,
per-seed paired differences, since conditions of a seed share the learner's key):

* ``invariance`` (theory, exact): every shaped MDP keeps the optimal action sets: reproduced iff
  the fraction kept is 1 for every seed and MDP; otherwise not reproduced.
* ``expert_speed``: Φ = V* learns faster than no shaping: paired AUC difference (expert − none)
  CI lower limit > 0 on every MDP (``combine``: point > 0 only → partial).
* ``expert_fastest``: no condition beats Φ = V*: for every other condition c and MDP the paired
  difference AUC_c − AUC_expert has CI upper limit <= 0 → reproduced; all points <= 0 but some
  CI upper limit > 0 → partial; some point > 0 → not reproduced.
* ``noise_speed``: noisy teachers change the speed: paired AUC difference (expert − noisy at the
  largest σ) CI lower limit > 0 on every MDP (``combine``).
* ``adaptive_speed``: the learner-adaptive teacher learns faster than no shaping: paired AUC
  difference (adaptive − none) CI lower limit > 0 on every MDP (``combine``).
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.agents.q_learning import QLearningHParams, QLearningStatic, make_train
from jaxrl.envs.gridworld import OPEN_6X6, gridworld
from jaxrl.envs.key_door import KEY_DOOR_SMALL, KeyDoorConfig, key_door_mdp
from jaxrl.experiment.claims import Check, Claim, claims_caption, combine, estimate
from jaxrl.mdp import TabularMDP, greedy_policy, optimal_action_sets, value_iteration
from jaxrl.shaping.teacher import (
    adaptive_potential,
    expert_potential,
    shaped_mdp,
    table_potential_transform,
)

EXPERIMENT = "process_rewards"
SYSTEM = "thesis"
CITATION = "Reward Design for RL Agents (Devidze, thesis 2025)"
TASKS = ("key_door_small", "open_6x6")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    tasks: tuple[str, ...] = TASKS
    """tabular MDPs, a subset of ``TASKS``"""
    gamma: float = 0.95
    """discount of the MDPs, the learner and the shaping"""
    num_steps: int = 3000
    """environment steps per run"""
    eval_every: int = 100
    """steps per chunk (exact greedy evaluation and adaptive-teacher refresh)"""
    max_episode_steps: int = 50
    """time limit (truncation)"""
    alpha: float = 0.5
    """Q-learning step size"""
    epsilon: float = 0.1
    """ε-greedy exploration"""
    noise_scales: tuple[float, ...] = (0.1, 0.3, 1.0)
    """noisy-teacher σ as a fraction of max_s V*(s)"""
    beta: float = 0.5
    """adaptive teacher's weight on V* (Φ_t = β V* + (1 − β) V^{π_t})"""
    threshold: float = 0.95
    """J(greedy)/J* that counts as solved"""

    def check(self) -> None:
        self.require(len(self.tasks) > 0, "tasks", "needs at least one task")
        self.require(set(self.tasks) <= set(TASKS), "tasks", f"must be a subset of {TASKS}")
        self.require(0.0 < self.gamma < 1.0, "gamma", "must be in (0, 1)")
        self.require(self.num_steps > 0, "num_steps", "must be > 0")
        self.require(self.eval_every > 0, "eval_every", "must be > 0")
        self.require(self.num_steps % self.eval_every == 0, "num_steps", "eval_every must divide")
        self.require(self.max_episode_steps >= 1, "max_episode_steps", "must be >= 1")
        self.require(self.alpha > 0, "alpha", "must be > 0")
        self.require(0.0 <= self.epsilon <= 1.0, "epsilon", "must be in [0, 1]")
        self.require(all(s >= 0 for s in self.noise_scales), "noise_scales", "must be >= 0")
        self.require(0.0 <= self.beta <= 1.0, "beta", "must be in [0, 1]")
        self.require(0.0 < self.threshold <= 1.0, "threshold", "must be in (0, 1]")


QUICK = Settings()
PAPER = Settings(num_steps=10_000, noise_scales=(0.1, 0.3, 1.0, 3.0))
TINY = Settings(tasks=("key_door_small",), num_steps=400, noise_scales=(0.3,))


def conditions(settings: Settings) -> list[str]:
    """Condition names, in run order: none, expert, noisy σ..., adaptive."""
    noisy = [f"noisy {s:g}" for s in settings.noise_scales]
    return ["none", "expert", *noisy, f"adaptive beta={settings.beta:g}"]


def _task_mdp(name: str, gamma: float) -> TabularMDP:
    if name == "key_door_small":
        return key_door_mdp(KeyDoorConfig(layout=KEY_DOOR_SMALL), gamma)
    return gridworld(OPEN_6X6, gamma=gamma, dtype=jnp.float64).mdp


def _f32(mdp: TabularMDP) -> TabularMDP:
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return TabularMDP.create(
        f(mdp.P), f(mdp.R), float(mdp.gamma), f(mdp.init_dist), np.asarray(mdp.terminal_mask)
    )


def _run_task(settings: Settings, task: str, seeds: int, seed: int) -> dict:
    names = conditions(settings)
    C, n = len(names), seeds * len(names)
    with jax.enable_x64(True):  # teacher potentials and the exact check in float64
        mdp64 = _task_mdp(task, settings.gamma)
        v_star = np.asarray(expert_potential(mdp64))
        j_star = float(np.dot(np.asarray(mdp64.init_dist), v_star))
        vmax = float(np.max(np.abs(v_star)))
        eps = np.asarray(
            jax.random.normal(jax.random.PRNGKey(seed + 7919), (seeds, v_star.size), jnp.float64)
        ) * (~np.asarray(mdp64.terminal_mask))
    # run r = seed_index * C + condition
    phi0 = np.zeros((seeds, C, v_star.size))
    phi0[:, 1] = v_star
    for i, s in enumerate(settings.noise_scales):
        phi0[:, 2 + i] = v_star + s * vmax * eps
    adaptive = np.zeros((seeds, C), bool)
    adaptive[:, -1] = True
    mdp = _f32(mdp64)
    static = QLearningStatic(
        num_steps=settings.num_steps,
        eval_every=settings.eval_every,
        max_episode_steps=settings.max_episode_steps,
    )
    trainer = make_train(static, mdp, table_potential_transform(mdp.n_states, settings.gamma))
    hp = QLearningHParams(
        alpha=settings.alpha,
        epsilon=settings.epsilon,
        transform=jnp.asarray(phi0.reshape(n, -1), jnp.float32),
    )
    trainer.check(hp)
    hp = hp.broadcast(n)
    keys = jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(seed * 1000 + s), C))(
        jnp.arange(seeds)
    ).reshape(n, -1)
    v32 = jnp.asarray(v_star, jnp.float32)
    is_ad = jnp.asarray(adaptive.reshape(n))

    @jax.jit
    def train(keys, hp):
        st = jax.vmap(trainer.init)(keys, hp)

        def body(st_hp, _):
            st, hp = st_hp
            # the adaptive teacher reads the learner's current greedy policy (Φ_t refresh)
            ad = jax.vmap(lambda q: adaptive_potential(mdp, greedy_policy(q), settings.beta, v32))(
                st.q
            )
            hp = hp._replace(transform=jnp.where(is_ad[:, None], ad, hp.transform))
            st, m = jax.vmap(trainer.chunk)(st, hp)
            return (st, hp), m["eval_greedy_return"][:, 0]

        (st, hp), ret = jax.lax.scan(body, (st, hp), None, static.num_chunks)
        return ret.T, hp.transform

    ret, phi_final = train(keys, hp)
    norm = np.asarray(ret, np.float64).reshape(seeds, C, -1) / j_star
    reached = norm >= settings.threshold
    first = np.where(reached.any(-1), reached.argmax(-1) + 1, static.num_chunks)
    steps = first * settings.eval_every
    phi_final = np.asarray(phi_final, np.float64).reshape(seeds, C, -1)
    phi_final[:, :-1] = phi0[:, :-1]  # exact check on the float64 teacher tables
    with jax.enable_x64(True):
        sets0 = np.asarray(optimal_action_sets(value_iteration(mdp64).Q, 1e-9))
        kept = np.zeros((seeds, C), bool)
        for i in range(seeds):
            for c in range(C):
                q = value_iteration(shaped_mdp(mdp64, jnp.asarray(phi_final[i, c]))).Q
                kept[i, c] = np.array_equal(np.asarray(optimal_action_sets(q, 1e-9)), sets0)
    return {
        "j_star": j_star,
        "n_states": int(mdp.n_states),
        "per_condition": {
            name: {
                "curve_mean": norm[:, c].mean(0).tolist(),
                "auc": norm[:, c].mean(-1).tolist(),
                "steps": steps[:, c].astype(float).tolist(),
                "never_reached": int((~reached[:, c].any(-1)).sum()),
                "final": norm[:, c, -1].tolist(),
                "optimum_kept": kept[:, c].astype(float).tolist(),
            }
            for c, name in enumerate(names)
        },
    }


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All tasks, each one vmapped program over seeds x conditions; JSON-able, seed axis first."""
    settings.check()
    if seeds < 2:
        raise ValueError(f"seeds = {seeds}: need >= 2 for CIs")
    return {
        "settings": dataclasses.asdict(settings),
        "seeds": seeds,
        "seed": seed,
        "conditions": conditions(settings),
        "tasks": {t: _run_task(settings, t, seeds, seed) for t in settings.tasks},
    }


# ----------------------------------------------------------------------------- claims
def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.{SYSTEM}.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def _positive(name: str, x) -> tuple[Check, object]:
    e = estimate(np.asarray(x, np.float64), "mean")
    v = "reproduced" if e.lo > 0 else "partial" if e.point > 0 else "not reproduced"
    return Check(v, f"{name} {e.fmt(3)}"), e


def _diff_claim(summary, tag, statement, a, b):
    rule = f"paired AUC ({a} − {b}) CI lower limit > 0 on every task (point > 0 only: partial)"
    tasks = summary.get("tasks", {})
    if not tasks or any(
        a not in t["per_condition"] or b not in t["per_condition"] for t in tasks.values()
    ):
        return _claim(tag, statement, {}, rule, Check("not testable", f"no runs of {a} / {b}"))
    checks, q = {}, {}
    for name, t in tasks.items():
        pc = t["per_condition"]
        chk, e = _positive("ΔAUC", np.subtract(pc[a]["auc"], pc[b]["auc"]))
        checks[name], q[f"{name} ΔAUC {a} − {b}"] = chk, e
    return _claim(tag, statement, q, rule, combine(checks))


def claims(summary: dict) -> list[Claim]:
    """``invariance``, ``expert_speed``, ``expert_fastest``, ``noise_speed``, ``adaptive_speed``."""
    tasks = summary.get("tasks", {})
    names = summary.get("conditions", [])
    out = []
    s = "Every teacher potential (expert, noisy, adaptive snapshot) keeps the optimal action sets."
    r = "fraction of shaped MDPs keeping the exact (float64) optimal action sets = 1, every seed"
    if tasks:
        kept = np.array(
            [
                [
                    np.mean([t["per_condition"][c]["optimum_kept"][i] for c in names])
                    for i in range(summary["seeds"])
                ]
                for t in tasks.values()
            ]
        )
        per_seed = kept.min(0)
        ok = bool(np.all(kept == 1.0))
        chk = Check(
            "reproduced" if ok else "not reproduced",
            f"min fraction kept {kept.min():.3f} over {kept.size} seed-task pairs",
        )
        out.append(_claim("invariance", s, {"fraction kept": estimate(per_seed, "mean")}, r, chk))
    else:
        out.append(_claim("invariance", s, {}, r, Check("not testable", "no tasks")))
    out.append(
        _diff_claim(
            summary,
            "expert_speed",
            "The expert potential Φ = V* speeds up learning over no shaping.",
            "expert",
            "none",
        )
    )
    s = "The expert potential Φ = V* gives the fastest learning of all conditions."
    r = (
        "for every other condition c and task, paired AUC_c − AUC_expert CI upper limit <= 0; "
        "all points <= 0 but a CI upper limit > 0: partial; a point > 0: not reproduced"
    )
    if not tasks or "expert" not in names:
        out.append(_claim("expert_fastest", s, {}, r, Check("not testable", "no expert runs")))
    else:
        q, worst = {}, []
        for tn, t in tasks.items():
            pc = t["per_condition"]
            for c in names:
                if c == "expert":
                    continue
                e = estimate(np.subtract(pc[c]["auc"], pc["expert"]["auc"]), "mean")
                q[f"{tn} ΔAUC {c} − expert"] = e
                worst.append((e.point, e.hi, f"{tn}/{c}"))
        top_pt, top_hi = max(worst), max(worst, key=lambda w: w[1])
        v = "reproduced" if top_hi[1] <= 0 else "partial" if top_pt[0] <= 0 else "not reproduced"
        detail = (
            f"largest ΔAUC point {top_pt[0]:.3g} ({top_pt[2]}); largest CI upper limit "
            f"{top_hi[1]:.3g} ({top_hi[2]})"
        )
        out.append(_claim("expert_fastest", s, q, r, Check(v, detail)))
    noisy = [c for c in names if c.startswith("noisy")]
    biggest = noisy[-1] if noisy else "noisy"
    out.append(
        _diff_claim(
            summary,
            "noise_speed",
            f"A noisy teacher ({biggest} x max V*) learns slower than Φ = V*.",
            "expert",
            biggest,
        )
    )
    ad = next((c for c in names if c.startswith("adaptive")), "adaptive")
    out.append(
        _diff_claim(
            summary,
            "adaptive_speed",
            "The learner-adaptive teacher speeds up learning over no shaping.",
            ad,
            "none",
        )
    )
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Normalised greedy return per chunk (mean over seeds) per task and condition + claims."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks, st = summary["tasks"], summary["settings"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4), squeeze=False)
    lines = []
    for ax, (tn, t) in zip(axes[0], tasks.items(), strict=True):
        for name in summary["conditions"]:
            c = t["per_condition"][name]["curve_mean"]
            ax.plot((np.arange(len(c)) + 1) * st["eval_every"], c, label=name, lw=1.2)
        ax.set_title(f"{tn} (S={t['n_states']}, J*={t['j_star']:.3f})", fontsize=8)
        ax.set_xlabel("env steps")
        ax.set_ylabel("J(greedy Q) / J*")
        ax.legend(fontsize=6)
        pc = t["per_condition"]
        lines.append(
            f"{tn}: "
            + "; ".join(
                f"{c} AUC {np.mean(pc[c]['auc']):.2f}, steps {np.mean(pc[c]['steps']):.0f} "
                f"(never {pc[c]['never_reached']})"
                for c in summary["conditions"]
            )
        )
    caption = (
        f"Q-learning, {st['num_steps']} steps, α={st['alpha']}, ε={st['epsilon']}, "
        f"γ={st['gamma']}, "
        f"{summary['seeds']} seeds; steps = first reaching {st['threshold']} J*.\n"
        + "\n".join(lines)
        + "\n"
        + claims_caption(cl)
    )
    fig.text(0.01, 0.01, caption, fontsize=4.5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.5)
    path = out / f"{EXPERIMENT}_{SYSTEM}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
