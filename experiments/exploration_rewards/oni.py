"""ONI on the sparse key-door task: do online intrinsic rewards from (noisy) labels solve it?

**System** (Zheng, Henaff, Zhang, Grover, Amos, "Online Intrinsic Rewards for Decision Making
Agents from Large Language Model Feedback", RLC 2025): a policy and an intrinsic reward function
are learned at the same time; the agent's experience is annotated by an asynchronous LLM server
and distilled into an intrinsic reward model: hashing (retrieval), classification or ranking.
The paper reports state-of-the-art results on sparse NetHack tasks with no external dataset, the
three reward models performing similarly (:mod:`jaxrl.rewards.oni`).

**Small-scale form.** Kept: PPO trained at the same time as an online reward model; labels on a
subsample of the agent's own observations, arriving with a delay; the three model families;
the per-episode count term N^(−α) and the mixing r = r_env + β·r_int·N^(−α). Changed: the LLM is
an **oracle labeller** on the env's tabular state (:func:`jaxrl.envs.key_door.tabular_state`)
with a controllable **error rate** ε (labels flipped with probability ε). Default oracle
``"progress"``: label 1 iff the agent **holds the key and its with-key shortest-path distance to
the goal is <= the key cell's** (the pickup, the way to the door, the door, the room beyond).
Alternative ``"milestones"``: 1 only holding the key at the key cell, the door or a goal (events,
like the paper's labelled messages). The message string is the observation (SimHash buckets), the
char-CNN an MLP. Tuning notes (hashing, 3e5 steps, one seed per value, before the claims were
run): with "progress", β = 0.1 and 1 made PPO farm the positive cells (count term pays each
once per episode) and never finish; β = 0.02 solved, 0.005 / 0.01 / 0.05 did not. With
"milestones" (β 0.2 / 0.5 / 1) PPO picked the key up and stayed there (the door is never seen
holding the key, so it is never labelled).
Dropped: NetHack, APPO, billions of steps, the cosine-BOW baseline, the 25k-label warm-up.

**Setting.** ``make("key_door")`` (default 9x17 layout, shortest solution 32 moves, noisy TV),
PPO (:func:`jaxrl.experiment.ppo_runs.ppo_runs`, 16 envs) for ``steps`` env steps;
extrinsic-only PPO vs each ONI model at each error rate; per model all seeds × error rates are one
vmapped program. Per run, **success** = mean ``return_env_reward`` (= the fraction of training
episodes that reach the goal, goal reward 1) over the last ``final_frac`` of the updates.

**Claims and verdict rules** (declared before running; mean over seeds with 95% bootstrap CIs):
* ``solves``: each ONI model at ε = 0 solves the task where extrinsic-only PPO fails: per model,
  success CI above extrinsic's CI (:func:`~jaxrl.experiment.claims.ci_greater`: disjoint CIs →
  reproduced; point above only → partial); combined over the models with ``combine(..., "all")``.
* ``graceful``: learning degrades gracefully as ε rises: per model, (i) success at every ε ≤
  ``graceful_max`` is CI-above extrinsic, and (ii) success is non-increasing in ε within CIs (no
  larger ε has its CI above a smaller ε's); both needed per model, all models needed.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.envs import make
from jaxrl.envs.key_door import KeyDoorGrid, tabular_state
from jaxrl.experiment.claims import Check, Claim, ci_greater, claims_caption, combine, estimate
from jaxrl.experiment.ppo_runs import ppo_runs
from jaxrl.rewards.oni import MODELS, ONIParams, oni

EXPERIMENT = "exploration_rewards"
CITATION = "ONI (Zheng et al., RLC 2025)"


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    steps: int = 400_000
    """PPO env steps per run (16 envs x 64 steps per update)"""
    models: tuple[str, ...] = MODELS
    """ONI reward models to run (hashing, classifier, ranking)"""
    error_rates: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    """labeller error rates ε (label-flip probability); must include 0"""
    beta: float = 0.02
    """β: scale of the intrinsic reward"""
    label_prob: float = 0.25
    """p: fraction of observations sent to the labeller"""
    delay: int = 16
    """K: env steps before a requested label arrives"""
    oracle: str = "progress"
    """the labeller's truth (:func:`oracle_labels`): progress or milestones"""
    count_exponent: float = 3.0
    """α of the per-episode count term N^(−α) (the paper's 3)"""
    hash_bits: int = 12
    """SimHash bits of the buckets (hashing model, count term)"""
    learning_rate_rm: float = 3e-3
    """Adam step size of the classifier / ranking MLP"""
    final_frac: float = 0.25
    """success = mean env return over this last fraction of the updates"""
    graceful_max: float = 0.2
    """the graceful claim needs CI-above-extrinsic success at every ε <= this"""

    def check(self) -> None:
        self.require(self.steps >= 4096, "steps", "must be >= 4096 (one PPO chunk)")
        self.require(len(self.models) >= 1, "models", "must name at least one model")
        self.require(all(m in MODELS for m in self.models), "models", f"must be in {MODELS}")
        self.require(0.0 in self.error_rates, "error_rates", "must include 0")
        self.require(all(0 <= e < 0.5 for e in self.error_rates), "error_rates", "in [0, 0.5)")
        self.require(list(self.error_rates) == sorted(set(self.error_rates)), "error_rates",
                     "must be strictly increasing")  # fmt: skip
        self.require(self.beta > 0, "beta", "must be > 0")
        self.require(0 < self.label_prob <= 1, "label_prob", "must be in (0, 1]")
        self.require(self.delay >= 0, "delay", "must be >= 0")
        self.require(self.oracle in ("progress", "milestones"), "oracle", "progress|milestones")
        self.require(self.count_exponent >= 0, "count_exponent", "must be >= 0")
        self.require(1 <= self.hash_bits <= 16, "hash_bits", "must be in [1, 16]")
        self.require(self.learning_rate_rm > 0, "learning_rate_rm", "must be > 0")
        self.require(0 < self.final_frac <= 1, "final_frac", "must be in (0, 1]")


QUICK = Settings(steps=200_000, error_rates=(0.0, 0.2))
PAPER = Settings(steps=800_000)


def oracle_labels(grid: KeyDoorGrid, kind: str = "progress") -> np.ndarray:
    """``[2C]`` label per tabular state ``cell + C·has_key``.

    ``"milestones"``: 1 holding the key at the key cell (the pickup), the door or a goal.
    ``"progress"``: 1 holding the key at a cell whose with-key shortest-path distance to a goal
    is <= the key cell's (the pickup, the way to the door, the door and the room beyond).
    """
    C = grid.num_cells
    labels = np.zeros(2 * C, np.float32)
    if kind == "milestones":
        labels[C + np.concatenate([[grid.key, grid.door], grid.goals])] = 1.0
        return labels
    if kind != "progress":
        raise ValueError(f"oracle kind={kind!r}; expected 'milestones' or 'progress'")
    dist = np.full(C, np.inf)
    dist[grid.goals] = 0
    frontier = [int(g) for g in grid.goals]
    while frontier:  # BFS backwards over the with-key moves
        nxt = []
        for i in range(C):
            if dist[i] == np.inf and any(int(j) in frontier for j in grid.succ[1, i]):
                dist[i] = dist[frontier[0]] + 1
                nxt.append(i)
        frontier = nxt
    labels[C:] = dist <= dist[grid.key]
    return labels


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Extrinsic-only PPO and each ONI model x error rate; per-seed success rates."""
    settings.check()
    env, env_params = make("key_door")
    grid = env.grid
    C = grid.num_cells
    table = jnp.asarray(oracle_labels(grid, settings.oracle))
    oracle = lambda obs: table[tabular_state(obs, C)]
    key = jax.random.key(seed)
    updates_frac = settings.final_frac
    per = {}

    def success(m):
        r = np.asarray(m["return_env_reward"], np.float64)  # [n, updates]
        last = max(1, int(round(r.shape[1] * updates_frac)))
        return r[:, -last:].mean(1), r.mean(0).tolist()

    k_ext, *k_models = jax.random.split(key, 1 + len(settings.models))
    m = ppo_runs(env, env_params, k_ext, seeds, settings.steps)
    s, curve = success(m)
    per["extrinsic"] = {"success": s.tolist(), "curve": curve, "error_rate": None}
    E = len(settings.error_rates)
    eps = np.repeat(np.asarray(settings.error_rates, np.float32), seeds)  # [E*S], ε-major
    n = E * seeds
    params = ONIParams(
        beta=jnp.full(n, settings.beta, jnp.float32),
        label_prob=jnp.full(n, settings.label_prob, jnp.float32),
        error_rate=jnp.asarray(eps),
        count_exponent=jnp.full(n, settings.count_exponent, jnp.float32),
        seed=jnp.arange(n, dtype=jnp.int32) + 1000 * seed,
    )
    for model, k in zip(settings.models, k_models, strict=True):
        t = oni(oracle, env.obs_dim, 16, model, delay=settings.delay,
                hash_bits=settings.hash_bits, learning_rate=settings.learning_rate_rm)  # fmt: skip
        m = ppo_runs(env, env_params, k, n, settings.steps, transform=t, transform_params=params)
        s, _ = success(m)
        r = np.asarray(m["return_env_reward"], np.float64).reshape(E, seeds, -1)
        for e, err in enumerate(settings.error_rates):
            per[f"{model} eps={err:g}"] = {
                "success": s.reshape(E, seeds)[e].tolist(),
                "curve": r[e].mean(0).tolist(),
                "error_rate": float(err),
                "model": model,
            }
    return {
        "settings": jaxrl.config.to_json_dict(settings),
        "seeds": seeds,
        "oracle_positive_states": int(oracle_labels(grid, settings.oracle).sum()),
        "per_condition": per,
    }


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.oni.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """``solves`` and ``graceful`` (see the module docstring)."""
    pc = summary.get("per_condition", {})
    st = summary.get("settings", {})
    models = st.get("models", [])
    errs = st.get("error_rates", [])
    gmax = st.get("graceful_max", 0.2)
    est = {k: estimate(v["success"], "mean") for k, v in pc.items()}
    s1 = (
        "Each ONI reward model (ε = 0) solves the sparse key-door task where extrinsic-only PPO "
        "fails."
    )
    r1 = "per model: success CI above extrinsic's (partial: point above); all models needed"
    s2 = "Learning with ONI degrades gracefully as the labeller's error rate rises."
    r2 = (
        f"per model: (i) success CI above extrinsic at every ε <= {gmax:g}; (ii) no larger ε "
        "CI-above a smaller ε (non-increasing within CIs); both per model, all models"
    )
    if "extrinsic" not in pc or not models:
        why = Check("not testable", "no extrinsic or no ONI runs")
        return [_claim("solves", s1, {}, r1, why), _claim("graceful", s2, {}, r2, why)]
    ext = est["extrinsic"]
    q1, c1, q2, c2 = {"extrinsic": ext}, {}, {"extrinsic": ext}, {}
    for m in models:
        names = [f"{m} eps={e:g}" for e in errs]
        c1[m] = ci_greater(names[0], est[names[0]], "extrinsic", ext)
        q1[names[0]] = est[names[0]]
        above = {
            n: ci_greater(n, est[n], "extrinsic", ext)
            for n, e in zip(names, errs, strict=True)
            if e <= gmax
        }
        ok_i = all(c.verdict == "reproduced" for c in above.values())
        part_i = all(c.verdict in ("reproduced", "partial") for c in above.values())
        rises = [
            f"{b} above {a}"
            for i, a in enumerate(names)
            for b in names[i + 1 :]
            if est[b].lo > est[a].hi
        ]
        v = (
            "reproduced"
            if ok_i and not rises
            else "partial"
            if part_i or ok_i
            else "not reproduced"
        )
        detail = "; ".join(c.detail for c in above.values())
        detail += "; monotone within CIs" if not rises else "; rises: " + ", ".join(rises)
        c2[m] = Check(v, detail)
        q2.update({n: est[n] for n in names})
    return [
        _claim("solves", s1, q1, r1, combine(c1, "all")),
        _claim("graceful", s2, q2, r2, combine(c2, "all")),
    ]


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Left: env-return curves (mean over seeds); right: success vs ε per model; caption: claims."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pc, st = summary["per_condition"], summary["settings"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, c in pc.items():
        a1.plot(c["curve"], label=name, lw=1.0, color="k" if name == "extrinsic" else None)
    a1.set_xlabel("PPO update")
    a1.set_ylabel("env return (success rate) of training episodes")
    a1.legend(fontsize=6)
    ext = estimate(pc["extrinsic"]["success"], "mean")
    a2.axhspan(ext.lo, ext.hi, color="k", alpha=0.15, label="extrinsic 95% CI")
    for m in st["models"]:
        es = [estimate(pc[f"{m} eps={e:g}"]["success"], "mean") for e in st["error_rates"]]
        y = np.array([e.point for e in es])
        err = np.array([[e.point - e.lo for e in es], [e.hi - e.point for e in es]])
        a2.errorbar(st["error_rates"], y, yerr=err, marker="o", capsize=3, label=m)
    a2.set_xlabel("labeller error rate ε")
    a2.set_ylabel(f"success (last {st['final_frac']:g} of updates)")
    a2.legend(fontsize=7)
    lines = [f"{k}: {estimate(v['success'], 'mean').fmt()}" for k, v in pc.items()]
    caption = (
        f"key_door default layout, PPO 16 envs, {st['steps']} steps, {summary['seeds']} seeds; "
        f"ONI β={st['beta']:g}, p={st['label_prob']:g}, delay {st['delay']}, α="
        f"{st['count_exponent']:g}; oracle positives {summary['oracle_positive_states']} states. "
        "Success mean [95% CI]: " + "; ".join(lines) + "\n" + claims_caption(cl)
    )
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.35)
    path = out / "exploration_rewards_oni.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
