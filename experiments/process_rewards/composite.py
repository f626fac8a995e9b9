"""Composite rewards on the toy reasoning MDP: additive hybrid vs KRC vs CaRL, and minibatch size.

**Systems.** (1) *Hybrid rule + model − length* ("Beyond Monolithic Rewards", abstract: a hybrid of
model-based rewards and rule-based rewards "with confidence", multi-aspect rewards for instruction
adherence and "a generalized length-penalty reward"; the ToolRL and job-application rewards are
multi-component sums of the same kind, the latter reporting reward hacking under aggressive
penalties). (2) *KRC* (Lucy-SKG, abstract: "parameterizable reward shape functions" combined by
the "Kinesthetic Reward Combination"; our reading, a signed geometric mean of shaped components,
is in :mod:`jaxrl.shaping.composite`). (3) *CaRL* (abstract: complex rewards that "sum multiple
individual rewards" make PPO fail "when the mini-batch size is increased"; CaRL optimises "a single
intuitive reward term: route completion", infractions "penalized by terminating the episode or
multiplicatively reducing route completion"; with it "PPO scales well with higher mini-batch
sizes ... even improving performance").

**Testbed** (:mod:`jaxrl.envs.reasoning_chain`, P = 8 problems, L = 4 steps, K = 4 step actions,
D = 8). Env channels: ``outcome_reward`` (verified answer), ``progress_reward`` (ground truth
ΔΦ*). Proxy channels we derive from the observation (``proxy_channels``; the obs is
``[one_hot(p), one_hot(d)]`` of s_t):

* ``format_reward`` = 1 on any answer action (a rule reward a shallow answer also earns);
* ``model_score`` = on the answer, ``min(1, min(d, L)/L + shallow_bias·1[d < L])``: a model score
  that sees only how deep the reasoning went (not whether it is right) and over-rates shallow
  answers by ``shallow_bias``;
* ``completion`` (CaRL's route completion) = ``max(progress_reward, 0) + outcome_reward``;
* ``length_factor`` = on the answer, ``max(0, 1 − pad_cost·(d − L)₊)`` (a soft infraction: padding);
* ``severe`` = a step action at depth d < L that gains no progress (the chain went wrong).

Composites: ``additive`` = outcome + w_f·format + w_p·progress + w_m·model − λ per step;
``krc`` = KRC(outcome, model_score, format) with exponents κ; ``carl`` = completion ×
length_factor, terminate (0 reward for the rest of the episode) on ``severe``.

**Small-scale form.** Kept: the three combination rules, a multi-term additive sum with an
exploitable rule term, a proxy model score and a length penalty, CaRL's single completion term
with multiplicative soft and terminating severe penalties, PPO at several minibatch sizes on the
same rollout batch (16 envs × 64 steps = 1024; ``num_minibatches`` ∈ ``minibatches`` → minibatch
sizes 1024/m; 4 epochs, so a bigger minibatch is also fewer gradient steps, as in the paper).
Dropped: driving, GRPO/LLMs, learned reward models (the model score is a fixed proxy),
distributed data parallelism, Lucy-SKG's auxiliary networks.

**Exact layer.** Each composite as an ``[S, A, S']`` table on ``reasoning_mdp`` (CaRL's
termination as the mask right(s): post-infraction states pay nothing); backward induction over
the episode's D + 1 steps gives each composite's optimal policy and its exact true success.

**Claims and verdict rules** (declared before running; per seed, final = mean of the last
``tail`` updates of ``return_outcome_reward``; 95% bootstrap CIs of the mean over seeds; "small"
and "large" are the first and last entries of ``minibatches``):

* ``exact_exploit``: the additive composite's optimal policy has lower true success than CaRL's
  (exact, no seeds): additive < CaRL − 1e-9 → reproduced; equal → not reproduced.
* ``additive_degrades``: success(additive, large) − success(additive, small), paired per seed:
  CI upper < −0.05 → reproduced; point < −0.05 only → partial; else not reproduced (the 0.05
  margin mirrors ``carl_scales``'s tolerance: a smaller change is no degradation).
* ``carl_scales``: success(carl, large) − success(carl, small) > −0.05: CI lower > −0.05 →
  reproduced; point > −0.05 only → partial.
* ``carl_beats_additive_large``: success(carl, large) − success(additive, large) paired:
  CI lower > 0 → reproduced; point > 0 → partial.
* ``additive_exploits`` (descriptive): at the large minibatch, the additive policy's episodes
  are shorter than the full solution (mean length < L + 1, shallow answers) and its success is
  below CaRL's; both CI-separated → reproduced; points only → partial.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.envs.reasoning_chain import ReasoningConfig, make_reasoning_chain, reasoning_mdp
from jaxrl.experiment.claims import Check, Claim, claims_caption, combine, estimate
from jaxrl.experiment.ppo_runs import grid_static, ppo_runs
from jaxrl.mdp.finite_horizon import finite_horizon, finite_horizon_evaluation
from jaxrl.shaping.composite import carl_reward, hybrid_reward, krc_reward, with_channels
from jaxrl.shaping.transform import RewardTransform, Transition

EXPERIMENT = "process_rewards"
CITATION = "CaRL (Jaeger et al. 2025); Beyond Monolithic Rewards; Lucy-SKG KRC"
COMPOSITES = ("additive", "krc", "carl")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    num_problems: int = 8
    """P problems of the reasoning chain"""
    chain_length: int = 4
    """L right steps per solution"""
    max_depth: int = 8
    """D steps before truncation"""
    w_format: float = 0.5
    """additive: weight of the format rule reward"""
    w_progress: float = 0.5
    """additive: weight of the ground-truth progress reward"""
    w_model: float = 0.5
    """additive: weight of the proxy model score"""
    length_penalty: float = 0.05
    """additive: λ per step"""
    shallow_bias: float = 0.5
    """model score's over-rating of an answer at depth < L"""
    krc_exponent: float = 1.0
    """KRC shape exponent κ (same for its three components)"""
    pad_cost: float = 0.1
    """CaRL soft factor: completion × (1 − pad_cost·padding steps) on the answer"""
    minibatches: tuple[int, ...] = (16, 4, 1)
    """PPO num_minibatches per condition (rollout 1024 → minibatch 1024/m); first = small"""
    ppo_steps: int = 49152
    """PPO env steps per run"""
    learning_rate: float = 2.5e-3
    """PPO learning rate"""
    tail: int = 8
    """final success = mean over the last `tail` updates"""

    def check(self) -> None:
        for f in ("num_problems", "chain_length", "tail"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(self.max_depth >= self.chain_length, "max_depth", "must be >= chain_length")
        for f in ("w_format", "w_progress", "w_model", "length_penalty", "shallow_bias"):
            self.require(getattr(self, f) >= 0, f, "must be >= 0")
        self.require(self.krc_exponent > 0, "krc_exponent", "must be > 0")
        self.require(0 <= self.pad_cost <= 1, "pad_cost", "must be in [0, 1]")
        ok = len(self.minibatches) >= 2 and all(1024 % m == 0 and m >= 1 for m in self.minibatches)
        self.require(ok, "minibatches", "need >= 2 divisors of the 1024-sample rollout")
        self.require(self.ppo_steps >= 4096 * 2, "ppo_steps", "must be >= 8192 (2 chunks)")
        self.require(self.learning_rate > 0, "learning_rate", "must be > 0")

    def env_config(self) -> ReasoningConfig:
        return ReasoningConfig(
            num_problems=self.num_problems, chain_length=self.chain_length,
            max_depth=self.max_depth,
        )  # fmt: skip


QUICK = Settings(minibatches=(16, 1), ppo_steps=32768)
PAPER = Settings(minibatches=(16, 4, 1), ppo_steps=131072)


# ----------------------------------------------------------------------------- channels
def proxy_channels(settings: Settings, tr: Transition) -> dict:
    """The derived channels of the module docstring from ``tr`` (obs of s_t, action, env
    channels); every value ``[*B]`` float."""
    P, L, K = settings.num_problems, settings.chain_length, ReasoningConfig().num_step_actions
    d = jnp.argmax(tr.obs[..., P:], axis=-1)
    answer = jnp.asarray(tr.action) == K
    f = jnp.result_type(float)
    prog = jnp.asarray(tr.channels["progress_reward"], f)
    shallow = d < L
    depth_score = jnp.minimum(d, L).astype(f) / L
    model = jnp.minimum(1.0, depth_score + settings.shallow_bias * shallow)
    pad = jnp.maximum(d - L, 0).astype(f)
    return {
        "format_reward": answer.astype(f),
        "model_score": jnp.where(answer, model, 0.0),
        "completion": jnp.maximum(prog, 0.0) + jnp.asarray(tr.channels["outcome_reward"], f),
        "length_factor": jnp.where(answer, jnp.maximum(0.0, 1.0 - settings.pad_cost * pad), 1.0),
        "severe": ((~answer) & shallow & (prog <= 0)).astype(f),
    }


def composites(settings: Settings, batch_shape=()) -> dict[str, RewardTransform]:
    """The three composites as transforms over the env + proxy channels."""
    s = settings
    add = hybrid_reward(
        ("outcome_reward", "format_reward", "progress_reward"), ("model_score",),
        (1.0, s.w_format, s.w_progress), (s.w_model,), s.length_penalty,
    )  # fmt: skip
    k = krc_reward(("outcome_reward", "model_score", "format_reward"), (s.krc_exponent,) * 3)
    c = carl_reward("completion", ("length_factor",), "severe", batch_shape)
    return {
        name: with_channels(t, lambda tr: proxy_channels(settings, tr))
        for name, t in zip(COMPOSITES, (add, k, c), strict=True)
    }


def switch(settings: Settings, batch_shape) -> RewardTransform:
    """One transform whose params ``{"which": one-hot [3], ...}`` pick the composite, so all
    composites × seeds run in one vmapped PPO program."""
    parts = composites(settings, batch_shape)
    ts = [parts[n] for n in COMPOSITES]

    def init(params):
        return tuple(t.init(params[n]) for t, n in zip(ts, COMPOSITES, strict=True))

    def apply(params, state, tr):
        out, new = 0.0, []
        for i, (t, n) in enumerate(zip(ts, COMPOSITES, strict=True)):
            r, st = t.apply(params[n], state[i], tr)
            out = out + params["which"][i] * r
            new.append(st)
        return out, tuple(new)

    default = {n: t.default_params for t, n in zip(ts, COMPOSITES, strict=True)}
    return RewardTransform(init, apply, {**default, "which": jnp.eye(3)[0]})


# ----------------------------------------------------------------------------- exact layer
def composite_tables(settings: Settings) -> tuple[object, dict]:
    """``(mdp, {name: R [S, A, S']})``: each composite as a reward table on ``reasoning_mdp``
    (float64); CaRL's termination is the mask ``right(s)`` (post-infraction states pay 0)."""
    cfg = settings.env_config()
    mdp = reasoning_mdp(cfg, 1.0)
    P, D, K = cfg.num_problems, cfg.max_depth, cfg.num_step_actions
    S, A = mdp.P.shape[0], mdp.P.shape[1]
    idx = np.arange(S - 1)
    p, d, right = idx // 2 // (D + 1), idx // 2 % (D + 1), idx % 2
    phi = np.append(right * np.minimum(d, cfg.chain_length) / cfg.chain_length, 0.0)
    obs = np.zeros((S, P + D + 1))
    obs[idx, p], obs[idx, P + d] = 1.0, 1.0
    a = np.arange(A)[None, :, None]
    step = (a < K) & np.ones((S, A, S), bool)
    prog = np.where(step, phi[None, None, :] - phi[:, None, None], 0.0)
    tr = Transition(
        obs=jnp.broadcast_to(jnp.asarray(obs)[:, None, None], (S, A, S, obs.shape[1])),
        action=jnp.broadcast_to(jnp.arange(A)[None, :, None], (S, A, S)),
        reward=jnp.asarray(mdp.R), next_obs=None, terminated=jnp.asarray(~step),
        truncated=jnp.zeros((S, A, S), bool), discount=jnp.asarray(step, float),
        channels={"outcome_reward": jnp.asarray(mdp.R), "progress_reward": jnp.asarray(prog)},
        time=jnp.zeros((S, A, S), int),
    )  # fmt: skip
    alive = jnp.asarray(np.append(right, 1)[:, None, None] > 0)
    out = {}
    for name, t in composites(settings, (S, A, S)).items():
        if name == "carl":  # the stateless inner reward, severe steps and the termination mask
            ch = proxy_channels(settings, tr)
            r = ch["completion"] * ch["length_factor"]
            r = jnp.where(ch["severe"] > 0, 0.0, r) * alive
        else:
            r, _ = t.apply(t.default_params, t.init(t.default_params), tr)
        out[name] = jnp.asarray(r, jnp.float64)
    return mdp, out


def exact_success(settings: Settings) -> dict[str, float]:
    """Exact true success (outcome return) of each composite's optimal policy, by backward
    induction over the episode's ``max_depth + 1`` steps (ties split uniformly by the solver)."""
    with jax.enable_x64(True):
        mdp, tables = composite_tables(settings)
        H = settings.max_depth + 1
        Pm, init = jnp.asarray(mdp.P, jnp.float64), jnp.asarray(mdp.init_dist, jnp.float64)
        Ro = jnp.asarray(mdp.R, jnp.float64)
        out = {}
        for name, R in tables.items():
            sol = finite_horizon(Pm, R, horizon=H, terminal_mask=mdp.terminal_mask)
            V, _ = finite_horizon_evaluation(
                Pm, Ro, sol.pi, horizon=H, terminal_mask=mdp.terminal_mask
            )
            out[name] = float(V[0] @ init)
        return out


# ----------------------------------------------------------------------------- run
def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All composites × seeds per minibatch setting in one vmapped PPO program each."""
    settings.check()
    env, env_params = make_reasoning_chain(**dataclasses.asdict(settings.env_config()))
    C = len(COMPOSITES)
    base = grid_static(settings.ppo_steps)
    t = switch(settings, (base.num_envs,))
    params = jax.tree.map(
        lambda x: jnp.broadcast_to(jnp.asarray(x), (seeds * C, *jnp.shape(x))), t.default_params
    )
    params["which"] = jnp.tile(jnp.eye(C), (seeds, 1))  # run r = seed r // C, composite r % C
    summary = {
        "settings": jaxrl.config.to_json_dict(settings),
        "composites": list(COMPOSITES),
        "exact_success": exact_success(settings),
        "per_minibatch": {},
    }
    key = jax.random.key(seed)
    for m in settings.minibatches:
        static = dataclasses.replace(base, num_minibatches=m)
        met = ppo_runs(
            env, env_params, key, seeds * C, settings.ppo_steps, transform=t,
            transform_params=params, learning_rate=settings.learning_rate, static=static,
        )  # fmt: skip
        succ = np.asarray(met["return_outcome_reward"], np.float64).reshape(seeds, C, -1)
        length = np.asarray(met["episode_length"], np.float64).reshape(seeds, C, -1)
        tail = settings.tail
        summary["per_minibatch"][str(1024 // m)] = {
            "curve_mean": succ.mean(0).tolist(),  # [C, T]
            **{
                n: {
                    "success": succ[:, c, -tail:].mean(-1).tolist(),
                    "length": length[:, c, -tail:].mean(-1).tolist(),
                }
                for c, n in enumerate(COMPOSITES)
            },
        }
    return summary


# ----------------------------------------------------------------------------- claims
def _sign_check(name, x, bound, above: bool):
    e = estimate(np.asarray(x, np.float64), "mean")
    lim, pt = (e.lo > bound, e.point > bound) if above else (e.hi < bound, e.point < bound)
    v = "reproduced" if lim else "partial" if pt else "not reproduced"
    return Check(v, f"{name} {e.fmt()} vs {bound:g}"), e


def _claim(tag, statement, q, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.composite.{tag}", EXPERIMENT, CITATION, statement, q, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """The claims of the module docstring."""
    out = []
    ex = summary.get("exact_success", {})
    s0 = "The additive composite's optimal policy is less successful than CaRL's (exploitable)."
    r0 = "exact: success(additive optimum) < success(CaRL optimum) − 1e-9"
    if "additive" in ex and "carl" in ex:
        a, c = ex["additive"], ex["carl"]
        v = "reproduced" if a < c - 1e-9 else "not reproduced"
        det = "; ".join(f"{n} optimum success {ex[n]:.4f}" for n in ex)
        q = {f"exact {n}": estimate([ex[n]], "mean") for n in ex}
        out.append(_claim("exact_exploit", s0, q, r0, Check(v, det)))
    else:
        out.append(_claim("exact_exploit", s0, {}, r0, Check("not testable", "no exact data")))
    pm = summary.get("per_minibatch", {})
    sizes = sorted(pm, key=int)
    specs = [
        ("additive_degrades",
         "PPO with the additive composite loses true success as the minibatch grows.",
         "paired Δ success (large − small mb): CI upper < −0.05; point < −0.05: partial"),
        ("carl_scales", "PPO with CaRL's reward keeps its true success as the minibatch grows.",
         "paired Δ success (large − small mb): CI lower > −0.05; point > −0.05 partial"),
        ("carl_beats_additive_large", "At the large minibatch CaRL's reward gives higher true "
         "success than the additive one.", "paired Δ (carl − additive): CI lower > 0"),
        ("additive_exploits", "At the large minibatch the additive policy answers shallowly "
         "(mean episode length < L + 1) and succeeds less than CaRL's.",
         "CI upper of (length − (L+1)) < 0 and CI lower of (carl − additive success) > 0"),
    ]  # fmt: skip
    if len(sizes) < 2:
        for tag, s, r in specs:
            out.append(_claim(tag, s, {}, r, Check("not testable", "< 2 minibatch sizes")))
        return out
    small, large = pm[sizes[0]], pm[sizes[-1]]
    dA = np.subtract(large["additive"]["success"], small["additive"]["success"])
    dC = np.subtract(large["carl"]["success"], small["carl"]["success"])
    dL = np.subtract(large["carl"]["success"], large["additive"]["success"])
    L = summary["settings"]["chain_length"]
    c1, e1 = _sign_check("Δ additive", dA, -0.05, above=False)
    c2, e2 = _sign_check("Δ carl", dC, -0.05, above=True)
    c3, e3 = _sign_check("carl − additive", dL, 0.0, above=True)
    c4, e4 = _sign_check("additive length − (L+1)", np.subtract(large["additive"]["length"], L + 1),
                         0.0, above=False)  # fmt: skip
    succ = {f"{n} mb{k}": estimate(pm[k][n]["success"], "mean") for k in sizes for n in
            ("additive", "carl")}  # fmt: skip
    out.append(_claim(*specs[0][:1], specs[0][1], {"Δ additive": e1, **succ}, specs[0][2], c1))
    out.append(_claim(specs[1][0], specs[1][1], {"Δ carl": e2, **succ}, specs[1][2], c2))
    out.append(_claim(specs[2][0], specs[2][1], {"carl − additive": e3}, specs[2][2], c3))
    out.append(_claim(specs[3][0], specs[3][1], {"length excess": e4, "carl − additive": e3},
                      specs[3][2], combine({"shallow": c4, "less success": c3})))  # fmt: skip
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Final true success per composite vs minibatch size, with the claims as the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pm = summary["per_minibatch"]
    sizes = sorted(pm, key=int)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines = []
    for n in summary["composites"]:
        m = [np.mean(pm[k][n]["success"]) for k in sizes]
        ln = [np.mean(pm[k][n]["length"]) for k in sizes]
        ax.plot([int(k) for k in sizes], m, marker="o", label=n)
        lines.append(f"{n}: success {', '.join(f'{x:.2f}' for x in m)}; length "
                     f"{', '.join(f'{x:.1f}' for x in ln)}")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xlabel("PPO minibatch size (rollout 1024)")
    ax.set_ylabel("final true success (outcome return)")
    ax.legend(fontsize=7)
    st = summary["settings"]
    n_seeds = len(pm[sizes[0]]["carl"]["success"])
    ex = summary["exact_success"]
    caption = (
        f"minibatch sizes {', '.join(sizes)}; {st['ppo_steps']} PPO steps per run, {n_seeds} "
        f"seeds; exact optimum success " + ", ".join(f"{k} {v:.3f}" for k, v in ex.items())
        + ". " + "; ".join(lines) + "\n" + claims_caption(cl)
    )  # fmt: skip
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.4)
    path = out / "process_rewards_composite.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
