"""Tests for jaxrl.regularizers: exact divergences, exact ascent, discriminator, AD baseline."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.mdp import finite_horizon, occupancy_measure, value_iteration
from jaxrl.regularizers import (
    ad_chi2_penalty,
    ad_kl_penalty,
    ad_kl_penalty_gaussian,
    bayes_optimal_logit,
    categorical_chi2,
    categorical_kl,
    chi2,
    finite_horizon_fns,
    gaussian_chi2,
    gaussian_kl,
    kl,
    logits_from_policy,
    optimize_regularized,
    regularization_curve,
    sqrt_chi2,
    state_marginal,
    tabular_fns,
    tv,
)
from jaxrl.rewards import (
    DiscBatch,
    OccupancyPenaltyParams,
    discriminator_logits,
    init_discriminator,
    occupancy_penalty,
    orpo_config,
    penalty_from_logits,
    train_occupancy_ratio,
    trimmed_mean,
)
from jaxrl.shaping import Transition
from theory_checks.harness import dirichlet_rows, numpy_mdp


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# ----------------------------------------------------------------------------- exact divergences
def test_divergences_hand_values(x64):
    # mu = (1/2, 1/2), ref = (1/4, 3/4):
    #   chi2 = (1/4)^2/(1/4) + (1/4)^2/(3/4) = 1/4 + 1/12 = 1/3
    #   KL   = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3) = 0.143841...
    #   TV   = 1/2 (1/4 + 1/4) = 1/4
    mu, ref = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert float(chi2(mu, ref)) == pytest.approx(1 / 3, abs=1e-15)
    assert float(sqrt_chi2(mu, ref)) == pytest.approx(math.sqrt(1 / 3), abs=1e-15)
    assert float(kl(mu, ref)) == pytest.approx(0.5 * math.log(4 / 3), abs=1e-15)
    assert float(tv(mu, ref)) == pytest.approx(0.25, abs=1e-15)
    assert chi2(mu, ref).dtype == jnp.float64
    # same numbers on an [S, A] array, and on the state marginal
    mu2, ref2 = mu.reshape(1, 2), ref.reshape(1, 2)
    assert float(chi2(mu2, ref2)) == pytest.approx(1 / 3, abs=1e-15)
    assert float(chi2(state_marginal(mu2), state_marginal(ref2))) == 0.0


def test_divergences_zero_support(x64):
    # mu > 0 = ref somewhere: chi2 = KL = inf, TV finite.
    mu, ref = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    assert np.isinf(float(chi2(mu, ref))) and np.isinf(float(kl(mu, ref)))
    assert float(tv(mu, ref)) == pytest.approx(0.5)
    # mu = 0 < ref: finite. mu = (1, 0), ref = (1/2, 1/2): KL = ln 2, chi2 = 1/2 + 1/2 = 1.
    mu, ref = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    assert float(kl(mu, ref)) == pytest.approx(math.log(2))
    assert float(chi2(mu, ref)) == pytest.approx(1.0)
    # both zero on a cell: contributes nothing, gradients finite
    mu, ref = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.75, 0.0])
    assert float(chi2(mu, ref)) == pytest.approx(1 / 3)
    for f in (chi2, sqrt_chi2, kl, tv):
        g = jax.grad(lambda m, f=f: f(m, ref))(jnp.asarray(mu))
        assert np.all(np.isfinite(np.asarray(g))), f
    # sqrt_chi2 at mu = ref: value 0 and a finite (zero) subgradient
    g = jax.grad(lambda m: sqrt_chi2(m, ref))(jnp.asarray(ref))
    assert np.all(np.asarray(g) == 0.0)


def test_divergences_generic_shapes_and_inequalities(x64):
    rng = np.random.default_rng(0)
    H, S, A = 4, 5, 3
    mu = dirichlet_rows(rng, (H, S * A), 1.0).reshape(H, S, A)
    ref = dirichlet_rows(rng, (H, S * A), 5.0).reshape(H, S, A)
    per_t = np.asarray(chi2(mu, ref, axis=(-2, -1)))
    assert per_t.shape == (H,)
    np.testing.assert_allclose(per_t.sum(), float(chi2(mu, ref)), rtol=1e-13)
    for t in range(H):
        c, k, d = float(chi2(mu[t], ref[t])), float(kl(mu[t], ref[t])), float(tv(mu[t], ref[t]))
        assert k <= math.log1p(c) + 1e-12  # KL <= log(1 + chi2)
        assert d <= math.sqrt(k / 2) + 1e-12  # Pinsker
    assert state_marginal(mu).shape == (H, S)


# ----------------------------------------------------------------------------- exact ascent
def _small_problem(seed=3, S=6, A=3, gamma=0.9):
    mdp = jax.tree.map(jnp.asarray, numpy_mdp(seed, S, A, gamma))
    pi_ref = dirichlet_rows(np.random.default_rng(seed), (S, A), 5.0)
    mu_ref = occupancy_measure(mdp, pi_ref)
    return mdp, pi_ref, mu_ref


@pytest.mark.heavy
def test_ascent_lambda_zero_recovers_proxy_optimum(x64):
    mdp, _, mu_ref = _small_problem()
    occ, ret = tabular_fns(mdp)
    V = value_iteration(mdp).V
    J_star = (1 - float(mdp.gamma)) * float(jnp.dot(mdp.init_dist, V))  # normalised
    res = optimize_regularized(occ, ret, jnp.zeros((6, 3)), mdp.R, mu_ref, 0.0, mdp.R)
    assert float(res.proxy_return) == pytest.approx(J_star, abs=1e-7)
    assert float(res.true_return) == pytest.approx(float(res.proxy_return))
    assert float(res.proxy_return) <= J_star + 1e-12
    # [S, A] reward on (s, a) gives the same return as the [S, A, S'] table
    assert float(ret(res.logits, mdp.expected_reward)) == pytest.approx(float(res.proxy_return))


def test_ascent_large_lambda_pins_occupancy_and_curve_is_monotone(x64):
    mdp, pi_ref, mu_ref = _small_problem()
    occ, ret = tabular_fns(mdp)
    lams = jnp.array([0.0, 0.03, 0.3, 3.0, 1e3])
    curve = regularization_curve(
        lams, occ, ret, jnp.zeros((6, 3)), mdp.R, mu_ref, divergence="chi2"
    )
    assert curve.proxy_return.shape == (5,)
    mu_pinned = np.asarray(occ(curve.logits[-1]))
    assert float(chi2(mu_pinned, mu_ref)) < 1e-6
    assert np.max(np.abs(mu_pinned - np.asarray(mu_ref))) < 1e-3
    # the regularised optimum beats the reference policy's objective (it is feasible)
    J_ref = float(ret(logits_from_policy(pi_ref), mdp.R))
    assert np.all(np.asarray(curve.objective) >= J_ref - 1e-6)
    # proxy return and divergence both decrease with λ
    assert np.all(np.diff(np.asarray(curve.proxy_return)) <= 1e-8)
    assert np.all(np.diff(np.asarray(curve.divergence)) <= 1e-8)
    assert np.all(np.isnan(np.asarray(curve.true_return)))  # no true reward given


@pytest.mark.parametrize("name", ["kl", "sqrt_chi2", "tv"])
def test_ascent_other_divergences_pin(x64, name):
    mdp, pi_ref, mu_ref = _small_problem()
    occ, ret = tabular_fns(mdp)
    # start at π_ref: √χ² and TV are not differentiable there, gradients must stay finite
    res = optimize_regularized(
        occ, ret, logits_from_policy(pi_ref), mdp.R, mu_ref, 1e3, divergence=name, steps=300
    )
    assert np.all(np.isfinite(np.asarray(res.trace)))
    assert float(tv(occ(res.logits), mu_ref)) < 1e-3


@pytest.mark.heavy
def test_ascent_pluggable_finite_horizon(x64):
    mdp, _, _ = _small_problem()
    H = 8
    occ, ret = finite_horizon_fns(mdp.P, mdp.init_dist, horizon=H)
    sol = finite_horizon(mdp.P, mdp.R, horizon=H, gamma=1.0)
    J_star = float(jnp.dot(mdp.init_dist, sol.V[0])) / H  # per-step average
    logits0 = jnp.zeros((H, 6, 3))
    mu_ref = occ(logits0)  # uniform reference, time-averaged [S, A]
    assert mu_ref.shape == (6, 3) and float(mu_ref.sum()) == pytest.approx(1.0)
    res = optimize_regularized(occ, ret, logits0, mdp.R, mu_ref, 0.0, steps=1000)
    assert float(res.proxy_return) == pytest.approx(J_star, abs=1e-6)
    res = optimize_regularized(occ, ret, logits0, mdp.R, mu_ref, 1e3, steps=300)
    assert float(chi2(occ(res.logits), mu_ref)) < 1e-6
    # per-time visitation arrays work with the same divergences
    occ_t, _ = finite_horizon_fns(mdp.P, mdp.init_dist, horizon=H, time_average=False)
    x = occ_t(logits0)
    assert x.shape == (H, 6, 3)
    np.testing.assert_allclose(np.asarray(x.sum((1, 2))), 1.0, atol=1e-12)


# ----------------------------------------------------------------------------- discriminator
S_D, A_D = 4, 3


def _categorical_batch(key, probs, n):
    cells = jax.random.choice(key, S_D * A_D, (n,), p=jnp.asarray(probs, jnp.float32))
    return DiscBatch(jax.nn.one_hot(cells // A_D, S_D), cells % A_D)


def _two_distributions():
    rng = np.random.default_rng(0)
    return rng.dirichlet(np.full(S_D * A_D, 2.0)), rng.dirichlet(np.full(S_D * A_D, 2.0))


@pytest.mark.heavy
@pytest.mark.parametrize("use_action", [True, False])
def test_discriminator_learns_log_ratio(use_action):
    p, q = _two_distributions()
    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
    n = 4096
    bp, bq = _categorical_batch(k1, p, n), _categorical_batch(k2, q, n)
    if not use_action:  # leading batch dims [T, N] are accepted (and flattened)
        bp = jax.tree.map(lambda x: x.reshape(64, 64, *x.shape[1:]), bp)
    inputs = "sa" if use_action else "s"
    config = orpo_config(S_D, A_D, inputs=inputs, hidden_sizes=(64, 64), learning_rate=3e-3)
    state = init_discriminator(k3, config)
    state, metrics = train_occupancy_ratio(state, bp, bq, k4, num_epochs=20, num_minibatches=4)
    assert metrics["loss"].shape == (20,)
    assert float(metrics["loss"][-1]) < float(metrics["loss"][0])
    cells = jnp.arange(S_D * A_D)
    obs, act = jax.nn.one_hot(cells // A_D, S_D), cells % A_D
    d = np.asarray(discriminator_logits(state.config, state.variables, DiscBatch(obs, act)))
    if use_action:
        target = np.log(p / q)
        weights = p
    else:  # state-only: d(s) ≈ log p(s)/q(s)
        ps, qs = p.reshape(S_D, A_D).sum(1), q.reshape(S_D, A_D).sum(1)
        target, weights = np.repeat(np.log(ps / qs), A_D), p
    assert np.corrcoef(d, target)[0, 1] > 0.95
    assert float(np.sum(weights * np.abs(d - target))) < 0.15
    assert 0.5 < float(metrics["accuracy"]) <= 1.0


@pytest.mark.heavy
def test_discriminator_returns_its_final_logits():
    # return_logits hands back the final pass's d on both batches (leading shapes kept), the
    # same values as running the trained network again, and changes nothing else.
    p, q = _two_distributions()
    k1, k2, k3, k4 = jax.random.split(jax.random.key(2), 4)
    bp = jax.tree.map(lambda x: x.reshape(16, 8, *x.shape[1:]), _categorical_batch(k1, p, 128))
    bq = _categorical_batch(k2, q, 96)
    state = init_discriminator(k3, orpo_config(S_D, A_D, hidden_sizes=(16,)))
    plain_state, plain = train_occupancy_ratio(state, bp, bq, k4, num_epochs=3, num_minibatches=2)
    new_state, metrics = train_occupancy_ratio(
        state, bp, bq, k4, num_epochs=3, num_minibatches=2, return_logits=True
    )
    assert "logits_pi" not in plain
    assert metrics["logits_pi"].shape == (16, 8) and metrics["logits_ref"].shape == (96,)
    for a, b in zip(jax.tree.leaves(plain_state), jax.tree.leaves(new_state), strict=True):
        np.testing.assert_array_equal(a, b)
    for k, v in plain.items():
        np.testing.assert_array_equal(v, metrics[k])
    for name, batch in (("logits_pi", bp), ("logits_ref", bq)):
        d = discriminator_logits(new_state.config, new_state.variables, batch)
        np.testing.assert_allclose(metrics[name], d, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(metrics["mean_logit_pi"], metrics["logits_pi"].mean(), rtol=1e-6)


def test_penalties_sign_clip_and_nonfinite():
    d = jnp.array([-2.0, -0.5, 0.0, 0.5, 3.0, jnp.inf, jnp.nan])
    kl_p = np.asarray(penalty_from_logits(d, "kl", clip=2.5))
    np.testing.assert_allclose(kl_p, [-2.0, -0.5, 0.0, 0.5, 2.5, 0.0, 0.0])
    chi = np.asarray(penalty_from_logits(d, "chi2", clip=100.0))
    np.testing.assert_allclose(chi[:5], np.expm1([-2.0, -0.5, 0.0, 0.5, 3.0]), rtol=1e-6)
    assert chi[5] == 0.0 and chi[6] == 0.0  # non-finite -> 0
    assert np.all(np.sign(chi[:5]) == np.sign(np.asarray(d[:5])))  # penalise where μ_π > μ_ref
    np.testing.assert_allclose(np.asarray(penalty_from_logits(d, "tv")), [-1, -1, 0, 1, 1, 1, 0])
    assert np.max(np.abs(np.asarray(penalty_from_logits(d * 100, "chi2", clip=7.0)))) == 7.0


def test_sqrt_chi2_penalty_trimmed_normalisation():
    # 200 samples: trimmed mean drops 2 from each end.
    e = np.concatenate([np.full(198, 0.5), [1e6, -1.0]])  # e = exp(d) - 1
    d = jnp.log1p(jnp.asarray(e, jnp.float32))
    assert float(trimmed_mean(e)) == pytest.approx(0.5)
    pen = np.asarray(penalty_from_logits(d, "sqrt_chi2", clip=1e3))
    assert pen[0] == pytest.approx(0.5 / math.sqrt(0.5), rel=1e-5)
    assert pen[198] == 1e3  # clipped
    # trimmed mean <= 0: no division
    d_neg = jnp.full((10,), -1.0)
    np.testing.assert_allclose(
        np.asarray(penalty_from_logits(d_neg, "sqrt_chi2")), np.expm1(-1.0), rtol=1e-6
    )


def test_occupancy_penalty_transform():
    k1, k2 = jax.random.split(jax.random.key(1))
    state = init_discriminator(k1, orpo_config(S_D, A_D, hidden_sizes=(16,)))
    tf = occupancy_penalty(state.config, "chi2", lam=0.5, disc_params=state.variables, clip=100.0)
    T, N = 5, 3
    cells = jax.random.randint(k2, (T, N), 0, S_D * A_D)
    obs, act = jax.nn.one_hot(cells // A_D, S_D), cells % A_D
    rew = jnp.ones((T, N))
    tr = Transition(
        obs, act, rew, obs, jnp.zeros((T, N), bool), jnp.zeros((T, N), bool),
        0.99 * jnp.ones((T, N)), {}, jnp.zeros((T, N), jnp.int32),
    )  # fmt: skip
    out, _ = tf.apply(tf.default_params, tf.init(tf.default_params), tr)
    d = discriminator_logits(state.config, state.variables, DiscBatch(obs, act))
    np.testing.assert_allclose(np.asarray(out), 1.0 - 0.5 * np.expm1(np.asarray(d)), rtol=1e-6)
    # λ is vmappable; the outer loop swaps in new discriminator params
    lams = jnp.array([0.0, 1.0])
    params = OccupancyPenaltyParams(lams, state.variables)
    outs = jax.vmap(lambda p: tf.apply(p, (), tr)[0], in_axes=(OccupancyPenaltyParams(0, None),))(
        params
    )
    np.testing.assert_allclose(np.asarray(outs[0]), 1.0)
    zero_params = jax.tree.map(jnp.zeros_like, state.variables)
    out0, _ = jax.jit(tf.apply)(OccupancyPenaltyParams(1.0, zero_params), (), tr)
    np.testing.assert_allclose(np.asarray(out0), 1.0)  # d = 0 -> e^0 - 1 = 0


# ----------------------------------------------------------------------------- AD baseline
def test_ad_hand_values():
    # π = (1/2, 1/2), π_ref = (1/4, 3/4) in one state:
    #   KL = 1/2 ln(4/3) = 0.1438410362;  chi2 = 1/3
    # γ = 0.9, β = 0.1: penalty = β/(1-γ) · KL = 1.0 · 0.1438410362
    lp = jnp.log(jnp.array([[0.5, 0.5]]))
    lq = jnp.log(jnp.array([[0.25, 0.75]]))
    assert float(categorical_kl(lp, lq)[0]) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)
    assert float(categorical_chi2(lp, lq)[0]) == pytest.approx(1 / 3, rel=1e-6)
    assert float(ad_kl_penalty(lp, lq, 0.9, 0.1)) == pytest.approx(0.1438410362, rel=1e-6)
    # two states, second identical (KL 0): mean halves -> 0.0719205181
    lp2, lq2 = jnp.concatenate([lp, lq]), jnp.concatenate([lq, lq])
    assert float(ad_kl_penalty(lp2, lq2, 0.9, 0.1)) == pytest.approx(0.0719205181, rel=1e-6)
    # mask picks the first state only
    m = jnp.array([1.0, 0.0])
    assert float(ad_kl_penalty(lp2, lq2, 0.9, 0.1, mask=m)) == pytest.approx(0.1438410362, rel=1e-6)
    # χ²: β/(1-γ) · 1/3 ; sqrt: √(1/3) = 0.5773502692 ; floor: √1e-4 = 0.01 at π = π_ref
    assert float(ad_chi2_penalty(lp, lq, 0.9, 0.1)) == pytest.approx(1 / 3, rel=1e-6)
    assert float(ad_chi2_penalty(lp, lq, 0.9, 0.1, sqrt=True)) == pytest.approx(
        0.5773502692, rel=1e-6
    )
    assert float(ad_chi2_penalty(lq, lq, 0.9, 0.1, sqrt=True)) == pytest.approx(0.01, rel=1e-5)
    g = jax.grad(lambda x: ad_chi2_penalty(x, lq, 0.9, 0.1, sqrt=True))(lq)
    assert np.all(np.isfinite(np.asarray(g)))
    # gradient flows to π only
    g_ref = jax.grad(lambda y: ad_kl_penalty(lp, y, 0.9, 0.1))(lq)
    assert np.all(np.asarray(g_ref) == 0.0)


def test_gaussian_divergences_hand_values():
    # 1-D: p = N(1, 1), q = N(0, 2^2): KL = ln 2 + (1 + 1)/8 - 1/2 = 0.4431471806
    # chi2: 1 + chi2 = 4 / (1 · √7) · exp(1/7) = 1.7419660...
    mp, lsp, mq, lsq = (
        jnp.array([[1.0]]),
        jnp.zeros(1),
        jnp.array([[0.0]]),
        jnp.log(2.0) * jnp.ones(1),
    )
    assert float(gaussian_kl(mp, lsp, mq, lsq)[0]) == pytest.approx(0.4431471806, rel=1e-6)
    assert float(gaussian_chi2(mp, lsp, mq, lsq)[0]) == pytest.approx(
        4 / math.sqrt(7) * math.exp(1 / 7) - 1, rel=1e-5
    )
    assert np.isinf(float(gaussian_chi2(mq, lsq, mp, lsp)[0]))  # σ_p² >= 2σ_q²
    # two independent dims add
    m2 = jnp.concatenate([mp, mp], -1)
    assert float(gaussian_kl(m2, lsp, jnp.zeros((1, 2)), lsq)[0]) == pytest.approx(
        2 * 0.4431471806, rel=1e-6
    )
    pen = ad_kl_penalty_gaussian(mp, lsp, mq, lsq, 0.5, 1.0)
    assert float(pen) == pytest.approx(2 * 0.4431471806, rel=1e-6)


# ----------------------------------------------------------------------------- checks 12 / 13
def test_check12_adversarial_chi2_bound_is_tight_and_kl_fails(x64):
    from theory_checks.check_correlated_proxy import ProxyCase, slacks
    from theory_checks.harness import MDPCase, numpy_mdp, pad_mdp

    mdp = pad_mdp(numpy_mdp(seed=0, n_states=6, n_actions=3, gamma=0.9), 12)
    case = ProxyCase(MDPCase(0, 6, 3, 0.9, None, 0, mdp), rho=0.5, u=0.5)
    chi2_slack = slacks(case)
    assert abs(chi2_slack[0, 0]) < 1e-9  # (w - 1) ⟂ z̃: the χ² bound holds with equality at π₀
    assert chi2_slack.min() > -1e-10
    assert slacks(case._replace(root="kl"))[0, 0] < -0.05  # √KL in place of √χ²: violated


@pytest.mark.heavy
def test_check13_trained_and_untrained_discriminator(x64):
    from theory_checks.check_orpo_discriminator import DiscCase, discriminator_errors
    from theory_checks.harness import MDPCase, numpy_mdp, pad_mdp

    mdp = pad_mdp(numpy_mdp(seed=0, n_states=6, n_actions=3, gamma=0.9), 12)
    case = DiscCase(MDPCase(0, 6, 3, 0.9, None, 0, mdp), alpha=1.0)
    assert max(discriminator_errors(case).values()) < 1e-10
    errs = discriminator_errors(case._replace(trained=False))
    assert errs["chi2_identity"] > 1e-3 and errs["kl_identity"] > 1e-3
    assert bayes_optimal_logit(np.array([0.5, 0.0]), np.array([0.0, 0.5])).tolist() == [
        math.inf,
        -math.inf,
    ]
