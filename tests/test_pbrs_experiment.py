"""Smoke test: the pbrs experiment (all four tasks) and its figure on a tiny budget."""

import numpy as np
from experiment_helpers import draw_figure, experiment, load_declared, run_quick

from experiments.pbrs.schema import raw_schema, schema


def test_pbrs_experiment_and_figure_smoke(tmp_path):
    exp = experiment("pbrs")
    runs = run_quick(
        "pbrs",
        tmp_path,
        "--q-steps 400 --q-evals 4 --pitfall-steps 400 --grid-ppo-steps 1024 "
        "--mcar-ppo-steps 2048 --ppo-evals 2 --checkpoints 2",
    )
    assert [r.config["task"] for r in runs] == list(exp.TASKS)
    for run in runs:
        assert run.is_done
        assert {"config.json", "provenance.json", "metrics.npz", "reference.json", "DONE"} <= {
            p.name for p in run.path.iterdir()
        }
        variants = run.config["variants"]
        m = load_declared(run, schema(run.config["task"], variants))
        load_declared(run, raw_schema(run.config["task"]), "raw")
        evals = 4 if run.config["agent"] == "q_learning" else 2
        for v in variants:
            assert m[f"{v}/true_return"].shape == (2, evals)  # leading seed axis
            assert np.all(np.isfinite(m[f"{v}/true_return"]))
        assert m["env_steps"].shape == (2, evals)
    ref = {r.config["task"]: r.read_json("reference") for r in runs}
    grid = ref["grid_q"]["variants"]
    assert grid["bonus"]["shaped_optimum_true_return"] == 0.0  # the bicycle loop
    for v in ("none", "pbrs_good", "pbrs_misleading"):
        np.testing.assert_allclose(
            grid[v]["shaped_optimum_true_return"], ref["grid_q"]["optimal_true_return"], rtol=1e-6
        )
    pit = ref["pitfall_q"]["variants"]
    assert (
        pit["naive_pbrs"]["shaped_optimum_true_return"]
        < 0.5
        < pit["pbrs"]["shaped_optimum_true_return"]
    )
    png = draw_figure("pbrs", tmp_path)
    assert png.exists() and png.stat().st_size > 10_000
