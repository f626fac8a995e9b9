"""Potential-based shaping: the RewardTransform forms, the table forms, potentials, heuristics."""

import hypothesis
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

from jaxrl.shaping import (
    Transition,
    apply_to_table,
    biased_greedy,
    cartpole_upright,
    chain,
    check_gamma,
    dynamic_potential,
    dynamic_shaped_rewards,
    identity,
    lookahead_advice_fixed_point,
    lookahead_advice_reward,
    lookback_advice_reward,
    mountain_car_energy,
    mountain_car_height,
    pendulum_energy,
    pendulum_height,
    potential_based,
    potential_from_critic,
    potential_from_table,
    scale,
    shaped_reward_table,
    time_potential_from_table,
)

GAMMA = 0.9


def _phi(obs):
    """Φ(obs) = sum of the observation vector."""
    return jnp.sum(obs, axis=-1)


def _transitions():
    """Three steps: ordinary, terminated, truncated (next_obs = final observation)."""
    obs = jnp.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    next_obs = jnp.array([[0.0, 4.0], [0.0, 5.0], [0.0, 6.0]])
    terminated = jnp.array([False, True, False])
    truncated = jnp.array([False, False, True])
    return Transition(
        obs=obs,
        action=jnp.zeros(3, jnp.int32),
        reward=jnp.array([1.0, 1.0, 1.0]),
        next_obs=next_obs,
        terminated=terminated,
        truncated=truncated,
        discount=GAMMA * (1.0 - terminated),
        channels={},
        time=jnp.array([0, 5, 7]),
    )


def _apply(transform, tr, params=None):
    params = transform.default_params if params is None else params
    reward, _ = transform.apply(params, transform.init(params), tr)
    return np.asarray(reward)


def test_potential_based_terminal_and_truncation():
    tr = _transitions()
    r = _apply(potential_based(_phi, gamma=GAMMA), tr)
    # ordinary: 1 + 0.9*4 - 1; terminated: Φ(s') dropped: 1 + 0 - 2; truncated: Φ(final obs) kept.
    np.testing.assert_allclose(r, [1 + 0.9 * 4 - 1, 1 - 2, 1 + 0.9 * 6 - 3], rtol=1e-6)


def test_coefficient_scales_shaping_and_is_vmappable():
    tr = _transitions()
    t = potential_based(_phi, gamma=GAMMA, coefficient=2.0)
    F = _apply(potential_based(_phi), tr) - np.asarray(tr.reward)
    np.testing.assert_allclose(_apply(t, tr), np.asarray(tr.reward) + 2 * F, rtol=1e-6)
    coefs = jnp.array([0.0, 1.0, 3.0])
    out = jax.vmap(lambda c: t.apply(c, t.init(c), tr)[0])(coefs)
    np.testing.assert_allclose(
        out, np.asarray(tr.reward) + np.asarray(coefs)[:, None] * F, rtol=1e-6
    )


def test_batch_polymorphic_rollout_shape():
    tr = _transitions()
    tr2 = jax.tree.map(lambda x: jnp.stack([x, x]), tr)  # [T=2, N=3]
    out = _apply(potential_based(_phi), tr2)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[1], _apply(potential_based(_phi), tr), rtol=1e-6)


def test_dynamic_potential_uses_arrival_time():
    tr = _transitions()
    phi_t = lambda obs, t: jnp.sum(obs, -1) + 10.0 * t  # noqa: E731
    r = _apply(dynamic_potential(phi_t), tr)
    # F = discount·Φ(s', t + 1) − Φ(s, t)
    expected = [
        1 + 0.9 * (4 + 10 * 1) - (1 + 0),
        1 + 0.0 - (2 + 50),
        1 + 0.9 * (6 + 80) - (3 + 70),
    ]
    np.testing.assert_allclose(r, expected, rtol=1e-6)


def test_chain_with_identity_and_scale():
    tr = _transitions()
    pb = potential_based(_phi, gamma=GAMMA)
    np.testing.assert_allclose(_apply(chain(identity(), pb), tr), _apply(pb, tr), rtol=1e-6)
    ch = chain(scale(2.0), pb)
    assert ch.gamma == GAMMA
    F = _apply(pb, tr) - np.asarray(tr.reward)
    np.testing.assert_allclose(_apply(ch, tr), 2 * np.asarray(tr.reward) + F, rtol=1e-6)
    with pytest.raises(ValueError, match="different gammas"):
        chain(pb, potential_based(_phi, gamma=0.99))


def test_gamma_mismatch_raises_unless_allowed():
    pb = potential_based(_phi, gamma=0.99)
    check_gamma(pb, 0.99)
    check_gamma(pb, np.array([0.99, 0.99]))  # a sweep of learner γ (float64)
    with pytest.raises(ValueError, match="gamma"):
        check_gamma(pb, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        check_gamma(pb, np.array([0.99, 0.9]))
    check_gamma(pb, 0.9, allow_mismatch=True)
    check_gamma(potential_based(_phi), 0.5)  # no recorded γ: nothing to check
    # The explicit opt-out uses its own γ in F (and records none, so trainers accept it).
    mismatched = potential_based(_phi, gamma=1.0, allow_gamma_mismatch=True)
    assert mismatched.gamma is None
    check_gamma(mismatched, 0.9)
    tr = _transitions()
    np.testing.assert_allclose(_apply(mismatched, tr), [1 + 4 - 1, 1 - 2, 1 + 6 - 3], rtol=1e-6)
    with pytest.raises(ValueError, match="own gamma"):
        potential_based(_phi, allow_gamma_mismatch=True)


def test_ppo_trainer_check_rejects_gamma_mismatch():
    from jaxrl.agents.ppo import make_train
    from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
    from jaxrl.envs import make

    env, env_params = make("CartPole-v1")
    static = PPOStatic(num_envs=2, num_steps=8, total_timesteps=64, hidden_sizes=(8,))
    transform = potential_based(cartpole_upright(), gamma=0.99)
    trainer = make_train(static, env, transform, env_params)
    with pytest.raises(ValueError, match="gamma"):
        trainer.check(PPOHParams(gamma=0.9, transform=transform.default_params))
    trainer.check(PPOHParams(gamma=0.99, transform=transform.default_params))
    trainer.check(
        PPOHParams(gamma=0.9, transform=transform.default_params), allow_gamma_mismatch=True
    )


def test_trainer_checks_gamma_on_first_call_unless_mismatch_is_allowed():
    """init, trainer(key, hp) and jit(vmap(init)) check γ without an explicit ``check`` call;
    ``allow_gamma_mismatch=True`` on the trainer is the escape hatch (issue 13)."""
    import dataclasses

    from jaxrl.agents.ppo import make_train
    from jaxrl.agents.ppo_config import PPOHParams, PPOStatic
    from jaxrl.envs import make

    env, env_params = make("CartPole-v1")
    static = PPOStatic(num_envs=2, num_steps=8, total_timesteps=16, hidden_sizes=(8,))
    transform = potential_based(cartpole_upright(), gamma=0.99)
    trainer = make_train(static, env, transform, env_params)
    hp = PPOHParams(gamma=0.9, transform=transform.default_params)
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="gamma"):
        trainer.init(keys[0], hp)
    with pytest.raises(jax.errors.JaxRuntimeError, match="allow_gamma_mismatch"):
        jax.block_until_ready(jax.jit(jax.vmap(trainer.init))(keys, hp.broadcast(2)))
    allowed = dataclasses.replace(trainer, allow_gamma_mismatch=True)
    assert not hasattr(allowed.init.unchecked, "unchecked")  # replace does not wrap twice
    a = allowed.init(keys[0], hp)
    b = jax.jit(jax.vmap(allowed.init))(keys, hp.broadcast(2))
    np.testing.assert_array_equal(a.obs, b.obs[0])
    trainer.init(keys[0], hp._replace(gamma=0.99))  # the transform's own γ passes


# ----------------------------------------------------------------------------- table forms
def _random_table(seed=0, S=5, A=3):
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((S, A, S))
    phi = 5 * rng.standard_normal(S)
    term = np.zeros(S, bool)
    term[S - 1] = True
    R[term] = 0.0
    return R, phi, term


def test_table_form_equals_transform_on_flattened_transitions():
    with jax.enable_x64(True):
        R, phi, term = _random_table()
        S, A, _ = R.shape
        s, a, s2 = (x.reshape(-1) for x in np.meshgrid(*map(np.arange, R.shape), indexing="ij"))
        terminated = term[s2]
        onehot = np.eye(S)
        for obs, next_obs in ((s, s2), (onehot[s], onehot[s2])):  # index and one-hot observations
            tr = Transition(
                obs=jnp.asarray(obs),
                action=jnp.asarray(a),
                reward=jnp.asarray(R.reshape(-1)),
                next_obs=jnp.asarray(next_obs),
                terminated=jnp.asarray(terminated),
                truncated=jnp.zeros_like(jnp.asarray(terminated)),
                discount=jnp.asarray(GAMMA * (1.0 - terminated)),
                channels={},
                time=jnp.zeros(s.shape, jnp.int32),
            )
            out = _apply(potential_based(potential_from_table(phi), gamma=GAMMA), tr)
            out = out.reshape(S, A, S) * (~term)[:, None, None]  # exact layer: terminal rows = 0
            table = np.asarray(shaped_reward_table(R, phi, GAMMA, term))
            np.testing.assert_allclose(out, table, rtol=0, atol=1e-12)
        via_helper = apply_to_table(potential_based(potential_from_table(phi)), R, GAMMA, term)
        np.testing.assert_allclose(via_helper, table, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table_forms_equal_transforms_on_terminal_rows(seed):
    """Table form == transform form on MDPs with terminals, terminal rows included: both zero the
    rows leaving a terminal state (the exact layer's convention), even when ``R`` has reward there
    (an unvalidated MDP)."""
    from jaxrl.mdp import random_mdp

    with jax.enable_x64(True):
        mdp = random_mdp(jax.random.key(seed), 6, 3, gamma=GAMMA, n_terminal=2)
        term = np.asarray(mdp.terminal_mask)
        rng = np.random.default_rng(seed)
        R = np.asarray(mdp.R) + term[:, None, None] * rng.standard_normal(mdp.R.shape)
        assert np.abs(R[term]).min() > 0  # rewards on the rows that leave a terminal state
        phi = 5 * rng.standard_normal(6)
        table = np.asarray(shaped_reward_table(R, phi, GAMMA, term))
        via = np.asarray(apply_to_table(potential_based(potential_from_table(phi)), R, GAMMA, term))
        np.testing.assert_allclose(via, table, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(table[term], 0.0)
        np.testing.assert_array_equal(via[term], 0.0)
        phi_t = 3 * rng.standard_normal((4, 6))
        R_t = np.asarray(dynamic_shaped_rewards(R, phi_t, GAMMA, term))
        transform = dynamic_potential(
            time_potential_from_table(np.concatenate([phi_t[:-1], 0 * phi_t[-1:]]))
        )
        for t in range(3):
            via_t = np.asarray(apply_to_table(transform, R, GAMMA, term, time=t))
            np.testing.assert_allclose(via_t, R_t[t], rtol=0, atol=1e-12)
            np.testing.assert_array_equal(via_t[term], 0.0)
        np.testing.assert_array_equal(R_t[:, term], 0.0)


def test_dynamic_table_form_equals_transform_and_zeroes_final_potential():
    with jax.enable_x64(True):
        R, _, term = _random_table(1)
        H, S = 4, R.shape[0]
        phi_t = 3 * np.random.default_rng(2).standard_normal((H + 1, S))
        R_t = np.asarray(dynamic_shaped_rewards(R, phi_t, GAMMA, term))
        assert R_t.shape == (H, *R.shape)
        phi_zeroed = phi_t.copy()
        phi_zeroed[H] = 0.0
        transform = dynamic_potential(time_potential_from_table(phi_zeroed))
        for t in range(H):
            np.testing.assert_allclose(
                apply_to_table(transform, R, GAMMA, term, time=t), R_t[t], rtol=0, atol=1e-12
            )
        # Arrival-time convention on one entry: R + γΦ(s', t + 1) − Φ(s, t).
        np.testing.assert_allclose(
            R_t[1, 0, 2, 1], R[0, 2, 1] + GAMMA * phi_t[2, 1] - phi_t[1, 0], atol=1e-12
        )
        kept = np.asarray(dynamic_shaped_rewards(R, phi_t, GAMMA, term, zero_final=False))
        live = (~term).astype(float)
        expected = GAMMA * phi_t[H][None, None, :] * live[None, None, :] * live[:, None, None]
        np.testing.assert_allclose(
            kept[H - 1] - R_t[H - 1], np.broadcast_to(expected, R.shape), atol=1e-12
        )


def test_potential_from_table_index_and_one_hot():
    values = jnp.array([1.0, -2.0, 3.0])
    phi = potential_from_table(values)
    np.testing.assert_allclose(phi(jnp.array([[2, 0], [1, 1]])), [[3.0, 1.0], [-2.0, -2.0]])
    np.testing.assert_allclose(phi(jax.nn.one_hot(jnp.array([2, 1]), 3)), [3.0, -2.0])
    with pytest.raises(ValueError, match="one-hot"):
        phi(jnp.ones((2, 4)))
    phi_t = time_potential_from_table(jnp.arange(6.0).reshape(2, 3))  # H = 1
    np.testing.assert_allclose(phi_t(jnp.array([0, 2, 1]), jnp.array([0, 1, 5])), [0.0, 5.0, 4.0])


def test_potential_from_critic():
    import flax.linen as nn

    critic = nn.Dense(1)
    params = critic.init(jax.random.key(0), jnp.zeros(4))
    phi = potential_from_critic(critic.apply, params, select=lambda v: v[..., 0])
    obs = jax.random.normal(jax.random.key(1), (5, 4))
    np.testing.assert_allclose(phi(obs), critic.apply(params, obs)[:, 0], rtol=1e-6)
    # Frozen: no gradient flows into the snapshot through the potential.
    grad = jax.grad(
        lambda p: potential_from_critic(critic.apply, p, lambda v: v[..., 0])(obs).sum()
    )(params)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grad))


# ----------------------------------------------------------------------------- advice
def test_advice_rewards_and_biased_greedy():
    np.testing.assert_allclose(lookahead_advice_reward(1.0, 2.0, 0.9), 0.9 * 2.0 - 1.0)
    np.testing.assert_allclose(lookback_advice_reward(2.0, 1.8, 0.9), 2.0 - 1.8 / 0.9)
    q = jnp.array([[1.0, 0.0], [0.0, 0.5]])
    phi_sa = jnp.array([[0.0, 2.0], [0.0, 0.0]])
    np.testing.assert_array_equal(biased_greedy(q, phi_sa), [1, 1])


def test_lookahead_fixed_point_is_shift_of_q_star():
    from jaxrl.mdp import value_iteration
    from theory_checks.harness import numpy_mdp

    with jax.enable_x64(True):
        mdp = numpy_mdp(seed=3, n_states=4, n_actions=3, gamma=0.8, n_terminal=1)
        phi_sa = 5 * np.random.default_rng(4).standard_normal((4, 3))
        Q_adv = np.asarray(lookahead_advice_fixed_point(mdp, jnp.asarray(phi_sa)))
        Q_star = value_iteration(mdp).Q
        live = ~np.asarray(mdp.terminal_mask)
        np.testing.assert_allclose(
            Q_adv[live], (np.asarray(Q_star) - phi_sa)[live], rtol=0, atol=1e-10
        )
        np.testing.assert_array_equal(
            biased_greedy(Q_adv, phi_sa)[live], np.argmax(np.asarray(Q_star), -1)[live]
        )


# ----------------------------------------------------------------------------- heuristics
def test_mountain_car_potentials():
    obs = jnp.array([[-0.5236, 0.0], [0.5, 0.0], [-0.5236, 0.05], [-1.2, 0.0]])
    h = mountain_car_height(2.0)(obs)
    e = mountain_car_energy()(obs)
    assert h.shape == e.shape == (4,)
    np.testing.assert_allclose(h[0], -2.0, atol=1e-4)  # valley floor
    assert h[1] > h[0] and h[1] > 1.9  # goal is high
    assert e[2] > e[0]  # speed raises energy
    np.testing.assert_allclose(e[2] - e[0], 0.5 * 0.05**2 / 0.0025, rtol=1e-5)


def test_cartpole_potential_sign():
    obs = jnp.array([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 0.1, 3.0], [0.0, 0.0, -0.1, 0.0]])
    phi = cartpole_upright(3.0)(obs)
    assert phi.shape == (3,)
    np.testing.assert_allclose(phi, [0.0, -0.3, -0.3], rtol=1e-6)


def test_pendulum_potentials():
    th = jnp.array([0.0, jnp.pi, jnp.pi / 2])
    obs = jnp.stack([jnp.cos(th), jnp.sin(th), jnp.array([0.0, 0.0, 2.0])], -1)
    np.testing.assert_allclose(pendulum_height()(obs), [1.0, -1.0, 0.0], atol=1e-6)
    e = pendulum_energy()(obs)
    np.testing.assert_allclose(e, [0.0, -10.0, -(5.0 - 4.0 / 6.0)], atol=1e-5)
    np.testing.assert_allclose(pendulum_energy(target=False)(obs)[:2], [5.0, -5.0], atol=1e-5)
    assert pendulum_energy()(obs[None]).shape == (1, 3)


# ----------------------------------------------------------------------------- controls
def _regret(mdp, R_shaped) -> float:
    """``max_s V*(s) − V^{π'}(s)``, π' optimal for ``R_shaped`` (same dynamics)."""
    from jaxrl.mdp import policy_evaluation, policy_iteration

    pi_shaped = policy_iteration(mdp.replace(R=jnp.asarray(R_shaped))).pi
    V_star = policy_iteration(mdp).V
    return float(jnp.max(V_star - policy_evaluation(mdp, pi_shaped)))


def test_theory_unit_cases_flip_only_with_the_bug():
    """The constructive counterexamples of checks 1.1/1.3/1.5 flip the optimum only because of the
    broken assumption: the correct shaping of the same MDPs has zero regret."""
    from jaxrl.mdp import finite_horizon, finite_horizon_evaluation
    from theory_checks.check_dynamic_pbrs import ROUTES, shaped_rewards
    from theory_checks.check_episodic import goal_route_mdp
    from theory_checks.check_pbrs import ShapingCase, _pbrs_error
    from theory_checks.harness import MDPCase, numpy_mdp, pad_mdp

    with jax.enable_x64(True):
        mdp = goal_route_mdp(0.9)
        for phi_goal, mask in ((0.0, None), (10.0, mdp.terminal_mask), (-10.0, None)):
            phi = jnp.asarray([0.0, phi_goal, 0.0, 0.0])
            assert _regret(mdp, shaped_reward_table(mdp.R, phi, mdp.gamma, mask)) == 0.0
        phi = jnp.asarray([0.0, 10.0, 0.0, 0.0])
        assert _regret(mdp, shaped_reward_table(mdp.R, phi, mdp.gamma)) > 0.1  # Φ(goal) kept

        # 1.1: the same error is ~0 with the learner's γ and large with γ' = 1 in F.
        base = MDPCase(3, 5, 3, 0.9, None, 0, pad_mdp(numpy_mdp(3, 5, 3, 0.9), 12))
        case = ShapingCase(base, base.potential())
        mismatch = case._replace(kind="gamma mismatch", extra=1.0)

        @hypothesis.given(st.just(None))  # _pbrs_error may call assume(): run it as a property
        @hypothesis.settings(max_examples=1, database=None, deadline=None)
        def errors(_):
            assert _pbrs_error(case) <= 1e-9 and _pbrs_error(mismatch) > 1e-3

        errors()

        # 1.3 (theory.md §1c unit case): s0 -a0-> s1 pays 1, s0 -a1-> s2 pays 0, Φ(s2, 0) = 10.
        P = np.zeros((3, 2, 3))
        P[0, 0, 1] = P[0, 1, 2] = 1.0
        P[1, :, 1] = P[2, :, 2] = 1.0
        R = np.zeros((3, 2, 3))
        R[0, 0, 1] = 1.0
        phi_t = np.zeros((3, 3))
        phi_t[0, 2] = 10.0
        term = np.zeros(3, bool)
        R_H = np.broadcast_to(R, (2, 3, 2, 3))
        V = finite_horizon(P, R_H, gamma=0.9).V
        for route, flips in (("transform", False), ("table", False), ("current-time index", True)):
            R_t = shaped_rewards(ROUTES.index(route), R, 0.9, term, jnp.asarray(phi_t))
            pi = finite_horizon(P, R_t, gamma=0.9).pi
            V_pi, _ = finite_horizon_evaluation(P, R_H, pi, gamma=0.9)
            assert (float(jnp.max(V - V_pi)) > 0.5) == flips, route


def test_potential_table_of_the_wrong_length_is_refused():
    R = jnp.zeros((3, 2, 3))
    for n in (2, 4):
        with pytest.raises(ValueError, match=f"has {n} entries but the reward table has 3 states"):
            apply_to_table(potential_based(potential_from_table(jnp.arange(float(n)))), R, 0.9)
    with pytest.raises(ValueError, match="has 4 entries but n_states has 3 states"):
        potential_from_table(jnp.arange(4.0), n_states=3)
    with pytest.raises(ValueError, match="state index 3 is outside the potential table of 3"):
        potential_from_table(jnp.arange(3.0))(jnp.array([0, 3]))
    # the right length is unchanged
    phi = potential_from_table(jnp.arange(3.0), n_states=3)
    np.testing.assert_allclose(phi(jnp.array([2, 0])), [2.0, 0.0])
