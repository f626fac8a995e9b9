"""Where one PPO update's time goes (ours, CartPole-v1, PureJaxRL's settings), and XLA op counts
against PureJaxRL.

Every piece is its own ``jax.jit`` of ``jax.vmap`` over seeds, compiled apart from the timing;
each figure is the median of ``--calls`` timed calls (``block_until_ready``) on fixed inputs:

- ``update``: ``trainer.update`` (rollout + advantages + learn);
- ``rollout`` (identity and PBRS transforms), ``rollout, no tracker`` (the runner state's
  ``EpisodeTracker`` swapped for a stand-in whose ``step``/``reset_window`` do nothing),
  ``bare rollout`` (network, sample, ``vmap(env.step)``, in a ``lax.scan`` written here: roughly
  PureJaxRL's ``_env_step`` without its ``LogWrapper``; no ``step_envs``);
- ``advantages`` (GAE on the rollout values shifted by one step, V(final_observation) recomputed
  on truncated steps only) and, as it was before issue 14, GAE with a second critic pass over
  all ``next_obs`` (timed here only to price that pass);
- ``learn``, and ``learn`` with ``epoch_permutations`` monkeypatched (in this process only) to
  ``jax.random.permutation`` per epoch (XLA's comparator sort instead of the bitonic network);
- ``epoch permutations`` alone, both ways; 16 optimiser steps with ``inject_hyperparams`` (as
  PPO was before issue 14) vs the plain optax chain (the same gradients);
- PureJaxRL per update: its whole ``train`` with 21 updates minus with 1 update, / 20.

HLO op counts: ``train`` = init + a ``lax.scan`` of 1 update, for ours (as ``ppo_throughput.py``
builds it) and PureJaxRL's own ``train``, so both include their init; a scan body is lowered
once, so this counts one update's ops. Counted: StableHLO op lines of ``jit(f).lower(...)``, and
instructions / fusions of XLA's optimised HLO (``compiled.as_text()``).

    .venv/bin/python benchmarks/ppo_breakdown.py --seeds 1 8 --purejaxrl-dir /path/to/purejaxrl
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402,F401  (puts the repository root on sys.path)
import _purejaxrl_compat  # noqa: E402
import ppo_throughput as pt  # noqa: E402


class NoTracker(NamedTuple):
    """Stand-in for ``EpisodeTracker`` that tracks nothing (prices the tracker)."""

    dummy: object = ()

    def step(self, rewards, ended):
        del rewards, ended
        return self

    def reset_window(self):
        return self

    def window_means(self):
        return {}


def timed(fn, args, calls):
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, compile_s


def hlo_counts(fn, args) -> dict:
    import jax

    lowered = jax.jit(fn).lower(*args)
    text = lowered.as_text()
    stablehlo = sum(1 for ln in text.splitlines() if re.search(r"\b(stablehlo|chlo)\.\w+", ln))
    compiled = lowered.compile()
    hlo = compiled.as_text()
    instr = sum(1 for ln in hlo.splitlines() if re.match(r"\s*(ROOT )?%?[\w.\-]+ = ", ln))
    fusions = sum(1 for ln in hlo.splitlines() if re.search(r"\sfusion\(", ln))
    whiles = sum(1 for ln in hlo.splitlines() if re.search(r"\swhile\(", ln))
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return {
        "stablehlo_ops": stablehlo,
        "hlo_instructions": instr,
        "fusions": fusions,
        "while_loops": whiles,
        "flops": (cost or {}).get("flops"),
        "bytes": (cost or {}).get("bytes accessed"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--calls", type=int, default=7)
    ap.add_argument("--purejaxrl-dir", default=None)
    args = ap.parse_args(argv)

    import gymnax
    import jax
    import jax.numpy as jnp
    import optax

    import jaxrl.agents.ppo as ppo_mod
    from jaxrl.agents.ppo import make_train
    from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
    from jaxrl.shaping.transform import identity

    print(f"jax {jax.__version__}, {jax.devices()}", flush=True)
    env, env_params = gymnax.make("CartPole-v1")
    static = PPOStatic(
        num_envs=pt.NUM_ENVS,
        num_steps=pt.NUM_STEPS,
        total_timesteps=500_000,
        update_epochs=pt.EPOCHS,
        num_minibatches=pt.MINIBATCHES,
        hidden_sizes=(64, 64),
        activation="tanh",
        anneal_lr=True,
        num_chunks=1,
        eval_channel="env_reward",
    )
    hp = PPOHParams(**pt.HP, transform=())
    tr_id = make_train(static, env, transform=identity(), env_params=env_params)
    pbrs = pt.pole_angle_pbrs()
    tr_pb = make_train(static, env, transform=pbrs, env_params=env_params)
    orig_perms = ppo_mod.epoch_permutations

    def perms_sort(key, epochs, n):  # jax.random.permutation per epoch (XLA sort on CPU)
        def next_key(k, _):
            k, k_perm = jax.random.split(k)
            return k, k_perm

        _, ks = jax.lax.scan(next_key, key, None, epochs)
        return jax.vmap(lambda k: jax.random.permutation(k, n))(ks)

    results = {}
    for seeds in args.seeds:
        V = lambda f, ax=0: jax.vmap(f, in_axes=ax)  # noqa: E731
        keys = jax.random.split(jax.random.key(0), seeds)
        rs = V(tr_id.init, (0, None))(keys, hp)
        # warm the state a little so episodes end inside the window (it is one fixed input)
        rs, _ = jax.jit(V(tr_id.update, (0, None)))(rs, hp)
        rs_pb = V(tr_pb.init, (0, None))(keys, hp)
        rs_nt = rs._replace(tracker=NoTracker())
        _, traj = jax.jit(V(tr_id.rollout, (0, None)))(rs, hp)
        adv, targets = jax.jit(V(tr_id.advantages, (0, 0, None)))(rs, traj, hp)

        def bare_rollout(rs, hp):
            tr = tr_id

            def step(c, _):
                key, obs, env_state, params = c
                key, k_act, k_env = jax.random.split(key, 3)
                logits, log_std, value = tr.network.apply(params, obs)
                u, log_prob = tr.policy.sample(logits, log_std, k_act)
                obs2, env_state, reward, term, trunc, info = tr._vstep(
                    jax.random.split(k_env, obs.shape[0]), env_state, tr.policy.to_env(u)
                )
                out = (obs, u, log_prob, value, reward, term | trunc)
                return (key, obs2, env_state, params), out

            c = (rs.key, rs.obs, rs.env_state, rs.train_state.params)
            return jax.lax.scan(step, c, None, static.num_steps)

        def gae_full_pass(rs, traj, hp):  # before issue 14: the critic on all [T, N] next_obs
            from jaxrl.agents.gae import gae_advantages

            _, _, v_next = tr_id.network.apply(rs.train_state.params, traj.next_obs)
            discount = hp.gamma * (1.0 - traj.terminated)
            done = traj.terminated | traj.truncated
            return gae_advantages(traj.reward, discount, traj.value, v_next, done, hp.gae_lambda)

        def learn_sort(rs, traj, adv, targets, hp):
            ppo_mod.epoch_permutations = perms_sort
            try:
                return tr_id.learn(rs, traj, adv, targets, hp)
            finally:
                ppo_mod.epoch_permutations = orig_perms

        n = static.batch_size
        kp = jax.random.split(jax.random.key(1), seeds)

        params = rs.train_state.params

        def opt16(make_tx):
            def f(p0):
                tx = make_tx()
                st = tx.init(p0)

                def body(c, _):
                    p, s = c
                    g = jax.tree.map(lambda x: 1e-3 * jnp.cos(x), p)
                    upd, s = tx.update(g, s, p)
                    return (optax.apply_updates(p, upd), s), None

                return jax.lax.scan(body, (p0, st), None, 16)[0][0]

            return f

        def chain(learning_rate, max_grad_norm):
            return optax.chain(
                optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5)
            )

        inj = lambda: optax.inject_hyperparams(chain)(  # noqa: E731
            learning_rate=2.5e-4, max_grad_norm=0.5
        )
        plain = lambda: chain(2.5e-4, 0.5)  # noqa: E731

        pieces = [
            ("update", V(tr_id.update, (0, None)), (rs, hp)),
            ("rollout (identity)", V(tr_id.rollout, (0, None)), (rs, hp)),
            ("rollout (PBRS)", V(tr_pb.rollout, (0, None)), (rs_pb, hp)),
            ("rollout, no tracker", V(tr_id.rollout, (0, None)), (rs_nt, hp)),
            ("bare rollout", V(bare_rollout, (0, None)), (rs, hp)),
            (
                "advantages (shifted values, V(final_obs) on truncated steps)",
                V(tr_id.advantages, (0, 0, None)),
                (rs, traj, hp),
            ),
            (
                "advantages, critic on all next_obs (before)",
                V(gae_full_pass, (0, 0, None)),
                (rs, traj, hp),
            ),
            ("learn", V(tr_id.learn, (0, 0, 0, 0, None)), (rs, traj, adv, targets, hp)),
            (
                "learn, XLA sort permutations",
                V(learn_sort, (0, 0, 0, 0, None)),
                (rs, traj, adv, targets, hp),
            ),
            (
                "epoch permutations (network)",
                V(lambda k, n=n: orig_perms(k, static.update_epochs, n)),
                (kp,),
            ),
            (
                "epoch permutations (XLA sort)",
                V(lambda k, n=n: perms_sort(k, static.update_epochs, n)),
                (kp,),
            ),
            ("16 opt steps, inject_hyperparams", V(opt16(inj)), (params,)),
            ("16 opt steps, plain chain", V(opt16(plain)), (params,)),
        ]
        res = {}
        for name, fn, a in pieces:
            ms, cs = timed(fn, a, args.calls)
            res[name] = ms
            print(f"seeds={seeds:3d}  {name:45s} {ms:8.3f} ms  (compile {cs:.1f} s)", flush=True)
        results[seeds] = res

        folder = _purejaxrl_compat.resolve_dir(args.purejaxrl_dir)
        if folder is not None:
            f1, a1 = _purejaxrl_compat.build(seeds, 512, folder)
            f21, a21 = _purejaxrl_compat.build(seeds, 512 * 21, folder)
            t1, _ = timed(f1, a1, args.calls)
            t21, _ = timed(f21, a21, args.calls)
            per = (t21 - t1) / 20
            res["purejaxrl update"] = per
            print(
                f"seeds={seeds:3d}  {'PureJaxRL update ((21 - 1 updates) / 20)':45s} {per:8.3f} ms",
                flush=True,
            )
            o1 = pt._ours("ours", env, env_params, 512)[0]
            o21 = pt._ours("ours", env, env_params, 512 * 21)[0]
            t1, _ = timed(V(o1, (0, None)), (keys, hp), args.calls)
            t21, _ = timed(V(o21, (0, None)), (keys, hp), args.calls)
            per = (t21 - t1) / 20
            res["ours update (train diff)"] = per
            print(
                f"seeds={seeds:3d}  {'ours update ((21 - 1 updates) / 20)':45s} {per:8.3f} ms",
                flush=True,
            )
            if seeds == args.seeds[0]:
                ours_hlo = hlo_counts(V(o1, (0, None)), (keys, hp))
                pj_hlo = hlo_counts(f1, a1)
                upd_hlo = hlo_counts(V(tr_id.update, (0, None)), (rs, hp))
                print(f"HLO seeds={seeds}: ours train(1 update) {ours_hlo}")
                print(f"HLO seeds={seeds}: PureJaxRL train(1 update) {pj_hlo}")
                print(f"HLO seeds={seeds}: ours update alone {upd_hlo}")
                for nm, fn, a in pieces[1:9]:
                    print(f"HLO seeds={seeds}: {nm}: {hlo_counts(fn, a)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
