"""Tidy results: ``to_frame`` (long-format DataFrame), the parquet export and the TensorBoard flag.

One tiny real sweep (pbrs' tabular Q-learning task: 4 variants x 2 seeds, ``raw.npz`` on the run
axis and ``metrics.npz`` split per variant) checks the frame against the arrays on disk and the
event file against the chunk means; synthetic run directories check the rules the real run does
not reach (hyperparameter grids, ``sweep.json``, PPO env steps, extra axes, final values).
"""

from __future__ import annotations

import json
import struct

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from experiment_helpers import run_quick

from experiments.ppo_classic.experiment import PPOClassic
from jaxrl.experiment import ResultsStore, run_chunked, to_frame
from jaxrl.experiment.frame import COLUMNS, main
from jaxrl.experiment.schema import MetricSpec, Schema


def read_scalars(tb_dir) -> dict[str, dict[int, float]]:
    """Scalars of the tensorboardX event files under ``tb_dir``: tag -> step -> value, read from
    the raw records (uint64 length, uint32 crc, Event proto, uint32 crc)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    files = sorted(tb_dir.glob("events.out.tfevents.*"))
    assert files, f"no event file in {tb_dir}"
    for path in files:
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, {})[event.step] = v.simple_value
    return out


def chunk_means(arr: np.ndarray, num_chunks: int) -> list[float]:
    """Mean of the finite entries of each chunk of ``arr [runs, T, ...]`` (T split evenly)."""
    chunks = np.split(np.asarray(arr, np.float64), num_chunks, axis=1)
    return [float(c[np.isfinite(c)].mean()) for c in chunks]


@pytest.fixture(scope="module")
def pbrs_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    flags = "--tasks grid_q --q-steps 400 --q-evals 4 --checkpoints 2 --tensorboard"
    (run,) = run_quick("pbrs", root, flags)
    return root, run


def test_frame_of_a_real_sweep_matches_its_arrays(pbrs_run):
    root, run = pbrs_run
    df = to_frame(root)
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert set(df["experiment"]) == {"pbrs"} and set(df["run"]) == {run.run_id}
    arrays = {stem: run.load_metrics(stem) for stem in ("raw", "metrics")}
    assert len(df) == sum(a.size for m in arrays.values() for a in m.values())

    variants, seeds = run.config["variants"], run.config["experiment"]["seeds"]
    assert set(df["variant"]) == {*variants, ""}  # "" : metrics.npz's per-seed env_steps
    raw = arrays["raw"]
    for name, arr in raw.items():
        rows = df[df["metric"] == f"raw/{name}"]
        for r in range(arr.shape[0]):  # row g * seeds + i is variant g, seed i
            one = rows[(rows["variant"] == variants[r // seeds]) & (rows["seed"] == r % seeds)]
            np.testing.assert_array_equal(one["value"].to_numpy(), arr[r].astype(np.float64))
    # the eval axis is in env steps, from the run's own counter
    ev = df[df["metric"] == "raw/eval_greedy_return"]
    assert set(ev["step_unit"]) == {"env_step"}
    np.testing.assert_array_equal(
        ev["step"].to_numpy(np.int64), raw["eval_env_steps"].reshape(-1).astype(np.int64)
    )
    # metrics.npz's "<variant>/true_return" [seed, eval] is metric true_return of that variant
    split = arrays["metrics"]
    for v in variants:
        rows = df[(df["metric"] == "true_return") & (df["variant"] == v)]
        np.testing.assert_array_equal(
            rows["value"].to_numpy(), split[f"{v}/true_return"].reshape(-1).astype(np.float64)
        )
        np.testing.assert_array_equal(rows["seed"].to_numpy(), np.repeat(np.arange(seeds), 4))

    # one run directory gives that run's rows; the CLI's parquet round-trips
    pd.testing.assert_frame_equal(to_frame(run.path), df)
    out = main([str(root)])
    assert out == root / "all_runs.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(out), df)


def test_tensorboard_flag_writes_chunk_means(pbrs_run):
    _, run = pbrs_run
    scalars = read_scalars(run.path / "tb")
    raw = run.load_metrics("raw")
    chunks = run.config["experiment"]["checkpoints"]
    assert set(scalars) == set(raw)
    for name, arr in raw.items():
        expected = chunk_means(arr, chunks)
        got = [scalars[name][c] for c in range(chunks)]
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)  # float32 summaries


def test_tensorboard_flag_is_not_recorded():
    cfg = PPOClassic()
    assert cfg.replace(tensorboard=True).recorded() == cfg.recorded()
    assert "tensorboard" not in cfg.recorded()


def _toy():
    def init(keys, hp):
        return {"s": jnp.zeros(keys.shape[0])}

    def chunk(state, hp):
        s = state["s"] + hp
        x = s[:, None] * jnp.arange(1.0, 4.0)  # [runs, 3]
        return {"s": s}, {"x": x, "y": jnp.where(x > 2.0, jnp.nan, x)}

    return init, chunk


def test_run_chunked_tensorboard_off_and_on(tmp_path):
    init, chunk = _toy()
    keys, hp = jnp.zeros((2, 2), jnp.uint32), jnp.asarray([1.0, 2.0])
    store = ResultsStore(tmp_path)
    off = store.create("toy", {"a": 1}, run_id="off")
    on = store.create("toy", {"a": 1}, run_id="on")
    m_off = run_chunked(init, chunk, keys, hp, num_chunks=3, run=off, resume=False,
                        progress=False, allow_nonfinite=("y",))  # fmt: skip
    m_on = run_chunked(init, chunk, keys, hp, num_chunks=3, run=on, resume=False,
                       progress=False, allow_nonfinite=("y",), tensorboard=True)  # fmt: skip
    assert not (off.path / "tb").exists()
    for k in m_off:
        np.testing.assert_array_equal(m_off[k], m_on[k])
    scalars = read_scalars(on.path / "tb")
    for name in ("x", "y"):
        arr = m_on[name]
        finite = [c for c in range(3) if np.isfinite(arr[:, 3 * c : 3 * c + 3]).any()]
        expected = [float(np.nanmean(arr[:, 3 * c : 3 * c + 3])) for c in finite]
        assert sorted(scalars[name]) == finite  # a chunk with no finite entry is left out
        np.testing.assert_allclose([scalars[name][c] for c in finite], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="tensorboard=True needs a run directory"):
        run_chunked(init, chunk, keys, hp, num_chunks=1, run=None, resume=False, tensorboard=True)


def _grid_run(store):
    """An orpo-like sweep: 2 λ x 2 seeds, PPO statics (4 envs x 8 steps, 3 updates)."""
    config = {
        "experiment": {"seeds": 2},
        "method": "om",
        "lams": [0.1, 1.0],
        "coefs": [1, 10],
        "static": {"num_envs": 4, "num_steps": 8, "total_timesteps": 96},
    }
    run = store.create("grid", config, run_id="a")
    rng = np.random.default_rng(0)
    arrays = {
        "loss": rng.normal(size=(4, 3)).astype(np.float32),
        "eval_return": rng.normal(size=(4, 2)).astype(np.float32),
        "eval_env_steps": np.tile(np.asarray([48, 96], np.int32), (4, 1)),
        "final": rng.normal(size=4).astype(np.float32),
        "phi": rng.normal(size=(4, 3, 2)).astype(np.float32),
    }
    schema = Schema("grid", (
        MetricSpec("loss", "float32", ("run", "update")),
        MetricSpec("eval_return", "float32", ("run", "eval")),
        MetricSpec("eval_env_steps", "int32", ("run", "eval")),
        MetricSpec("final", "float32", ("run",)),
        MetricSpec("phi", "float32", ("run", "update", "feature")),
    ))  # fmt: skip
    run.write_metrics("metrics", arrays, schema=schema)
    demos = Schema("demos", (MetricSpec("obs", "float32", ("sample", "dim")),))
    run.write_metrics("demos", {"obs": np.zeros((5, 2), np.float32)}, schema=demos)
    run.write_metrics("noschema", {"z": np.zeros((4, 3), np.float32)})
    run.mark_done()
    return run, arrays


def test_frame_rules_on_a_hyperparameter_grid(tmp_path):
    store = ResultsStore(tmp_path)
    run, arrays = _grid_run(store)
    df = to_frame(tmp_path)
    # the demonstrations' sample axis and the file without a schema are left out
    assert set(df["metric"]) == {"loss", "eval_return", "eval_env_steps", "final", "phi"}
    assert len(df) == sum(a.size for a in arrays.values())
    loss = df[df["metric"] == "loss"]
    np.testing.assert_array_equal(loss["hp.lam"].to_numpy(), np.repeat([0.1, 0.1, 1.0, 1.0], 3))
    np.testing.assert_array_equal(loss["hp.coef"].to_numpy(), np.repeat([1, 1, 10, 10], 3))
    assert list(loss["variant"].unique()) == ["lam=0.1", "lam=1"]
    assert json.loads(loss["hyperparameters"].iloc[-1]) == {"coef": 10, "lam": 1.0}
    np.testing.assert_array_equal(loss["seed"].to_numpy(), np.repeat([0, 1, 0, 1], 3))
    np.testing.assert_array_equal(loss["step"].to_numpy(np.int64), np.tile([32, 64, 96], 4))
    np.testing.assert_array_equal(loss["value"].to_numpy(), arrays["loss"].reshape(-1))
    assert set(df["cfg.method"]) == {"om"}
    final = df[df["metric"] == "final"]
    assert final["step"].isna().all() and set(final["step_unit"]) == {"final"}
    phi = df[df["metric"] == "phi"]
    assert list(phi["index"][:4]) == ["feature=0", "feature=1", "feature=0", "feature=1"]
    np.testing.assert_array_equal(phi["value"].to_numpy(), arrays["phi"].reshape(-1))
    ev = df[df["metric"] == "eval_return"]
    np.testing.assert_array_equal(ev["step"].to_numpy(np.int64), np.tile([48, 96], 4))


def test_frame_rules_sweep_json_unfinished_and_bad_path(tmp_path):
    store = ResultsStore(tmp_path)
    run = store.create("gail", {"experiment": {"seeds": 3}}, run_id="b")
    schema = Schema("gail", (MetricSpec("d_loss", "float32", ("run", "update")),))
    run.write_metrics("metrics", {"d_loss": np.ones((6, 2), np.float32)}, schema=schema)
    run.write_json("sweep", {"grad_pen_scale": [0.0] * 3 + [10.0] * 3, "seed_index": [0, 1, 2] * 2})
    df = to_frame(run.path)  # an unfinished run, given by path, is loaded
    np.testing.assert_array_equal(df["hp.grad_pen_scale"].to_numpy(), np.repeat([0.0, 10.0], 6))
    np.testing.assert_array_equal(df["seed"].to_numpy(), np.repeat([0, 1, 2, 0, 1, 2], 2))
    assert list(df["variant"].unique()) == ["grad_pen_scale=0", "grad_pen_scale=10"]
    assert step_units(df) == {"update"}
    empty = to_frame(tmp_path)  # ... but a results root holds only finished runs
    assert empty.empty and list(empty.columns) == list(COLUMNS)
    other = store.create("plain", {"x": 1}, run_id="c")  # nothing recorded: the row is the seed
    plain = Schema("plain", (MetricSpec("r", "float32", ("run", "eval")),))
    other.write_metrics("metrics", {"r": np.zeros((3, 1), np.float32)}, schema=plain)
    assert list(to_frame(other.path)["seed"]) == [0, 1, 2]
    rows = [{"method": "barfi", "hparams": {"lr": 0.1}}, {"method": "naive", "hparams": {}}]
    tuned = store.create("barfi", {"experiment": {"seeds": 9}, "rows": rows, "seeds": 2})
    ep = Schema("barfi", (MetricSpec("ret", "float32", ("run", "episode")),))
    tuned.write_metrics("metrics", {"ret": np.zeros((4, 1), np.float32)}, schema=ep)
    b = to_frame(tuned.path)  # the run's own `seeds` (a tuning phase) wins over the sweep's
    assert list(b["variant"]) == ["barfi", "barfi", "naive", "naive"]
    assert list(b["seed"]) == [0, 1, 0, 1] and step_units(b) == {"episode"}
    assert b["hp.lr"].iloc[0] == 0.1 and b["hp.lr"].iloc[2:].isna().all()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        to_frame(tmp_path / "nowhere")


def step_units(df) -> set[str]:
    return set(df["step_unit"])
