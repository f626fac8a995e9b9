"""REINFORCE / actor-critic: returns, PBRS terms, learning a 2-armed bandit and a tiny chain."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import spaces

from jaxrl.agents import reinforce as rf
from jaxrl.envs.core import Environment
from jaxrl.shaping.aux_reward import aux_shaping, pbrs_arrival, pbrs_aux


@struct.dataclass
class ChainParams:
    length: int = 1
    max_steps_in_episode: int = 1
    aux_arm: int = 1


@struct.dataclass
class ChainState:
    pos: jnp.ndarray
    time: jnp.ndarray


class Chain(Environment):
    """Chain of ``length`` cells: action 1 moves right, 0 ends the episode with nothing.

    Reaching the end pays primary 1 (terminal). ``length = 1`` is a 2-armed bandit (arm 1 pays 1).
    ``info["aux_reward"] = 1`` when the action is ``params.aux_arm`` (a misleading aux if 0).
    """

    def __init__(self, length: int = 1, aux_arm: int = 1):
        super().__init__()
        self.length, self.aux_arm = length, aux_arm

    @property
    def default_params(self):
        return ChainParams(self.length, self.length + 1, self.aux_arm)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    def reset_env(self, key, params):
        s = ChainState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
        return self._obs(s), s

    def _obs(self, s):
        return (s.pos / self.length)[None].astype(jnp.float32)

    def step_env(self, key, s, action, params):
        a = jnp.asarray(action, jnp.int32)
        pos = s.pos + a
        goal = pos >= self.length
        term = goal | (a == 0)
        r = goal.astype(jnp.float32)
        new = ChainState(pos, s.time + 1)
        info = {"true_reward": r, "aux_reward": (a == params.aux_arm).astype(jnp.float32)}
        return self._obs(new), new, r, term, info


def one_hot_pos(length):
    def f(obs):
        idx = jnp.round(obs[..., 0] * length).astype(jnp.int32)
        return jax.nn.one_hot(idx, length + 1)

    return f, length + 1


def test_discounted_returns_match_numpy():
    r = jnp.asarray([1.0, 2.0, 3.0, 4.0])
    m = jnp.asarray([1.0, 1.0, 1.0, 0.0])
    G = rf.discounted_returns(r, m, 0.5)
    np.testing.assert_allclose(G, [1 + 1 + 0.75, 2 + 1.5, 3, 0])


def _ep(aux, term_last=True):
    T = len(aux)
    mask = jnp.ones(T)
    term = jnp.zeros(T, bool).at[-1].set(term_last)
    z = jnp.zeros(T)
    return rf.Episode(z, z, z, z, jnp.asarray(aux), mask, term, jnp.zeros(T, bool))


def test_pbrs_terms_telescope():
    ep = _ep([2.0, -1.0, 3.0])
    g = 0.9
    # Φ_t = aux_t: shaped return from t is −Φ_t (terminal potential 0)
    F = rf.learner_rewards(pbrs_aux(), 1.0, ep, g)  # the env reward is 0: r̃ = F
    G = rf.discounted_returns(F, ep.mask, g)
    np.testing.assert_allclose(G, -np.asarray([2.0, -1.0, 3.0]), rtol=1e-6)
    # Φ(s_{t+1}) = aux_t: shaped return from t is −aux_{t−1} (Φ(s_0) = 0)
    F = rf.learner_rewards(pbrs_arrival(), 1.0, ep, g)
    G = rf.discounted_returns(F, ep.mask, g)
    np.testing.assert_allclose(G, [0.0, -2.0, 1.0], rtol=1e-6, atol=1e-6)


def _train(env, episodes, seeds=4, **hp):
    f, n = one_hot_pos(env.length)
    static = rf.ReinforceStatic(
        episodes=episodes, num_chunks=1, actor_critic=hp.pop("actor_critic", False)
    )
    tr = rf.make_train(static, env, f, n, transform=aux_shaping())
    coefs = (hp.pop("aux_coef", 0.0), 0.0, 0.0)  # (aux, PBRS, arrival PBRS)
    h = rf.ReinforceHParams(**hp, transform=coefs).broadcast(seeds)
    st = jax.jit(jax.vmap(tr.init))(jax.random.split(jax.random.key(0), seeds), h)
    st, m = jax.jit(jax.vmap(tr.chunk))(st, h)
    return tr, st, m


@pytest.mark.heavy
def test_reinforce_learns_two_armed_bandit():
    env = Chain(1)
    tr, st, m = _train(env, 150, actor_lr=0.05)
    f, _ = one_hot_pos(1)
    probs = jax.vmap(lambda p: jax.nn.softmax(tr.policy.out(p, f(jnp.zeros((1,))))))(st.params)
    assert np.all(np.asarray(probs)[:, 1] > 0.9), probs
    assert float(np.mean(m["primary_return"][:, -20:])) > 0.9


def test_naive_sum_with_misleading_aux_picks_wrong_arm():
    env = Chain(1, aux_arm=0)
    _, _, m = _train(env, 150, actor_lr=0.05, aux_coef=2.0)  # aux 2 on arm 0 beats 1 on arm 1
    assert float(np.mean(m["primary_return"][:, -20:])) < 0.2


@pytest.mark.heavy
def test_actor_critic_learns_tiny_chain():
    env = Chain(3)
    _, _, m = _train(env, 300, actor_lr=0.05, critic_lr=0.05, actor_critic=True)
    assert float(np.mean(m["primary_return"][:, -30:])) > 0.8
    _, _, m = _train(env, 300, actor_lr=0.05)
    assert float(np.mean(m["primary_return"][:, -30:])) > 0.8
