"""PURPLE (Frobenius forward-model penalty, reward modulation) and SAM's Q-Jacobian metric."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.agents import sam
from jaxrl.agents.critic import Critic, TwinCritic
from jaxrl.agents.replay_buffer import ReplayTransition
from jaxrl.envs import make
from jaxrl.experiment.demonstrations import Demonstrations
from jaxrl.rewards.preconditioning import ForwardModel, PurpleConfig, forward_grad_penalty
from jaxrl.rewards.purple import (
    PurpleHParams,
    forward_penalty,
    frobenius_purple,
    init_moments,
    modulation,
)
from jaxrl.shaping.stream import update_running_stats
from jaxrl.shaping.transform import Transition

# a linear forward model f(x) = x W + b on x = [s (3), a (1)]: its Jacobian is Wᵀ everywhere
OBS_DIM, ACT_DIM = 3, 1


def _linear_model(w):
    net = ForwardModel(OBS_DIM, hidden_sizes=())
    params = net.init(jax.random.key(0), jnp.zeros((OBS_DIM + ACT_DIM,)))
    kernel = params["params"]["Dense_0"]["kernel"]
    assert kernel.shape == (OBS_DIM + ACT_DIM, OBS_DIM)
    params["params"]["Dense_0"]["kernel"] = jnp.asarray(w, jnp.float32)
    return net, params


def _sa(key, lead=(5,)):
    k1, k2 = jax.random.split(key)
    return jax.random.normal(k1, (*lead, OBS_DIM)), jax.random.normal(k2, (*lead, ACT_DIM))


def test_penalty_is_relu_of_frobenius_norm_minus_target_squared():
    w = np.zeros((4, 3), np.float32)
    w[0, 0], w[1, 1], w[3, 2] = 3.0, 4.0, 12.0  # ‖W‖_F = sqrt(9 + 16 + 144) = 13
    net, params = _linear_model(w)
    obs, action = _sa(jax.random.key(1), lead=(5, 2))  # a window-shaped batch [B, n]
    gp, norms = forward_penalty(net.apply, params, obs, action, 15.0)
    assert gp.shape == norms.shape == (5, 2)
    np.testing.assert_allclose(norms, 13.0, rtol=1e-6)
    np.testing.assert_array_equal(gp, 0.0)  # below the target: no penalty
    gp, _ = forward_penalty(net.apply, params, obs, action, 10.0)
    np.testing.assert_allclose(gp, (13.0 - 10.0) ** 2, rtol=1e-5)  # above: (‖J‖_F − f_targ)²


def test_frobenius_norm_sees_steep_dynamics_that_the_summed_gradient_misses():
    """s'_0 = 10 s_0, s'_1 = −10 s_0: the summed prediction is flat (liayn's norm is 0), the
    Jacobian's Frobenius norm is 10√2."""
    w = np.zeros((4, 3), np.float32)
    w[0, 0], w[0, 1] = 10.0, -10.0
    net, params = _linear_model(w)
    obs, action = _sa(jax.random.key(2))
    gp, norms = forward_penalty(net.apply, params, obs, action, 5.0)
    np.testing.assert_allclose(norms, 10.0 * np.sqrt(2.0), rtol=1e-6)
    np.testing.assert_allclose(gp, (10.0 * np.sqrt(2.0) - 5.0) ** 2, rtol=1e-5)
    liayn = forward_grad_penalty(PurpleConfig(OBS_DIM, ACT_DIM, ()), params, obs, action, 5.0)
    np.testing.assert_array_equal(liayn, 0.0)


def test_modulation_is_in_floor_one_and_one_at_zero_penalty():
    gp = jnp.array([0.0, 0.0, 0.1, 1.0, 3.0, 100.0, 1e4])
    moments = update_running_stats(init_moments(), gp)
    sigma = float(jnp.sqrt(moments.var))
    psi = np.asarray(modulation(gp, moments, 0.7))
    assert np.all((psi >= 0.7) & (psi <= 1.0))
    np.testing.assert_array_equal(psi[:2], 1.0)
    np.testing.assert_allclose(psi, np.maximum(np.exp(-np.asarray(gp) / sigma), 0.7), rtol=1e-6)
    assert psi[-1] == pytest.approx(0.7)  # a huge penalty hits the floor
    assert 0.7 < psi[2] < 1.0  # a small one does not


def test_frobenius_purple_transform_scales_the_reward():
    w = np.zeros((4, 3), np.float32)
    w[0, 0] = 8.0
    net, params = _linear_model(w)
    obs, action = _sa(jax.random.key(3), lead=(6,))
    obs = obs.at[:3].set(0.0)  # the model is linear: the norm does not depend on the input
    tf = frobenius_purple(net.apply)
    reward = jnp.linspace(0.5, 2.0, 6)
    z = jnp.zeros(6)
    tr = Transition(obs, action, reward, obs, z > 0, z > 0, z + 0.99, {}, z.astype(int))
    for f_targ, expect in ((10.0, 1.0), (5.0, None)):
        r, moments = tf.apply((params, PurpleHParams(f_targ, 0.7)), tf.init(None), tr)
        psi = np.asarray(r / reward)
        assert float(moments.count) == pytest.approx(6.0, abs=1e-3)
        if expect is not None:
            np.testing.assert_array_equal(psi, expect)
        else:  # GP = 9 everywhere, σ ≈ 0 (every sample equal): ψ at the floor
            np.testing.assert_allclose(psi, 0.7, rtol=1e-6)


def test_q_jacobian_norm_matches_finite_differences():
    critic = TwinCritic.create((8, 8), "tanh")
    obs, action = _sa(jax.random.key(4), lead=(4,))
    params = critic.init(jax.random.key(5), obs[0], action[0])
    got = float(sam.q_jacobian_norm(critic.net, params, obs, action))

    # central differences of the first critic, in float64, every perturbed point in one call
    q1 = jax.tree.map(lambda p: np.asarray(p[0], np.float64), params)
    x = np.concatenate([obs, action], -1).astype(np.float64)  # [B, 4]
    eps = 1e-5
    steps = eps * np.concatenate([np.eye(4), -np.eye(4)])  # [8, 4]
    pts = x[:, None, :] + steps[None]  # [B, 8, 4]
    with jax.enable_x64(True):
        q = np.asarray(Critic((8, 8), "tanh").apply(q1, pts[..., :3], pts[..., 3:]))
    grad = (q[:, :4] - q[:, 4:]) / (2 * eps)  # [B, 4]
    norms = np.linalg.norm(grad, axis=-1)
    assert norms.min() > 0
    np.testing.assert_allclose(got, norms.mean(), rtol=1e-4)


def _trainer(**kw):
    env, params = make("Pendulum-v1", max_steps_in_episode=20)
    rng = np.random.default_rng(0)
    demos = Demonstrations(
        obs=rng.normal(size=(32, 3)).astype(np.float32),
        action=rng.uniform(-2, 2, (32, 1)).astype(np.float32),
        next_obs=None,
        terminated=None,
        episode=None,
        time=None,
        episode_returns=None,
    )
    static = sam.SAMStatic(
        total_timesteps=200,
        buffer_capacity=200,
        batch_size=16,
        learning_starts=50,
        log_interval=50,
        hidden_sizes=(16,),
        disc_hidden_sizes=(16, 16),
        purple_hidden_sizes=(16,),
        num_eval_envs=2,
        eval_steps=20,
        **kw,
    )
    return sam.make_train(static, env, demos, params)


@pytest.mark.heavy
def test_sam_with_purple_trains_vmapped_over_seeds_and_f_targ():
    """Two seeds, f_targ 0 (every (s, a) penalised) and 1e6 (never): finite metrics, ψ in
    [0.7, 1], exactly 1 at the huge target and below 1 at 0; the forward model trains and the
    GP_f moments count every sampled transition."""
    trainer = _trainer(purple=True)
    hp = sam.sam_hparams(purple=PurpleHParams(jnp.array([0.0, 1e6]), 0.7))
    hp = trainer.check(hp).broadcast(2)
    keys = jax.random.split(jax.random.key(0), 2)
    init = jax.jit(jax.vmap(trainer.init))(keys, hp)
    state, m = jax.jit(jax.vmap(trainer.chunk))(init, hp)  # num_chunks = 1: the whole run
    for k in ("eval_return", "critic_loss", "learned_reward", "q_jacobian_norm", "purple_scale"):
        assert np.all(np.isfinite(np.asarray(m[k]))), k
    learned = np.asarray(m["learning_rounds"]) > 0  # rows before learning_starts log 0
    assert learned[:, -1].all()
    scale = np.asarray(m["purple_scale"])
    assert scale.shape == (2, 4)
    assert np.all((scale[learned] >= 0.7 - 1e-6) & (scale[learned] <= 1.0))  # f32 mean of 0.7s
    assert np.all(scale[0][learned[0]] < 1.0) and np.all(scale[1][learned[1]] == 1.0)
    assert np.all(np.asarray(m["q_jacobian_norm"])[learned] > 0)
    purple = state.agent.purple
    before, after = jax.tree.leaves(init.agent.purple.params), jax.tree.leaves(purple.params)
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    updates = np.asarray(purple.opt_state[0].count)  # Adam steps = gradient updates
    np.testing.assert_allclose(purple.moments.count, 1e-4 + 16 * updates, rtol=1e-6)
    assert np.all(updates > 0)


def test_purple_validation():
    with pytest.raises(ValueError, match="psi_min"):
        sam.sam_hparams(purple=PurpleHParams(5.0, 1.5)).check()
    with pytest.raises(ValueError, match="f_targ"):
        sam.sam_hparams(purple=PurpleHParams(-1.0, 0.7)).check()
    with pytest.raises(ValueError, match="purple_learning_rate"):
        sam.SAMStatic(purple=True, purple_learning_rate=0.0)


@pytest.mark.slow  # ~20 s CPU (two inits and two update compiles); default-off is bit-identical
def test_purple_at_an_unreachable_target_is_exactly_sam_without_purple():
    """ψ ≡ 1 when f_targ exceeds every Jacobian norm: one update with PURPLE equals one without
    (same key: base and D start the same, the forward model's key is folded off)."""
    off, on = _trainer(), _trainer(purple=True)
    hp = sam.sam_hparams(purple=PurpleHParams(1e6, 0.7))
    k_init, k_batch, k_up = jax.random.split(jax.random.key(7), 3)
    obs, action = _sa(k_batch, lead=(16,))
    batch = ReplayTransition(obs, action, jnp.zeros(16), obs[::-1], jnp.zeros(16, bool), {})
    init_on = jax.jit(on.agent.init)
    s_off, m_off = jax.jit(off.agent.update)(jax.jit(off.agent.init)(k_init, hp), batch, k_up, hp)
    s_on, m_on = jax.jit(on.agent.update)(init_on(k_init, hp), batch, k_up, hp)
    assert s_off.purple is None and s_on.purple is not None
    for a, b in zip(jax.tree.leaves(s_off[:2]), jax.tree.leaves(s_on[:2]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert m_off.keys() == m_on.keys()
    for k in m_off:
        np.testing.assert_array_equal(m_off[k], m_on[k], err_msg=k)
    # ... and a reachable target changes the update
    hp0 = sam.sam_hparams(purple=PurpleHParams(0.0, 0.7))
    s0, m0 = jax.jit(on.agent.update)(init_on(k_init, hp0), batch, k_up, hp0)
    assert float(m0["purple_scale"]) < 1.0
    assert float(m0["learned_reward"]) < float(m_off["learned_reward"])
