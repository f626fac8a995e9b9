"""ONI reward transform (jaxrl/rewards/oni.py) and its exploration experiment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.oni import MODELS, ONIParams, model_reward, oni
from jaxrl.shaping.transform import Transition

D, N = 8, 4
STATES = jnp.eye(D)  # 8 distinct observations
LABELS = jnp.array([1, 0, 0, 1, 0, 1, 0, 0], jnp.float32)  # the oracle's truth per state


def oracle(obs):
    return obs @ LABELS  # one-hot -> its state's label


def _tr(obs, done=False):
    z = jnp.zeros(N)
    return Transition(obs, jnp.zeros(N, jnp.int32), z, obs, z.astype(bool) | done,
                      z.astype(bool), z + 0.99, {}, z.astype(jnp.int32))  # fmt: skip


def _stream(t, steps, model, params, **kw):
    """Run ``steps`` applies on a fixed stream (env i at step s sees state (s + 3i) mod D)."""
    idx = (jnp.arange(steps)[:, None] + 3 * jnp.arange(N)[None]) % D  # [T, N]
    state = t.init(params)

    def body(st, ix):
        r, st = t.apply(params, st, _tr(STATES[ix]))
        return st, r

    return jax.lax.scan(body, state, idx)


@pytest.mark.heavy
@pytest.mark.parametrize("model", MODELS)
def test_each_model_converges_to_oracle(model):
    """ε = 0, p = 1: each model's reward equals the oracle's label on every state."""
    t = oni(oracle, D, N, model, hash_bits=10, hidden=(16,), learning_rate=1e-2)
    params = ONIParams(beta=1.0, count_exponent=0.0)
    state, r = jax.jit(lambda: _stream(t, 0, model, params))()
    assert np.all(np.asarray(model_reward(model, state, STATES, hash_bits=10, hidden=(16,))) == 0)
    state, r = jax.jit(lambda: _stream(t, 400, model, params))()
    got = np.asarray(model_reward(model, state, STATES, hash_bits=10, hidden=(16,)))
    np.testing.assert_array_equal(got, np.asarray(LABELS))
    # the last steps' rewards (count term off, β = 1, env reward 0) are the oracle's labels
    idx = (399 + 3 * np.arange(N)) % D
    np.testing.assert_array_equal(np.asarray(r[-1]), np.asarray(LABELS)[idx])


@pytest.mark.heavy
def test_delay_delays():
    """Hashing with delay K: a positive state pays 0 for the first K steps, then 1."""
    K = 5
    t = oni(oracle, D, N, "hashing", delay=K)
    params = ONIParams(beta=1.0, count_exponent=0.0)
    obs = jnp.broadcast_to(STATES[0], (N, D))  # label 1

    def body(st, _):
        r, st = t.apply(params, st, _tr(obs))
        return st, r

    _, r = jax.jit(lambda: jax.lax.scan(body, t.init(params), None, length=12))()
    r = np.asarray(r)[:, 0]
    np.testing.assert_array_equal(r[:K], 0.0)  # the requested labels are still in flight
    np.testing.assert_array_equal(r[K:], 1.0)
    t0 = oni(oracle, D, N, "hashing", delay=0)  # no delay: pays from the first step
    r0, _ = t0.apply(params, t0.init(params), _tr(obs))
    np.testing.assert_array_equal(np.asarray(r0), 1.0)


@pytest.mark.heavy
def test_subsample_and_flip_rates():
    """Delivered fraction ≈ p and flipped fraction of delivered ≈ ε (binomial 5-sigma bands)."""
    t = oni(oracle, D, N, "hashing")
    for p, eps in ((0.3, 0.2), (1.0, 0.0), (0.7, 0.1)):
        params = ONIParams(label_prob=p, error_rate=eps, seed=3)
        steps = 2000
        state, _ = jax.jit(lambda params=params: _stream(t, 2000, "hashing", params))()
        n = steps * N
        sent = float(state.n_delivered)
        assert abs(sent / n - p) < 5 * np.sqrt(p * (1 - p) / n) + 1e-9, (p, sent / n)
        # flips measured from the table against the oracle's truth (not from the counter alone)
        pos = float(state.table_sum.sum())
        true_pos = float(np.asarray(LABELS).mean())  # every state is visited equally often
        want = sent * (true_pos * (1 - eps) + (1 - true_pos) * eps)
        assert abs(pos - want) < 5 * np.sqrt(sent * 0.25) + 1e-9, (pos, want)
        assert (
            abs(float(state.n_flipped) / max(sent, 1) - eps)
            < 5 * np.sqrt(eps * (1 - eps) / max(sent, 1)) + 1e-9
        )


def test_count_term_and_episode_reset():
    """Bonus = β·r_int·N^(−α): the k-th visit in an episode pays k^(−α); an episode end resets."""
    t = oni(oracle, D, N, "hashing")
    params = ONIParams(beta=0.5, count_exponent=2.0)
    obs = jnp.broadcast_to(STATES[3], (N, D))  # label 1
    st = t.init(params)
    out = []
    for done in (False, False, True, False):
        r, st = t.apply(params, st, _tr(obs, done))
        out.append(float(r[0]))
    np.testing.assert_allclose(out, [0.5, 0.5 / 4, 0.5 / 9, 0.5], rtol=1e-6)


@pytest.mark.heavy
def test_vmapped_params_and_bad_input():
    """Conditions vmap (ε per run changes the flips); bad constructor values name themselves."""
    t = oni(oracle, D, N, "classifier")
    params = ONIParams(error_rate=jnp.array([0.0, 0.5]), seed=jnp.array([0, 1]), beta=jnp.ones(2),
                       label_prob=jnp.ones(2), count_exponent=jnp.zeros(2))  # fmt: skip
    st = jax.vmap(t.init)(params)
    r, st = jax.jit(jax.vmap(t.apply, in_axes=(0, 0, None)))(params, st, _tr(STATES[:N]))
    assert r.shape == (2, N)
    assert float(st.n_flipped[0]) == 0.0
    with pytest.raises(ValueError, match="model='bogus'"):
        oni(oracle, D, N, "bogus")
    with pytest.raises(ValueError, match="delay=-1"):
        oni(oracle, D, N, delay=-1)


def test_key_door_oracles():
    """The experiment's labellers: no state without the key is positive; the pickup, the door and
    the goal are positive under both; "progress" also labels the room beyond the door."""
    from experiments.exploration_rewards.oni import oracle_labels
    from jaxrl.envs import make

    env, _ = make("key_door")
    g, C = env.grid, env.grid.num_cells
    for kind in ("progress", "milestones"):
        lab = oracle_labels(g, kind)
        assert lab.shape == (2 * C,) and not lab[:C].any()
        assert lab[C + g.key] == lab[C + g.door] == lab[C + g.goals[0]] == 1
    assert oracle_labels(g, "milestones").sum() == 2 + len(g.goals)
    right = [i for i, (r, c) in enumerate(g.coords) if c > 8]  # the room beyond the door
    assert oracle_labels(g, "progress")[C + np.array(right)].all()
    assert oracle_labels(g, "progress")[C + g.start] == 1  # start is 12 from the door, as the key
    with pytest.raises(ValueError, match="kind='x'"):
        oracle_labels(g, "x")


@pytest.mark.slow
def test_experiment_smoke(tmp_path):
    import dataclasses

    from experiments.exploration_rewards import oni as m

    s = dataclasses.replace(m.QUICK, steps=4096, models=("hashing", "ranking"))
    summary = m.run(s, seeds=2, seed=0)
    assert set(summary["per_condition"]) == {
        "extrinsic", "hashing eps=0", "hashing eps=0.2", "ranking eps=0", "ranking eps=0.2"
    }  # fmt: skip
    cl = m.claims(summary)
    assert [c.id for c in cl] == [
        "exploration_rewards.oni.solves",
        "exploration_rewards.oni.graceful",
    ]
    assert all(c.verdict != "not testable" for c in cl)
    assert m.figure(summary, cl, tmp_path).exists()
    assert m.claims({})[0].verdict == "not testable"
    with pytest.raises(ValueError, match="error_rates"):
        dataclasses.replace(s, error_rates=(0.1,)).check()
