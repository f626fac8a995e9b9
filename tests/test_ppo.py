"""PPO: GAE by hand, probe environments, determinism, config validation, the transform hook."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import Probe

from jaxrl._platform import permutation, stable_argsort_u32
from jaxrl.agents.gae import gae_advantages
from jaxrl.agents.ppo import epoch_permutations, make_train
from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
from jaxrl.shaping import scale


def test_gae_hand_worked():
    # T=3, λ=0.5, γ=0.9; step 1 terminates (discount 0), step 2 is truncated (bootstraps from
    # V(final obs)=2.0 but cuts the λ-trace).
    # δ0 = 1 + 0.9*0.5 - 0.5 = 0.95; δ1 = 1 + 0 - 0.5 = 0.5; δ2 = 1 + 0.9*2.0 - 0.5 = 2.3
    # A2 = δ2 = 2.3; A1 = δ1 = 0.5 (terminal); A0 = δ0 + 0.9*0.5*A1 = 0.95 + 0.225 = 1.175
    adv, ret = gae_advantages(
        r_t=jnp.array([1.0, 1.0, 1.0]),
        discount_t=jnp.array([0.9, 0.0, 0.9]),
        v_t=jnp.array([0.5, 0.5, 0.5]),
        v_next_t=jnp.array([0.5, 0.5, 2.0]),
        episode_end_t=jnp.array([False, True, True]),
        lambda_=0.5,
    )
    np.testing.assert_allclose(adv, [1.175, 0.5, 2.3], rtol=1e-6)
    np.testing.assert_allclose(ret, [1.675, 1.0, 2.8], rtol=1e-6)


def test_gae_matches_python_loop():
    rng = np.random.default_rng(0)
    T, N, gamma, lam = 17, 3, 0.97, 0.9
    r, v, vn = rng.normal(size=(3, T, N))
    term, trunc = rng.random((T, N)) < 0.1, rng.random((T, N)) < 0.1
    trunc &= ~term
    disc = gamma * (1.0 - term)
    adv, _ = gae_advantages(
        jnp.array(r), jnp.array(disc), jnp.array(v), jnp.array(vn), jnp.array(term | trunc), lam
    )
    expected = np.zeros((T, N))
    nxt = np.zeros(N)
    for t in reversed(range(T)):
        delta = r[t] + disc[t] * vn[t] - v[t]
        nxt = delta + disc[t] * lam * (1.0 - (term[t] | trunc[t])) * nxt
        expected[t] = nxt
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-6)


def _train(kind, total=8192, hp=None, seeds=2, **kw):
    hp = PPOHParams(learning_rate=3e-3) if hp is None else hp
    env = Probe(kind)
    static = PPOStatic(
        num_envs=8,
        num_steps=32,
        total_timesteps=total,
        num_minibatches=4,
        hidden_sizes=(32,),
        num_eval_envs=8,
        eval_steps=kw.pop("eval_steps", 1),
        **kw,
    )
    train = make_train(static, env)
    keys = jax.random.split(jax.random.key(0), seeds)
    state, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hp)
    return env, train, state, metrics


def _value(state, obs):
    ts = state.train_state
    return jax.vmap(lambda p: ts.apply_fn(p, obs)[2])(ts.params)


@pytest.mark.heavy
def test_probe_value():
    _, _, state, _ = _train("value", anneal_lr=False)
    np.testing.assert_allclose(_value(state, jnp.zeros((1,))), 1.0, atol=0.1)


@pytest.mark.heavy
def test_probe_obs_dependent_value():
    _, _, state, _ = _train("obs_value", anneal_lr=False)
    np.testing.assert_allclose(_value(state, jnp.array([1.0])), 1.0, atol=0.15)
    np.testing.assert_allclose(_value(state, jnp.array([-1.0])), -1.0, atol=0.15)


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["action", "obs_action"])
def test_probe_policy(kind):
    _, _, _, metrics = _train(kind)
    np.testing.assert_allclose(metrics["eval_return"][:, -1], 1.0)  # optimal first-episode return


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["obs_action", "continuous"])
def test_stochastic_evaluation_runs(kind):
    # deterministic_eval=False samples one action per evaluation env with that env's own key
    _, _, _, metrics = _train(kind, total=1024, deterministic_eval=False)
    assert np.all(np.isfinite(metrics["eval_return"]))


@pytest.mark.heavy
def test_probe_continuous_action():
    _, _, _, metrics = _train(
        "continuous", total=16384, hp=PPOHParams(learning_rate=3e-3, ent_coef=0.0)
    )
    assert np.all(metrics["eval_return"][:, -1] > -0.02), metrics["eval_return"]


@pytest.mark.heavy
def test_probe_truncation_bootstraps_from_final_observation():
    # Reward 1 forever, cut by a 10-step time limit: with γ = 0.9 the value is 1/(1−γ) = 10 at every
    # step. Treating truncation as termination would give Σ_{k<10−t} γ^k ≤ 6.5 on average.
    _, _, state, _ = _train(
        "truncated_value",
        total=32768,
        anneal_lr=False,
        hp=PPOHParams(learning_rate=3e-3, gamma=0.9),
        eval_steps=10,
    )
    np.testing.assert_allclose(_value(state, jnp.zeros((1,))), 10.0, rtol=0.1)


@pytest.mark.heavy
def test_same_seed_same_metrics_bitwise():
    _, _, _, m1 = _train("obs_action", total=2048)
    _, _, _, m2 = _train("obs_action", total=2048)
    for k in m1:
        np.testing.assert_array_equal(m1[k], m2[k], err_msg=k)


TINY = PPOStatic(  # 16 updates of 64 steps on a tiny network
    num_envs=4, num_steps=16, total_timesteps=1024, num_minibatches=2, hidden_sizes=(8,)
).replace(eval_steps=1)


def test_trainer_protocol():
    from jaxrl.agents.trainer import Trainer

    assert isinstance(make_train(TINY, Probe("action")), Trainer)


@pytest.mark.heavy
def test_vmap_over_hyperparameters():
    train = make_train(TINY, Probe("action"))
    lrs = jnp.array([1e-4, 1e-3, 1e-2])
    hp = PPOHParams(learning_rate=lrs).broadcast(3)
    keys = jax.random.split(jax.random.key(1), 3)
    _, metrics = jax.jit(jax.vmap(train))(keys, hp)
    assert metrics["learning_rate"].shape == (3, TINY.num_updates)
    np.testing.assert_allclose(metrics["learning_rate"][:, 0], lrs, rtol=1e-6)  # annealing starts
    assert np.all(metrics["learning_rate"][:, -1] < lrs)


@pytest.mark.heavy
def test_transform_hook_logs_raw_and_learner_rewards():
    train = make_train(TINY, Probe("action"), transform=scale(2.0))
    hp = PPOHParams(transform=jnp.asarray(2.0))
    _, metrics = jax.jit(train)(jax.random.key(0), hp)
    np.testing.assert_allclose(
        metrics["return_learner_reward"], 2.0 * metrics["return_env_reward"], rtol=1e-6
    )
    np.testing.assert_allclose(metrics["return_true_reward"], metrics["return_env_reward"])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"num_minibatches": 3}, ValueError, "num_minibatches = 3 is invalid: does not divide"),
        ({"num_envs": "4"}, TypeError, "num_envs"),
        ({"num_envs": 0}, ValueError, "num_envs = 0 is invalid"),
        ({"num_chunks": 7}, ValueError, "num_chunks = 7"),
        ({"normalize_obs": 1}, TypeError, "normalize_obs"),
        ({"continuous_squash": "sigmoid"}, TypeError, "continuous_squash"),
    ],
)
def test_invalid_static_config(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        PPOStatic(**{"total_timesteps": 4096, **kwargs})


@pytest.mark.parametrize(
    "field, value", [("learning_rate", -1e-3), ("gamma", 1.5), ("clip_eps", float("nan"))]
)
def test_invalid_hparams(field, value):
    with pytest.raises(ValueError, match=field):
        PPOHParams(**{field: value}).check()


@pytest.mark.heavy
@pytest.mark.parametrize("n", [1, 2, 3, 100, 512, 4096])  # 4096: two sort rounds
def test_permutation_is_jax_random_permutation(n):
    keys = jax.random.split(jax.random.key(3), 16)
    want = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    got = jax.jit(jax.vmap(lambda k: permutation(k, n)))(keys)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_stable_argsort_breaks_ties_by_position():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 4, size=(8, 37)).astype(np.uint32)
    keys[:, ::5] = np.iinfo(np.uint32).max  # ties with the padding key
    want = jax.vmap(lambda k: jax.lax.sort_key_val(k, jnp.arange(37, dtype=jnp.int32))[1])(keys)
    np.testing.assert_array_equal(jax.jit(jax.vmap(stable_argsort_u32))(keys), want)


def test_epoch_permutations_follow_the_key_chain():
    key = jax.random.key(7)
    want = []
    for _ in range(3):
        key, k_perm = jax.random.split(key)
        want.append(jax.random.permutation(k_perm, 64))
    np.testing.assert_array_equal(epoch_permutations(jax.random.key(7), 3, 64), np.stack(want))


@pytest.mark.heavy
@pytest.mark.parametrize("normalize_obs", [False, True])
def test_next_values_equal_a_critic_pass_over_every_next_observation(normalize_obs):
    # V(s'_t) from the shifted rollout values, with V(final_observation) recomputed only on
    # truncated steps, must equal the critic on every stored next observation. A 5-step time limit
    # within a 32-step rollout gives several truncations per env (the loop runs more than once).
    import gymnax

    env, params = gymnax.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=5)
    static = PPOStatic(num_envs=3, num_steps=32, total_timesteps=96, normalize_obs=normalize_obs)
    trainer = make_train(static, env, env_params=params)
    hp = PPOHParams()

    def go(key):
        rs, traj = trainer.rollout(trainer.init(key, hp), hp)
        full = trainer.network.apply(rs.train_state.params, traj.next_obs)[2]
        return trainer.next_values(rs, traj), full, traj

    fast, full, traj = jax.jit(jax.vmap(go))(jax.random.split(jax.random.PRNGKey(3), 2))
    assert int(traj.truncated.sum(axis=1).max()) >= 3  # several truncations in one env
    np.testing.assert_allclose(fast, full, rtol=1e-5, atol=1e-6)
    # and it is not the reset observation's value: truncated steps really were recomputed
    shifted = np.concatenate([np.asarray(traj.value)[:, 1:], np.asarray(fast)[:, -1:]], axis=1)
    trunc = np.asarray(traj.truncated)
    assert np.abs(shifted[trunc] - np.asarray(full)[trunc]).max() > 1e-3
