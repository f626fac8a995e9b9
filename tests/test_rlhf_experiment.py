"""Smoke test of experiments/rlhf_shaping.py and paper_figures/rlhf_shaping.py (tiny budget), and
unit checks of the experiment's pieces (divergence estimators, the select transform it uses)."""

import importlib.util
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(path):
    spec = importlib.util.spec_from_file_location(path.stem + "_rlhf_mod", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


def test_divergence_estimators_match_exact_values():
    exp = load(ROOT / "experiments" / "rlhf_shaping.py")
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


def test_rlhf_shaping_experiment_and_figures_smoke(tmp_path):
    exp = load(ROOT / "experiments" / "rlhf_shaping.py")
    runs = exp.main(
        [
            "--profile",
            "quick",
            "--seeds",
            "2",
            "--bandit-steps",
            "1024",
            "--prm-steps",
            "2048",
            "--num-chunks",
            "2",
            "--kl-coefs",
            "0.3",
            "--chi2-coefs",
            "0.3",
            "--extra-testbeds",
            "1",
            "--results",
            str(tmp_path),
        ]
    )
    bandit, prm = runs
    for run in runs:
        assert run.is_done
        assert {"config.json", "provenance.json", "metrics.npz", "summary.json", "DONE"} <= {
            p.name for p in run.path.iterdir()
        }
    m = bandit.load_metrics()
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
    pm = prm.load_metrics()
    assert pm["episode_length"].shape[0] == 2 * len(exp.PRM_VARIANTS)
    fig = load(ROOT / "paper_figures" / "rlhf_shaping.py")
    pngs = fig.main(["--results", str(tmp_path), "--out", str(tmp_path / "out")])
    assert len(pngs) == 2 and all(p.exists() and p.stat().st_size > 10_000 for p in pngs)
