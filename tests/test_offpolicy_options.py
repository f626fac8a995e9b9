"""The SAM-paper options of the off-policy agents: n-step targets, DAC absorbing states, LayerNorm.

Each is checked against a hand computation on a hand-filled replay buffer (two interleaved
environments, a capacity that is not a multiple of two, so windows cross the ring's wrap), then
end to end on the probes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import Probe

from jaxrl.agents import absorbing, nstep, replay_buffer, sac, td3
from jaxrl.agents.critic import td_target
from jaxrl.agents.offpolicy_common import build_trainer
from jaxrl.agents.replay_buffer import ReplayTransition
from jaxrl.envs import make

N_ENVS, CAPACITY, STEPS = 2, 23, 40  # 80 items written into 23 slots: wrapped 3 times
GAMMA = 0.9


def _filled_buffer(seed=0, indicator=False, terminals=True):
    """A buffer written like the runner does (``N_ENVS`` items per vector step). ``obs`` holds
    the global item id ``t·N_ENVS + env`` (and a 0 indicator with ``indicator``); ``next_obs``
    is ``obs + 1000`` (a final observation, never another item's obs)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(STEPS * N_ENVS).reshape(STEPS, N_ENVS).astype(np.float32)
    u = rng.uniform(size=ids.shape)
    term = (u < 0.15) & terminals
    trunc = (u > 0.85) & ~term
    reward = rng.normal(size=ids.shape).astype(np.float32)
    feats = lambda x: np.stack([x, np.zeros_like(x)], -1) if indicator else x[..., None]
    example = ReplayTransition(
        obs=jnp.zeros(2 if indicator else 1),
        action=jnp.zeros(1),
        reward=jnp.zeros(()),
        next_obs=jnp.zeros(2 if indicator else 1),
        terminated=jnp.zeros((), bool),
        channels={},
        truncated=jnp.zeros((), bool),
    )
    buf = replay_buffer.init(example, CAPACITY)
    for t in range(STEPS):
        buf = replay_buffer.add(
            buf,
            ReplayTransition(
                obs=jnp.asarray(feats(ids[t])),
                action=jnp.asarray(ids[t][:, None] * 0.001),
                reward=jnp.asarray(reward[t]),
                next_obs=jnp.asarray(feats(ids[t] + 1000.0)),
                terminated=jnp.asarray(term[t]),
                channels={},
                truncated=jnp.asarray(trunc[t]),
            ),
        )
    table = {"reward": reward, "term": term, "trunc": trunc}
    return buf, table


def _hand_nstep(table, item, n, absorbing_states=False, loop=False):
    """Σ γ^k r_{t+k} over the same env's steps until an episode end or the newest item, and
    the bootstrap ``(next id or "abs", terminated, γ^m)``; with ``absorbing_states`` a terminal
    continues through the self-loop (reward 0, next state s_abs)."""
    t, e = divmod(item, N_ENVS)
    ret, in_abs = 0.0, loop
    for k in range(n):
        if in_abs:  # self-loop s_abs -> s_abs, stored reward 0
            continue
        if t + k >= STEPS:  # not collected yet: bootstrap from the last collected step
            return ret, (t + k - 1) * N_ENVS + e + 1000.0, False, GAMMA**k
        ret += GAMMA**k * table["reward"][t + k, e]
        if table["term"][t + k, e]:
            if not absorbing_states:
                return ret, (t + k) * N_ENVS + e + 1000.0, True, GAMMA ** (k + 1)
            in_abs = True
        elif table["trunc"][t + k, e]:
            return ret, (t + k) * N_ENVS + e + 1000.0, False, GAMMA ** (k + 1)
    if in_abs:
        return ret, "abs", False, GAMMA**n
    return ret, (t + n - 1) * N_ENVS + e + 1000.0, False, GAMMA**n


@pytest.mark.parametrize("n", [1, 4])
def test_nstep_target_matches_hand_computation(n):
    """G + γ^m (1 − terminated) Q(s') with cuts at terminated (no bootstrap) and truncated
    (bootstrap from the final observation) steps and at the newest item, for every draw."""
    buf, table = _filled_buffer()
    assert table["term"].any() and table["trunc"].any()
    batch = nstep.sample(buf, jax.random.key(3), 200, n, N_ENVS)
    assert isinstance(batch, nstep.NStepWindow) == (n > 1)
    first, gamma_m = nstep.target_inputs(batch, GAMMA)
    q = lambda s: 0.5 * s[..., 0]  # any value function of the bootstrap state
    target = np.asarray(td_target(first.reward, first.terminated, gamma_m, q(first.next_obs)))
    ids = np.asarray(first.obs[:, 0]).astype(int)
    assert ids.min() >= STEPS * N_ENVS - CAPACITY  # only items still stored are drawn
    cases = set()
    for i, item in enumerate(ids):
        ret, boot, term, g_m = _hand_nstep(table, item, n)
        assert float(first.next_obs[i, 0]) == boot and bool(first.terminated[i]) == term
        want = ret + (0.0 if term else g_m * 0.5 * boot)
        np.testing.assert_allclose(target[i], want, rtol=1e-5, atol=1e-5)
        cases.add((term, round(g_m, 6)))
    if n > 1:  # the draws cover full windows and windows cut early by each kind of end
        assert any(g == round(GAMMA**n, 6) for _, g in cases)
        assert any(t for t, _ in cases) and len({g for _, g in cases}) > 2


def test_nstep_one_equals_plain_sampling():
    buf, _ = _filled_buffer()
    a = replay_buffer.sample(buf, jax.random.key(5), 32)
    b = nstep.sample(buf, jax.random.key(5), 32, 1, N_ENVS)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_absorbing_terminal_bootstraps_from_absorbing_state_with_discount_gamma():
    """A terminal transition goes to s_abs = (0, 1) and bootstraps with γ (not 0); a truncated
    one keeps its final observation (indicator 0); self-loop draws are (s_abs, 0, s_abs) with
    reward 0, one per stored terminal."""
    buf, table = _filled_buffer(indicator=True)
    stored = np.arange(STEPS * N_ENVS)[-CAPACITY:]
    n_term = int(table["term"].reshape(-1)[stored].sum())
    assert int(absorbing.num_self_loops(buf)) == n_term > 0
    batch = nstep.sample(buf, jax.random.key(1), 400, 1, N_ENVS, absorbing=True)
    s_abs = np.array([0.0, 1.0], np.float32)
    assert not np.asarray(batch.terminated).any()
    q = lambda s: 2.0 * s[..., 0] + 7.0 * s[..., 1]  # Q(s_abs) = 7
    target = np.asarray(td_target(batch.reward, batch.terminated, GAMMA, q(batch.next_obs)))
    obs, next_obs = np.asarray(batch.obs), np.asarray(batch.next_obs)
    loops = np.all(obs == s_abs, axis=-1)
    # self-loops: about n_term / (CAPACITY + n_term) of the draws
    assert abs(loops.mean() - n_term / (CAPACITY + n_term)) < 0.1
    np.testing.assert_array_equal(next_obs[loops], np.broadcast_to(s_abs, next_obs[loops].shape))
    np.testing.assert_array_equal(np.asarray(batch.reward)[loops], 0.0)
    np.testing.assert_allclose(target[loops], GAMMA * 7.0)
    real = ~loops
    ids = obs[real, 0].astype(int)
    t, e = np.divmod(ids, N_ENVS)
    was_term, was_trunc = table["term"][t, e], table["trunc"][t, e]
    assert was_term.any() and was_trunc.any()
    assert np.all(obs[real, 1] == 0.0)
    np.testing.assert_array_equal(
        next_obs[real][was_term], np.broadcast_to(s_abs, (was_term.sum(), 2))
    )
    np.testing.assert_allclose(
        target[real][was_term], table["reward"][t, e][was_term] + GAMMA * 7.0, rtol=1e-6
    )
    # truncated (and ordinary) steps: their own final observation, indicator 0
    np.testing.assert_array_equal(next_obs[real][~was_term, 0], ids[~was_term] + 1000.0)
    np.testing.assert_array_equal(next_obs[real][~was_term, 1], 0.0)


def test_absorbing_needs_terminals_for_self_loops():
    buf, _ = _filled_buffer(indicator=True, terminals=False)
    batch = nstep.sample(buf, jax.random.key(1), 200, 1, N_ENVS, absorbing=True)
    assert int(absorbing.num_self_loops(buf)) == 0
    assert np.all(np.asarray(batch.obs[:, 1]) == 0.0)


@pytest.mark.heavy
def test_nstep_window_runs_on_through_the_absorbing_self_loop():
    buf, table = _filled_buffer(indicator=True)
    n = 4
    window = nstep.sample(buf, jax.random.key(2), 300, n, N_ENVS, absorbing=True)
    first, gamma_m = nstep.collapse(window, GAMMA)
    obs, next_obs = np.asarray(first.obs), np.asarray(first.next_obs)
    assert not np.asarray(first.terminated).any()
    saw_abs_boot = False
    for i in range(obs.shape[0]):
        loop = obs[i, 1] == 1.0
        item = 0 if loop else int(obs[i, 0])
        ret, boot, _, g_m = _hand_nstep(table, item, n, absorbing_states=True, loop=loop)
        np.testing.assert_allclose(float(first.reward[i]), ret, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(float(gamma_m[i]), g_m, rtol=1e-6)
        if boot == "abs":
            saw_abs_boot |= not loop
            np.testing.assert_array_equal(next_obs[i], [0.0, 1.0])
        else:
            assert next_obs[i, 0] == boot and next_obs[i, 1] == 0.0
    assert saw_abs_boot


def test_absorbing_indicator_env_and_validation():
    env, params = make("Pendulum-v1", max_steps_in_episode=5)
    wrapped = absorbing.AbsorbingIndicator(env, params)
    assert wrapped.observation_space(params).shape == (4,)
    obs, state = wrapped.reset(jax.random.key(0), params)
    obs2, _, _, _, _, info = wrapped.step(jax.random.key(1), state, jnp.zeros(1), params)
    assert obs.shape == obs2.shape == info["final_observation"].shape == (4,)
    assert float(obs[-1]) == float(obs2[-1]) == float(info["final_observation"][-1]) == 0.0
    # a bare env with absorbing=True is refused by the runner (the agent must wrap it)
    static = td3.TD3Static(absorbing=True)
    with pytest.raises(ValueError, match="AbsorbingIndicator"):
        build_trainer(static, env, params, None, None, None)
    with pytest.raises(ValueError, match="n_step"):
        td3.TD3Static(n_step=0)


@pytest.mark.heavy
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_layer_norm_changes_params_not_shapes(algo):
    mod, cls = (td3, td3.TD3Static) if algo == "td3" else (sac, sac.SACStatic)
    env, params = make("Pendulum-v1", max_steps_in_episode=20)
    kw = dict(hidden_sizes=(8, 8), total_timesteps=100, log_interval=50, buffer_capacity=100)
    plain = mod.make_train(cls(**kw), env, env_params=params)
    normed = mod.make_train(cls(layer_norm=True, **kw), env, env_params=params)
    hp = td3.TD3HParams() if algo == "td3" else sac.SACHParams()
    s0, s1 = plain.agent.init(jax.random.key(0), hp), normed.agent.init(jax.random.key(0), hp)

    def keys(p):
        flat = jax.tree_util.tree_flatten_with_path(p)[0]
        return {"/".join(str(k.key) for k in path) for path, _ in flat}

    for net in ("actor", "critic"):
        k0, k1 = keys(getattr(s0, net).params), keys(getattr(s1, net).params)
        assert not any("LayerNorm" in k for k in k0)
        ln = {k for k in k1 if "LayerNorm" in k}
        assert len(ln) == 2 * 2 and k0 < k1 and k1 - k0 == ln  # scale + bias per hidden layer
    obs = jnp.ones((5, 3))
    a0 = plain.agent.act(s0, obs, jax.random.key(1), True)
    a1 = normed.agent.act(s1, obs, jax.random.key(1), True)
    assert a0.shape == a1.shape == (5, 1) and not np.allclose(a0, a1)


@pytest.mark.heavy
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_all_options_on_a_terminating_probe(algo):
    """n-step + absorbing end to end: one-step episodes, reward −(a − 0.5)²; the absorbing
    self-loop's reward is 0 whatever the action, so the greedy action at s still → 0.5. (Not with
    LayerNorm: this probe's observation is constant 0, which a LayerNorm actor cannot use.)"""
    mod, cls, hcls = {
        "td3": (td3, td3.TD3Static, td3.TD3HParams),
        "sac": (sac, sac.SACStatic, sac.SACHParams),
    }[algo]
    static = cls(
        num_envs=8,
        total_timesteps=3200,
        buffer_capacity=2000,
        batch_size=64,
        learning_starts=200,
        log_interval=800,
        hidden_sizes=(32,),
        num_eval_envs=8,
        eval_steps=1,
        n_step=3,
        absorbing=True,
    )
    trainer = mod.make_train(static, Probe("continuous"))
    keys = jax.random.split(jax.random.key(0), 2)
    hp = hcls(learning_rate=3e-3, tau=0.05).broadcast(2)
    state, metrics = jax.jit(jax.vmap(trainer))(keys, hp)
    assert state.buffer.storage.obs.shape[-1] == 2 and state.buffer.storage.truncated is not None
    assert np.asarray(state.buffer.storage.terminated).any()
    act = jax.vmap(lambda s: trainer.agent.act(s, jnp.zeros((1, 2)), None, True))(state.agent)
    np.testing.assert_allclose(act[:, 0, 0], 0.5, atol=0.2)
    for k, v in metrics.items():
        assert np.all(np.isfinite(v)), k
