"""Constrained RLHF (issue 18): the Lagrangian transform, its pieces, and the experiment smoke."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.rewards.constrained import (
    ConstrainedParams,
    ConstrainedState,
    constrained_table_reward,
    dual_step,
    lagrangian_reward,
    moving_average,
    proxy_point,
    simplex_grid,
    solve_bandit_lagrangian,
)
from jaxrl.shaping.transform import Transition


def _transition(obs, action):
    n = obs.shape[0]
    z = jnp.zeros(n)
    return Transition(obs, action, z, obs, z > 0, z > 0, z + 0.99, {}, z.astype(jnp.int32))


def test_dual_step_projects_and_moves_with_the_violation():
    lam = jnp.array([0.0, 0.5, 0.1])
    out = dual_step(lam, jnp.array([2.0, 1.0, 0.0]), jnp.array([1.0, 1.0, 1.0]), 0.5)
    np.testing.assert_allclose(out, [0.5, 0.5, 0.0])  # above: up; at: same; below: clipped at 0


def test_lagrangian_reward_weights():
    r = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    out = lagrangian_reward(r, jnp.array([0.25, 1.0]), jnp.array([0.5, 0.5]))
    np.testing.assert_allclose(out, [0.25 * 1 - 0.5 * 2, 0.25 * 3 + 0.5], rtol=1e-6)


def test_transform_reads_tables_and_updates_state_exactly():
    M, U, P, K = 2, 2, 3, 4
    tables = jnp.arange(M * U * P * K, dtype=jnp.float32).reshape(M, U, P, K) / 10
    params = ConstrainedParams(
        tables, jnp.array([0.0, 100.0]), jnp.array([0.5, 0.5]), jnp.float32(0.1), jnp.float32(0.5)
    )
    t = constrained_table_reward(P, U)
    state = t.init(params)
    p, u, a = jnp.array([0, 2, 1]), jnp.array([1, 0, 1]), jnp.array([3, 0, 2])
    obs = jnp.concatenate([jax.nn.one_hot(p, P), jax.nn.one_hot(u, U)], -1)
    reward, new = t.apply(params, state, _transition(obs, a))
    r = np.stack([np.asarray(tables)[m, u, p, a] for m in range(M)], -1)  # [B, M]
    value = 0.5 * r.mean(0)
    lam = np.maximum(0.1 * (value - np.array([0.0, 100.0])), 0.0)
    np.testing.assert_allclose(new.value, value, rtol=1e-6)
    np.testing.assert_allclose(new.lam, lam, rtol=1e-6)
    assert new.lam[0] > 0 and new.lam[1] == 0  # only the component above its threshold
    np.testing.assert_allclose(reward, r @ (0.5 - lam), rtol=1e-5)
    assert isinstance(new, ConstrainedState)


def test_transform_rejects_bad_shapes():
    with pytest.raises(ValueError, match="num_prompts=0"):
        constrained_table_reward(0, 1)


def test_simplex_grid():
    g = simplex_grid(3, 3)
    assert g.shape == (10, 3)
    np.testing.assert_allclose(g.sum(1), 1.0)
    np.testing.assert_allclose(g[:3], np.eye(3))
    assert len({tuple(x) for x in g}) == 10
    with pytest.raises(ValueError, match="divisions=0"):
        simplex_grid(3, 0)


def test_proxy_point_is_component_value_at_gold_peak():
    comp = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    gold = np.array([[0.0, 1.0, 3.0, 1.0, 0.0]])
    value, t = proxy_point(comp, gold, window=1)
    assert t[0] == 2 and value[0] == 2.0
    np.testing.assert_allclose(moving_average([1.0, 3.0, 5.0], 2), [1.0, 2.0, 4.0])


def test_exact_bandit_lagrangian_meets_an_active_threshold():
    with jax.enable_x64(True):
        c = jnp.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.5]])
        free = jax.nn.softmax(jnp.sum(c, 0) / 0.5 * 0.5)
        theta = jnp.array([float(c[0] @ free) - 0.2, 10.0])  # first binds, second is slack
        out = solve_bandit_lagrangian(c, theta, jnp.array([0.5, 0.5]), 0.5, 0.1, 5000)
        assert abs(float(out.value[0] - theta[0])) < 1e-8 and float(out.lam[0]) > 0
        assert float(out.lam[1]) == 0.0 and float(out.value[1]) < 10.0


TINY = dict(
    corrs=(0.0, 0.8), num_pairs=64, rm_steps=20, rm_hidden=8, ppo_steps=2048, grid_divisions=1
)


@pytest.mark.slow  # three PPO compiles (fixed grid at two ρ, constrained): ~70 s of CPU
def test_smoke_run_claims_figure(tmp_path):
    from experiments.preference_rms import constrained as m

    s = m.run(m.Settings(**TINY), seeds=2, seed=0)
    cl = m.claims(s)
    assert [c.id for c in cl] == [
        "preference_rms.constrained.beats_fixed_rho0",
        "preference_rms.constrained.proxy_moves",
    ]
    assert all(c.verdict != "not testable" for c in cl)
    e = s["rhos"][0]
    assert np.asarray(e["final_gold"]).shape == (3, 2) and np.asarray(e["lam"]).shape == (2, 3)
    assert np.all(np.asarray(e["lam"]) >= 0)
    assert m.figure(s, cl, tmp_path).is_file()
    assert m.claims({})[0].verdict == "not testable"


def test_settings_name_bad_fields():
    from experiments.preference_rms import constrained as m

    with pytest.raises(ValueError, match="flip_rate"):
        m.Settings(flip_rate=0.7)
    with pytest.raises(ValueError, match="corrs"):
        m.Settings(corrs=(0.0,))
