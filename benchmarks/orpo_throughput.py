"""Throughput of ORPO (method "om": two rollouts + discriminator) relative to plain PPO on tomato.

    python benchmarks/orpo_throughput.py [--seeds 4] [--steps 32768] [--repeats 5]
        [--variants ppo orpo orpo_e4 orpo_e2] [--breakdown]

Every variant uses the same PPO settings (the quick profile of experiments.orpo_tomato:
16 envs × 128 steps, 8 epochs × 8 minibatches, 64-64 networks) and ``--seeds`` seeds vmapped
in one jit; a variant only changes the ORPO settings (:data:`VARIANTS`). All variants are
compiled first (one warm-up call each, not timed), then timed **interleaved in one process**:
each of ``--repeats`` rounds times one call of every variant (the order rotated each round), so a
load change on a shared machine hits all of them alike. Reported per variant: the best and the
median time per learner step, env-steps/s from the best, and the time per step relative to plain
PPO, both from the best times and as the median over rounds of the per-round ratio.

Env steps count the learner's steps only (ORPO also rolls out the reference policy for as many
steps), so the ratio is ORPO's cost per learner step. Target (issue): the default ORPO ≤ 2.5×.
Variants other than ``orpo`` are *cheaper configurations* (fewer discriminator epochs, fewer and
larger discriminator minibatches) and do not compute the same thing; their discriminator's
final logistic loss and accuracy on the last update's batches are printed next to their speed.

``--breakdown`` also times the pieces of one update (each jitted on its own, interleaved):
current and reference rollouts, discriminator training (its epochs and the final pass over
both batches), penalty, GAE + PPO update.

``--quality`` (no timing) measures what the cheaper variants cost in discriminator quality,
against the *exact* log occupancy ratio on the tabular tomato MDP
(:mod:`jaxrl.envs.tomato_exact`): a base policy is trained as in
experiments.orpo_tomato (PPO on the true reward, ε = 0.1, 9216 steps) and used as π_ref;
ORPO (√χ², quick-profile PPO settings) runs ``--quality-updates`` updates at λ = 0 (π's path is
then the same for every variant, only the discriminator differs) and at ``--quality-lam``.
After update k the discriminator was trained on the rollout of the pre-update policy π_k, so it
is compared with ``d* = log μ_{π_k}/μ_ref`` (time-averaged visitations over the 100-step
horizon, on all reachable state-actions): the excess population logistic loss
``L(d) − L(d*) ≥ 0``, the μ_π-weighted mean ``|d − d*|``, and the penalty estimates
``E_π[e^d − 1]`` vs the exact χ² and ``E_π[d]`` vs the exact KL.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.agents.orpo import ORPOStatic, make_orpo
from jaxrl.agents.ppo import make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.envs import make, tomato_exact
from jaxrl.regularizers.occupancy import bayes_optimal_logit, chi2, kl
from jaxrl.rewards.discriminator import DiscBatch, discriminator_logits
from jaxrl.rewards.occupancy_ratio import (
    penalty_from_logits,
    population_logistic_loss,
    train_occupancy_ratio,
)
from jaxrl.shaping.transform import from_channel

TARGET = 2.5
#: name -> ORPOStatic overrides; "orpo" is the experiment's configuration.
VARIANTS = {
    "ppo": dict(method="none"),
    "orpo": dict(method="om"),
    "orpo_e4": dict(method="om", disc_epochs=4),
    "orpo_e2": dict(method="om", disc_epochs=2),
    "orpo_e1": dict(method="om", disc_epochs=1),
    "orpo_mb1": dict(method="om", disc_minibatches=1),
    "ad_kl": dict(method="ad_kl"),
}
DESCRIPTION = {
    "ppo": "plain PPO (method none)",
    "orpo": "ORPO om, disc 8 epochs × 4 minibatches (default)",
    "orpo_e4": "ORPO om, disc 4 epochs × 4 minibatches",
    "orpo_e2": "ORPO om, disc 2 epochs × 4 minibatches",
    "orpo_e1": "ORPO om, disc 1 epoch × 4 minibatches",
    "orpo_mb1": "ORPO om, disc 8 epochs × 1 (full-batch) minibatch",
    "ad_kl": "action-distribution KL baseline",
}
DEFAULT_VARIANTS = ("ppo", "orpo", "orpo_e4", "orpo_e2")


def setup(seeds: int, steps: int):
    env, params = make("tomato", level=4, reward_factor=0.02)
    static = PPOStatic(
        num_envs=16,
        num_steps=128,
        total_timesteps=steps,
        update_epochs=8,
        num_minibatches=8,
        hidden_sizes=(64, 64),
        num_chunks=1,
        num_eval_envs=4,
    )
    ref = make_train(static, env, None, params).network.init(jax.random.key(1), jnp.zeros(36))
    hp = PPOHParams(learning_rate=1e-3, clip_eps=0.05, aux_coef=0.01).broadcast(seeds)
    keys = jax.random.split(jax.random.key(0), seeds)

    def trainer(name):
        orpo = ORPOStatic(divergence="sqrt_chi2", disc_hidden=(64, 64), **VARIANTS[name])
        return make_orpo(static, orpo, env, ref, None, params)

    return static, trainer, hp, keys


def interleaved(fns: dict, repeats: int) -> dict[str, np.ndarray]:
    """``{name: [repeats] seconds}``: every round calls each ``fns[name]()`` once (rotated)."""
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(repeats):
        for n in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            jax.block_until_ready(fns[n]())
            times[n].append(time.perf_counter() - t)
    return {n: np.asarray(v) for n, v in times.items()}


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def bench(variants, seeds: int, steps: int, repeats: int):
    static, trainer, hp, keys = setup(seeds, steps)
    fns, quality = {}, {}
    for name in variants:
        tr = trainer(name)
        init, chunk = jax.jit(jax.vmap(tr.init)), jax.jit(jax.vmap(tr.chunk))
        state = jax.block_until_ready(init(keys, hp))  # one computation in flight at a time
        _, metrics = jax.block_until_ready(chunk(state, hp))  # compile (not timed)
        if "disc_loss" in metrics:
            quality[name] = (
                float(metrics["disc_loss"][:, -1].mean()),
                float(metrics["disc_accuracy"][:, -1].mean()),
            )
        fns[name] = lambda chunk=chunk, state=state: chunk(state, hp)
        print(f"  compiled {name} ({load()})", file=sys.stderr, flush=True)
    times = interleaved(fns, repeats)
    steps_per_call = seeds * static.updates_per_chunk * static.batch_size
    return times, steps_per_call, quality


def breakdown(seeds: int, steps: int, repeats: int) -> dict[str, np.ndarray]:
    """Per-update times of ORPO's pieces (default variant), each jitted and vmapped alone."""
    _, trainer, hp, keys = setup(seeds, steps)
    tr, ppo_tr = trainer("orpo"), trainer("ppo")
    ppo = tr.ppo
    state = jax.block_until_ready(jax.jit(jax.vmap(tr.init))(keys, hp))
    vj = lambda f: jax.jit(jax.vmap(f))
    rollout = vj(lambda s, h: ppo.rollout(s, h)[1])
    traj = jax.block_until_ready(rollout(state.current, hp))
    traj_ref = jax.block_until_ready(rollout(state.reference, hp))
    dkeys = jax.random.split(jax.random.key(3), seeds)
    cfg = state.disc.config

    def disc(epochs):
        def f(s, t, t_ref, k):
            return train_occupancy_ratio(
                s, DiscBatch(t.obs, t.u), DiscBatch(t_ref.obs, t_ref.u), k, num_epochs=epochs
            )

        return vj(f)

    def adv_learn(s, t, h):
        adv, targets = ppo.advantages(s, t, h)
        return ppo.learn(s, t, adv, targets, h)

    pieces = {
        "PPO update (rollout + GAE + learn)": (vj(ppo_tr.update), (state, hp)),
        "ORPO update (all)": (vj(tr.update), (state, hp)),
        "  rollout, current policy": (rollout, (state.current, hp)),
        "  rollout, reference policy": (rollout, (state.reference, hp)),
        f"  discriminator, {cfg.num_epochs} epochs + final pass": (
            disc(cfg.num_epochs),
            (state.disc, traj, traj_ref, dkeys),
        ),
        "  discriminator, 1 epoch + final pass": (
            disc(1),
            (state.disc, traj, traj_ref, dkeys),
        ),
        "  penalty (sqrt_chi2, trimmed mean)": (
            vj(lambda d: penalty_from_logits(d, "sqrt_chi2", 1000.0)),
            (traj.reward,),
        ),
        "  GAE + PPO learn": (vj(adv_learn), (state.current, traj, hp)),
    }
    fns = {}
    for name, (f, args) in pieces.items():
        jax.block_until_ready(f(*args))  # compile
        fns[name] = lambda f=f, args=args: f(*args)
    return interleaved(fns, repeats)


def base_policy(env, params):
    """The experiment's base policy: PPO on the true reward with ε = 0.1, 9216 steps."""
    static = PPOStatic(
        num_envs=8,
        num_steps=128,
        total_timesteps=9216,
        update_epochs=8,
        num_minibatches=8,
        hidden_sizes=(64, 64),
        num_eval_envs=8,
    )
    hp = PPOHParams(learning_rate=1e-3, clip_eps=0.05, gae_lambda=0.98, ent_coef=0.01)
    train = make_train(
        static, env, from_channel("true_reward"), params.replace(random_action_eps=0.1)
    )
    state, _ = jax.jit(train)(jax.random.key(0), hp)
    return state.train_state.params


def quality(variants, seeds: int, updates: int, lam: float, points: int = 6):
    """``{variant: {"updates", "excess_loss(_d0)", "mae", "chi2_est", "chi2", "kl_est", "kl",
    "disc_loss", "disc_acc", "true_return", "proxy_return"}}``; arrays ``[points, 2, seeds]``
    (λ = 0, ``lam``) except the final exact returns ``[2, seeds]``."""
    env, params = make("tomato", level=4, reward_factor=0.02)
    ref = base_policy(env, params)
    static = PPOStatic(
        num_envs=16,
        num_steps=128,
        total_timesteps=16 * 128 * updates,
        update_epochs=8,
        num_minibatches=8,
        hidden_sizes=(64, 64),
        num_eval_envs=4,
    )
    network = make_train(static, env, None, params).network
    mdp, index = tomato_exact.reachable_tomato_mdp(env, params)
    obs = tomato_exact.tabular_observations(env, index)
    n_states, n_actions = obs.shape[0], 4
    obs_sa = jnp.repeat(obs, n_actions, axis=0)
    act_sa = jnp.tile(jnp.arange(n_actions), n_states)
    mu_ref = tomato_exact.visitation(
        mdp, tomato_exact.network_policy(network, ref, obs), horizon=100
    )
    lams = jnp.repeat(jnp.asarray([0.0, lam], jnp.float32), seeds)
    hp = PPOHParams(
        learning_rate=1e-3, clip_eps=0.05, gae_lambda=0.98, ent_coef=0.01, aux_coef=lams
    ).broadcast(2 * seeds)
    keys = jnp.tile(jax.random.split(jax.random.key(0), seeds), 2)  # same seeds at both λ
    at = sorted({max(1, round(updates * (i + 1) / points)) for i in range(points)})

    def exact(config, cur, disc):
        mu = tomato_exact.visitation(
            mdp, tomato_exact.network_policy(network, cur, obs), horizon=100
        )
        d = discriminator_logits(config, disc, DiscBatch(obs_sa, act_sa))
        d = d.reshape(n_states, n_actions)
        d_star = jnp.clip(bayes_optimal_logit(mu, mu_ref), -50.0, 50.0)
        on = (mu > 0) & (mu_ref > 0)
        return {
            "excess_loss": population_logistic_loss(d, mu, mu_ref)
            - population_logistic_loss(d_star, mu, mu_ref),
            "excess_loss_d0": population_logistic_loss(jnp.zeros_like(d), mu, mu_ref)
            - population_logistic_loss(d_star, mu, mu_ref),
            "mae": jnp.sum(jnp.where(on, mu * jnp.abs(d - d_star), 0.0))
            / jnp.sum(jnp.where(on, mu, 0.0)),
            "chi2_est": jnp.sum(mu * jnp.expm1(d)),
            "chi2": chi2(mu, mu_ref),
            "kl_est": jnp.sum(mu * d),
            "kl": kl(mu, mu_ref),
        }

    def returns(cur):
        pi = tomato_exact.network_policy(network, cur, obs)
        return tomato_exact.policy_returns(mdp, pi, horizon=100)

    out = {}
    for name in variants:
        orpo = ORPOStatic(divergence="sqrt_chi2", disc_hidden=(64, 64), **VARIANTS[name])
        tr = make_orpo(static, orpo, env, ref, None, params)
        update = jax.jit(jax.vmap(tr.update))
        state = jax.block_until_ready(jax.jit(jax.vmap(tr.init))(keys, hp))
        ex = jax.jit(jax.vmap(partial(exact, state.disc.config)))
        rows = []
        for u in range(1, updates + 1):
            before = state.current.train_state.params
            state, metrics = update(state, hp)
            if u in at:
                row = ex(before, state.disc.variables)
                row["disc_loss"], row["disc_acc"] = metrics["disc_loss"], metrics["disc_accuracy"]
                rows.append({k: np.asarray(v).reshape(2, seeds) for k, v in row.items()})
        res = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
        final = jax.jit(jax.vmap(returns))(state.current.train_state.params)
        res["true_return"] = np.asarray(final["true_reward"]).reshape(2, seeds)
        res["proxy_return"] = np.asarray(final["proxy_reward"]).reshape(2, seeds)
        res["updates"] = np.asarray(at)
        out[name] = res
        print(f"  quality: {name} done ({load()})", flush=True)
    return out


def print_quality(res, lam: float):
    for li, lam_value in enumerate((0.0, lam)):
        print(
            f"\nDiscriminator vs exact d* = log μ_π/μ_ref, λ = {lam_value:g} "
            "(mean over seeds; update k: after k updates)"
        )
        print(
            "| variant | update | excess pop. logistic loss (d = 0: no training) | E_π|d − d*| "
            "| E_π[e^d − 1] / χ² | E_π[d] / KL | batch loss | batch acc |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, r in res.items():
            for i, u in enumerate(r["updates"]):
                m = {k: v[i, li].mean() for k, v in r.items() if v.ndim == 3}
                print(
                    f"| {name} | {u} | {m['excess_loss']:.4f} ({m['excess_loss_d0']:.4f}) "
                    f"| {m['mae']:.3f} "
                    f"| {m['chi2_est']:.2f} / {m['chi2']:.2f} | {m['kl_est']:.3f} / {m['kl']:.3f} "
                    f"| {m['disc_loss']:.3f} | {m['disc_acc']:.3f} |"
                )
    print("\nFinal exact returns of the learner (episode sums; mean ± std over seeds)")
    print("| variant | λ | true return | proxy return |")
    print("|---|---|---|---|")
    for name, r in res.items():
        for li, lam_value in enumerate((0.0, lam)):
            t, p = r["true_return"][li], r["proxy_return"][li]
            print(
                f"| {name} | {lam_value:g} | {t.mean():.2f} ± {t.std():.2f} "
                f"| {p.mean():.2f} ± {p.std():.2f} |"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=32768, help="learner steps per seed")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument(
        "--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=list(VARIANTS)
    )
    parser.add_argument("--breakdown", action="store_true", help="also time ORPO's pieces")
    parser.add_argument(
        "--quality", action="store_true", help="discriminator quality vs exact d* (no timing)"
    )
    parser.add_argument("--quality-updates", type=int, default=48, help="updates per run")
    parser.add_argument("--quality-lam", type=float, default=0.01, help="the λ > 0 of --quality")
    args = parser.parse_args(argv)
    if args.quality:
        res = quality(args.variants, args.seeds, args.quality_updates, args.quality_lam)
        print_quality(res, args.quality_lam)
        return res, None
    variants = ["ppo", *(v for v in args.variants if v != "ppo")]
    load_before = load()
    times, steps_per_call, disc_q = bench(variants, args.seeds, args.steps, args.repeats)
    load_after = load()
    print(
        f"tomato level 4, {args.seeds} seeds vmapped, {args.steps} learner steps per seed per "
        f"call, {args.repeats} interleaved rounds, backend {jax.default_backend()} "
        f"({os.cpu_count()} CPUs); {load_before} before, {load_after} after"
    )
    print(
        "| variant | best env-steps/s | µs/step best | µs/step median | × PPO (best) "
        "| × PPO (median of rounds) | disc loss | disc acc |"
    )
    print("|---|---|---|---|---|---|---|---|")
    best = {n: t.min() / steps_per_call for n, t in times.items()}
    med = {n: np.median(t) / steps_per_call for n, t in times.items()}
    paired = {n: float(np.median(times[n] / times["ppo"])) for n in times}
    for n in times:
        loss, acc = (f"{x:.3f}" for x in disc_q[n]) if n in disc_q else ("-", "-")
        print(
            f"| {n}: {DESCRIPTION[n]} | {1 / best[n]:,.0f} | {1e6 * best[n]:.2f} "
            f"| {1e6 * med[n]:.2f} | {best[n] / best['ppo']:.2f} | {paired[n]:.2f} "
            f"| {loss} | {acc} |"
        )
    ratio = None
    if "orpo" in times:
        ratio = best["orpo"] / best["ppo"]
        print(
            f"ORPO (default) time per step = {ratio:.2f}× plain PPO from the best times, "
            f"{paired['orpo']:.2f}× as the median paired ratio (target ≤ {TARGET}×): "
            f"{'OK' if max(ratio, paired['orpo']) <= TARGET else 'ABOVE TARGET'}"
        )
    if args.breakdown:
        parts = breakdown(args.seeds, args.steps, args.repeats)
        total = parts["ORPO update (all)"].min()
        print(f"\nOne update ({args.seeds} seeds vmapped), best / median of rounds; {load()}")
        print("| piece | ms best | ms median | % of ORPO update |")
        print("|---|---|---|---|")
        for name, t in parts.items():
            print(
                f"| {name} | {1e3 * t.min():.1f} | {1e3 * np.median(t):.1f} "
                f"| {100 * t.min() / total:.0f}% |"
            )
    return times, ratio


if __name__ == "__main__":
    main()
