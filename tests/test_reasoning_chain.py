"""The toy reasoning MDP (jaxrl.envs.reasoning_chain) against its exact MDP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.envs import make
from jaxrl.envs.reasoning_chain import (
    ReasoningChain,
    ReasoningConfig,
    optimal_success,
    reasoning_mdp,
    reasoning_tables,
)

CFG = ReasoningConfig(num_problems=4, chain_length=3, num_step_actions=3, max_depth=5,
                      shortcut_fraction=0.5, seed=1)  # fmt: skip


def _episode(env, problem, actions):
    params = env.default_params
    _, state = env.reset(jax.random.key(0), params)
    state = state.replace(problem=jnp.int32(problem))
    out = []
    for i, a in enumerate(actions):
        _, state, r, term, trunc, info = env.step(jax.random.key(i + 1), state, a, params)
        out.append((float(r), bool(term), bool(trunc), info))
        if term or trunc:
            break
    return out


def test_full_chain_padding_and_shortcut():
    env, t = ReasoningChain(CFG), reasoning_tables(CFG)
    K = CFG.num_step_actions
    hard = int(np.flatnonzero(~t.easy)[0])
    easy = int(np.flatnonzero(t.easy)[0])
    chain = [int(a) for a in t.correct[hard]]
    ep = _episode(env, hard, [*chain, K])
    assert [e[0] for e in ep] == [0, 0, 0, 1.0] and ep[-1][1]
    np.testing.assert_allclose(sum(float(e[3]["progress_reward"]) for e in ep), 1.0, atol=1e-6)
    assert _episode(env, hard, [*chain, 0, 1, K])[-1][0] == 1.0  # padding keeps it right
    wrong = (chain[0] + 1) % K
    ep = _episode(env, hard, [wrong, *chain[1:], K])
    assert ep[-1][0] == 0.0 and sum(float(e[3]["progress_reward"]) for e in ep) == 0.0
    assert _episode(env, hard, [K])[-1][0] == 0.0  # a shallow answer on a hard problem
    assert _episode(env, easy, [K])[-1][0] == 1.0  # ... and on an easy one


def test_truncation_after_max_depth_plus_one_steps():
    env = ReasoningChain(CFG)
    ep = _episode(env, 0, [0] * 10)
    assert len(ep) == CFG.max_depth + 1 and ep[-1][2] and not ep[-1][1]


def test_env_matches_the_exact_mdp():
    env, mdp = ReasoningChain(CFG), reasoning_mdp(CFG)
    P, R = np.asarray(mdp.P), np.asarray(mdp.R)
    D, K = CFG.max_depth, CFG.num_step_actions
    params = env.default_params
    base = env.reset(jax.random.key(0), params)[1]
    step = jax.jit(env.step_env)
    for p in range(CFG.num_problems):
        for d in range(D + 1):
            for right in (0, 1):
                s = (p * (D + 1) + d) * 2 + right
                for a in range(K + 1):
                    st = base.replace(problem=jnp.int32(p), depth=jnp.int32(d),
                                      right=jnp.asarray(bool(right)))  # fmt: skip
                    _, new, r, term, _ = step(jax.random.key(1), st, a, params)
                    s2 = (
                        P.shape[0] - 1
                        if term
                        else (p * (D + 1) + int(new.depth)) * 2 + int(new.right)
                    )
                    assert P[s, a, s2] == 1.0 and float(r) == R[s, a, s2], (p, d, right, a)


def test_optimal_success_exact():
    best, short = optimal_success(CFG)
    assert best == pytest.approx(1.0, abs=1e-12)
    assert short == pytest.approx(reasoning_tables(CFG).easy.mean(), abs=1e-12)
    cfg = CFG.replace(max_depth=3, chain_length=3)
    assert optimal_success(cfg)[0] == pytest.approx(1.0, abs=1e-12)


def test_make_and_bad_config_name_the_field():
    env, params = make("reasoning_chain", chain_length=6, max_depth=6)
    assert env.observation_space(params).shape == (8 + 7,)
    with pytest.raises(ValueError, match="max_depth"):
        ReasoningConfig(chain_length=5, max_depth=4)
    with pytest.raises(ValueError, match="shortcut_fraction"):
        ReasoningConfig(shortcut_fraction=1.5)
    with pytest.raises(ValueError, match="unknown keyword"):
        make("reasoning_chain", length=3)
