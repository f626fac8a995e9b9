"""Teacher-driven potentials (jaxrl.shaping.teacher) and the thesis experiment's smoke test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs.key_door import KEY_DOOR_SMALL, KeyDoorConfig, key_door_mdp
from jaxrl.mdp import optimal_action_sets, random_mdp, value_iteration
from jaxrl.shaping.potential import apply_to_table
from jaxrl.shaping.teacher import (
    adaptive_potential,
    expert_potential,
    noisy_potential,
    shaped_mdp,
    table_potential_transform,
    teacher_transform,
)


def _mdps(n=4, n_terminal=2):
    keys = jax.random.split(jax.random.PRNGKey(3), n)
    return [random_mdp(k, 7, 3, gamma=0.9, n_terminal=n_terminal) for k in keys]


def _same_sets(mdp, R):
    q0 = value_iteration(mdp).Q
    q1 = value_iteration(mdp.replace(R=R)).Q
    return bool(jnp.all(optimal_action_sets(q0) == optimal_action_sets(q1)))


def _potentials(mdp, key):
    pi = jax.nn.one_hot(jax.random.randint(key, (mdp.n_states,), 0, mdp.n_actions), mdp.n_actions)
    return {
        "expert": expert_potential(mdp),
        "noisy": noisy_potential(mdp, key, 2.0),
        "adaptive": adaptive_potential(mdp, pi, 0.3),
    }


@pytest.mark.heavy
def test_teacher_potentials_keep_optimal_action_sets_exactly():
    with jax.enable_x64(True):
        for i, mdp in enumerate(_mdps()):
            for name, phi in _potentials(mdp, jax.random.PRNGKey(i)).items():
                R_tab = shaped_mdp(mdp, phi).R
                R_tr = apply_to_table(teacher_transform(phi, 0.9), mdp.R, 0.9, mdp.terminal_mask)
                np.testing.assert_allclose(R_tab, R_tr, rtol=0, atol=1e-12, err_msg=name)
                R_par = apply_to_table(
                    table_potential_transform(mdp.n_states, 0.9),
                    mdp.R,
                    0.9,
                    mdp.terminal_mask,
                    params=phi,
                )
                np.testing.assert_allclose(R_tab, R_par, rtol=0, atol=1e-12, err_msg=name)
                assert _same_sets(mdp, R_tab), (i, name)


def test_mutations_break_invariance():
    """A non-potential bonus, a wrong γ in F, and Φ(terminal) collected: each must change the
    optimal action set of some random MDP (so the invariance test above has teeth)."""
    with jax.enable_x64(True):
        broke = {"bonus": 0, "gamma": 0, "terminal": 0}
        for i, mdp in enumerate(_mdps(12)):
            phi = noisy_potential(mdp, jax.random.PRNGKey(100 + i), 3.0)
            live = (~mdp.terminal_mask).astype(phi.dtype)
            # (a) a bonus on the arrival state only (no −Φ(s) term): not potential-based
            bonus = mdp.R + 3.0 * phi[None, None, :] * live[:, None, None]
            # (b) F with γ' = 0.5 ≠ the MDP's 0.9
            wrong_g = mdp.R + (0.5 * phi[None, None, :] - phi[:, None, None]) * live[:, None, None]
            # (c) Φ(terminal) ≠ 0 collected on entering a terminal
            phi_t = phi + 5.0 * mdp.terminal_mask
            term = mdp.R + (0.9 * phi_t[None, None, :] - phi_t[:, None, None]) * live[:, None, None]
            for k, R in (("bonus", bonus), ("gamma", wrong_g), ("terminal", term)):
                broke[k] += not _same_sets(mdp, R)
        assert all(v > 0 for v in broke.values()), broke


def test_expert_potential_gives_optimal_advantage():
    """Φ = V*: shaped Q* is 0 on optimal actions and < 0 on the others (live states)."""
    with jax.enable_x64(True):
        for mdp in [*_mdps(4), key_door_mdp(KeyDoorConfig(layout=KEY_DOOR_SMALL), 0.95)]:
            sol = value_iteration(mdp)
            q_sh = value_iteration(shaped_mdp(mdp, expert_potential(mdp))).Q
            live = ~np.asarray(mdp.terminal_mask)
            opt = np.asarray(optimal_action_sets(sol.Q, 1e-9))
            q_sh, qs = np.asarray(q_sh)[live], np.asarray(sol.Q)[live]
            np.testing.assert_allclose(q_sh[opt[live]], 0.0, atol=1e-9)
            gap = (qs.max(-1, keepdims=True) - qs)[~opt[live]]
            np.testing.assert_allclose(q_sh[~opt[live]], -gap, atol=1e-9)
            assert np.all(q_sh[~opt[live]] < -1e-9)
            # so greedy one-step on the shaped expected reward is already optimal
            r_sh = np.asarray(shaped_mdp(mdp, expert_potential(mdp)).expected_reward)[live]
            assert np.all(opt[live][np.arange(r_sh.shape[0]), r_sh.argmax(-1)])


def test_noisy_and_adaptive_limits():
    with jax.enable_x64(True):
        mdp = _mdps(1)[0]
        v = expert_potential(mdp)
        np.testing.assert_array_equal(noisy_potential(mdp, jax.random.PRNGKey(0), 0.0), v)
        a = noisy_potential(mdp, jax.random.PRNGKey(0), 1.0)
        b = noisy_potential(mdp, jax.random.PRNGKey(1), 1.0)
        assert not np.allclose(a, b) and np.all(np.asarray(a)[np.asarray(mdp.terminal_mask)] == 0)
        pi_star = value_iteration(mdp).pi
        pi_u = jnp.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
        np.testing.assert_allclose(adaptive_potential(mdp, pi_star, 0.0), v, atol=1e-9)
        np.testing.assert_allclose(adaptive_potential(mdp, pi_u, 1.0), v, atol=1e-12)
        # β = 0 with the learner's own values: the shaped expected reward is its advantage
        from jaxrl.mdp import q_pi

        phi = adaptive_potential(mdp, pi_u, 0.0)
        adv = q_pi(mdp, pi_u) - phi[:, None]
        live = ~np.asarray(mdp.terminal_mask)
        r_sh = shaped_mdp(mdp, phi).expected_reward
        np.testing.assert_allclose(np.asarray(r_sh)[live], np.asarray(adv)[live], atol=1e-9)


def test_thesis_settings_name_bad_fields():
    from experiments.process_rewards import thesis as m

    with pytest.raises(ValueError, match="noise_scales"):
        m.Settings(noise_scales=(-1.0,))
    with pytest.raises(ValueError, match="tasks"):
        m.Settings(tasks=("lava",))
    with pytest.raises(ValueError, match="seeds"):
        m.run(m.TINY, seeds=1, seed=0)


@pytest.mark.slow
def test_thesis_experiment_smoke(tmp_path):
    from experiments.process_rewards import thesis as m

    s = m.run(m.TINY, seeds=2, seed=0)
    assert s["conditions"][0] == "none"
    cl = m.claims(s)
    assert {c.id for c in cl} >= {"process_rewards.thesis.invariance"}
    assert next(c for c in cl if c.id.endswith("invariance")).verdict == "reproduced"
    assert m.figure(s, cl, tmp_path).exists()
    assert m.run(m.TINY, seeds=2, seed=0) == s
