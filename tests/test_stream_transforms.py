"""Reward-stream transforms: PAR and its baselines, Clip/Delta, G-RA, CaRL, weighted channels."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.shaping.gating import (
    dra_return,
    gated_channels,
    gated_reward_accumulation,
    gra_return,
    multiplicative_penalties,
    weighted_channels,
)
from jaxrl.shaping.prm import clip_rewards, delta_rewards, prm_clip, prm_delta, returns_to_go
from jaxrl.shaping.stream import (
    RunningStats,
    ceiling,
    centred,
    init_running_stats,
    lsc,
    mean_std,
    min_max,
    mu_sigma_clip,
    par,
    par_reward,
    sigmoid,
    update_running_stats,
)
from jaxrl.shaping.transform import Transition, chain, scale
from theory_checks.cases import stream_transition

sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731


def _tr(reward, channels=None, last=None) -> Transition:
    return stream_transition(jnp.asarray(reward, jnp.float32), last, channels, gamma=0.99)


def _apply(t, tr, params=None, state=None):
    params = t.default_params if params is None else params
    state = t.init(params) if state is None else state
    out, state = t.apply(params, state, tr)
    return np.asarray(out), state


# ----------------------------------------------------------------------------- PAR family
def test_par_hand_values_one_and_many_references():
    # one reference per sample: σ(1·(r − r_ref)) = σ(0), σ(1), σ(−1)
    tr = _tr([0.0, 1.0, 2.0], {"reference_reward": jnp.array([0.0, 0.0, 3.0])})
    out, _ = _apply(par(), tr)
    np.testing.assert_allclose(out, [0.5, sig(1), sig(-1)], rtol=1e-6)
    # two references [0, 2], k = 2: r = 1 -> (σ(2) + σ(−2))/2 = 0.5; r = 3 -> (σ(6) + σ(2))/2
    tr = _tr([1.0, 3.0], {"reference_reward": jnp.array([[0.0, 2.0], [0.0, 2.0]])})
    out, _ = _apply(par(k=2.0), tr)
    np.testing.assert_allclose(out, [0.5, (sig(6) + sig(2)) / 2], rtol=1e-6)
    # a fixed reference array [M] shared by every sample gives the same numbers
    out2, _ = _apply(par(k=2.0, reference=jnp.array([0.0, 2.0])), _tr([1.0, 3.0]))
    np.testing.assert_allclose(out2, out, rtol=1e-6)


def test_par_is_offset_invariant_but_uncentred_sigmoid_is_not():
    r, ref = jnp.array([0.3, -1.0]), jnp.array([[0.0], [0.5]])
    base = np.asarray(par_reward(r, ref))
    np.testing.assert_allclose(np.asarray(par_reward(r + 7.0, ref + 7.0)), base, atol=1e-6)
    out, _ = _apply(sigmoid(), _tr([0.0]))
    np.testing.assert_allclose(out, [0.5])  # σ(0)
    out7, _ = _apply(sigmoid(), _tr([7.0]))
    assert out7[0] > 0.99  # σ(7) = 0.9991: the RM's offset leaks into the RL reward
    # relative tanh (paper ablation): tanh(1 − 0) = 0.7616
    rel_tanh = par_reward(jnp.array([1.0]), jnp.zeros((1, 1)), 1.0, "tanh")
    np.testing.assert_allclose(np.asarray(rel_tanh), [math.tanh(1)], rtol=1e-6)


def test_centred_and_lsc_hand_values():
    refs = {"reference_reward": jnp.array([[0.0, 2.0], [1.0, 1.0]])}
    tr = _tr([3.0, 0.0], refs)
    # centred: mean_m (r − r_ref,m) = ((3 − 0) + (3 − 2))/2 = 2; (0 − 1 + 0 − 1)/2 = −1
    np.testing.assert_allclose(_apply(centred(), tr)[0], [2.0, -1.0], rtol=1e-6)
    # LSC: refs [0, 2]: mean 1, sample std √2; q = 1 + 1.0364334·(√2 + 1e-5); log σ(3 − q).
    #      refs [1, 1]: std 0; q = 1 + 1.0364334·1e-5; log σ(0 − q).
    z = 1.0364333894937898
    q = [1 + z * (math.sqrt(2) + 1e-5), 1 + z * 1e-5]
    expected = [math.log(sig(3 - q[0])), math.log(sig(0 - q[1]))]
    np.testing.assert_allclose(_apply(lsc(), tr)[0], expected, rtol=1e-5)


def test_running_stats_thread_across_calls():
    t = mean_std()
    # call 1: [1, 3]: μ = 2, σ = 1 (population) -> [−1, 1]
    out, s = _apply(t, _tr([1.0, 3.0]))
    np.testing.assert_allclose(out, [-1.0, 1.0], rtol=1e-6)
    # call 2 with [5]: seen {1, 3, 5}: μ = 3, σ² = (4 + 0 + 4)/3 -> (5 − 3)/√(8/3) = 1.2247
    out, s = _apply(t, _tr([5.0]), state=s)
    np.testing.assert_allclose(out, [2 / math.sqrt(8 / 3)], rtol=1e-6)
    assert float(s.count) == 3 and float(s.min) == 1 and float(s.max) == 5
    # a first batch of one sample has σ = 0 -> divide by 1: 4 − 4 = 0
    np.testing.assert_allclose(_apply(t, _tr([4.0]))[0], [0.0])
    # centred with a running mean: {1, 3} then {5}: 5 − 3 = 2
    c = centred(reference=None)
    _, s = _apply(c, _tr([1.0, 3.0]))
    np.testing.assert_allclose(_apply(c, _tr([5.0]), state=s)[0], [2.0])


def test_mu_sigma_clip_min_max_ceiling_hand_values():
    # seen {0, 2, 4, 10}: μ = 4, σ² = (16 + 4 + 0 + 36)/4 = 14 -> clip to [4 − 3.742, 4 + 3.742]
    tr = _tr([0.0, 2.0, 4.0, 10.0])
    s14 = math.sqrt(14)
    np.testing.assert_allclose(
        _apply(mu_sigma_clip(), tr)[0], [4 - s14, 2.0, 4.0, 4 + s14], rtol=1e-6
    )
    # min-max over {0, 2, 4, 10}: r/10; then a new max 20 -> (5 − 0)/20
    out, s = _apply(min_max(), tr)
    np.testing.assert_allclose(out, [0.0, 0.2, 0.4, 1.0], rtol=1e-6)
    np.testing.assert_allclose(_apply(min_max(), _tr([5.0, 20.0]), state=s)[0], [0.25, 1.0])
    # ceiling c = 3: min(r, 3)
    np.testing.assert_allclose(_apply(ceiling(3.0), tr)[0], [0.0, 2.0, 3.0, 3.0])


def test_running_stats_batch_polymorphic_and_jittable():
    # a [T, N] rollout is one batch of T·N samples: same numbers as the flattened [T·N] batch
    r = jnp.arange(6.0).reshape(2, 3)
    t = mean_std()
    out, s = _apply(t, _tr(r))
    flat, s_flat = _apply(t, _tr(r.reshape(-1)))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.reshape(-1), flat, rtol=1e-6)
    jitted = jax.jit(lambda st, tr: t.apply((), st, tr))
    out_j, _ = jitted(t.init(()), _tr(r))
    np.testing.assert_allclose(np.asarray(out_j), out, rtol=1e-6)


def test_running_stats_per_feature_is_the_observation_normaliser():
    # one RunningStats: PPO's observation normaliser keeps one set per feature ([N, 2] batches)
    from jaxrl.agents import normalizer

    assert normalizer.RunningStats is RunningStats
    s = RunningStats.create((2,))
    np.testing.assert_allclose(s.var, [1.0, 1.0])  # the 1e-4 pseudo-count prior: var 1
    x = np.random.default_rng(0).normal(size=(2, 7, 2)) * [1.0, 5.0] + [3.0, -2.0]
    for batch in x:
        s = normalizer.update_stats(s, jnp.asarray(batch, jnp.float32))
    flat = x.reshape(-1, 2)
    n = 14 + 1e-4  # the prior: 1e-4 samples at mean 0, variance 1
    mean = flat.sum(0) / n
    var = (((flat - mean) ** 2).sum(0) + 1e-4 * (1.0 + mean**2)) / n
    np.testing.assert_allclose(s.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(s.var, var, rtol=1e-5)
    np.testing.assert_allclose(s.min, flat.min(0)) and np.testing.assert_allclose(
        s.max, flat.max(0)
    )
    z = normalizer.normalize(s, jnp.asarray(flat, jnp.float32), True)
    np.testing.assert_allclose(z, np.clip((flat - mean) / np.sqrt(var + 1e-8), -10, 10), rtol=1e-4)
    # scalar reward stream: the same update with every element a sample
    r = update_running_stats(init_running_stats(), jnp.asarray(x[..., 0], jnp.float32))
    np.testing.assert_allclose([r.mean, r.std], [x[..., 0].mean(), x[..., 0].std()], rtol=1e-5)


# ----------------------------------------------------------------------------- Clip / Delta
def test_clip_and_delta_hand_values():
    r = jnp.array([0.2, 0.9, 0.5, 0.7])
    # Clip η = 0.6: min(r − 0.6, 0) = [−0.4, 0, −0.1, 0]
    np.testing.assert_allclose(np.asarray(clip_rewards(r, 0.6)), [-0.4, 0, -0.1, 0], atol=1e-6)
    np.testing.assert_allclose(_apply(prm_clip(0.6), _tr(r))[0], [-0.4, 0, -0.1, 0], atol=1e-6)
    # Delta: [0.2 − 0.9, 0.9 − 0.5, 0.5 − 0.7, last] = [−0.7, 0.4, −0.2, 0 | 0.7]
    d0 = np.asarray(delta_rewards(r))
    d1 = np.asarray(delta_rewards(r, keep_last=True))
    np.testing.assert_allclose(d0, [-0.7, 0.4, -0.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(d1, [-0.7, 0.4, -0.2, 0.7], atol=1e-6)
    # return-to-go telescopes: r_t − r_K (0.2 − 0.7 = −0.5, ...) or r_t
    np.testing.assert_allclose(np.asarray(returns_to_go(d0)), r - 0.7, atol=1e-6)
    np.testing.assert_allclose(np.asarray(returns_to_go(d1)), r, atol=1e-6)


def test_delta_episode_boundaries_mask_and_rollout_shape():
    # [T=4, N=2]; column 0 ends an episode at t = 1 (deltas do not cross it)
    r = jnp.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [8.0, 8.0]])
    done = jnp.array([[0, 0], [1, 0], [0, 0], [0, 0]], bool)
    d = np.asarray(delta_rewards(r, done=done))
    np.testing.assert_allclose(d[:, 0], [1 - 2, 0, 4 - 8, 0])
    np.testing.assert_allclose(d[:, 1], [1 - 2, 2 - 4, 4 - 8, 0])
    # padding: valid length 2, junk behind the mask changes nothing and gets 0
    mask = jnp.array([[1, 1], [1, 1], [0, 1], [0, 1]], bool)
    junk = r.at[2:, 0].set(100.0)
    d_mask = np.asarray(delta_rewards(junk, mask=mask, keep_last=True))
    np.testing.assert_allclose(d_mask[:, 0], [1 - 2, 2, 0, 0])


def test_streaming_delta_is_one_step_late_and_flushes():
    # episode r = [0.2, 0.9, 0.5] (last at t = 2), then a new episode starting with 0.3
    t = prm_delta(batch_shape=(), keep_last=True)
    rewards, lasts = [0.2, 0.9, 0.5, 0.3], [False, False, True, False]
    state, outs = t.init(t.default_params), []
    for r, last in zip(rewards, lasts, strict=True):
        out, state = t.apply(t.default_params, state, _tr(r, last=last))
        outs.append(float(out))
    # t=0: 0; t=1: 0.2 − 0.9; t=2: (0.9 − 0.5) + 0.5 (pending + kept last); t=3: new episode, 0
    np.testing.assert_allclose(outs, [0.0, -0.7, 0.4 + 0.5, 0.0], atol=1e-6)
    assert sum(outs) == pytest.approx(0.2)  # episode return r_0 (keep_last)
    with pytest.raises(ValueError, match="batch_shape"):
        t.apply(t.default_params, t.init(t.default_params), _tr([1.0, 2.0]))


def test_streaming_delta_batched_and_vmapped_keep_last():
    # [N=2] environments, vmapped over keep_last ∈ {0, 1}: episode [1, 3] then last step
    t = prm_delta(batch_shape=(2,))

    def run(keep):
        s = t.init(keep)
        o1, s = t.apply(keep, s, _tr([1.0, 5.0]))
        o2, s = t.apply(keep, s, _tr([3.0, 4.0], last=[True, True]))
        return o1 + o2  # the episode return: r_0 − r_K + keep·r_K

    out = np.asarray(jax.vmap(run)(jnp.array([0.0, 1.0])))
    np.testing.assert_allclose(out, [[1 - 3, 5 - 4], [1.0, 5.0]])


def test_clip_delta_chain():
    # Clip η = 0.5 then Delta (streaming), 3 steps r = [0.9, 0.2, 0.6] ending at t = 2:
    # clip -> [0, −0.3, 0]; delta late -> [0, 0 − (−0.3), −0.3 − 0 + 0] = [0, 0.3, −0.3]
    t = chain(prm_clip(0.5), prm_delta())
    state, outs = t.init(t.default_params), []
    for r, last in zip([0.9, 0.2, 0.6], [False, False, True], strict=True):
        out, state = t.apply(t.default_params, state, _tr(r, last=last))
        outs.append(float(out))
    np.testing.assert_allclose(outs, [0.0, 0.3, -0.3], atol=1e-6)


# ----------------------------------------------------------------------------- gating & mixtures
def test_gated_channels_per_step():
    ch = {
        "outcome": jnp.array([1.0, 0.2, 1.0]),
        "format": jnp.array([0.5, 0.5, 0.0]),
        "step": jnp.array([0.1, 0.1, 0.1]),
    }
    t = gated_channels(["outcome", "format", "step"], [0.5, 0.3])
    # col 0: all pass: 1 + 0.5 + 0.1; col 1: outcome 0.2 < 0.5: 0.2; col 2: format 0 < 0.3: 1 + 0
    np.testing.assert_allclose(_apply(t, _tr(jnp.zeros(3), ch))[0], [1.6, 0.2, 1.0], rtol=1e-6)
    # vmapped thresholds: δ_outcome = 0 opens column 1's format gate: 0.2 + 0.5 + 0.1
    outs = jax.vmap(lambda p: t.apply(p, (), _tr(jnp.zeros(3), ch))[0])(
        jnp.array([[0.5, 0.3], [0.0, 0.3]])
    )
    np.testing.assert_allclose(np.asarray(outs)[1], [1.6, 0.8, 1.0], rtol=1e-6)


def test_gated_reward_accumulation_streaming():
    # N = 2 episodes of 3 steps, step rewards 0.1, 0.2, 0.3; outcome on the last step: 1 / 0.
    t = gated_reward_accumulation(["outcome", "step"], [0.5], batch_shape=(2,))
    p = t.default_params
    state, total = t.init(p), 0.0
    steps = [0.1, 0.2, 0.3]
    for i, r in enumerate(steps):
        last = i == 2
        ch = {"outcome": jnp.array([1.0, 0.0]) * last, "step": jnp.full(2, r)}
        out, state = t.apply(p, state, _tr(jnp.zeros(2), ch, last=[last, last]))
        if not last:
            np.testing.assert_allclose(np.asarray(out), [0.0, 0.0])  # held back
        total = total + np.asarray(out)
    # passing: 1 + (0.1 + 0.2 + 0.3); failing: exactly r_high = 0
    np.testing.assert_allclose(total, [1.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(state.sums), 0.0)  # reset after the episode
    np.testing.assert_allclose(float(gra_return(1.0, jnp.array(steps), 0.5)), 1.6, rtol=1e-6)
    np.testing.assert_allclose(float(gra_return(0.0, jnp.array(steps), 0.5)), 0.0)
    np.testing.assert_allclose(float(dra_return(0.0, jnp.array(steps))), 0.6, rtol=1e-6)


def test_multiplicative_penalties_and_weighted_channels():
    ch = {
        "progress": jnp.array([[2.0, 1.0]]),  # [T=1, N=2]
        "comfort": jnp.array([[0.5, 1.0]]),
        "speed": jnp.array([[0.8, 0.0]]),
        "true_reward": jnp.array([[1.0, -1.0]]),
        "aux_reward": jnp.array([[4.0, 2.0]]),
    }
    tr = _tr(jnp.array([[10.0, 20.0]]), ch)
    # CaRL: 2·0.5·0.8 = 0.8, 1·1·0 = 0
    out, _ = _apply(multiplicative_penalties(["comfort", "speed"], base="progress"), tr)
    np.testing.assert_allclose(out, [[0.8, 0.0]], rtol=1e-6)
    # base defaults to the incoming reward: 10·0.5 = 5, 20·1 = 20
    np.testing.assert_allclose(_apply(multiplicative_penalties(["comfort"]), tr)[0], [[5, 20]])
    # weighted: 1·1 + 0.5·4 = 3, 1·(−1) + 0.5·2 = 0
    t = weighted_channels({"true_reward": 1.0, "aux_reward": 0.5})
    np.testing.assert_allclose(_apply(t, tr)[0], [[3.0, 0.0]], rtol=1e-6)
    # vmapped weights (aux ∈ {0, 1}): [1, −1] and [5, 1]
    params = {"true_reward": jnp.ones(2), "aux_reward": jnp.array([0.0, 1.0])}
    outs = jax.vmap(lambda p: t.apply(p, (), tr)[0])(params)
    np.testing.assert_allclose(np.asarray(outs), [[[1.0, -1.0]], [[5.0, 1.0]]], rtol=1e-6)
    # "reward" names the incoming reward: 10 + 2·1 = 12, 20 + 2·(−1) = 18
    t2 = weighted_channels({"reward": 1.0, "true_reward": 2.0})
    np.testing.assert_allclose(_apply(t2, tr)[0], [[12.0, 18.0]], rtol=1e-6)
    with pytest.raises(KeyError, match="missing"):
        _apply(weighted_channels({"missing": 1.0}), tr)


# ----------------------------------------------------------------------------- polymorphism
@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_stateless_transforms_batch_polymorphic(shape):
    r = jnp.linspace(-2.0, 2.0, math.prod(shape)).reshape(shape)
    refs = {"reference_reward": jnp.zeros(shape)}
    tr = _tr(r, refs)
    for t in [par(), sigmoid(), centred(), lsc(), ceiling(1.0), prm_clip(0.5)]:
        out, _ = _apply(t, tr)
        assert out.shape == shape
        flat, _ = _apply(t, _tr(r.reshape(-1), {"reference_reward": jnp.zeros(r.size)}))
        np.testing.assert_allclose(out.reshape(-1), flat, rtol=1e-6)


def test_vmapped_par_k_and_chain_with_scale():
    tr = _tr([1.0], {"reference_reward": jnp.array([0.0])})
    t = par()
    outs = jax.vmap(lambda k: t.apply(k, (), tr)[0])(jnp.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(np.asarray(outs)[:, 0], [sig(1), sig(2), sig(3)], rtol=1e-6)
    # chain: scale r by 2 first, then PAR: σ(2·1 − 0); then ceiling 0.5 caps it
    out, state = _apply(chain(scale(2.0), par(), ceiling(0.5)), tr)
    np.testing.assert_allclose(out, [0.5])
    out, _ = _apply(chain(scale(2.0), par()), tr)
    np.testing.assert_allclose(out, [sig(2)], rtol=1e-6)
    # chain threads running stats: mean-std after PAR
    t = chain(par(), mean_std())
    out, state = _apply(t, _tr([0.0, 1.0], {"reference_reward": jnp.zeros(2)}))
    np.testing.assert_allclose(out, [-1.0, 1.0], rtol=1e-5)  # two values -> ±1
    assert float(state[1].count) == 2
