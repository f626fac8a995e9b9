"""FK steering vs best-of-N vs the unsteered sampler on a 2-D diffusion toy.

**System** (Singhal, Horvitz et al. 2025, "Feynman Kac (FK) steering"; :mod:`jaxrl.rewards.
fk_steering`): an inference-time framework that samples a system of interacting diffusion
processes (particles) and resamples them at intermediate steps by potentials computed from rewards
of intermediate states, chosen so that a high value indicates a high-reward final sample. The
abstract claims, on text-to-image and text diffusion models, that FK steering with off-the-shelf
rewards improves sample quality and controllability without training (a 0.8B model steered beats a
2.6B fine-tuned one on prompt fidelity; text: lower perplexity, gradient-free attribute control);
the code README adds that it beats best-of-n.

**Small-scale form.** Kept: a DDPM (ε-prediction MLP, ancestral sampler, ``T = num_steps``) fitted
on data; ``k`` particles per run; the intermediate reward ``r(x̂0(x_t))`` on Tweedie's estimate; the
``diff`` (``exp(λ(r_t − r_{t+1}))``) and ``max`` (``exp(λ max(r_t, r_{t+1}))``) potentials;
multinomial resampling every ``resample_every`` steps inside ``[resample_start, resample_end]``
(steps taken) and a final resampling with ``exp(λ r(x0)) / Π G_t`` so the product telescopes to
``exp(λ r(x0))``; the returned sample is the highest-reward final particle (as best-of-N returns
its best). Dropped: images/text, learned rewards (the reward here is exact), adaptive (ESS)
resampling, gradient guidance proposals, several x0 samples per intermediate reward.

**Setting.** Data: ``num_modes`` equal-weight isotropic Gaussians (std ``std``) evenly on a circle
of radius ``radius``. Reward: ``r(x) = −‖x − μ_target‖²`` (negative squared distance to mode
``target_mode``; maximal, 0, at that mode's centre; one of M modes, so an unsteered sample lands
there with probability 1/M). Per seed (seed = an independent model fit *and* independent sampling
keys), for each ``k`` in ``particles``, ``runs`` independent runs of: unsteered (one plain sample),
best-of-N with N = k, FK ``diff`` and FK ``max`` with k particles (equal number of particles, equal
number of denoiser calls per step). Per run: the returned sample's reward, whether it lies within
3·std of a mode (on-manifold), and its log-density under the true mixture; means over runs give
one number per seed. With the default ``target_scale = 1`` the reward's maximiser is a mode
centre, itself on the manifold, so ``on_manifold`` there only checks that steering does not push
samples off the data; ``target_scale > 1`` puts the maximiser off the ring (a reward-hacking probe:
best-of-N / FK may then trade density for reward).

**Claims and verdict rules** (declared before running; mean over seeds, 95% bootstrap CIs of the
per-seed paired differences, since all methods of a seed share its model):

* ``fit`` (precondition): the fitted sampler reproduces the mixture: fraction of unsteered samples
  within 3·std of a mode, CI lower limit > 0.5 → reproduced; point > 0.5 → partial.
* ``vs_best_of_n`` (FK ``main_potential``) and ``max_vs_best_of_n`` (FK ``max``): for every k,
  reward(FK) − reward(best-of-N) has CI lower limit > 0 (point > 0 only: partial); all k needed
  (:func:`combine`, "all").
* ``vs_unsteered``: the same against the unsteered sampler.
* ``on_manifold``: for every k, fraction-within-3σ(FK ``main_potential``) − fraction(unsteered)
  has CI lower limit > −``manifold_tol`` (point > −tol only: partial); all k needed.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.config
from jaxrl.experiment.claims import Check, Claim, claims_caption, combine, estimate
from jaxrl.rewards import fk_steering as fk

EXPERIMENT = "process_rewards"
CITATION = "FK steering (Singhal, Horvitz et al. 2025)"
METHODS = ("unsteered", "best_of_n", "fk_diff", "fk_max")


@dataclasses.dataclass(frozen=True)
class Settings(jaxrl.config.Config):
    num_modes: int = 8
    """M mixture modes on the circle"""
    radius: float = 2.0
    """circle radius"""
    std: float = 0.15
    """per-mode standard deviation"""
    target_mode: int = 0
    """the mode whose centre the reward r(x) = −‖x − μ_target‖² favours"""
    target_scale: float = 1.0
    """target point = target_scale · μ_target (1: a mode centre; > 1: off the data manifold)"""
    num_steps: int = 50
    """diffusion steps T"""
    fit_steps: int = 3000
    """Adam steps of the DDPM fit"""
    fit_batch: int = 256
    """fresh data samples per fit step"""
    learning_rate: float = 3e-3
    """peak Adam learning rate (cosine decay)"""
    hidden: tuple[int, ...] = (128, 128)
    """ε-MLP hidden sizes"""
    particles: tuple[int, ...] = (4, 8, 16)
    """k: particles per FK run = N of best-of-N"""
    runs: int = 256
    """independent runs per method, k and seed"""
    lam: float = 10.0
    """λ of the potentials (the paper's default)"""
    main_potential: str = "diff"
    """the potential the vs_unsteered / on_manifold claims test ('diff' or 'max')"""
    resample_every: int = 5
    """steps between resamplings"""
    resample_start: int = 5
    """first resampling after this many steps"""
    resample_end: int = 45
    """last intermediate resampling at or before this many steps"""
    manifold_tol: float = 0.05
    """allowed drop of the on-manifold fraction vs unsteered"""

    def check(self) -> None:
        for f in ("num_modes", "fit_steps", "fit_batch", "runs", "resample_every"):
            self.require(getattr(self, f) >= 1, f, "must be >= 1")
        self.require(0 <= self.target_mode < self.num_modes, "target_mode", "not a mode index")
        self.require(self.target_scale > 0, "target_scale", "must be > 0")
        self.require(self.num_steps >= 2, "num_steps", "must be >= 2")
        self.require(self.radius > 0 and self.std > 0, "std", "radius and std must be > 0")
        self.require(all(k >= 2 for k in self.particles), "particles", "each k must be >= 2")
        self.require(len(self.particles) >= 1, "particles", "need at least one k")
        self.require(self.lam >= 0, "lam", "must be >= 0")
        self.require(self.main_potential in ("diff", "max"), "main_potential", "diff or max")
        self.require(
            1 <= self.resample_start <= self.resample_end < self.num_steps,
            "resample_end",
            "need 1 <= resample_start <= resample_end < num_steps",
        )
        self.require(0 <= self.manifold_tol < 1, "manifold_tol", "must be in [0, 1)")

    @property
    def resample_at(self) -> tuple[int, ...]:
        """Noise indices t at which to resample (after ``s`` steps, ``t = T − s``)."""
        s = range(self.resample_start, self.resample_end + 1, self.resample_every)
        return tuple(self.num_steps - i for i in s)


QUICK = Settings()
PAPER = Settings(fit_steps=6000, particles=(2, 4, 8, 16, 32), runs=1024)


def _one_seed(st: Settings, key: jax.Array) -> dict[str, jax.Array]:
    """Fit one DDPM and evaluate every method and k: per-(method, k) means over runs."""
    means = fk.ring_means(st.num_modes, st.radius)
    sched = fk.make_schedule(st.num_steps)
    target = st.target_scale * means[st.target_mode]

    def reward(x):
        return -jnp.sum((x - target) ** 2, -1)

    def stats(x):  # x [B, 2] returned samples
        on = fk.nearest_mode_distance(x, means) < 3 * st.std
        log_p = fk.ring_log_density(x, means, st.std)
        return jnp.stack([reward(x).mean(), on.mean(), log_p.mean()])

    k_fit, k_eval = jax.random.split(key)
    params, losses = fk.train_ddpm(
        k_fit, lambda k, n: fk.sample_ring(k, n, means, st.std), sched, st.fit_steps,
        st.fit_batch, st.learning_rate, st.hidden,
    )  # fmt: skip
    out = {"loss_first": losses[:100].mean(), "loss_last": losses[-100:].mean()}
    for i, k in enumerate(st.particles):
        ku, kb, kd, km = jax.random.split(jax.random.fold_in(k_eval, i), 4)
        plain = fk.sample(params, ku, (st.runs,), sched)
        bon, _ = fk.best_of_n(params, kb, sched, reward, st.runs, k)
        rows = [stats(plain), stats(bon)]
        for kk, pot in ((kd, "diff"), (km, "max")):
            res = fk.fk_sample(params, kk, sched, reward, st.runs, k, st.lam, pot, st.resample_at)
            rows.append(stats(res.best))
            out[f"tilted_reward_{pot}_k{k}"] = reward(res.resampled).mean()
        out[f"k{k}"] = jnp.stack(rows)  # [method, (reward, on-manifold, log-density)]
    return out


def run(settings: Settings, seeds: int, seed: int) -> dict:
    """All seeds (independent fits + sampling keys) in one vmapped jit; per-seed lists."""
    settings.check()
    if seeds < 1:
        raise ValueError(f"seeds={seeds} must be >= 1")
    res = jax.jit(jax.vmap(lambda k: _one_seed(settings, k)))(
        jax.random.split(jax.random.key(seed), seeds)
    )
    res = {k: np.asarray(v, np.float64) for k, v in res.items()}
    per = {}
    for k in settings.particles:
        a = res[f"k{k}"]  # [S, method, 3]
        per[str(k)] = {
            m: {
                "reward": a[:, j, 0].tolist(),
                "on_manifold": a[:, j, 1].tolist(),
                "log_density": a[:, j, 2].tolist(),
            }
            for j, m in enumerate(METHODS)
        }
        for pot in ("diff", "max"):
            per[str(k)][f"fk_{pot}"]["tilted_reward"] = res[f"tilted_reward_{pot}_k{k}"].tolist()
    return {
        "settings": jaxrl.config.to_json_dict(settings),
        "seeds": seeds,
        "loss_first": res["loss_first"].tolist(),
        "loss_last": res["loss_last"].tolist(),
        "per_k": per,
    }


def _diff_check(name: str, d, bound: float) -> tuple[Check, object]:
    """Per-seed sample ``d``: CI lower limit > bound reproduced; point > bound partial."""
    e = estimate(np.asarray(d, np.float64), "mean")
    v = "reproduced" if e.lo > bound else "partial" if e.point > bound else "not reproduced"
    return Check(v, f"{name} {e.fmt()} (vs {bound:g})"), e


def _claim(tag, statement, quantities, rule, check) -> Claim:
    return Claim.from_check(
        f"{EXPERIMENT}.fk_steering.{tag}", EXPERIMENT, CITATION, statement, quantities, rule, check
    )


def claims(summary: dict) -> list[Claim]:
    """``fit``, ``vs_best_of_n``, ``max_vs_best_of_n``, ``vs_unsteered``, ``on_manifold``."""
    per = summary.get("per_k", {})
    st = summary.get("settings", {})
    main = f"fk_{st.get('main_potential', 'diff')}"
    tol = float(st.get("manifold_tol", 0.05))
    out = []
    s = "The fitted DDPM's unsteered samples lie on the data mixture (within 3·std of a mode)."
    r = "fraction within 3·std, CI lower limit > 0.5 (point > 0.5 only: partial)"
    if per:
        first = per[sorted(per, key=int)[0]]
        chk, e = _diff_check("on-manifold fraction", first["unsteered"]["on_manifold"], 0.5)
        out.append(_claim("fit", s, {"on-manifold unsteered": e}, r, chk))
    else:
        out.append(_claim("fit", s, {}, r, Check("not testable", "no runs")))
    specs = (
        ("vs_best_of_n", main, "best_of_n", "reward", 0.0),
        ("max_vs_best_of_n", "fk_max", "best_of_n", "reward", 0.0),
        ("vs_unsteered", main, "unsteered", "reward", 0.0),
        ("on_manifold", main, "unsteered", "on_manifold", -tol),
    )
    for tag, a, b, field, bound in specs:
        if field == "reward":
            s = f"At an equal number of particles k, {a} returns a higher-reward sample than {b}."
            r = f"for every k: per-seed reward({a}) − reward({b}), CI lower limit > 0 (point only: "
            r += "partial); all k needed"
        else:
            s = f"{a}'s returned samples stay on the data manifold (within 3·std of a mode) as "
            s += "often as unsteered samples."
            r = f"for every k: per-seed fraction({a}) − fraction({b}), CI lower limit > −{tol:g} "
            r += "(point only: partial); all k needed"
        if not per:
            out.append(_claim(tag, s, {}, r, Check("not testable", "no runs")))
            continue
        checks, q = {}, {}
        for k in sorted(per, key=int):
            d = np.subtract(per[k][a][field], per[k][b][field])
            checks[f"k={k}"], q[f"Δ{field} k={k}"] = _diff_check(f"Δ{field} k={k}", d, bound)
        out.append(_claim(tag, s, q, r, combine(checks)))
    return out


def figure(summary: dict, cl: list[Claim], out: pathlib.Path) -> pathlib.Path:
    """Mean reward and on-manifold fraction vs k per method, with the claims as the caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    per = summary["per_k"]
    ks = sorted(per, key=int)
    fig, axes = plt.subplots(1, 2, figsize=(8, 6.5))
    lines = []
    for m in METHODS:
        rw = [np.mean(per[k][m]["reward"]) for k in ks]
        on = [np.mean(per[k][m]["on_manifold"]) for k in ks]
        axes[0].plot([int(k) for k in ks], rw, "o-", label=m)
        axes[1].plot([int(k) for k in ks], on, "o-", label=m)
        pairs = zip(ks, rw, strict=True)
        lines.append(f"{m}: reward " + ", ".join(f"k={k} {v:.3f}" for k, v in pairs))
    axes[0].set_xscale("log", base=2)
    axes[1].set_xscale("log", base=2)
    axes[0].set_xlabel("particles k (= N)")
    axes[1].set_xlabel("particles k (= N)")
    axes[0].set_ylabel("mean reward of the returned sample")
    axes[1].set_ylabel("fraction within 3·std of a mode")
    axes[0].legend(fontsize=7)
    st = summary["settings"]
    caption = (
        f"{summary['seeds']} seeds (independent DDPM fits, {st['fit_steps']} steps, DDPM loss "
        f"{np.mean(summary['loss_first']):.3f} -> {np.mean(summary['loss_last']):.3f}); "
        f"T={st['num_steps']}, λ={st['lam']:g}, {st['runs']} runs per (method, k, seed). "
        + "; ".join(lines)
        + "\n"
        + claims_caption(cl)
    )
    fig.text(0.01, 0.01, caption, fontsize=5, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.45, wspace=0.35)
    path = out / "process_rewards_fk_steering.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
