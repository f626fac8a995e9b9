"""Reward machines: product MDP (exact values), flattening, LP inexpressibility, smoke run."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.process_rewards import reward_machines as exp
from jaxrl.mdp import TabularMDP, value_iteration
from jaxrl.mdp.reward_machine import (
    NUM_LABELS,
    A,
    B,
    C,
    a_then_b,
    deterministic_trajectories,
    flatten,
    lift_policy,
    machine_return,
    never_c_until_b,
    product_mdp,
    transition_features,
)

GAMMA = 0.9


def _det_mdp(nxt, gamma=GAMMA, start=0):
    S, nA = nxt.shape
    P = np.eye(S)[nxt]
    return TabularMDP(
        jnp.asarray(P), jnp.zeros((S, nA, S)), jnp.asarray(gamma), jnp.eye(S)[start],
        jnp.zeros(S, bool),
    )  # fmt: skip


# hub 0 <-> 1 (action 0) and 0 <-> 2 (action 1); 1 and 2 go back to 0 with either action
HUB = np.array([[1, 2], [0, 0], [0, 0]])


def test_product_is_a_valid_mdp_with_absorbing_sinks():
    with jax.enable_x64(True):
        rm = a_then_b()
        prod = product_mdp(_det_mdp(HUB), rm, np.array([0, A, B]))
        assert prod.validated and prod.P.shape == (9, 2, 9)
        np.testing.assert_allclose(prod.P.sum(-1), 1.0)
        term = np.asarray(prod.terminal_mask).reshape(3, 3)
        assert term[:, 2].all() and not term[:, :2].any()
        assert float(prod.init_dist[0 * 3 + 0]) == 1.0
        # from (hub, u=1) action 1 enters B: moves to (2, u=2) with reward 1
        assert float(prod.P[0 * 3 + 1, 1, 2 * 3 + 2]) == 1.0
        assert float(prod.R[0 * 3 + 1, 1, 2 * 3 + 2]) == 1.0
        # B before A: (hub, u=0) --1--> (2, u=0), no reward
        assert float(prod.P[0, 1, 2 * 3 + 0]) == 1.0 and float(prod.R[0, 1, 2 * 3]) == 0.0


def test_exact_optimal_values_and_flattening_changes_them():
    with jax.enable_x64(True):
        base = _det_mdp(HUB)
        labels = np.array([0, A, B])
        # A then B: 0 -> 1 (A) -> 0 -> 2 (B): reward 1 at the third step, value γ²
        v = value_iteration(product_mdp(base, a_then_b(), labels)).V
        assert float(v[0]) == pytest.approx(GAMMA**2, abs=1e-10)
        # flattened (Markov "reward on B"): 0 -> 2 -> 0 -> 2 ...: Σ_k γ^{2k} = 1/(1−γ²)
        v_flat = value_iteration(product_mdp(base, flatten(a_then_b()), labels)).V
        assert float(v_flat[0]) == pytest.approx(1 / (1 - GAMMA**2), abs=1e-8)
        # never C until B with C at 1, B at 2: go straight to B, value 1
        v = value_iteration(product_mdp(base, never_c_until_b(), np.array([0, C, B]))).V
        assert float(v[0]) == pytest.approx(1.0, abs=1e-10)
        # a chain where B is reachable only through C: the task is worth 0
        chain = _det_mdp(np.array([[1, 0], [2, 0], [2, 2]]))
        v = value_iteration(product_mdp(chain, never_c_until_b(), np.array([0, C, B]))).V
        assert abs(float(v[0])) < 1e-12


def test_product_return_equals_machine_return_on_every_trajectory():
    rng = np.random.default_rng(0)
    nxt = rng.integers(0, 4, (4, 2))
    labels = rng.integers(0, NUM_LABELS, 4)
    with jax.enable_x64(True):
        for rm in (a_then_b(), never_c_until_b()):
            prod = product_mdp(_det_mdp(nxt), rm, labels)
            P, R, U = np.asarray(prod.P), np.asarray(prod.R), rm.num_states
            sink = np.asarray(prod.terminal_mask)
            states, actions = deterministic_trajectories(nxt, 0, 6)
            for s_seq, a_seq in zip(states, actions, strict=True):
                x, g = int(rm.u0), 0.0
                for t, a in enumerate(a_seq):
                    if sink[x]:  # task over: the product state stays put, the base moves on
                        break
                    x2 = int(np.argmax(P[x, a]))
                    g += GAMMA**t * R[x, a, x2]
                    x = x2
                    assert x // U == s_seq[t + 1]
                assert g == pytest.approx(machine_return(rm, labels[s_seq[1:]], GAMMA), abs=1e-12)


def test_lift_policy_and_features():
    pi = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    lifted = lift_policy(pi, 3)
    assert lifted.shape == (6, 2)
    np.testing.assert_array_equal(lifted[3:], jnp.broadcast_to(pi[1], (3, 2)))
    states, actions = deterministic_trajectories(HUB, 0, 4)
    assert states.shape == (16, 5) and actions.shape == (16, 4)
    phi = transition_features(states, actions, 3, 2, 1.0)
    np.testing.assert_allclose(phi.sum(1), 4.0)


def test_lp_margin_zero_for_task_positive_for_markov():
    # the witness: 0→1→0→2→0 and 0→2→0→1→0 share (s, a, s') counts but not the task outcome
    states, actions = deterministic_trajectories(HUB, 0, 4)
    phi = transition_features(states, actions, 3, 2, 1.0)
    for rm, lab in ((a_then_b(), np.array([0, A, B])), (never_c_until_b(), np.array([0, C, B]))):
        g = np.array([machine_return(rm, lab[s[1:]], 1.0) for s in states])
        assert exp.markov_margin(g, phi) <= 1e-9
        g_flat = np.array([machine_return(flatten(rm), lab[s[1:]], 1.0) for s in states])
        assert exp.markov_margin(g_flat, phi) > 0.5


def test_settings_name_bad_fields():
    with pytest.raises(ValueError, match="grid_size"):
        exp.Settings(grid_size=2)
    with pytest.raises(ValueError, match="lp_horizon"):
        exp.Settings(lp_horizon=3)
    with pytest.raises(TypeError, match="surrogates"):  # typed: 4 weights per surrogate
        exp.Settings(surrogates=((1.0, 0.0),))


@pytest.mark.slow
def test_smoke_run_claims_figure(tmp_path):
    tiny = exp.Settings(grid_size=3, lp_horizon=4, success_horizon=10)
    s = exp.run(tiny, seeds=2, seed=0)
    assert len(s["per_task"]["a_then_b"]["rm_value"]) == 2
    cl = exp.claims(s)
    assert {c.id for c in cl} == {
        "process_rewards.reward_machines.solves",
        "process_rewards.reward_machines.inexpressible",
    }
    assert all(c.verdict != "not testable" for c in cl)
    path = exp.figure(s, cl, tmp_path)
    assert path.exists() and path.name == "process_rewards_reward_machines.png"
