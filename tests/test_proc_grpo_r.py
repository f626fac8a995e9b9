"""GRPO-R's depth reward (jaxrl.shaping.depth_reward) on the exact reasoning MDP, float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.process_rewards import grpo_r
from jaxrl.envs.reasoning_chain import ReasoningChain, ReasoningConfig, reasoning_mdp
from jaxrl.shaping.depth_reward import (
    apply_obs_transform_to_table,
    depth_from_obs,
    depth_potential,
    depth_potential_shaping,
    step_bonus,
)
from jaxrl.shaping.potential import shaped_reward_table

CFG = ReasoningConfig(num_problems=4, chain_length=3, num_step_actions=3, max_depth=5,
                      shortcut_fraction=0.5, seed=1)  # fmt: skip
P, L, K, D = CFG.num_problems, CFG.chain_length, CFG.num_step_actions, CFG.max_depth
GAMMA = 0.9


def test_depth_from_env_obs():
    env = ReasoningChain(CFG)
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    for i in range(D + 2):
        assert float(depth_from_obs(obs, P, D)) == int(state.depth)
        obs, state, *_ = env.step_env(jax.random.key(i), state, 0, params)
    assert int(state.depth) == D  # saturates at D
    np.testing.assert_allclose(depth_potential(P, D, L)(obs), 1.0)


def test_bad_input_named():
    with pytest.raises(ValueError, match="obs last axis"):
        depth_from_obs(jnp.zeros((3, P + D)), P, D)
    with pytest.raises(ValueError, match="chain_length"):
        depth_potential(P, D, D + 1)
    with pytest.raises(ValueError, match="num_step_actions"):
        step_bonus(0)


def _tables(tf, c):
    mdp = reasoning_mdp(CFG, GAMMA)
    obs = jnp.asarray(grpo_r.reasoning_obs_table(CFG))
    R = apply_obs_transform_to_table(tf, jnp.float64(c), mdp.R, obs, GAMMA, mdp.terminal_mask)
    return mdp, obs, R


def test_table_form_is_the_pbrs_table_of_phi_on_states():
    with jax.enable_x64(True):
        mdp, obs, R = _tables(depth_potential_shaping(P, D, L, GAMMA), 2.0)
        phi = 2.0 * depth_potential(P, D, L)(obs)
        want = shaped_reward_table(mdp.R, phi, GAMMA, mdp.terminal_mask)
        assert R.dtype == jnp.float64
        np.testing.assert_allclose(R, want, rtol=0, atol=1e-15)
        assert float(jnp.max(jnp.abs(R - mdp.R))) > 0.1  # the shaping is not a no-op


@pytest.mark.heavy
@pytest.mark.parametrize("c", [0.01, 1.0, 50.0])
def test_potential_keeps_optimal_action_sets_for_any_c(c):
    with jax.enable_x64(True):
        mdp, obs, R = _tables(depth_potential_shaping(P, D, L, GAMMA), c)
        _, R_fh, R_static = grpo_r.potential_tables(CFG, depth_potential(P, D, L)(obs), c, GAMMA)
        out = grpo_r.exact_compare(CFG, GAMMA, R, R_fh)
    assert out["equal"] == 1.0 and out["equal_fh"] == 1.0 and out["subset"] == 1.0
    assert out["success"] == pytest.approx(out["success_opt"], abs=1e-12)
    assert out["length"] == pytest.approx(out["length_opt"], abs=1e-12)


def test_static_potential_at_a_time_limit_is_not_invariant():
    """Finite horizon with Φ(·, H) ≠ 0 (Grześ 2017): truncation pays c·Φ(s_H) -> changes sets."""
    with jax.enable_x64(True):
        obs = jnp.asarray(grpo_r.reasoning_obs_table(CFG))
        _, _, R_static = grpo_r.potential_tables(CFG, depth_potential(P, D, L)(obs), 5.0, 1.0)
        assert grpo_r.fh_sets_equal(CFG, R_static) == 0.0


def test_bonus_changes_the_optimum_above_one_minus_gamma():
    """Padding at depth >= L on a right chain: answer = 1, pad then answer = c + γ. So the bonus
    keeps answering optimal (⊆) below c = 1 − γ and makes padding forever optimal well above."""
    with jax.enable_x64(True):
        lo = grpo_r.exact_compare(CFG, GAMMA, *[_tables(step_bonus(K), 0.05)[2]] * 2)
        hi = grpo_r.exact_compare(CFG, GAMMA, *[_tables(step_bonus(K), 0.5)[2]] * 2)
    assert lo["subset"] == 1.0 and lo["success"] == pytest.approx(lo["success_opt"])
    assert hi["subset"] == 0.0 and hi["equal"] == 0.0
    assert hi["success"] == pytest.approx(0.0, abs=1e-12)  # never answers: padding forever
    assert hi["length"] == pytest.approx(D + 1) and lo["length_opt"] < D + 1


def test_bonus_transform_pays_only_step_actions():
    from jaxrl.shaping.transform import Transition

    a = jnp.arange(K + 1)
    z = jnp.zeros(K + 1)
    tr = Transition(None, a, z + 1.0, None, a == K, z > 0, z + 0.9, {}, z.astype(int))
    r, _ = step_bonus(K).apply(0.5, (), tr)
    np.testing.assert_allclose(r, [1.5] * K + [1.0])


@pytest.mark.slow
def test_smoke_run_claims_figure(tmp_path):
    s = grpo_r.Settings(exact_coefs=(0.005, 1.0), ppo_steps=8192, final_window=1)
    summary = grpo_r.run(s, seeds=2, seed=0)
    cl = grpo_r.claims(summary)
    assert [c.id.split(".")[-1] for c in cl] == [
        "invariance_exact", "bonus_hack_exact", "speedup", "hack_ppo"
    ]  # fmt: skip
    assert cl[0].verdict == "reproduced"
    assert grpo_r.figure(summary, cl, tmp_path).exists()
