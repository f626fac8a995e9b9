"""HERON (Bukharin et al., ICML'25) on classic control: rank the reward factors, learn a reward.

**The system** (abstract): instead of hand-tuning a linear combination of reward factors, or
paying for human preferences, the designer only *ranks the factors' importance*; HERON compares
trajectories with the decision tree that ranking induces, trains a preference (Bradley–Terry)
reward model on the comparisons and learns the policy from it. The paper reports agents that
match or beat reward engineering, with better sample efficiency and robustness to reward scale.

**Small-scale form** (papers.md §8): gymnax ``Pendulum-v1`` and ``MountainCarContinuous-v0``
through :func:`jaxrl.envs.make`; per-step factors from ``(obs, action, next_obs)``:

* Pendulum: ``θ²``, ``θ̇²``, ``u²`` (all smaller-is-better), order θ > θ̇ > u, margins
  ``sigma_mult`` × batch std at every level (the repo's classic-control setting).
* MountainCar: the *continuous* variant, as in the paper's repo (a torque-like action with an
  action cost makes the ``a²`` factor meaningful; MountainCar-v0 has no action cost). Factors
  ``goal`` (next position ≥ 0.45), ``height`` (``sin(3x') − 1 ≤ 0``), ``speed²``, ``a²``; signs
  (+, +, +, −); order goal > height > speed > a; no margin at level 1 (as the repo), then
  ``sigma_mult``. Height and speed are added to the repo's (goal, a²) so that segments that never
  reach the goal are still comparable.

Labelled data: a reward-free random exploration policy (AR(1) actions with a per-env persistence
ρ ~ U(0, 0.98), so some envs swing), ``data_envs × data_steps`` steps per seed, cut into
segments of ``segment_len`` steps; ``num_pairs`` random segment pairs are labelled by
:func:`jaxrl.rewards.heron.decision_tree_labels` (margins relative to the batch std of each
factor's segment total); tie pairs carry no label. The BT reward model
(:func:`jaxrl.rewards.heron.train_heron_rm`) is an MLP on the per-step factors divided by fixed
nominal scales (the repo also feeds the state; dropped here), a segment's return being the sum of
per-step rewards. Its output is standardised on the labelling data and shifted so that the best
step seen has reward 0 (BT fixes only differences; a non-positive reward never punishes
MountainCar's termination, and on fixed-length Pendulum episodes the shift changes nothing).
Dropped: online relabelling as the policy improves, DDPG, the sigma_mult sensitivity sweep.

PPO (:func:`jaxrl.agents.ppo.make_train`) learns from one reward per run, every run of a task in
one vmapped program through :func:`jaxrl.rewards.reward_model.learned_reward` whose params carry
``(RM params, shift, scale, c_rm, w, c_env)``: ``r = c_rm·r̂_ψ(x) + w·x + c_env·r_env``.
Conditions: ``heron`` (c_rm = 1), ``linear β=b`` for each ``b`` in ``betas`` (the paper's
heuristic family, ``w_k = s_k·β^{level of k}`` on the nominally scaled factors, i.e. the same
ranking as a geometric weighting), and ``env`` (the env's own reward, a reference). The env's
true return is the deterministic evaluation of the ``true_reward`` channel after the last chunk.

**Claim** (``preference_rms.heron.matches_linear``): HERON matches or beats the hand-tuned
linear combination on Pendulum and MountainCar. The tuned baseline is the β with the highest IQM
final true return (selected on the same seeds, which favours the baseline). **Verdict rule**: per
task, matched when HERON's IQM CI upper bound ≥ the best linear combination's IQM CI lower bound;
``combine(..., "all")``: reproduced when both tasks match, partial when one, not reproduced when
none; "not testable" for a task whose data is missing.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make
from jaxrl.experiment.claims import Check, Claim, ci_bound, claims_caption, combine, estimate
from jaxrl.experiment.sweep import run_sweep
from jaxrl.rewards.heron import (
    batch_scale,
    check_ranking,
    decision_tree_labels,
    label_accuracy,
    train_heron_rm,
)
from jaxrl.rewards.preference import RewardMLP
from jaxrl.rewards.reward_model import learned_reward

CITATION = "HERON (Bukharin et al., ICML'25)"
EXPERIMENT = "preference_rms"


class Task(NamedTuple):
    env_id: str
    factors: Any  # (obs [*B, O], action [*B, 1], next_obs [*B, O]) -> [*B, F]
    names: tuple[str, ...]
    order: tuple[int, ...]
    signs: tuple[float, ...]
    first_margin: float | None  # level-1 margin (None: sigma_mult)
    nominal: tuple[float, ...]  # fixed factor scales for the RM input and the linear weights


def pendulum_factors(obs, action, next_obs):
    """``[θ², θ̇², u²]`` of the step's start state (as gymnax's Pendulum reward)."""
    del next_obs
    theta = jnp.arctan2(obs[..., 1], obs[..., 0])
    u = jnp.clip(action[..., 0], -2.0, 2.0)
    return jnp.stack([theta**2, obs[..., 2] ** 2, u**2], -1)


def mountaincar_factors(obs, action, next_obs):
    """``[goal, height, speed², a²]`` of the step (next position ≥ 0.45; ``sin(3x') − 1``)."""
    del obs
    x, v = next_obs[..., 0], next_obs[..., 1]
    a = jnp.clip(action[..., 0], -1.0, 1.0)
    goal = (x >= 0.45).astype(x.dtype)
    return jnp.stack([goal, jnp.sin(3.0 * x) - 1.0, v**2, a**2], -1)


TASKS = {
    "pendulum": Task(
        "Pendulum-v1",
        pendulum_factors,
        ("θ²", "θ̇²", "u²"),
        (0, 1, 2),
        (-1.0, -1.0, -1.0),
        None,
        (np.pi**2, 64.0, 4.0),
    ),  # fmt: skip
    "mountaincar": Task(
        "MountainCarContinuous-v0",
        mountaincar_factors,
        ("goal", "height", "speed²", "a²"),
        (0, 1, 2, 3),
        (1.0, 1.0, 1.0, -1.0),
        0.0,
        (1.0, 1.0, 0.07**2, 1.0),
    ),  # fmt: skip
}


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    tasks: tuple[str, ...] = ("pendulum", "mountaincar")
    """task names (keys of TASKS)"""
    betas: tuple[float, ...] = (0.1, 0.3, 1.0)
    """the linear combination's β grid (w_k = s_k β^level); the best is selected"""
    sigma_mult: float = 1.0
    """margin σ in units of each factor's batch std (levels without a fixed margin)"""
    data_envs: int = 16
    """parallel envs of the random labelling policy (per seed)"""
    data_steps: int = 200
    """steps per labelling env"""
    segment_len: int = 50
    """steps per labelled segment"""
    num_pairs: int = 512
    """random segment pairs labelled by the decision tree"""
    rm_steps: int = 200
    """full-batch Adam steps of the BT reward model"""
    rm_lr: float = 3e-3
    """the reward model's Adam step size"""
    rm_hidden: tuple[int, ...] = (32, 32)
    """the reward model's MLP widths"""
    ppo_steps: int = 32768
    """env steps per PPO run"""
    num_envs: int = 16
    """PPO parallel envs"""
    num_steps: int = 64
    """PPO rollout length"""
    update_epochs: int = 4
    """PPO epochs per update"""
    num_minibatches: int = 4
    """PPO minibatches per epoch"""
    learning_rate: float = 1e-3
    """PPO Adam step size (annealed)"""
    gamma: float = 0.99
    """PPO discount"""
    num_chunks: int = 4
    """evaluation points of the true return"""

    def check(self) -> None:
        for t in self.tasks:
            self.require(t in TASKS, "tasks", f"unknown task {t!r}; known: {sorted(TASKS)}")
        self.require(len(self.betas) >= 1 and min(self.betas) > 0, "betas", "need betas > 0")
        self.require(self.sigma_mult >= 0, "sigma_mult", "must be >= 0")
        for f in ("data_envs", "segment_len", "num_pairs", "rm_steps", "ppo_steps", "num_envs"):
            self.require(getattr(self, f) > 0, f, "must be positive")
        self.require(
            self.data_steps >= self.segment_len and self.data_steps % self.segment_len == 0,
            "data_steps",
            f"must be a positive multiple of segment_len={self.segment_len}",
        )
        self.require(self.rm_lr > 0 and self.learning_rate > 0, "rm_lr", "step sizes must be > 0")


QUICK = Settings(betas=(0.1, 0.5), ppo_steps=32768)
PAPER = Settings(betas=(0.1, 0.3, 0.5, 1.0), ppo_steps=262144, data_steps=1000, num_pairs=4096,
                 rm_steps=600, num_chunks=8)  # fmt: skip


def _collect(env, ep, key, task: Task, n_envs: int, T: int):
    """Factors ``[n_envs, T, F]`` of the AR(1) random exploration policy (no reward used)."""
    k_reset, k_rho, k_roll = jax.random.split(key, 3)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, n_envs), ep)
    high = float(np.asarray(env.action_space(ep).high).reshape(-1)[0])
    rho = jax.random.uniform(k_rho, (n_envs, 1), maxval=0.98)

    def step(carry, k):
        obs, state, a = carry
        k_a, k_s = jax.random.split(k)
        a = rho * a + jnp.sqrt(1 - rho**2) * high * jax.random.normal(k_a, a.shape)
        act = jnp.clip(a, -high, high)
        nobs, state, _, _, _, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k_s, n_envs), state, act, ep
        )
        final = info.get("final_observation", nobs)
        return (nobs, state, a), task.factors(obs, act, final)

    _, f = jax.lax.scan(step, (obs, state, jnp.zeros((n_envs, 1))), jax.random.split(k_roll, T))
    return jnp.swapaxes(f, 0, 1)


def _heron_rm(env, ep, key, task: Task, s: Settings):
    """One seed: data, labels, BT fit. Returns (params, shift, scale, accuracy, labelled frac)."""
    k_data, k_pair, k_rm = jax.random.split(key, 3)
    f = _collect(env, ep, k_data, task, s.data_envs, s.data_steps)  # [E, T, F]
    F = f.shape[-1]
    seg = f.reshape(-1, s.segment_len, F)  # [N_seg, L, F]
    tot = seg.sum(1)
    i, j = jax.random.randint(k_pair, (2, s.num_pairs), 0, seg.shape[0])
    margins = jnp.full(F, s.sigma_mult)
    if task.first_margin is not None:
        margins = margins.at[task.order[0]].set(task.first_margin)
    labels = decision_tree_labels(tot[i], tot[j], task.order, task.signs, margins, batch_scale(tot))
    x = seg / jnp.asarray(task.nominal)
    params, _ = train_heron_rm(k_rm, x, i, j, labels, s.rm_hidden, s.rm_steps, s.rm_lr)
    model = RewardMLP(tuple(s.rm_hidden))
    r = model.apply(params, x)
    acc = label_accuracy(params, model.apply, x, i, j, labels)
    return params, jnp.max(r), jnp.maximum(jnp.std(r), 1e-6), acc, jnp.mean(labels != 0.5)


def run_task(name: str, s: Settings, seeds: int, seed: int) -> dict:
    """All conditions of one task, seeds × conditions in one vmapped PPO program."""
    task = TASKS[name]
    check_ranking(task.order, task.signs, [s.sigma_mult] * len(task.signs))
    env, ep = make(task.env_id)
    model = RewardMLP(tuple(s.rm_hidden))
    key_rm, key_ppo = jax.random.split(jax.random.fold_in(jax.random.key(seed), len(name)))
    fit = jax.jit(jax.vmap(lambda k: _heron_rm(env, ep, k, task, s)))
    rm, shift, scale, acc, frac = fit(jax.random.split(key_rm, seeds))
    nominal = jnp.asarray(task.nominal)

    def reward_fn(p, tr):
        x = task.factors(tr.obs, tr.action, tr.next_obs) / nominal
        r_rm = (model.apply(p["rm"], x) - p["shift"]) / p["scale"]
        return p["c_rm"] * r_rm + x @ p["w"] + p["c_env"] * tr.reward

    level = np.argsort(np.asarray(task.order))  # level of each factor
    conds = ["heron", *[f"linear β={b:g}" for b in s.betas], "env"]
    F = len(task.signs)
    w = [np.zeros(F)] + [np.asarray(task.signs) * b**level for b in s.betas] + [np.zeros(F)]
    c_rm = [1.0] + [0.0] * len(s.betas) + [0.0]
    c_env = [0.0] * (1 + len(s.betas)) + [1.0]
    C = len(conds)
    tile = lambda a: jnp.tile(a, (C,) + (1,) * (a.ndim - 1))  # condition-major [C*seeds, ...]
    rep = lambda v: jnp.repeat(jnp.asarray(v, jnp.float32), seeds, axis=0)
    tp = {
        "rm": jax.tree.map(tile, rm), "shift": tile(shift), "scale": tile(scale),
        "w": rep(np.stack(w)), "c_rm": rep(c_rm), "c_env": rep(c_env),
    }  # fmt: skip
    static = PPOStatic(
        total_timesteps=s.ppo_steps, num_envs=s.num_envs, num_steps=s.num_steps,
        update_epochs=s.update_epochs, num_minibatches=s.num_minibatches, normalize_obs=True,
        num_chunks=s.num_chunks, num_eval_envs=8, eval_channel="true_reward",
    )  # fmt: skip
    trainer = make_train(static, env, learned_reward(reward_fn), ep)
    hp = trainer.check(PPOHParams(learning_rate=s.learning_rate, gamma=s.gamma))
    hp = hp.broadcast(C * seeds)._replace(transform=tp)
    keys = jnp.tile(jax.random.key_data(jax.random.split(key_ppo, seeds)), (C, 1))
    m = run_sweep(None, None, trainer, keys, hp, progress=False)
    ev = np.asarray(m["eval_return"], np.float64).reshape(C, seeds, -1)
    steps = np.asarray(m["eval_env_steps"])[0].tolist()
    return {
        "conditions": conds,
        "final_true_return": {c: ev[k, :, -1].tolist() for k, c in enumerate(conds)},
        "curve_mean": {c: ev[k].mean(0).tolist() for k, c in enumerate(conds)},
        "eval_env_steps": [float(x) for x in steps],
        "rm_label_accuracy": np.asarray(acc, np.float64).tolist(),
        "labelled_fraction": np.asarray(frac, np.float64).tolist(),
    }


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """Every task of ``settings``; a JSON-able summary (per-seed lists of floats)."""
    settings.check()
    if seeds < 1:
        raise ValueError(f"heron.run: seeds={seeds}; expected >= 1")
    out = {"tasks": {t: run_task(t, settings, seeds, seed) for t in settings.tasks}}
    out["seeds"] = seeds
    return out


def _best_linear(d: dict) -> str:
    lin = [c for c in d["conditions"] if c.startswith("linear")]
    return max(lin, key=lambda c: estimate(d["final_true_return"][c]).point)


STATEMENT = "HERON matches or beats the hand-tuned linear combination of the same factors."
RULE = (
    "per task: HERON's IQM final-true-return CI upper bound >= the best-β linear combination's "
    "CI lower bound; reproduced when every task (Pendulum and MountainCar) matches"
)


def claims(summary: dict) -> list[Claim]:
    """``preference_rms.heron.matches_linear`` (rule in the module docstring)."""
    q, checks = {}, {}
    for t in ("pendulum", "mountaincar"):
        d = summary.get("tasks", {}).get(t)
        if d is None or "heron" not in d.get("final_true_return", {}):
            checks[t] = Check("not testable", f"{t}: no data")
            continue
        best = _best_linear(d)
        h, lin = estimate(d["final_true_return"]["heron"]), estimate(d["final_true_return"][best])
        q[f"{t} heron"], q[f"{t} {best}"] = h, lin
        c = ci_bound(f"{t} HERON", h, "hi", ">=", lin.lo)
        checks[t] = Check(c.verdict, f"{c.detail} (the lower limit of {best} {lin.fmt()})")
    cid = f"{EXPERIMENT}.heron.matches_linear"
    return [Claim.from_check(cid, EXPERIMENT, CITATION, STATEMENT, q, RULE, combine(checks, "all"))]


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """True-return curves per task (mean over seeds) and the final IQM in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = summary["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    lines = []
    for ax, (t, d) in zip(axes[0], tasks.items(), strict=True):
        for c in d["conditions"]:
            e = estimate(d["final_true_return"][c])
            ax.plot(d["eval_env_steps"], d["curve_mean"][c], marker="o", label=f"{c}: {e.fmt(0)}")
        ax.set(title=t, xlabel="env steps", ylabel="true return (eval, mean over seeds)")
        ax.legend(fontsize=7, title="final IQM [95% CI]", title_fontsize=7)
        acc = estimate(d["rm_label_accuracy"], "mean")
        frac = np.mean(d["labelled_fraction"])
        lines.append(f"{t}: RM accuracy on its labels {acc.fmt()}, labelled pairs {frac:.0%}")
    caption = "; ".join(lines) + f" ({summary['seeds']} seeds).\n" + claims_caption(cl)
    fig.text(0.01, 0.01, caption, fontsize=6, va="bottom", wrap=True)
    fig.subplots_adjust(bottom=0.32)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "preference_rms_heron.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
