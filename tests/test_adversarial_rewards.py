"""Unit tests for :mod:`jaxrl.rewards` (SAM/DAC discriminator, gradient penalties, spectral
norm, absorbing states, PURPLE preconditioning; papers.md §3, theory.md §3)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards import (
    DiscBatch,
    PurpleConfig,
    absorbing_state,
    absorbing_transitions,
    adversarial_reward,
    default_hparams,
    discriminator_input,
    forward_grad_penalty,
    gail_config,
    gradient_penalty,
    init_discriminator,
    init_purple,
    minimax_reward,
    network_logits,
    penalty_from_norms,
    penalty_points,
    power_iteration,
    precondition,
    psi_from_penalty,
    purple_preconditioning,
    reward_from_logits,
    spectral_dense,
    train_adversarial_step,
    train_forward_model_step,
    wrap_absorbing,
)
from jaxrl.shaping.transform import Transition, chain

SMALL = dict(obs_dim=2, action_dim=1, hidden_sizes=(32, 32), learning_rate=3e-3)
#: one shared config, so that ``train_adversarial_step`` compiles once for most tests
SMALL_CFG = gail_config(**SMALL)
HP = default_hparams()


def _clouds(key, n=64, sep=2.0):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    expert = DiscBatch(jax.random.normal(k1, (n, 2)) + sep, jax.random.normal(k2, (n, 1)) + sep)
    agent = DiscBatch(jax.random.normal(k3, (n, 2)) - sep, jax.random.normal(k4, (n, 1)) - sep)
    return expert, agent


def _transition(obs, action, next_obs=None, terminated=None):
    b = obs.shape[:-1]
    return Transition(
        obs=obs,
        action=action,
        reward=jnp.zeros(b),
        next_obs=obs if next_obs is None else next_obs,
        terminated=jnp.zeros(b, bool) if terminated is None else terminated,
        truncated=jnp.zeros(b, bool),
        discount=jnp.full(b, 0.99),
        channels={},
        time=jnp.zeros(b, jnp.int32),
    )


# ----------------------------------------------------------------------------- reward identity
def test_minimax_reward_identity_moderate_logits():
    with jax.enable_x64(True):
        d = jnp.linspace(-20.0, 20.0, 401)
        sig = 1.0 / (1.0 + np.exp(-np.asarray(d)))
        # −log(1 − σ(D)) via log1p (the literal 1 − σ loses digits for D ≪ 0)
        np.testing.assert_allclose(minimax_reward(d), -np.log1p(-sig), rtol=1e-8)
        np.testing.assert_allclose(minimax_reward(d), np.logaddexp(0.0, d), rtol=1e-14)
        naive = -jnp.log(1.0 - jax.nn.sigmoid(d))
        np.testing.assert_allclose(minimax_reward(d), naive, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_minimax_reward_extreme_logits_finite(dtype):
    with jax.enable_x64(True):
        d = jnp.asarray([-3e38, -1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, 3e38], dtype)
        r = minimax_reward(d)
        assert bool(jnp.all(jnp.isfinite(r))) and bool(jnp.all(r >= 0))
        np.testing.assert_allclose(r[-4:], d[-4:], rtol=1e-6)  # softplus(D) ≈ D for D ≫ 0
        assert float(r[4]) == pytest.approx(np.log(2.0), rel=1e-6)
        g = jax.vmap(jax.grad(lambda x: minimax_reward(x)))(d)
        assert bool(jnp.all(jnp.isfinite(g)))
        # The naive form overflows in float32 where the stable one does not.
        if dtype == jnp.float32:
            assert not bool(jnp.isfinite(-jnp.log(1.0 - jax.nn.sigmoid(d[5]))))


def test_other_reward_types():
    d = jnp.array([-5.0, 0.0, 5.0])
    ns = reward_from_logits(d, "non_saturating")
    np.testing.assert_allclose(ns, jnp.log(jax.nn.sigmoid(d)), rtol=1e-5)
    assert bool(jnp.all(ns <= 0))
    np.testing.assert_allclose(reward_from_logits(d, "airl"), minimax_reward(d) + ns, atol=1e-5)


# ----------------------------------------------------------------------------- gradient penalties
W = jnp.array([1.0, -2.0, 2.0])  # ‖w‖ = 3


def _linear_d(w):
    return lambda x: jnp.dot(w, x) + 0.5


@pytest.mark.parametrize("gp_type", ["wgan", "dragan", "nagard", "bare"])
@pytest.mark.parametrize("k", [1.0, 3.5])
def test_gradient_penalty_linear_discriminator(gp_type, k):
    key = jax.random.PRNGKey(0)
    xe, xa = jax.random.normal(key, (16, 3)) + 1.0, jax.random.normal(key, (16, 3)) - 1.0
    two, norms = gradient_penalty(_linear_d(W), key, xe, xa, gp_type, k, False, 10.0, split=2)
    one, _ = gradient_penalty(_linear_d(W), key, xe, xa, gp_type, k, True, 10.0, split=2)
    np.testing.assert_allclose(norms, 3.0, rtol=1e-6)
    assert float(two) == pytest.approx((3.0 - k) ** 2, rel=1e-5)
    assert float(one) == pytest.approx(max(0.0, 3.0 - k) ** 2, abs=1e-6)
    if k > 3.0:  # ‖∇D‖ ≤ k everywhere: one-sided = 0, two-sided > 0
        assert float(one) == 0.0 and float(two) > 0.0


def test_constant_discriminator_one_vs_two_sided():
    """theory.md §3.3 teeth: a constant D gets two-sided penalty k² but one-sided 0."""
    x = jnp.ones((8, 3))
    const = lambda xi: jnp.sum(0.0 * xi) + 1.0
    two, norms = gradient_penalty(const, jax.random.PRNGKey(0), x, -x, "wgan", 2.0, False)
    one, _ = gradient_penalty(const, jax.random.PRNGKey(0), x, -x, "wgan", 2.0, True)
    assert float(jnp.max(norms)) == 0.0 and float(two) == pytest.approx(4.0) and float(one) == 0.0
    assert float(penalty_from_norms(jnp.array([0.5, 2.5]), 1.0, True)) == pytest.approx(1.125)


def test_penalty_points_distributions():
    key = jax.random.PRNGKey(3)
    xe, xa = jnp.zeros((2000, 3)), jnp.ones((2000, 3))
    pts = penalty_points(key, xe, xa, "wgan", split=2)  # x̂ = ε x_agent + (1 − ε) x_expert
    eps_s, eps_a = pts[:, 0], pts[:, 2]
    np.testing.assert_allclose(pts[:, 1], eps_s)  # one ε per block
    assert float(jnp.min(pts)) >= 0.0 and float(jnp.max(pts)) <= 1.0
    assert abs(float(jnp.corrcoef(eps_s, eps_a)[0, 1])) < 0.1  # separate ε for s and a
    drag = penalty_points(key, xe, xa, "dragan", noise_std=10.0)
    nag = penalty_points(key, xe, xa, "nagard", noise_std=10.0)
    assert float(jnp.mean(drag)) == pytest.approx(0.0, abs=0.5)
    assert float(jnp.mean(nag)) == pytest.approx(1.0, abs=0.5)
    assert float(jnp.std(drag)) == pytest.approx(10.0, rel=0.05)
    with pytest.raises(ValueError):
        penalty_points(key, xe, xa, "bogus")


@pytest.mark.heavy
def test_train_step_penalty_on_linear_network():
    """hidden_sizes=() makes D(x) = w·x + b exactly; the step's GP is (‖w‖ − k)² (two-sided)."""
    cfg = gail_config(
        obs_dim=2, action_dim=1, hidden_sizes=(), spectral_norm=False, one_sided=False
    )
    state = init_discriminator(jax.random.PRNGKey(0), cfg)
    expert, agent = _clouds(jax.random.PRNGKey(1), n=8)
    wnorm = float(jnp.linalg.norm(state.params["Dense_0"]["kernel"]))
    for gp_type, smooth in (("wgan", False), ("dragan", True), ("nagard", False)):
        c = gail_config(**{**cfg.__dict__, "gp_type": gp_type, "label_smoothing": smooth})
        s = init_discriminator(jax.random.PRNGKey(0), c)
        _, m = train_adversarial_step(s, expert, agent, jax.random.PRNGKey(2), default_hparams())
        assert float(m["grad_pen"]) == pytest.approx((wnorm - 1.0) ** 2, rel=1e-4)
        assert float(m["grad_norm_penalty_points"]) == pytest.approx(wnorm, rel=1e-5)


# ----------------------------------------------------------------------------- spectral norm
def test_spectral_norm_layer_normalised_after_power_iterations():
    layer = spectral_dense(8)
    x = jnp.ones((1, 5))
    variables = layer.init(jax.random.PRNGKey(0), x, update_stats=False)
    kernel = variables["params"]["kernel"] * 7.0  # σ_max ≫ 1
    variables = {"params": {**variables["params"], "kernel": kernel},
                 "batch_stats": variables["batch_stats"]}  # fmt: skip
    step = jax.jit(lambda v: layer.apply(v, x, update_stats=True, mutable=["batch_stats"])[1])
    for _ in range(100):
        variables = {**variables, **step(variables)}
    stats = jax.tree.leaves(variables["batch_stats"])
    sigma_hat = [s for s in stats if s.ndim == 0][0]
    sigma_true = np.linalg.svd(np.asarray(kernel), compute_uv=False)[0]
    assert float(sigma_hat) == pytest.approx(sigma_true, rel=1e-4)
    # The effective layer x -> W x / σ̂ has spectral norm ≈ 1: probe it by its Jacobian.
    J = jax.jacfwd(lambda z: layer.apply(variables, z[None], update_stats=False)[0])(jnp.zeros(5))
    assert np.linalg.svd(np.asarray(J), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3)


def test_power_iteration_matches_svd():
    w = jax.random.normal(jax.random.PRNGKey(4), (6, 4))
    sigma, _ = power_iteration(w, jax.random.PRNGKey(5), 200)
    assert float(sigma) == pytest.approx(np.linalg.svd(np.asarray(w))[1][0], rel=1e-4)


@pytest.mark.heavy
def test_spectral_norm_discriminator_bounds_hidden_layers():
    cfg = SMALL_CFG
    state = init_discriminator(jax.random.PRNGKey(0), cfg)
    expert, agent = _clouds(jax.random.PRNGKey(1))
    for i in range(30):
        state, _ = train_adversarial_step(state, expert, agent, jax.random.PRNGKey(i), HP)
    for i in (0, 1):
        kernel = state.params[f"Dense_{i}"]["kernel"]
        sigma = state.batch_stats[f"Dense_{i}"]["sigma"]
        true = np.linalg.svd(np.asarray(kernel), compute_uv=False)[0]
        assert true / float(sigma) == pytest.approx(1.0, abs=0.1)  # ≈ 1 (one step per update)


# ----------------------------------------------------------------------------- training
@pytest.mark.heavy
def test_discriminator_separates_gaussian_clouds():
    cfg = SMALL_CFG
    state = init_discriminator(jax.random.PRNGKey(0), cfg)
    expert, agent = _clouds(jax.random.PRNGKey(1))
    for i in range(120):
        state, m = train_adversarial_step(state, expert, agent, jax.random.PRNGKey(10 + i), HP)
    assert float(m["accuracy"]) > 0.95
    assert float(m["reward_expert"]) > float(m["reward_agent"]) + 0.5
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in m.values())
    # grad-norm metrics are the mean ‖∇_x D‖ at the data (checked against vmap(grad)).
    x_e = discriminator_input(cfg, expert)
    g = jax.vmap(jax.grad(lambda xi: network_logits(cfg, state.variables, xi[None])[0]))(x_e)
    assert float(m["grad_norm_expert"]) == pytest.approx(
        float(jnp.mean(jnp.linalg.norm(g, axis=-1))), rel=1e-4
    )


@pytest.mark.heavy
def test_vmap_over_seeds_and_lambda():
    cfg = gail_config(**SMALL)
    expert, agent = _clouds(jax.random.PRNGKey(1))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    lams = jnp.array([0.0, 1.0, 10.0])
    states = jax.vmap(lambda k: init_discriminator(k, cfg))(keys)
    # k = 0: GP = mean ‖∇D‖² > 0, so λ visibly enters the loss
    hps = jax.vmap(lambda lam: default_hparams(grad_pen_targ=0.0, grad_pen_scale=lam))(lams)
    step = jax.jit(jax.vmap(train_adversarial_step, in_axes=(0, None, None, 0, 0)))
    new_states, m = step(states, expert, agent, keys, hps)
    assert m["loss"].shape == (3,) and new_states.step.shape == (3,)
    single = init_discriminator(keys[2], cfg)
    hp2 = jax.tree.map(lambda v: v[2], hps)
    _, m2 = train_adversarial_step(single, expert, agent, keys[2], hp2)
    assert float(m["loss"][2]) == pytest.approx(float(m2["loss"]), rel=1e-4)
    # the traced λ enters the loss: loss = (λ-free part) + λ·GP
    free = m["loss"] - lams * m["grad_pen"]
    assert float(m["grad_pen"][2]) > 0.0 and float(jnp.ptp(m["grad_pen"])) > 0.0
    assert bool(jnp.all(jnp.isfinite(free)))


# ----------------------------------------------------------------------------- absorbing states
def test_absorbing_wrapping_shapes_and_values():
    obs = jnp.arange(12.0).reshape(4, 3)
    next_obs = obs + 100.0
    term = jnp.array([True, False, True, False])
    ow, nw = wrap_absorbing(obs, next_obs, term)
    assert ow.shape == nw.shape == (4, 4)
    np.testing.assert_array_equal(ow[:, :3], obs)
    np.testing.assert_array_equal(ow[:, 3], 0.0)
    np.testing.assert_array_equal(nw[0], [0, 0, 0, 1])
    np.testing.assert_array_equal(nw[2], [0, 0, 0, 1])
    np.testing.assert_array_equal(nw[1], [*next_obs[1], 0.0])
    extra = absorbing_transitions(term, 3, 2)
    assert extra.obs.shape == extra.next_obs.shape == (4, 4) and extra.action.shape == (4, 2)
    np.testing.assert_array_equal(extra.mask, term)
    np.testing.assert_array_equal(absorbing_state(3, (2, 5)).shape, (2, 5, 4))
    # leading [T, N] batch
    ow2, nw2 = wrap_absorbing(jnp.zeros((2, 3, 5)), jnp.ones((2, 3, 5)), jnp.zeros((2, 3), bool))
    assert ow2.shape == nw2.shape == (2, 3, 6)


# ----------------------------------------------------------------------------- reward transform
def test_adversarial_reward_transform_matches_softplus_of_logits():
    cfg = gail_config(**SMALL)
    state = init_discriminator(jax.random.PRNGKey(0), cfg)
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 3, 2))  # [T, N, obs_dim]
    act = jax.random.normal(jax.random.PRNGKey(2), (5, 3, 1))
    t = adversarial_reward(cfg, state.variables)
    r, s = jax.jit(t.apply)(t.default_params, t.init(t.default_params), _transition(obs, act))
    d = network_logits(cfg, state.variables, jnp.concatenate([obs, act], -1))
    assert r.shape == (5, 3) and s == ()
    np.testing.assert_allclose(r, jax.nn.softplus(d), rtol=1e-6)


def test_adversarial_reward_state_only_absorbing():
    cfg = gail_config(**{**SMALL, "inputs": "ss", "absorbing": True})
    state = init_discriminator(jax.random.PRNGKey(0), cfg)
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 2))
    nxt = obs + 1.0
    term = jnp.array([False, True, False, True])
    t = adversarial_reward(cfg, state.variables)
    r, _ = t.apply(state.variables, (), _transition(obs, jnp.zeros((4, 1)), nxt, term))
    ow, nw = wrap_absorbing(obs, nxt, term)
    d = network_logits(cfg, state.variables, jnp.concatenate([ow, nw], -1))
    np.testing.assert_allclose(r, jax.nn.softplus(d), rtol=1e-6)


# ----------------------------------------------------------------------------- PURPLE
def test_psi_range_and_pessimism():
    gp = jnp.concatenate([jnp.zeros(3), jnp.logspace(-3, 3, 50)])
    for psi_min in (0.0, 0.3, 0.7):
        psi = psi_from_penalty(gp, 2.0, psi_min)
        assert float(jnp.min(psi)) >= psi_min - 1e-7 and float(jnp.max(psi)) <= 1.0
        r = minimax_reward(jax.random.normal(jax.random.PRNGKey(0), gp.shape) * 3)  # ≥ 0
        assert bool(jnp.all(psi * r <= r))
    np.testing.assert_allclose(psi_from_penalty(jnp.zeros(2), 1.0), 1.0)


@pytest.mark.heavy
def test_forward_model_gp_on_linear_model_and_training():
    cfg = PurpleConfig(obs_dim=2, action_dim=1, hidden_sizes=(), f_targ=0.5, psi_min=0.7)
    st = init_purple(jax.random.PRNGKey(0), cfg)
    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 2))
    act = jax.random.normal(jax.random.PRNGKey(2), (6, 1))
    kernel = st.params["params"]["Dense_0"]["kernel"]  # [3, 2]: ∇_{(s,a)} Σ_i f_i = kernel @ 1
    expected = max(0.0, float(jnp.linalg.norm(kernel.sum(1))) - 0.5) ** 2
    np.testing.assert_allclose(forward_grad_penalty(cfg, st.params, obs, act), expected, rtol=1e-5)
    # MSE decreases on linear dynamics s' = 0.9 s + 0.1 a.
    cfg2 = PurpleConfig(obs_dim=2, action_dim=1, hidden_sizes=(16,), learning_rate=1e-2)
    st2 = init_purple(jax.random.PRNGKey(0), cfg2)
    nxt = 0.9 * obs + 0.1 * act
    mses = []
    for _ in range(60):
        st2, m = train_forward_model_step(st2, obs, act, nxt)
        mses.append(float(m["mse"]))
    assert mses[-1] < 0.2 * mses[0]


@pytest.mark.heavy
def test_precondition_and_transform_chain():
    cfg = gail_config(**SMALL)
    dstate = init_discriminator(jax.random.PRNGKey(0), cfg)
    pcfg = PurpleConfig(obs_dim=2, action_dim=1, hidden_sizes=(16,), f_targ=0.0, psi_min=0.7)
    pstate = init_purple(jax.random.PRNGKey(1), pcfg)
    obs = 3 * jax.random.normal(jax.random.PRNGKey(2), (32, 2))
    act = jax.random.normal(jax.random.PRNGKey(3), (32, 1))
    r = minimax_reward(jax.random.normal(jax.random.PRNGKey(4), (32,)))
    r_psi, psi, moments = precondition(pcfg, pstate.params, pstate.moments, r, obs, act)
    assert float(jnp.min(psi)) >= 0.7 - 1e-7 and float(jnp.max(psi)) <= 1.0
    assert bool(jnp.all(r_psi <= r)) and float(moments.count) > 32
    t = chain(
        adversarial_reward(cfg, dstate.variables), purple_preconditioning(pcfg, pstate.params)
    )
    tr = _transition(obs, act)
    out, state = jax.jit(t.apply)(t.default_params, t.init(t.default_params), tr)
    base, _ = adversarial_reward(cfg).apply(dstate.variables, (), tr)
    # ψ ∈ [ψ_min, 1]; rows clamped at ψ_min = 0.7 may round one ulp below 0.7·base
    lo = 0.7 * base * (1 - 1e-6)
    assert out.shape == (32,) and bool(jnp.all(out <= base)) and bool(jnp.all(out >= lo))
    assert float(state[1].count) > 32


def test_unused_module_import_guard():
    assert isinstance(spectral_dense(4), nn.Module)


# ----------------------------------------------------------------------------- SAM's loss options
@pytest.mark.heavy
def test_leaky_relu_slope_matches_hand_forward_and_changes_the_loss():
    """The SAM discriminator's hidden activation is LeakyReLU(slope) (paper: 0.1); slope 0 is
    ReLU. Same init, so the logits differ only through the negative pre-activations."""
    x = jax.random.normal(jax.random.PRNGKey(3), (16, 3))
    expert, agent = _clouds(jax.random.PRNGKey(4), n=8)
    losses = {}
    for slope in (0.1, 0.0):
        cfg = gail_config(2, 1, hidden_sizes=(8,), spectral_norm=False, negative_slope=slope)
        state = init_discriminator(jax.random.PRNGKey(0), cfg)
        p = state.params
        h = np.asarray(x) @ np.asarray(p["Dense_0"]["kernel"]) + np.asarray(p["Dense_0"]["bias"])
        assert (h < 0).any() and (h > 0).any()
        h = np.where(h > 0, h, slope * h)
        want = h @ np.asarray(p["Dense_1"]["kernel"])[:, 0] + np.asarray(p["Dense_1"]["bias"])
        np.testing.assert_allclose(network_logits(cfg, state.variables, x), want, rtol=1e-5)
        losses[slope] = float(
            train_adversarial_step(state, expert, agent, jax.random.PRNGKey(5))[1]["loss"]
        )
    assert losses[0.1] != losses[0.0]


def test_entropy_regularisation_is_minus_c_times_bernoulli_entropy():
    """L_D = BCE_e + BCE_a − c·H(σ(D)) + λ·GP: the entropy bonus moves the loss by exactly
    −c·H (H the mean Bernoulli entropy over both batches) and changes the step."""
    cfg = gail_config(2, 1, hidden_sizes=(8,), spectral_norm=False)
    state = init_discriminator(jax.random.PRNGKey(0), cfg)
    expert, agent = _clouds(jax.random.PRNGKey(1), n=8)
    key = jax.random.PRNGKey(2)
    x = jnp.concatenate([discriminator_input(cfg, expert), discriminator_input(cfg, agent)])
    d = network_logits(cfg, state.variables, x)
    p = jax.nn.sigmoid(d)
    h = float(jnp.mean(-p * jnp.log(p) - (1 - p) * jnp.log(1 - p)))
    out = {
        c: train_adversarial_step(state, expert, agent, key, default_hparams(ent_reg_scale=c))
        for c in (0.0, 0.5)
    }
    (s0, m0), (s1, m1) = out[0.0], out[0.5]
    assert float(m1["entropy"]) == pytest.approx(h, rel=1e-5)
    parts = float(m1["bce_expert"] + m1["bce_agent"] + 10.0 * m1["grad_pen"])
    assert float(m1["loss"]) == pytest.approx(parts - 0.5 * h, rel=1e-5)
    assert float(m1["loss"]) - float(m0["loss"]) == pytest.approx(-0.5 * h, rel=1e-4)
    # Adam's first step is ≈ lr·sign(g); a second step sees the gradient's size
    s0, _ = train_adversarial_step(s0, expert, agent, key, default_hparams(ent_reg_scale=0.0))
    s1, _ = train_adversarial_step(s1, expert, agent, key, default_hparams(ent_reg_scale=0.5))
    k0, k1 = s0.params["Dense_0"]["kernel"], s1.params["Dense_0"]["kernel"]
    assert not np.allclose(k0, k1, rtol=0, atol=1e-7)


@pytest.mark.heavy
def test_label_smoothing_draws_expert_labels_in_0_7_to_1_2():
    cfg = gail_config(2, 1, hidden_sizes=(8,), spectral_norm=False)
    smooth = gail_config(2, 1, hidden_sizes=(8,), spectral_norm=False, label_smoothing=True)
    expert, agent = _clouds(jax.random.PRNGKey(1), n=32)
    d = network_logits(
        cfg,
        init_discriminator(jax.random.PRNGKey(0), cfg).variables,
        discriminator_input(cfg, expert),
    )
    bce = lambda y: float(jnp.mean(y * jax.nn.softplus(-d) + (1 - y) * jax.nn.softplus(d)))
    m = {
        c: train_adversarial_step(
            init_discriminator(jax.random.PRNGKey(0), c), expert, agent, jax.random.PRNGKey(2)
        )[1]
        for c in (cfg, smooth)
    }
    assert float(m[cfg]["bce_expert"]) == pytest.approx(bce(1.0), rel=1e-5)
    lo, hi = sorted((bce(0.7), bce(1.2)))
    assert lo < float(m[smooth]["bce_expert"]) < hi
    assert float(m[smooth]["bce_expert"]) != pytest.approx(bce(1.0), rel=1e-4)
