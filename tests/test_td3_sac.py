"""TD3 and SAC: critic targets on truncation, buffer contents, probes, determinism, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import Probe

from jaxrl.agents import sac, td3
from jaxrl.agents.critic import Critic, td_target
from jaxrl.agents.trainer import Trainer
from jaxrl.envs import make
from jaxrl.experiment import run_chunked
from jaxrl.shaping import scale

SEEDS = 2
ALGOS = {  # name -> (module, static config class, hyperparameter class)
    "td3": (td3, td3.TD3Static, td3.TD3HParams),
    "sac": (sac, sac.SACStatic, sac.SACHParams),
}
SIZE_FIELDS = (
    "num_envs",
    "total_timesteps",
    "buffer_capacity",
    "batch_size",
    "learning_starts",
    "log_interval",
    "hidden_sizes",
)
SIZES = {  # the run sizes the tests use: values of SIZE_FIELDS
    "probe": (8, 3200, 2000, 64, 200, 800, (32,)),
    "buffer": (1, 20, 64, 4, 21, 20, (8,)),
    "truncated": (4, 4000, 1000, 64, 100, 1000, (16,)),
    "smoke": (2, 400, 500, 32, 100, 200, (16,)),
    "pendulum": (1, None, 20_000, 128, 1000, 1000, (64, 64)),  # total_timesteps: per test
}


def _static(algo, size="probe", **kw):
    """``algo``'s static config of run size ``size``, overridden by ``kw`` (evaluation: 8 envs,
    1 step, unless ``kw`` says otherwise)."""
    sized = dict(zip(SIZE_FIELDS, SIZES[size], strict=True))
    return ALGOS[algo][1](**{**sized, "num_eval_envs": 8, "eval_steps": 1, **kw})


def _trainer(algo, env, size="probe", env_params=None, **kw):
    """``algo``'s trainer on ``env`` with ``_static(algo, size, **kw)``."""
    return ALGOS[algo][0].make_train(_static(algo, size, **kw), env, env_params=env_params)


def _run(trainer, hp, seeds=SEEDS, seed=0):
    keys = jax.random.split(jax.random.key(seed), seeds)
    return jax.jit(jax.vmap(trainer))(keys, hp.broadcast(seeds))


# --------------------------------------------------------------------------------------------
# critic target and buffer contents
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_follows_the_trainer_protocol(algo):
    assert isinstance(_trainer(algo, Probe("continuous")), Trainer)


def test_td_target_bootstraps_on_truncation_not_on_termination():
    # step 0: ordinary; step 1: terminated (no bootstrap); step 2: truncated by the time limit
    # (terminated=False, so it bootstraps from V at the final observation, here 5.0).
    reward = jnp.array([1.0, 1.0, 1.0])
    terminated = jnp.array([False, True, False])
    next_value = jnp.array([2.0, 3.0, 5.0])
    target = td_target(reward, terminated, 0.9, next_value)
    np.testing.assert_allclose(target, [1.0 + 0.9 * 2.0, 1.0, 1.0 + 0.9 * 5.0], rtol=1e-6)
    # no gradient flows into the target
    g = jax.grad(lambda v: td_target(reward, terminated, 0.9, v).sum())(next_value)
    np.testing.assert_array_equal(g, 0.0)


def test_offpolicy_common_keeps_its_public_names():
    """The split-out config, critic and hyperparameter modules stay importable from
    ``offpolicy_common`` (the path experiments and older code use)."""
    from jaxrl.agents import critic, hparams, offpolicy_common, offpolicy_config

    for module in (critic, hparams, offpolicy_config):
        for name in offpolicy_common.__all__:
            if hasattr(module, name):
                assert getattr(offpolicy_common, name) is getattr(module, name), name
    assert set(offpolicy_common.__all__) <= set(dir(offpolicy_common))


@pytest.mark.heavy
def test_buffer_holds_final_obs_terminated_and_transformed_reward():
    """Pendulum cut at 5 steps: truncation only. The buffer must store next_obs = the final
    observation (not the reset one), terminated=False throughout, and the *transformed* reward."""
    env, params = make("Pendulum-v1", max_steps_in_episode=5)
    static = _static("sac", "buffer", store_channels=("true_reward",), num_eval_envs=1)
    trainer = sac.make_train(static, env, transform=scale(2.0), env_params=params)
    state, metrics = jax.jit(trainer)(jax.random.key(0), sac.SACHParams(transform=2.0))
    buf = state.buffer.storage
    assert int(state.buffer.size) == 20
    assert not np.asarray(buf.terminated[:20]).any()
    obs, next_obs = np.asarray(buf.obs[:20, 0]), np.asarray(buf.next_obs[:20, 0])
    ends = np.arange(20) % 5 == 4
    # within an episode next_obs[t] is obs[t+1]; at the cut it is the final, not the reset, obs
    np.testing.assert_array_equal(next_obs[:-1][~ends[:-1]], obs[1:][~ends[:-1]])
    assert np.all(np.any(next_obs[:-1][ends[:-1]] != obs[1:][ends[:-1]], axis=-1))
    np.testing.assert_allclose(buf.reward[:20], 2.0 * buf.channels["true_reward"][:20], rtol=1e-6)
    np.testing.assert_allclose(
        metrics["return_learner_reward"], 2.0 * metrics["return_env_reward"], rtol=1e-5
    )
    assert float(metrics["episode_count"][0]) == 4.0
    assert float(metrics["learning_rounds"][0]) == 0.0  # still in the warm-up


@pytest.mark.heavy
def test_truncated_value_probe_bootstraps_through_time_limit():
    """+1 per step, never terminates, cut every 10 steps: correct bootstrapping gives
    Q = 1/(1−γ) = 10 for γ = 0.9 (treating the cut as terminal would give ≈ 6.5)."""
    trainer = _trainer(
        "sac", Probe("truncated_value"), "truncated", updates_per_step=2, num_eval_envs=1
    )
    hp = sac.SACHParams(learning_rate=5e-2, gamma=0.9, tau=0.2)
    state, _ = _run(trainer, hp)
    net = Critic(trainer.static.hidden_sizes, trainer.static.activation, num_actions=1)
    q = lambda p: net.apply(p, jnp.zeros((1,)))[0]
    values = jax.vmap(jax.vmap(q))(state.agent.critic.params)  # [seeds, twins]
    np.testing.assert_allclose(values, 10.0, atol=0.5)


# --------------------------------------------------------------------------------------------
# probes (fast)
# --------------------------------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_continuous_probe_learns_target_action(algo):
    """Reward −(a − 0.5)², one-step episodes: the greedy action must move to 0.5."""
    trainer = _trainer(algo, Probe("continuous"))
    state, metrics = _run(trainer, ALGOS[algo][2](learning_rate=3e-3, tau=0.05))
    actions = jax.vmap(lambda s: trainer.agent.act(s, jnp.zeros((1, 1)), None, True))(state.agent)
    np.testing.assert_allclose(actions[:, 0, 0], 0.5, atol=0.15)
    assert metrics["eval_return"].shape == (SEEDS, 1)
    assert np.all(metrics["eval_return"] > -0.05)
    assert metrics["critic_loss"].shape == (SEEDS, 4)
    assert np.all(np.isfinite(metrics["critic_loss"]))


@pytest.mark.heavy
def test_discrete_sac_probe_and_lr_sweep():
    """Discrete SAC on obs_action (+1 iff the action matches the sign of obs), with a
    learning-rate sweep vmapped together with the seeds."""
    trainer = _trainer("sac", Probe("obs_action"))
    hp = sac.SACHParams(learning_rate=jnp.array([3e-3, 1e-3]), tau=0.05, target_entropy_ratio=0.3)
    state, metrics = _run(trainer, hp)
    obs = jnp.array([[-1.0], [1.0]])
    greedy = jax.vmap(lambda s: trainer.agent.act(s, obs, None, True))(state.agent)
    np.testing.assert_array_equal(greedy, [[0, 1], [0, 1]])
    np.testing.assert_allclose(
        state.agent.actor.opt_state.hyperparams["learning_rate"], [3e-3, 1e-3]
    )
    assert np.all(metrics["eval_return"] > 0.9)


# --------------------------------------------------------------------------------------------
# determinism and the chunked runner
# --------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_same_seed_identical_and_chunked_equals_whole_run(tmp_path):
    trainer = _trainer("td3", Probe("continuous"), total_timesteps=1600, num_chunks=2)
    hp = td3.TD3HParams(learning_rate=3e-3).broadcast(SEEDS)
    keys = jax.random.split(jax.random.key(7), SEEDS)
    whole = jax.jit(jax.vmap(trainer))
    _, m1 = whole(keys, hp)
    _, m2 = whole(keys, hp)
    chunked = run_chunked(
        jax.jit(jax.vmap(trainer.init)),
        jax.jit(jax.vmap(trainer.chunk)),
        keys,
        hp,
        num_chunks=trainer.static.num_chunks,
        run=None,
        resume=False,
        progress=False,
    )
    assert set(m1) == set(chunked)
    for k in m1:
        np.testing.assert_array_equal(m1[k], m2[k], err_msg=k)
        np.testing.assert_allclose(m1[k], chunked[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert m1["eval_return"].shape == (SEEDS, 2)
    assert m1["critic_loss"].shape == (SEEDS, 2)
    np.testing.assert_array_equal(m1["eval_env_steps"][0], [800, 1600])
    # a different seed gives different numbers
    _, m3 = whole(jax.random.split(jax.random.key(8), SEEDS), hp)
    assert not np.array_equal(m1["critic_loss"], m3["critic_loss"])


# --------------------------------------------------------------------------------------------
# validation and environments
# --------------------------------------------------------------------------------------------


def test_validation_errors():
    env, params = make("CartPole-v1")
    with pytest.raises(ValueError, match="continuous"):
        td3.make_train(td3.TD3Static(), env, env_params=params)
    with pytest.raises(ValueError, match="gamma"):
        sac.SACHParams(gamma=1.5).check()
    with pytest.raises(ValueError, match="learning_rate"):
        td3.TD3HParams(learning_rate=0.0).check()
    with pytest.raises(ValueError, match="num_chunks"):
        sac.SACStatic(total_timesteps=3000, log_interval=1000, num_chunks=2)
    with pytest.raises(ValueError, match="buffer_capacity"):
        sac.SACStatic(num_envs=8, buffer_capacity=4)
    with pytest.raises(ValueError, match="policy_delay"):
        td3.TD3Static(policy_delay=0)


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("algo", "env_id", "env_kw", "episodes"),
    [
        ("td3", "MountainCarContinuous-v0", {"max_steps_in_episode": 50}, SEEDS * 400 / 50),
        pytest.param(
            "sac", "brax/inverted_pendulum", {"episode_length": 50}, None, marks=pytest.mark.slow
        ),
    ],
)
def test_smoke(algo, env_id, env_kw, episodes):
    """Short runs on real environments: every metric finite (and, where the episode length is
    fixed, every episode counted)."""
    env, params = make(env_id, **env_kw)
    trainer = _trainer(algo, env, "smoke", params, num_eval_envs=2, eval_steps=0)
    _, metrics = _run(trainer, ALGOS[algo][2]())
    for k, v in metrics.items():
        assert np.all(np.isfinite(v)), k
    if episodes is not None:
        assert metrics["episode_count"].sum() == episodes


# --------------------------------------------------------------------------------------------
# learning on Pendulum (random policy ≈ −1200)
# --------------------------------------------------------------------------------------------


def _pendulum(algo, total):
    env, params = make("Pendulum-v1")
    trainer = _trainer(algo, env, "pendulum", params, total_timesteps=total, eval_steps=0)
    return _run(trainer, ALGOS[algo][2](learning_rate=1e-3))


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "total"), [("sac", 8_000), ("td3", 15_000)])
def test_pendulum_learns(algo, total):
    _, metrics = _pendulum(algo, total)
    assert float(metrics["eval_return"][:, -1].mean()) > -600, metrics["eval_return"]
    assert float(metrics["return_env_reward"][:, -1].mean()) > -600
