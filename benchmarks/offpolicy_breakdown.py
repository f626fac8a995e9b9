"""Where one round of our discrete SAC goes (CartPole-v1, rejax's settings of
``offpolicy_throughput.py``): the vector-env step, replay sampling and the gradient updates.

A *round* is one vector-env step of 5 envs followed by ``updates_per_step`` = 2 gradient updates,
each on a fresh minibatch of 256 sampled from the replay buffer. Every piece is its own
``jax.jit(jax.vmap(...))`` over seeds, timed as a ``lax.scan`` of ``--rounds`` rounds (so
dispatch is amortised), median of ``--calls`` calls, from a state whose buffer already holds
``--fill`` transitions:

- ``round``: the trainer's own ``row`` with learning on (env step + 2 × (sample + update));
- ``env step``: the same ``row`` with learning off (act, step, reward transform, tracker, add),
  seeds in a ``lax.map`` (under ``vmap`` the per-seed learning ``cond`` becomes a ``select`` that
  runs the updates anyway; so at 8 seeds this is 8 sequential single-seed costs);
- ``sample``: 2 replay draws of 256 (``replay_buffer.sample``);
- ``update``: 2 ``agent.update`` calls on one fixed minibatch (critic, actor, temperature,
  Polyak);
- ``sample + update``: the update-to-data loop alone (2 × (sample + update)).

    .venv/bin/python benchmarks/offpolicy_breakdown.py --seeds 1 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402,F401  (puts the repository root on sys.path)
import offpolicy_throughput as ot  # noqa: E402


def _timed(fn, args, calls: int) -> float:
    import jax

    compiled = jax.jit(fn).lower(*args).compile()
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def pieces(num_seeds: int, rounds: int, fill: int, calls: int) -> dict[str, float]:
    """Median seconds per round of each piece, ``num_seeds`` seeds vmapped."""
    import gymnax
    import jax
    import jax.numpy as jnp

    from jaxrl.agents import replay_buffer
    from jaxrl.agents.sac import make_train

    env, env_params = gymnax.make("CartPole-v1")
    _, hp = ot._ours("ours", env, env_params, 50_000)
    n_envs, batch, upd = ot.NUM_ENVS, ot.BATCH, ot.UPDATES_PER_STEP

    def trainer_for(learning_starts: int, log_rounds: int):
        from jaxrl.agents.sac import SACStatic

        steps = log_rounds * n_envs
        static = SACStatic(
            num_envs=n_envs,
            total_timesteps=steps,
            buffer_capacity=ot.BUFFER,
            batch_size=batch,
            learning_starts=learning_starts,
            train_every=1,
            updates_per_step=upd,
            log_interval=steps,
            hidden_sizes=ot.HIDDEN,
            activation=ot.ACTIVATION,
            num_chunks=1,
            eval_channel="env_reward",
        )
        return make_train(static, env, env_params=env_params)

    keys = jax.random.split(jax.random.key(0), num_seeds)
    warm = trainer_for(10**9, fill // n_envs)  # fills the buffer with uniform random actions
    state = jax.jit(jax.vmap(lambda k: warm.row(warm.init(k, hp), hp)[0]))(keys)
    learning, acting = trainer_for(0, rounds), trainer_for(10**9, rounds)
    # the ``row``s count env steps from the state's, so learning is on / off from the start
    out = {
        "round": _timed(jax.vmap(lambda s: learning.row(s, hp)[0]), (state,), calls),
        # lax.map, not vmap: under vmap the learning ``cond`` of a round (its predicate is per
        # seed) becomes a select that runs the updates anyway
        "env step": _timed(
            lambda st: jax.lax.map(lambda s: acting.row(s, hp)[0], st), (state,), calls
        ),
    }
    batch0 = jax.vmap(lambda s, k: replay_buffer.sample(s.buffer, k, batch))(state, keys)
    agent = learning.agent

    def scan_keys(body, carry, key):
        return jax.lax.scan(body, carry, jax.random.split(key, rounds * upd))[0]

    def samples(s, key):
        def body(acc, k):
            b = replay_buffer.sample(s.buffer, k, batch)
            return acc + b.reward.sum() + b.obs.sum(), None

        return scan_keys(body, jnp.zeros(()), key)

    def updates(s, b, key):
        return scan_keys(lambda a, k: (agent.update(a, b, k, hp)[0], None), s.agent, key)

    def sample_updates(s, key):
        def body(a, k):
            k_s, k_u = jax.random.split(k)
            return agent.update(a, replay_buffer.sample(s.buffer, k_s, batch), k_u, hp)[0], None

        return scan_keys(body, s.agent, key)

    out["sample"] = _timed(jax.vmap(samples), (state, keys), calls)
    out["update"] = _timed(jax.vmap(updates), (state, batch0, keys), calls)
    out["sample + update"] = _timed(jax.vmap(sample_updates), (state, keys), calls)
    return {k: v / rounds for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=2000, help="rounds per timed call")
    ap.add_argument("--fill", type=int, default=5000, help="transitions in the buffer")
    ap.add_argument("--calls", type=int, default=5)
    args = ap.parse_args(argv)
    print("| piece | " + " | ".join(f"{s} seed(s): µs/round, share" for s in args.seeds) + " |")
    print("|---|" + "---|" * len(args.seeds))
    results = {s: pieces(s, args.rounds, args.fill, args.calls) for s in args.seeds}
    for name in results[args.seeds[0]]:
        cells = []
        for s in args.seeds:
            r = results[s]
            cells.append(f"{r[name] * 1e6:,.1f} µs, {r[name] / r['round']:.0%}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
