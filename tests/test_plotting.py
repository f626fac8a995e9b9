"""Tests for the figure-script helpers in jaxrl.experiment.plotting (used by paper_figures/)."""

import numpy as np
import pytest

from jaxrl.experiment.results import DONE, ResultsStore


def _finished(store, experiment, run_id, config, done_time):
    run = store.create(experiment, config, run_id)
    run.write_metrics("metrics", {"x": [[0.0]]})  # a run without metrics is skipped as stray
    (run.path / DONE).write_text(done_time + "\n")
    return run


def test_figure_args_defaults_and_overrides():
    from jaxrl.experiment.plotting import figure_args

    args = figure_args("doc", [])
    assert (args.results, args.out) == ("results", "paper_figures/out")
    args = figure_args("doc", ["--results", "r", "--out", "o"])
    assert (args.results, args.out) == ("r", "o")


def test_latest_runs_keeps_the_newest_finished_run_per_key(tmp_path):
    from jaxrl.experiment.plotting import latest_runs

    store = ResultsStore(tmp_path)
    # run ids sort opposite to done times: the DONE time, not the id, decides "newest"
    _finished(store, "exp", "a", {"env": "cartpole", "v": 1}, "2026-01-01T00:00:03")
    _finished(store, "exp", "b", {"env": "pendulum", "v": 1}, "2026-01-01T00:00:02")
    _finished(store, "exp", "c", {"env": "cartpole", "v": 0}, "2026-01-01T00:00:01")
    store.create("exp", {"env": "pendulum", "v": 2}, "d")  # unfinished: ignored
    _finished(store, "other", "e", {"env": "acrobot", "v": 0}, "2026-01-01T00:00:04")

    runs = latest_runs(tmp_path, "exp", lambda c: c["env"])
    # insertion order: the key's first finish (cartpole at 01), kept when a newer run replaces it
    assert list(runs) == ["cartpole", "pendulum"]
    assert {k: r.run_id for k, r in runs.items()} == {"cartpole": "a", "pendulum": "b"}

    pairs = latest_runs(str(tmp_path), "exp", lambda c: (c["env"], c["v"]))
    assert list(pairs) == [("cartpole", 0), ("pendulum", 1), ("cartpole", 1)]


def test_latest_runs_without_finished_runs_exits_with_a_hint(tmp_path):
    from jaxrl.experiment.plotting import latest_runs, missing_runs

    ResultsStore(tmp_path).create("exp", {"env": "x"}, "unfinished")
    with pytest.raises(SystemExit) as info:
        latest_runs(tmp_path, "exp", lambda c: c["env"])
    assert str(info.value) == (
        f"no finished exp runs under {tmp_path}/; run `python -m experiments.exp` first"
    )
    assert str(missing_runs("exp", "res")) == (
        "no finished exp runs under res/; run `python -m experiments.exp` first"
    )


def test_split_conditions_is_condition_major():
    from jaxrl.experiment.plotting import split_conditions

    metric = np.arange(12).reshape(6, 2)  # 3 conditions x 2 seeds, 2 points each
    parts = split_conditions(metric, ["a", "b", "c"], 2)
    assert list(parts) == ["a", "b", "c"]
    np.testing.assert_array_equal(parts["b"], [[4, 5], [6, 7]])
    assert all(p.shape == (2, 2) for p in parts.values())


def test_curve_panel_labels_the_axes_and_returns_estimates():
    import matplotlib.pyplot as plt

    from jaxrl.experiment.plotting import curve_panel, plot_curves

    rng = np.random.default_rng(0)
    x = np.arange(10)
    curves = {"a": rng.normal(size=(4, 10)), "b": rng.normal(size=(4, 10)) + 1}
    fig, (ax, ref) = plt.subplots(1, 2)
    est = curve_panel(
        ax, x, curves, "mean", title="T", xlabel="X", ylabel="Y", colors={"a": "red"}, lw=2
    )
    expected = plot_curves(ref, x, curves, "mean", colors={"a": "red"}, lw=2)
    for label in curves:
        for got, want in zip(est[label], expected[label], strict=True):
            np.testing.assert_array_equal(got, want)
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "X", "Y")
    assert ax.lines[0].get_linewidth() == 2 and ax.lines[0].get_color() == "red"
    assert ax.xaxis.get_gridlines()[0].get_visible()
    assert not ref.xaxis.get_gridlines()[0].get_visible()

    fig2, bare = plt.subplots()
    curve_panel(bare, x, curves, grid=False)
    assert (bare.get_title(), bare.get_xlabel(), bare.get_ylabel()) == ("", "", "")
    assert not bare.xaxis.get_gridlines()[0].get_visible()
    plt.close(fig)
    plt.close(fig2)


def test_save_captioned_writes_png_with_the_caption_below(tmp_path):
    import matplotlib.pyplot as plt

    from jaxrl.experiment.plotting import save_captioned

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_captioned(fig, tmp_path / "out" / "fig.png", "a caption", y=-0.05, fontsize=8)
    (text,) = fig.texts
    assert text.get_text() == "a caption" and text.get_position() == (0.01, -0.05)
    assert text.get_fontsize() == 8 and text.get_va() == "top"
    plt.close(fig)
    assert path == tmp_path / "out" / "fig.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="PNG"):
        save_captioned(plt.figure(), tmp_path / "fig.pdf", "x")
    plt.close("all")
