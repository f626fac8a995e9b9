"""Exact finite-MDP layer: hand-worked solutions, malformed input, jit / vmap / dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.mdp import (
    TabularMDP,
    discounted_visits,
    expected_return,
    finite_horizon,
    finite_horizon_evaluation,
    greedy_policy,
    occupancy_measure,
    optimal_action_sets,
    policy_evaluation,
    policy_iteration,
    policy_transition,
    q_pi,
    q_values,
    random_mdp,
    random_policy,
    softmax_policy,
    validate_mdp,
    value_iteration,
)

pytestmark = pytest.mark.usefixtures("x64")


def _alternating_chain() -> TabularMDP:
    """One action; s0 -> s1 -> s0 -> ...; reward 1 for leaving s0; γ = 0.9; d0 = s0."""
    P = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    R = np.array([[[0.0, 1.0]], [[0.0, 0.0]]])
    return TabularMDP.create(P, R, 0.9, init_dist=np.array([1.0, 0.0]))


def _myopic_chain() -> TabularMDP:
    """s0: a0 pays +1 and stays, a1 pays 0 and moves to s1; s1 pays +2 forever; γ = 0.9."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = P[1, :, 1] = 1.0
    R = np.zeros((2, 2, 2))
    R[0, 0, 0] = 1.0
    R[1, :, 1] = 2.0
    return TabularMDP.create(P, R, 0.9, init_dist=np.array([1.0, 0.0]))


def _episodic() -> TabularMDP:
    """γ = 1, s2 terminal. s0: a0 -> s1 (reward −1), a1 -> s2 (reward −5).
    s1: a0 -> s2 or stays, each w.p. 1/2 (reward −1); a1 -> s0 (reward −1)."""
    P = np.zeros((3, 2, 3))
    P[0, 0, 1] = P[0, 1, 2] = P[1, 1, 0] = 1.0
    P[1, 0, 1] = P[1, 0, 2] = 0.5
    P[2, :, 2] = 1.0
    R = np.zeros((3, 2, 3))
    R[0, 0, 1], R[0, 1, 2], R[1, :, :] = -1.0, -5.0, -1.0
    return TabularMDP.create(
        P, R, 1.0, init_dist=np.array([1.0, 0.0, 0.0]), terminal_mask=np.array([0, 0, 1], bool)
    )


# ----------------------------------------------------------------------------- hand-worked
def test_alternating_chain_values_and_occupancy():
    mdp = _alternating_chain()
    pi = np.ones((2, 1))
    # V0 = 1 + 0.9 V1, V1 = 0.9 V0  =>  V0 = 1 / (1 − 0.81) = 5.26315..., V1 = 0.9 V0.
    V = policy_evaluation(mdp, pi)
    np.testing.assert_allclose(V, [1 / 0.19, 0.9 / 0.19], rtol=1e-14)
    np.testing.assert_allclose(q_pi(mdp, pi), [[1 / 0.19], [0.9 / 0.19]], rtol=1e-14)
    # s0 is occupied at even t: μ(s0) = 0.1 Σ 0.81^t = 0.1 / 0.19; μ(s1) = 0.9 μ(s0).
    mu = occupancy_measure(mdp, pi)
    np.testing.assert_allclose(mu, [[0.1 / 0.19], [0.09 / 0.19]], rtol=1e-14)
    # J = V0 = Σ μ r / (1 − γ) = (0.1/0.19) · 1 / 0.1.
    J = expected_return(mdp, pi)
    np.testing.assert_allclose(J, 1 / 0.19, rtol=1e-14)
    np.testing.assert_allclose(jnp.sum(mu * mdp.expected_reward) / 0.1, J, rtol=1e-14)
    np.testing.assert_allclose(jnp.sum(discounted_visits(mdp, pi) * mdp.expected_reward), J)
    # J under an alternative reward (reward 2 for leaving s1) on the same dynamics:
    # J' = 0.9 · 2 / 0.19 (the first reward arrives at t = 1).
    R2 = np.array([[[0.0, 0.0]], [[2.0, 0.0]]])
    np.testing.assert_allclose(expected_return(mdp, pi, R=R2), 1.8 / 0.19, rtol=1e-14)
    np.testing.assert_allclose(policy_transition(mdp, pi), [[0, 1], [1, 0]])


def test_myopic_chain_control():
    mdp = _myopic_chain()
    # V*(s1) = 2 / 0.1 = 20; Q*(s0, a1) = 0.9 · 20 = 18 > staying forever 1 / 0.1 = 10, so
    # V*(s0) = 18 and Q*(s0, a0) = 1 + 0.9 · 18 = 17.2. Both actions tie at s1.
    Q_star = np.array([[17.2, 18.0], [20.0, 20.0]])
    V, Q, _ = value_iteration(mdp)
    np.testing.assert_allclose(Q, Q_star, atol=1e-10)
    np.testing.assert_allclose(V, [18.0, 20.0], atol=1e-10)
    V_pi, _, pi = policy_iteration(mdp)
    np.testing.assert_array_equal(pi, [[0, 1], [1, 0]])  # tie at s1 -> lowest index, stably
    np.testing.assert_allclose(V_pi, [18.0, 20.0], rtol=1e-14)
    np.testing.assert_array_equal(optimal_action_sets(Q), [[False, True], [True, True]])
    np.testing.assert_array_equal(greedy_policy(Q_star), [[0, 1], [1, 0]])
    np.testing.assert_allclose(q_values(mdp, V_pi), Q_star, rtol=1e-14)
    # The myopic (reward-greedy) initial policy is what PI starts from: stopped at 0 steps.
    pi0 = policy_iteration(mdp, max_iters=0).pi
    np.testing.assert_array_equal(pi0, [[1, 0], [1, 0]])


def test_episodic_gamma_one_with_terminal():
    mdp = _episodic()
    validate_mdp(mdp)
    # Policy (a0, a0): V(s1) = −1 + 0.5 V(s1) => −2; V(s0) = −1 + V(s1) = −3; V(s2) = 0.
    pi = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(policy_evaluation(mdp, pi), [-3.0, -2.0, 0.0], atol=1e-14)
    # Optimal: exiting directly from s0 costs −5 < −3; from s1, going back to s0 costs −4 < −2.
    V_star, _, pi_star = policy_iteration(mdp)
    np.testing.assert_allclose(V_star, [-3.0, -2.0, 0.0], atol=1e-14)
    np.testing.assert_array_equal(pi_star[:2], pi[:2])
    V, Q, _ = value_iteration(mdp)
    np.testing.assert_allclose(Q, [[-3.0, -5.0], [-2.0, -4.0], [0.0, 0.0]], atol=1e-10)
    # Visits: s0 once, s1 1 / (1 − 0.5) = 2 times; J = −1 · 1 − 1 · 2 = −3.
    nu = discounted_visits(mdp, pi)
    np.testing.assert_allclose(nu[:, 0], [1.0, 2.0, 0.0], atol=1e-14)
    # γ = 1 occupancy: visits normalised over non-terminal states.
    np.testing.assert_allclose(occupancy_measure(mdp, pi)[:, 0], [1 / 3, 2 / 3, 0.0], atol=1e-14)
    np.testing.assert_allclose(expected_return(mdp, pi), -3.0, atol=1e-14)


def test_terminal_states_masked_and_occupied():
    # γ = 0.5; s0 -> terminal s1 with reward 1. V(s0) = 1, V(s1) = 0. Normalised occupancy keeps
    # the absorbed mass on s1: μ(s0) = 1 − γ = 0.5, μ(s1) = γ = 0.5 (arrival at t = 1).
    P = np.array([[[0.0, 1.0]], [[0.0, 1.0]]])
    R = np.array([[[0.0, 1.0]], [[0.0, 0.0]]])
    mdp = TabularMDP.create(P, R, 0.5, init_dist=np.array([1.0, 0.0]), terminal_mask=[False, True])
    pi = np.ones((2, 1))
    np.testing.assert_allclose(policy_evaluation(mdp, pi), [1.0, 0.0])
    np.testing.assert_allclose(occupancy_measure(mdp, pi)[:, 0], [0.5, 0.5])
    np.testing.assert_allclose(expected_return(mdp, pi), 0.5 * 1.0 / 0.5)
    # A hand-built (unvalidated) terminal reward is ignored by the solvers.
    bad = mdp.replace(R=mdp.R.at[1, 0, 1].set(7.0))
    np.testing.assert_allclose(policy_evaluation(bad, pi), [1.0, 0.0])


def test_finite_horizon_hand_worked():
    mdp = _myopic_chain()
    # H = 2, γ = 0.9. t = 1: Q = [[1, 0], [2, 2]], V_1 = [1, 2].
    # t = 0: Q(s0) = [1 + 0.9·1, 0 + 0.9·2] = [1.9, 1.8] -> myopic a0 is optimal at this horizon;
    # Q(s1) = 2 + 0.9·2 = 3.8.
    sol = finite_horizon(mdp.P, mdp.R, horizon=2, gamma=0.9)
    np.testing.assert_allclose(sol.Q[1], [[1.0, 0.0], [2.0, 2.0]], atol=1e-14)
    np.testing.assert_allclose(sol.Q[0], [[1.9, 1.8], [3.8, 3.8]], atol=1e-14)
    np.testing.assert_allclose(sol.V, [[1.9, 3.8], [1.0, 2.0], [0.0, 0.0]], atol=1e-14)
    np.testing.assert_array_equal(sol.pi[0], [[1, 0], [1, 0]])
    # Evaluate "always a1": V_1(s0) = 0, V_0(s0) = 0.9 · 2 = 1.8.
    V, Q = finite_horizon_evaluation(mdp.P, mdp.R, np.array([[0.0, 1.0]] * 2), gamma=0.9, horizon=2)
    np.testing.assert_allclose(V[:, 0], [1.8, 0.0, 0.0], atol=1e-14)
    # Q_0(s0, a0) = 1 + 0.9 · V_1^{a1}(s0) = 1 + 0 = 1 (then following a1).
    np.testing.assert_allclose(Q, [[[1.0, 1.8], [3.8, 3.8]], [[1.0, 0.0], [2.0, 2.0]]], atol=1e-14)


def test_finite_horizon_time_indexed_rewards():
    # One state, one action, R_t = t + 1 for t = 0, 1, 2 (H = 3 inferred from R_t).
    P = np.ones((1, 1, 1))
    R_t = np.arange(1.0, 4.0).reshape(3, 1, 1, 1)
    sol = finite_horizon(P, R_t)  # γ = 1: V = [1+2+3, 2+3, 3, 0]
    np.testing.assert_allclose(sol.V[:, 0], [6.0, 5.0, 3.0, 0.0])
    sol = finite_horizon(P, R_t, gamma=0.5, terminal_value=np.array([8.0]))
    # V_3 = 8, V_2 = 3 + 4 = 7, V_1 = 2 + 3.5 = 5.5, V_0 = 1 + 2.75 = 3.75.
    np.testing.assert_allclose(sol.V[:, 0], [3.75, 5.5, 7.0, 8.0])
    V, _ = finite_horizon_evaluation(P, R_t, np.ones((3, 1, 1)))
    np.testing.assert_allclose(V[:, 0], [6.0, 5.0, 3.0, 0.0])
    with pytest.raises(ValueError, match="horizon"):
        finite_horizon(P, R_t, horizon=5)
    with pytest.raises(ValueError, match="horizon"):
        finite_horizon(P, np.ones((1, 1, 1)))


def test_finite_horizon_terminal_mask_and_long_horizon_limit():
    mdp = random_mdp(jax.random.key(3), 6, 3, gamma=0.8, n_terminal=1)
    sol = finite_horizon(mdp.P, mdp.R, horizon=200, gamma=0.8, terminal_mask=mdp.terminal_mask)
    V_star = value_iteration(mdp).V
    np.testing.assert_allclose(sol.V[0], V_star, atol=1e-10)  # 0.8^200 ≈ 4e-20
    np.testing.assert_allclose(sol.V[:, np.asarray(mdp.terminal_mask)], 0.0)


def test_policy_helpers():
    logits = np.array([[0.0, np.log(3.0)]])
    np.testing.assert_allclose(softmax_policy(logits), [[0.25, 0.75]])
    Q = np.array([[1.0, 1.0 - 1e-12, 0.5]])
    np.testing.assert_array_equal(optimal_action_sets(Q), [[True, True, False]])
    np.testing.assert_array_equal(optimal_action_sets(Q, tol=0.0), [[True, False, False]])


# ----------------------------------------------------------------------------- malformed input
def _valid():
    m = random_mdp(jax.random.key(0), 6, 3, n_terminal=1)
    return {k: np.array(getattr(m, k)) for k in ("P", "R", "gamma", "init_dist", "terminal_mask")}


def _row_sum(f, n, t):
    f["P"][n[2], 1] *= 0.82


def _negative(f, n, t):
    f["P"][n[0], 0] = 0.0
    f["P"][n[0], 0, :3] = [0.6, 0.5, -0.1]


def _neg_d0(f, n, t):
    f["init_dist"][n[0]] -= 0.5
    f["init_dist"][n[1]] += 0.5


def _unabsorb(f, n, t):
    f["P"][t, 0] = 0.25 * (np.arange(6) < 4)


def _field(name, value):
    def edit(f, n, t):
        f[name] = value(f[name]) if callable(value) else value

    return edit


def _r_at(idx, v):
    def edit(f, n, t):
        f["R"][tuple(t if i == "t" else i for i in idx)] = v

    return edit


# Patterns name the offending index/value; {n0}, {n2}: non-terminal states, {t}: the terminal.
@pytest.mark.parametrize(
    "edit, pattern",
    [
        (_row_sum, r"P\[s={n2}, a=1, :\] sums to 0.82, expected 1"),
        (_negative, r"P\[s={n0}, a=0, s'=2\] = -0.1 is negative"),
        (_field("P", lambda P: P[:, :, :4]), r"P must have shape \[S, A, S\]"),
        (_field("R", lambda R: R[:, :2]), r"R has shape \(6, 2, 6\)"),
        (_field("init_dist", lambda d: d[:4]), r"init_dist has shape \(4,\), expected \(6,\)"),
        (_field("terminal_mask", lambda m: m[:3]), r"terminal_mask has shape \(3,\)"),
        (_field("gamma", np.array(1.5)), r"gamma = 1.5 is outside \[0, 1\]"),
        (_field("gamma", np.array(-0.1)), r"gamma = -0.1 is outside \[0, 1\]"),
        (_r_at((0, 1, 2), np.nan), r"R\[s=0, a=1, s'=2\] = nan is not finite"),
        (_r_at((0, 1, 2), np.inf), r"R\[s=0, a=1, s'=2\] = inf is not finite"),
        (_field("init_dist", lambda d: d * 0.9), r"init_dist sums to 0.9, expected 1"),
        (_neg_d0, r"init_dist\[s={n0}\] = -0.3 is negative"),
        (_unabsorb, r"terminal state s={t} is not absorbing: P\[s={t}, a=0, s'={t}\] = (0.25|0)\b"),
        (
            _r_at(("t", 2, "t"), 3.0),
            r"terminal state s={t} has non-zero reward R\[s={t}, a=2, s'={t}\] = 3",
        ),
    ],
)
def test_validate_rejects(edit, pattern):
    f = _valid()
    n = np.flatnonzero(~f["terminal_mask"])
    t = int(np.flatnonzero(f["terminal_mask"])[0])
    edit(f, n, t)
    with pytest.raises(ValueError, match=pattern.format(n0=n[0], n2=n[2], t=t)):
        validate_mdp(TabularMDP(**f))


def test_validate_gamma_one_reachability():
    f = _valid()
    f["gamma"] = np.array(1.0)
    validate_mdp(TabularMDP(**f))  # dense P: every state reaches the terminal
    no_term = dict(f, terminal_mask=np.zeros(6, bool), init_dist=np.full(6, 1 / 6))
    with pytest.raises(ValueError, match=r"gamma = 1 but state s=0 cannot reach a terminal state"):
        validate_mdp(TabularMDP(**no_term))
    # s3 and s4 only move between themselves: neither reaches the terminal s0.
    P = np.zeros((5, 1, 5))
    P[0, 0, 0] = P[1, 0, 0] = P[2, 0, 1] = P[3, 0, 4] = P[4, 0, 3] = 1.0
    with pytest.raises(ValueError, match=r"state s=3 cannot reach any terminal state"):
        TabularMDP.create(P, np.zeros_like(P), 1.0, terminal_mask=[True, 0, 0, 0, 0])


def test_validate_batched_and_create():
    mdps = jax.vmap(lambda k: random_mdp(k, 6, 3))(jax.random.split(jax.random.key(1), 3))
    validate_mdp(mdps)
    with pytest.raises(ValueError, match=r"mdp\[1\]: P\[s=2, a=0, :\] sums to 0.5"):
        validate_mdp(mdps.replace(P=mdps.P.at[1, 2, 0].multiply(0.5)))
    with pytest.raises(ValueError, match="sums to"):
        TabularMDP.create(np.full((2, 1, 2), 0.3), np.zeros((2, 1, 2)), 0.9)
    m = TabularMDP.create(np.full((2, 1, 2), 0.3), np.zeros((2, 1)), 0.9, validate=False)
    assert m.R.shape == (2, 1, 2) and m.n_states == 2 and m.n_actions == 1


# ----------------------------------------------------------------------------- random MDPs
@pytest.mark.parametrize("k", [None, 1, 3])
def test_random_mdp_structure(k):
    alpha = 0.5 if k == 3 else 1.0  # α = 1 takes the Exp(1) fast path; 0.5 the Gamma sampler
    mdp = random_mdp(jax.random.key(2), 6, 3, sparsity_k=k, n_terminal=2, dirichlet_alpha=alpha)
    validate_mdp(mdp)
    term = np.asarray(mdp.terminal_mask)
    assert term.sum() == 2 and mdp.P.dtype == jnp.float64
    nnz = (np.asarray(mdp.P)[~term] > 0).sum(-1)
    assert (nnz == (6 if k is None else k)).all()
    np.testing.assert_allclose(mdp.init_dist[term], 0.0)
    np.testing.assert_allclose(mdp.expected_reward[term], 0.0)


# ----------------------------------------------------------------------------- jit / vmap / dtype
@pytest.mark.heavy
def test_vmap_matches_loop():
    n, S, A = 3, 6, 3
    keys = jax.random.split(jax.random.key(4), n)
    gammas = jnp.linspace(0.5, 0.95, n)
    mdps = jax.vmap(lambda k, g: random_mdp(k, S, A, gamma=g, sparsity_k=3, n_terminal=1))(
        keys, gammas
    )
    pis = jax.vmap(lambda k: random_policy(k, S, A))(keys)
    solvers = {
        "value_iteration": lambda m, pi: value_iteration(m).V,
        "policy_iteration": lambda m, pi: policy_iteration(m).V,
        "policy_evaluation": policy_evaluation,
        "occupancy_measure": occupancy_measure,
        "expected_return": expected_return,
        "finite_horizon": lambda m, pi: finite_horizon(m.P, m.R, horizon=4, gamma=m.gamma).V,
    }
    for name, f in solvers.items():
        batched = jax.vmap(f)(mdps, pis)
        for i in range(n):
            single = f(jax.tree.map(lambda x, i=i: x[i], mdps), pis[i])
            np.testing.assert_allclose(batched[i], single, atol=1e-12, err_msg=name)


def test_jit_end_to_end_and_float64_accuracy():
    @jax.jit
    def gap(key):
        mdp = random_mdp(key, 6, 3, gamma=0.99, sparsity_k=3)
        V_vi = value_iteration(mdp).V
        pi = policy_iteration(mdp).pi
        return jnp.max(jnp.abs(V_vi - policy_evaluation(mdp, pi)))

    gaps = jax.vmap(gap)(jax.random.split(jax.random.key(5), 4))
    assert gaps.dtype == jnp.float64
    assert float(gaps.max()) <= 1e-10


def test_float32():
    with jax.enable_x64(False):
        mdp = random_mdp(jax.random.key(6), 6, 3, gamma=0.95)
        assert mdp.P.dtype == jnp.float32
        V_vi, Q, _ = jax.jit(value_iteration)(mdp)  # must stop at float32 precision, not max_iters
        V_pi, _, pi = policy_iteration(mdp)
        assert V_vi.dtype == jnp.float32 and pi.dtype == jnp.float32
        np.testing.assert_allclose(V_vi, V_pi, rtol=1e-4, atol=1e-4)
        mu = occupancy_measure(mdp, pi)
        np.testing.assert_allclose(mu.sum(), 1.0, rtol=1e-5)


def test_expected_return_gradient_matches_finite_difference():
    mdp = random_mdp(jax.random.key(7), 6, 3, gamma=0.9)
    logits = jax.random.normal(jax.random.key(8), (6, 3))
    J = lambda z: expected_return(mdp, softmax_policy(z))
    g = jax.grad(J)(logits)
    e = jnp.zeros_like(logits).at[1, 0].set(1e-6)
    fd = (J(logits + e) - J(logits - e)) / 2e-6
    np.testing.assert_allclose(g[1, 0], fd, rtol=1e-6)


# ----------------------------------------------------------------------------- issue 13
def test_construction_validates_concrete_leaves_and_records_it():
    f = _valid()
    assert TabularMDP(**f).validated
    bad = dict(f, P=f["P"] * 0.8)
    with pytest.raises(ValueError, match="sums to 0.8"):
        TabularMDP(**bad)
    m = TabularMDP(**bad, validate=False)
    assert not m.validated
    assert not m.replace(R=f["R"]).validated  # replace does not validate unless asked
    with pytest.raises(ValueError, match="sums to 0.8"):
        m.replace(R=f["R"], validate=True)
    # pytree round trips never validate (leaves may be tracers) and record validated=False
    assert not jax.tree.map(lambda x: x, TabularMDP(**f)).validated
    # built under jit (tracers): not validated, no error
    out = jax.jit(lambda P: TabularMDP(P=P, **{k: v for k, v in f.items() if k != "P"}))(bad["P"])
    assert not out.validated


def test_solvers_refuse_invalid_mdps_outside_jit_and_stay_cheap_inside():
    f = _valid()
    bad = TabularMDP(**dict(f, P=f["P"] * 0.8), validate=False)
    pi = np.full((6, 3), 1 / 3)
    for fn, args in [
        (value_iteration, ()),
        (policy_iteration, ()),
        (policy_evaluation, (pi,)),
        (occupancy_measure, (pi,)),
        (expected_return, (pi,)),
        (discounted_visits, (pi,)),
        (q_pi, (pi,)),
    ]:
        with pytest.raises(ValueError, match=f"{fn.__name__}: P.*sums to 0.8"):
            fn(bad, *args)
    # inside jit nothing is checked (and the jitted numbers are the same as the eager ones)
    good = TabularMDP(**f)
    np.testing.assert_array_equal(jax.jit(policy_evaluation)(good, pi), policy_evaluation(good, pi))
    jax.jit(policy_evaluation)(bad, pi)


def test_gamma_one_needs_terminals_and_proper_policies():
    f = _valid()
    no_term = TabularMDP(
        **dict(f, gamma=np.float64(1.0), terminal_mask=np.zeros(6, bool)), validate=False
    )
    with pytest.raises(ValueError, match="value_iteration: gamma = 1 but the MDP has no terminal"):
        value_iteration(no_term)
    with pytest.raises(ValueError, match="policy_evaluation: gamma = 1 but the MDP has no term"):
        policy_evaluation(no_term, np.full((6, 3), 1 / 3))
    # one action loops in place on s=1: the policy that always takes it is improper
    P = np.zeros((3, 2, 3))
    P[:, 0] = np.eye(3)
    P[:, 1, 2] = 1.0
    mdp = TabularMDP.create(P, np.zeros_like(P), 1.0, terminal_mask=[False, False, True])
    with pytest.raises(ValueError, match="improper: from state s=0"):
        policy_evaluation(mdp, np.eye(2)[[0, 0, 0]])
    np.testing.assert_allclose(policy_evaluation(mdp, np.eye(2)[[1, 1, 1]]), 0.0)


def test_zero_sizes_and_shape_mismatch_are_clear():
    with pytest.raises(ValueError, match="at least 1 action"):
        TabularMDP.create(np.zeros((2, 0, 2)), np.zeros((2, 0, 2)), 0.9)
    with pytest.raises(ValueError, match="at least 1 state"):
        TabularMDP.create(np.zeros((0, 2, 0)), np.zeros((0, 2, 0)), 0.9)
    with pytest.raises(ValueError, match=r"R has shape \(3, 2\).*\(2, 2, 2\)"):
        TabularMDP.create(np.full((2, 2, 2), 0.5), np.zeros((3, 2)), 0.9)
    with pytest.raises(ValueError, match=r"finite_horizon: R has shape \(2, 2, 3\)"):
        finite_horizon(np.full((2, 2, 2), 0.5), np.zeros((2, 2, 3)), horizon=2)
