"""Tests for jaxrl.experiment.results, provenance and plotting."""

import dataclasses
import json
import os

import numpy as np
import pytest

from jaxrl.config import Config, config_hash, from_json_dict
from jaxrl.experiment.results import ResultsStore, atomic_write_bytes, merge_shards


@dataclasses.dataclass(frozen=True)
class Cfg(Config):
    seeds: int = 2
    lr: float = 0.1


def test_create_writes_config_and_provenance(tmp_path):
    store = ResultsStore(tmp_path)
    run = store.create("exp", Cfg())
    assert run.path.parent == tmp_path / "exp"
    assert run.run_id.endswith("-" + config_hash(Cfg()))
    assert from_json_dict(Cfg, run.config) == Cfg()
    prov = run.provenance
    for key in ("git", "versions", "jax", "hostname", "command", "start_time"):
        assert key in prov
    assert {"commit", "dirty"} <= set(prov["git"])
    for pkg in (
        "python",
        "jax",
        "jaxlib",
        "flax",
        "optax",
        "chex",
        "distrax",
        "gymnax",
        "brax",
        "orbax",
        "numpy",
    ):
        assert pkg in prov["versions"]
    assert prov["versions"]["jax"]
    for key in (
        "backend",
        "device_kinds",
        "device_count",
        "XLA_FLAGS",
        "jax_enable_x64",
        "jax_threefry_partitionable",
    ):
        assert key in prov["jax"]
    assert not run.is_done


def test_metrics_round_trip_and_done_last(tmp_path):
    store = ResultsStore(tmp_path)
    run = store.create("exp", {"a": (1, 2)}, run_id="r1")
    assert run.config == {"a": [1, 2]}
    arrays = {"return": np.arange(12.0).reshape(3, 4), "steps": np.arange(4)[None].repeat(3, 0)}
    run.write_metrics("metrics", arrays)
    run.write_json("summary", {"best": np.float32(1.5), "curve": np.arange(2)})
    loaded = run.load_metrics("metrics")
    assert set(loaded) == set(arrays)
    for k in arrays:
        np.testing.assert_array_equal(loaded[k], arrays[k])
    assert run.read_json("summary") == {"best": 1.5, "curve": [0, 1]}
    assert store.finished_runs("exp") == [] and store.latest("exp") is None
    run.mark_done()
    assert store.finished_runs("exp") == [run] and store.latest("exp") == run
    # No temporary files are left behind by the atomic writes.
    assert sorted(os.listdir(run.path)) == [
        "DONE",
        "checksums.json",
        "config.json",
        "metrics.npz",
        "provenance.json",
        "summary.json",
    ]
    with pytest.raises(ValueError):
        run.write_metrics("../escape", arrays)


def test_existing_run_dirs(tmp_path):
    store = ResultsStore(tmp_path)
    run = store.create("exp", Cfg(), run_id="r")
    with pytest.raises(FileExistsError, match="resume"):
        store.create("exp", Cfg(), run_id="r")
    with pytest.raises(ValueError, match="config.json differs"):
        store.create("exp", Cfg(seeds=3), run_id="r", resume=True)
    again = store.create("exp", Cfg(), run_id="r", resume=True)
    assert again == run and len(again.provenance["resumed"]) == 1
    run.mark_done()
    with pytest.raises(FileExistsError, match="finished"):
        store.create("exp", Cfg(), run_id="r", resume=True)
    fresh = store.create("exp", Cfg(), run_id="r", overwrite=True)
    assert not fresh.is_done


def test_resume_without_run_id_finds_unfinished_run_with_same_config(tmp_path):
    store = ResultsStore(tmp_path)
    first = store.create("exp", Cfg(), run_id=f"20000101-000000-{config_hash(Cfg())}")
    store.create("exp", Cfg(seeds=5), run_id=f"20000101-000001-{config_hash(Cfg(seeds=5))}")
    assert store.create("exp", Cfg(), resume=True) == first
    first.mark_done()
    assert store.create("exp", Cfg(), resume=True) != first  # finished runs are not reopened


def test_latest_by_done_time_and_merge_shards(tmp_path):
    store = ResultsStore(tmp_path)
    shards = []
    for i in (1, 0):  # finish shard1 first: latest() follows DONE time, not run id
        run = store.create("exp", {"shard": i}, run_id=f"base-shard{i}")
        run.write_metrics("metrics", {"x": np.full((2, 3), i), "y": np.ones((2,))})
        run.mark_done()
        shards.append(run)
    store.create("exp", {"shard": 2}, run_id="base-shard2")  # unfinished: ignored
    assert store.latest("exp").run_id == "base-shard0"
    runs = store.finished_runs("exp", prefix="base-shard")
    assert [r.run_id for r in runs] == ["base-shard0", "base-shard1"]
    merged = merge_shards(runs)
    np.testing.assert_array_equal(merged["x"], np.repeat([0, 1], 2)[:, None].repeat(3, 1))
    assert merged["y"].shape == (4,)
    with pytest.raises(ValueError, match="not finished"):
        merge_shards(store.runs("exp"))


def test_atomic_write_failure_keeps_old_file(tmp_path):
    p = tmp_path / "f.json"
    atomic_write_bytes(p, b"old")

    from jaxrl.experiment.results import atomic_write

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_plot_curves_and_save_png(tmp_path):
    import matplotlib.pyplot as plt

    from jaxrl.experiment.plotting import caption, plot_curves, save_figure

    rng = np.random.default_rng(0)
    x = np.arange(20)
    curves = {"shaped": rng.normal(size=(5, 20)) + x, "baseline": rng.normal(size=(5, 20))}
    fig, ax = plt.subplots()
    est = plot_curves(ax, x, curves, statistic="iqm", n_boot=200)
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    point, lo, hi = est["shaped"]
    assert point.shape == (20,) and np.all(lo <= hi)
    path = save_figure(fig, tmp_path / "figs" / "curve.png")
    plt.close(fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(path.parent) == ["curve.png"]
    text = caption(5, "20 updates", "iqm", extra="Training-episode return.")
    assert text.startswith("IQM over 5 seeds, 20 updates; shaded: 95% stratified-bootstrap CI")
    assert caption([3, 5], "1M env steps", "mean").startswith("mean over 3-5 seeds")
    json.dumps(text)


def test_params_round_trip_and_shape_mismatch(tmp_path):
    import jax
    import jax.numpy as jnp

    from jaxrl.experiment.params_io import load_params, save_params

    run = ResultsStore(tmp_path).create("p", {"x": 1})
    params = {"dense": {"kernel": jnp.arange(6.0).reshape(2, 3), "bias": jnp.ones(3)}}
    save_params(run, "policy", params)
    back = load_params(run, "policy", jax.tree.map(jnp.zeros_like, params))
    np.testing.assert_array_equal(back["dense"]["kernel"], params["dense"]["kernel"])
    wrong = {"dense": {"kernel": jnp.zeros((3, 3)), "bias": jnp.zeros(3)}}
    with pytest.raises(ValueError, match="shapes"):
        load_params(run, "policy", wrong)
    with pytest.raises(FileNotFoundError):
        load_params(run, "missing", params)
