"""ORPO tomato pipeline: exact tabular layer (values, gradients) and a tiny end-to-end smoke run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_helpers import draw_figure, load_declared, run_quick

from experiments.orpo_tomato.schema import BASE_SCHEMA, exact_schema, schema
from jaxrl.envs import make, tomato_exact
from jaxrl.envs.tomato import tomato_to_sparse_mdp
from jaxrl.experiment import ResultsStore
from jaxrl.mdp.sparse import evaluate_policy_sparse


@pytest.fixture(scope="module")
def tomato():
    env, params = make("tomato", level=4, reward_factor=0.02)
    mdp, index = tomato_exact.reachable_tomato_mdp(env, params)
    return env, params, mdp, index


def test_reachable_augmented_mdp_matches_the_plain_one(tomato):
    env, params, mdp, index = tomato
    uniform = tomato_exact.policy_returns(mdp, jnp.full((mdp.n_states, 4), 0.25), horizon=100)
    plain = tomato_to_sparse_mdp(env, params)
    ret, _ = evaluate_policy_sparse(plain, jnp.full((plain.n_states, 4), 0.25), horizon=100)
    for k in ("true_reward", "proxy_reward"):
        np.testing.assert_allclose(uniform[k], ret[k], rtol=1e-5)
    np.testing.assert_allclose(uniform["true_reward"], 5.48, atol=0.02)  # papers.md §1.1
    obs = tomato_exact.tabular_observations(env, index)
    assert obs.shape == (mdp.n_states, env.obs_dim)
    # The bit is set exactly in the augmented copies (index >= S).
    np.testing.assert_array_equal(obs[:, -1], index >= env.n_tabular_states)


def test_visitation_gradient_matches_finite_differences(tomato):
    _, _, mdp, _ = tomato
    _, ret = tomato_exact.sparse_fns(mdp, horizon=100)
    r = mdp.expected_reward("proxy_reward")
    logits = 0.5 * jax.random.normal(jax.random.key(0), (mdp.n_states, 4))
    v = jax.random.normal(jax.random.key(1), logits.shape)
    g = jnp.sum(jax.grad(ret)(logits, r) * v)
    eps = 1e-2
    fd = (ret(logits + eps * v, r) - ret(logits - eps * v, r)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=2e-2)


@pytest.mark.parametrize("state_only", [False, True])
def test_sparse_terms_is_one_pass_of_sparse_fns(tomato, state_only):
    """make_ascent's shared-visitation path computes what the two separate functions compute."""
    from jaxrl.regularizers.exact_ascent import make_ascent

    _, _, mdp, _ = tomato
    occ, ret = tomato_exact.sparse_fns(mdp, horizon=100, state_only=state_only)
    terms = tomato_exact.sparse_terms(mdp, horizon=100, state_only=state_only)
    r = mdp.expected_reward("proxy_reward")
    logits = 0.5 * jax.random.normal(jax.random.key(0), (mdp.n_states, 4))
    J, mu = terms(logits, r)
    np.testing.assert_array_equal(J, ret(logits, r))
    np.testing.assert_array_equal(mu, occ(logits))
    pi_ref = jax.nn.softmax(logits, axis=-1)
    ref = occ(jnp.log(pi_ref))
    args = (jnp.log(pi_ref), r, ref, 0.05, mdp.expected_reward("true_reward"))
    shared = jax.jit(make_ascent(occ, ret, "kl", steps=20, terms_fn=terms))(*args)
    apart = jax.jit(make_ascent(occ, ret, "kl", steps=20))(*args)
    # the same math; float32 sums the two cotangent streams in another order
    for f in ("proxy_return", "true_return", "divergence", "objective", "trace"):
        np.testing.assert_allclose(getattr(shared, f), getattr(apart, f), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(shared.policy, apart.policy, atol=1e-4)


def test_exact_ascent_without_penalty_finds_the_proxy_optimum(tomato):
    _, _, mdp, _ = tomato
    pi = jnp.full((mdp.n_states, 4), 0.25)
    out = tomato_exact.exact_curves(
        mdp, pi, {("kl", False): jnp.array([0.0, 10.0])}, horizon=100, steps=150
    )[("kl", False)]
    np.testing.assert_allclose(out["proxy_return"][0], 47.36, atol=0.2)
    np.testing.assert_allclose(out["true_return"][0], 2.36, atol=0.1)
    assert abs(out["true_return"][1] - 5.49) < 0.3  # strong KL keeps the uniform reference


@pytest.mark.heavy
def test_orpo_tomato_experiment_and_figure_smoke(tmp_path):
    flags = (
        "--methods none om_sqrt_chi2 --sqrt-chi2-coefs 0.05 1.0 "
        "--base-steps 2048 --base-num-envs 4 --base-num-steps 64 --base-minibatches 4 "
        "--total-timesteps 1024 --num-envs 4 --num-steps 64 --num-minibatches 2 "
        "--update-epochs 1 --num-chunks 2 --hidden-sizes 8 --disc-hidden 8 --disc-epochs 1 "
        "--exact-steps 5 --exact-coefs-per-decade 1"
    )
    runs = run_quick("orpo_tomato", tmp_path, flags)
    assert [r.config["method"] for r in runs] == ["none", "om_sqrt_chi2", "exact"]
    base_runs = list((tmp_path / "orpo_tomato_base").iterdir())
    assert len(base_runs) == 1 and (base_runs[0] / "policy.msgpack").exists()
    for run in runs:
        assert {"config.json", "provenance.json", "metrics.npz", "DONE"} <= {
            p.name for p in run.path.iterdir()
        }
    for run in runs[:2]:
        assert run.config["base_run_id"] == base_runs[0].name
        assert run.provenance["base_run"] == str(base_runs[0])
    m = load_declared(runs[1], schema("om_sqrt_chi2"))
    load_declared(runs[0], schema("none"))
    load_declared(runs[2], exact_schema(["sqrt_chi2"]))
    load_declared(ResultsStore(tmp_path).open("orpo_tomato_base", base_runs[0].name), BASE_SCHEMA)
    assert m["final_true_return"].shape == (4,)  # [λ × seeds]
    np.testing.assert_allclose(m["lam"], np.repeat([0.05 * 0.05, 1.0 * 0.05], 2), rtol=1e-6)
    assert m["eval_true_reward"].shape == (4, 2)
    png = draw_figure("orpo_tomato", tmp_path)
    assert png.exists() and png.stat().st_size > 10_000
    assert (tmp_path / "out" / "orpo_tomato.md").exists()
    # A second call reuses the finished base run.
    again = run_quick("orpo_tomato", tmp_path, f"{flags} --methods none --no-exact")
    assert again[0].config["base_run_id"] == base_runs[0].name


@pytest.mark.slow
def test_grid_program_matches_each_method_alone():
    """All methods side by side in one jit (experiments.orpo_tomato.grid) give each method's
    metrics bit for bit as its own jit(vmap(chunk)) does."""
    import dataclasses

    from experiments.orpo_tomato.base import ppo_hparams, tomato_env
    from experiments.orpo_tomato.config import PRESETS
    from experiments.orpo_tomato.experiment import orpo_setup
    from experiments.orpo_tomato.grid import grid_program, split_metrics
    from jaxrl.agents.orpo import make_orpo
    from jaxrl.experiment.runner import run_chunked
    from jaxrl.experiment.sweep import grid_keys, per_seed, run_sweep

    cfg = dataclasses.replace(
        PRESETS["quick"], total_timesteps=512, num_envs=4, num_steps=64, num_minibatches=2,
        update_epochs=1, num_chunks=2, hidden_sizes=(8,), disc_hidden=(8,), disc_epochs=1,
        seeds=2, kl_coefs=(0.1, 10.0), sqrt_chi2_coefs=(0.05, 1.0),
    )  # fmt: skip
    env, env_params = tomato_env(cfg.reward_factor)
    trainers, keys, hps = {}, {}, {}
    for name in ("none", "ad_kl", "om_kl", "om_sqrt_chi2_state"):
        static, orpo, _, lams = orpo_setup(cfg, name)
        ppo_net = make_orpo(static, orpo, env, None, None, env_params).ppo.network
        ref = ppo_net.init(jax.random.key(1), jnp.zeros(env.obs_dim))
        trainers[name] = make_orpo(static, orpo, env, ref, None, env_params)
        lam = jnp.asarray(per_seed(lams, cfg.seeds, np.float32))
        hps[name] = ppo_hparams(cfg, cfg.ent_coef)._replace(aux_coef=lam).broadcast(len(lam))
        keys[name] = grid_keys(cfg.seed, cfg.seeds, len(lams))
    init, chunk = grid_program(trainers)
    grid = run_chunked(init, chunk, keys, hps, num_chunks=2, run=None, resume=False, progress=False)
    for name, trainer in trainers.items():
        alone = run_sweep(None, None, trainer, keys[name], hps[name], progress=False)
        mine = split_metrics(grid, name)
        assert set(mine) == set(alone) and "eval_true_reward" in mine
        for k, v in alone.items():
            np.testing.assert_array_equal(mine[k], v, err_msg=f"{name}/{k}")
