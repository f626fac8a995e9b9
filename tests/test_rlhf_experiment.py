"""Smoke test of experiments.rlhf_shaping and paper_figures.rlhf_shaping (tiny budget), and
unit checks of the experiment's pieces (divergence estimators, the select transform it uses)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from experiment_helpers import draw_figure, experiment, load_declared, run_quick

from experiments.rlhf_shaping.schema import schema


@pytest.mark.heavy
def test_divergence_estimators_match_exact_values():
    exp = experiment("rlhf_shaping")
    p = jnp.array([0.5, 0.3, 0.2])
    q = jnp.array([0.2, 0.3, 0.5])
    a = jax.random.choice(jax.random.key(0), 3, (200_000,), p=p)
    kl, chi2 = exp.divergence_estimates(jnp.log(p[a]) - jnp.log(q[a]))
    np.testing.assert_allclose(kl, jnp.sum(p * jnp.log(p / q)), atol=0.01)
    np.testing.assert_allclose(chi2, jnp.sum(p**2 / q) - 1.0, atol=0.02)
    # linearised beyond ±10: finite and continuous
    x = jnp.array([9.999, 10.0, 10.001, 50.0, 1000.0])
    y = exp.exp_linearised(x)
    assert bool(jnp.all(jnp.isfinite(y))) and float(y[1]) == float(jnp.exp(10.0))
    np.testing.assert_allclose(y[2] - y[1], y[1] - y[0], rtol=1e-2)


def test_select_transform_picks_branch_and_vmaps():
    from jaxrl.shaping import Transition, identity, scale, select

    t = select(identity(), scale(3.0))
    tr = Transition(*(jnp.zeros(2),) * 2, jnp.array([1.0, 2.0]), *(jnp.zeros(2),) * 6)
    params = (jnp.array([0, 1]), ((), jnp.array([3.0, 3.0])))
    out = jax.vmap(lambda p: t.apply(p, t.init(p), tr)[0])(params)
    np.testing.assert_allclose(out, [[1, 2], [3, 6]])


@pytest.mark.heavy
def test_rlhf_shaping_experiment_and_figures_smoke(tmp_path):
    exp = experiment("rlhf_shaping")
    runs = run_quick(
        "rlhf_shaping",
        tmp_path,
        "--bandit-steps 1024 --prm-steps 2048 --num-chunks 2 --kl-coefs 0.3 --chi2-coefs 0.3 "
        "--extra-testbeds 1",
    )
    bandit, prm = runs
    for run in runs:
        assert run.is_done
        assert {"config.json", "provenance.json", "metrics.npz", "summary.json", "DONE"} <= {
            p.name for p in run.path.iterdir()
        }
    m = load_declared(bandit, schema("bandit"))
    n_cond = len(exp.SHAPINGS) + 4
    assert m["exact_gold"].shape == (2 * n_cond, 1024 // 256)
    summary = bandit.read_json("summary")
    assert set(summary["conditions"]) == {
        *exp.SHAPINGS,
        "vanilla_noreg",
        "par_noreg",
        "kl_0.3",
        "chi2_0.3",
    }
    # every run starts at the reference policy (behaviour-cloned): same initial gold everywhere
    assert summary["reference_bc_kl"] < 1e-3
    pm = load_declared(prm, schema("prm"))
    assert pm["episode_length"].shape[0] == 2 * len(exp.PRM_VARIANTS)
    pngs = draw_figure("rlhf_shaping", tmp_path)
    assert len(pngs) == 2 and all(p.exists() and p.stat().st_size > 10_000 for p in pngs)
