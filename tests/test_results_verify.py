"""Resume says what it does, results are verified on load, figures skip stray runs (issue 13).

The malformed inputs themselves (corrupt files, NaN metrics, ...) are cases of
tests/bad_input/runs.py; these are the positive counterparts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from bad_input.runs import fake_ppo_run, ppo_figure

from experiments.ppo_classic.experiment import PPOClassic
from jaxrl.experiment.results import ResultsStore, RunDir
from jaxrl.experiment.schema import MetricSpec, Schema
from jaxrl.experiment.sweep import open_run, run_sweep


def _never(*_):
    raise AssertionError("a finished run must not be retrained")


def test_resume_of_a_finished_run_reports_it_and_does_not_rerun(tmp_path, capsys):
    cfg = PPOClassic(results=str(tmp_path))
    store = ResultsStore(tmp_path)
    record = {"experiment": cfg.recorded()}
    run = open_run(store, "ppo_classic", record, cfg, "label")
    run.write_metrics("metrics", {"x": np.arange(6.0).reshape(2, 3)})
    run.mark_done()
    capsys.readouterr()
    again = open_run(store, "ppo_classic", record, cfg.replace(resume=True), "label")
    out = capsys.readouterr().out
    assert again.path == run.path
    assert "already finished" in out and str(run.path) in out and "not rerun" in out
    metrics = run_sweep(cfg.replace(resume=True), again, (_never, _never), None, None, num_chunks=2)
    np.testing.assert_array_equal(metrics["x"], np.arange(6.0).reshape(2, 3))
    assert len(store.runs("ppo_classic")) == 1


def test_resume_reopens_the_unfinished_run_and_says_so(tmp_path, capsys):
    cfg = PPOClassic(results=str(tmp_path))
    store = ResultsStore(tmp_path)
    run = open_run(store, "ppo_classic", {"experiment": cfg.recorded()}, cfg, "label")
    again = open_run(
        store, "ppo_classic", {"experiment": cfg.recorded()}, cfg.replace(resume=True), "label"
    )
    assert again.path == run.path
    assert f"resuming {run.path}" in capsys.readouterr().out


def test_resume_or_new_starts_a_new_run_when_there_is_nothing_to_resume(tmp_path, capsys):
    cfg = PPOClassic(results=str(tmp_path), resume_or_new=True)
    assert "resume_or_new" not in cfg.recorded()  # does not change the config hash
    run = open_run(
        ResultsStore(tmp_path), "ppo_classic", {"experiment": cfg.recorded()}, cfg, "label"
    )
    assert run.path.is_dir() and "nothing to resume; new run" in capsys.readouterr().out


def test_resume_starts_a_sweep_member_that_was_never_reached(tmp_path, capsys):
    # killed during the first env: the second one has no run yet, but its sweep exists
    cfg = PPOClassic(results=str(tmp_path))
    store = ResultsStore(tmp_path)
    open_run(store, "ppo_classic", {"experiment": cfg.recorded(), "env": "CartPole-v1"}, cfg)
    run = open_run(
        store,
        "ppo_classic",
        {"experiment": cfg.recorded(), "env": "Pendulum-v1"},
        cfg.replace(resume=True),
        "label",
    )
    assert run.config["env"] == "Pendulum-v1"
    assert "part of a resumed sweep" in capsys.readouterr().out


def test_stray_done_directory_is_skipped_and_the_figure_renders(tmp_path):
    fake_ppo_run(tmp_path)
    stray = tmp_path / "ppo_classic" / "99999999-999999-stray"
    stray.mkdir()
    (stray / "DONE").write_text("2030-01-01T00:00:00+00:00\n")  # the newest "finished" run
    with pytest.warns(UserWarning, match="skipping .*99999999-999999-stray.*config.json"):
        path = ppo_figure(tmp_path)
    assert path.is_file()


def test_runs_written_before_checksums_load_unverified(tmp_path):
    run = fake_ppo_run(tmp_path)
    (run.path / "checksums.json").unlink()
    assert not run.verify("metrics.npz")
    assert run.config["env"] == "CartPole-v1"
    assert ppo_figure(tmp_path).is_file()


def test_checksums_cover_config_provenance_and_metrics(tmp_path):
    run = fake_ppo_run(tmp_path)
    sums = json.loads((run.path / "checksums.json").read_text())["sha256"]
    assert set(sums) == {"config.json", "provenance.json", "metrics.npz"}
    assert all(run.verify(f) for f in sums)


def test_allow_nonfinite_metrics_load_for_figures(tmp_path):
    schema = Schema(
        "toy",
        (
            MetricSpec("ret", "float32", ("seed",), allow_nonfinite=True),
            MetricSpec("loss", "float32", ("seed",)),
        ),
    )
    run = RunDir(tmp_path / "toy" / "r")
    run.write_metrics(
        "metrics",
        {"ret": np.array([np.nan, 1.0], np.float32), "loss": np.ones(2, np.float32)},
        schema=schema,
    )
    m = run.load_metrics(schema=schema, finite=True)
    assert np.isnan(m["ret"][0])
    # a schema recorded without the field still matches (allow_nonfinite is not compared)
    old = Schema.from_json(
        {
            "experiment": "toy",
            "metrics": [
                {"name": "ret", "dtype": "float32", "axes": ["seed"], "doc": ""},
                {"name": "loss", "dtype": "float32", "axes": ["seed"], "doc": ""},
            ],
        }
    )
    assert old == schema
