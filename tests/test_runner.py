"""Tests for jaxrl.experiment.runner: chunked run, checkpoint/resume, NaN guard."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl.experiment.results import ResultsStore
from jaxrl.experiment.runner import check_finite, enable_compilation_cache, run_chunked

SEEDS, UPDATES, CHUNKS, DIM = 3, 5, 4, 4


class ToyState(NamedTuple):
    params: jax.Array  # [DIM]
    opt_state: optax.OptState
    key: jax.Array  # typed PRNG key
    step: jax.Array  # int32 counter
    stats: dict  # a "normaliser" running mean


def _optimizer():
    return optax.sgd(1.0, momentum=0.9)  # the per-seed learning rate is applied in `update`


def _make():
    """Noisy linear regression; each update draws a fresh minibatch, so RNG state matters.

    ``hp["nan_at"]`` injects a NaN loss at that global step (-1: never), so the NaN test reuses
    the same compiled functions.
    """
    w_true = jnp.arange(1.0, DIM + 1)

    def init(key, hp):
        key, sub = jax.random.split(key)
        params = 0.1 * jax.random.normal(sub, (DIM,))
        del hp
        opt_state = _optimizer().init(params)
        return ToyState(params, opt_state, key, jnp.int32(0), {"mean": jnp.zeros(DIM)})

    def update(state, hp):
        key, kx, kn = jax.random.split(state.key, 3)
        x = jax.random.normal(kx, (8, DIM))
        y = x @ w_true + 0.1 * jax.random.normal(kn, (8,))

        def loss_fn(p):
            return jnp.mean((x @ p - y) ** 2)

        loss, g = jax.value_and_grad(loss_fn)(state.params)
        loss = jnp.where(state.step == hp["nan_at"], jnp.nan, loss)
        upd, opt_state = _optimizer().update(g, state.opt_state, state.params)
        upd = jax.tree_util.tree_map(lambda u: -hp["lr"] * u, upd)
        mean = state.stats["mean"] + (x.mean(0) - state.stats["mean"]) / (state.step + 1)
        new = ToyState(state.params - upd, opt_state, key, state.step + 1, {"mean": mean})
        return new, {"loss": loss, "step": state.step}

    def chunk(state, hp):
        return jax.lax.scan(lambda s, _: update(s, hp), state, None, length=UPDATES)

    return jax.jit(jax.vmap(init)), jax.jit(jax.vmap(chunk))


INIT, CHUNK = _make()  # module level: compiled once for all tests


def _inputs(nan_at: int = -1):
    keys = jax.random.split(jax.random.key(0), SEEDS)
    return keys, {"lr": jnp.array([0.01, 0.02, 0.03]), "nan_at": jnp.full(SEEDS, nan_at)}


def _assert_trees_equal(a, b):
    a, b = jax.tree_util.tree_map(
        lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x,
        (a, b),
    )
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)


def test_in_memory_run_shapes_and_learning():
    init, chunk = INIT, CHUNK
    keys, hp = _inputs()
    m = run_chunked(
        init, chunk, keys, hp, num_chunks=CHUNKS, run=None, resume=False, progress=False
    )
    assert set(m) == {"loss", "step"}
    assert m["loss"].shape == (SEEDS, CHUNKS * UPDATES)
    np.testing.assert_array_equal(m["step"][0], np.arange(CHUNKS * UPDATES))
    assert np.all(m["loss"][:, -5:].mean(1) < 0.5 * m["loss"][:, :5].mean(1))


def test_resume_is_bit_identical(tmp_path):
    init, chunk = INIT, CHUNK
    keys, hp = _inputs()
    store = ResultsStore(tmp_path)
    ref_run = store.create("toy", {"a": 1}, run_id="ref")
    ref, ref_state = run_chunked(
        init,
        chunk,
        keys,
        hp,
        num_chunks=CHUNKS,
        run=ref_run,
        resume=False,
        progress=False,
        return_state=True,
        finalize=True,
    )
    assert ref_run.is_done
    # Only the latest two checkpoints are kept, and no temporary orbax directories remain.
    assert sorted(p.name for p in ref_run.checkpoint_dir.iterdir()) == ["2", "3"]

    # Crash during the third chunk (after chunks 0 and 1 were checkpointed).
    calls = {"n": 0}

    def crashing_chunk(state, hparams):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return chunk(state, hparams)

    run = store.create("toy", {"a": 1}, run_id="crashy")
    with pytest.raises(KeyboardInterrupt):
        run_chunked(
            init, crashing_chunk, keys, hp, num_chunks=CHUNKS, run=run, resume=False, progress=False
        )
    assert not run.is_done and not (run.path / "metrics.npz").exists()
    assert sorted(p.name for p in run.checkpoint_dir.iterdir()) == ["0", "1"]

    run = store.create("toy", {"a": 1}, run_id="crashy", resume=True)
    seen = []

    def counting_chunk(state, hparams):
        seen.append(int(state.step[0]))
        return chunk(state, hparams)

    compiled = chunk._cache_size()
    out, state = run_chunked(
        init,
        counting_chunk,
        keys,
        hp,
        num_chunks=CHUNKS,
        run=run,
        resume=True,
        progress=False,
        return_state=True,
    )
    assert seen == [2 * UPDATES, 3 * UPDATES]  # continued from chunk 2, not from scratch
    assert chunk._cache_size() == compiled  # restored state did not force a recompile
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k])
    _assert_trees_equal(state, ref_state)
    assert jnp.issubdtype(state.key.dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(run.load_metrics("metrics")["loss"], ref["loss"])
    assert not run.is_done  # caller's job unless finalize=True


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    init, chunk = INIT, CHUNK
    keys, hp = _inputs()
    run = ResultsStore(tmp_path).create("toy", {"a": 1}, run_id="r")
    a = run_chunked(init, chunk, keys, hp, num_chunks=2, run=run, resume=True, progress=False)
    b = run_chunked(init, chunk, keys, hp, num_chunks=2, run=None, resume=False, progress=False)
    np.testing.assert_array_equal(a["loss"], b["loss"])


def test_nan_raises_and_never_marks_done(tmp_path):
    init, chunk = INIT, CHUNK
    keys, hp = _inputs(nan_at=UPDATES + 2)  # chunk 1, update 2
    run = ResultsStore(tmp_path).create("toy", {"a": 1}, run_id="nan")
    with pytest.raises(FloatingPointError, match=r"'loss'.*chunk 1 at seed index 0, update 2"):
        run_chunked(
            init,
            chunk,
            keys,
            hp,
            num_chunks=CHUNKS,
            run=run,
            resume=False,
            progress=False,
            finalize=True,
        )
    assert not run.is_done
    assert sorted(p.name for p in run.checkpoint_dir.iterdir()) == ["0"]  # bad chunk not saved


def test_check_finite_names_seed_and_skips_allowed():
    m = {"ret": np.array([[1.0, 2.0], [3.0, np.inf]]), "n": np.array([[1, 2], [3, 4]])}
    with pytest.raises(FloatingPointError, match=r"'ret'.*chunk 7 at seed index 1, update 1"):
        check_finite(m, chunk=7)
    check_finite(m, chunk=7, allow={"ret"})


def test_enable_compilation_cache(tmp_path, monkeypatch):
    before = (
        jax.config.jax_compilation_cache_dir,
        jax.config.jax_persistent_cache_min_compile_time_secs,
    )
    try:
        p = enable_compilation_cache(tmp_path / "cache")
        assert p.is_dir() and jax.config.jax_compilation_cache_dir == str(p)
        # without a path, the environment's directory and threshold (conftest.py sets them)
        monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "env"))
        monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.25")
        assert enable_compilation_cache() == tmp_path / "env"
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.25
        assert enable_compilation_cache(min_compile_time_secs=2.0) == tmp_path / "env"
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 2.0
    finally:
        jax.config.update("jax_compilation_cache_dir", before[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before[1])


def _corrupt(step_dir):
    """Overwrite every file of a checkpoint step with garbage (a torn or damaged write)."""
    for f in step_dir.rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00garbage")


def test_corrupt_latest_checkpoint_falls_back_to_older_with_warning(tmp_path):
    init, chunk = INIT, CHUNK
    keys, hp = _inputs()
    store = ResultsStore(tmp_path)
    ref = run_chunked(
        init, chunk, keys, hp, num_chunks=CHUNKS, run=None, resume=False, progress=False
    )
    calls = {"n": 0}

    def crashing_chunk(state, hparams):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("simulated kill")
        return chunk(state, hparams)

    run = store.create("toy", {"a": 1}, run_id="torn")
    with pytest.raises(KeyboardInterrupt):
        run_chunked(
            init, crashing_chunk, keys, hp, num_chunks=CHUNKS, run=run, resume=False, progress=False
        )
    assert sorted(p.name for p in run.checkpoint_dir.iterdir()) == ["1", "2"]
    _corrupt(run.checkpoint_dir / "2")
    seen = []

    def counting_chunk(state, hparams):
        seen.append(int(state.step[0]))
        return chunk(state, hparams)

    with pytest.warns(UserWarning, match=r"checkpoints/2 is unreadable") as record:
        out = run_chunked(
            init, counting_chunk, keys, hp, num_chunks=CHUNKS, run=run, resume=True, progress=False
        )
    assert any("checkpoints/1 (chunk 1), the newest intact one" in str(w.message) for w in record)
    assert seen == [2 * UPDATES, 3 * UPDATES]  # resumed after chunk 1, the intact checkpoint
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k])


def test_all_checkpoints_corrupt_is_a_clear_error(tmp_path):
    from jaxrl.experiment.runner import CheckpointError

    init, chunk = INIT, CHUNK
    keys, hp = _inputs()
    run = ResultsStore(tmp_path).create("toy", {"a": 1}, run_id="r")
    run_chunked(init, chunk, keys, hp, num_chunks=2, run=run, resume=False, progress=False)
    for step in run.checkpoint_dir.iterdir():
        _corrupt(step)
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no checkpoint under"):
        run_chunked(init, chunk, keys, hp, num_chunks=3, run=run, resume=True, progress=False)


def test_mark_done_writes_checksums_that_loaders_verify(tmp_path):
    import json

    init, chunk = INIT, CHUNK
    keys, hp = _inputs()
    run = ResultsStore(tmp_path).create("toy", {"a": 1}, run_id="r")
    run_chunked(
        init, chunk, keys, hp, num_chunks=2, run=run, resume=False, progress=False, finalize=True
    )
    sums = json.loads((run.path / "checksums.json").read_text())["sha256"]
    assert set(sums) == {"config.json", "provenance.json", "metrics.npz"}
    assert run.verify("metrics.npz") and run.verify("config.json")
    assert run.config == {"a": 1}
    # a run written before checksums existed loads, unverified
    (run.path / "checksums.json").unlink()
    assert not run.verify("metrics.npz")
    assert run.load_metrics()["loss"].shape == (SEEDS, 2 * UPDATES)


def test_resume_keeps_zero_size_arrays(tmp_path):
    # Brax's mjx pipeline state holds zero-size arrays, which orbax refuses to write: the runner
    # stores a stand-in and rebuilds them, so such a run checkpoints and resumes exactly.
    def init(key, hp):
        del hp
        return {"x": jax.random.normal(key, (2,)), "empty": jnp.zeros((0, 3)), "key": key}

    def chunk(state, hp):
        def step(s, _):
            key, k = jax.random.split(s["key"])
            new = {**s, "x": s["x"] + hp * jax.random.normal(k, (2,)), "key": key}
            return new, {"x0": s["x"][0]}

        return jax.lax.scan(step, state, None, length=2)

    init, chunk = jax.jit(jax.vmap(init)), jax.jit(jax.vmap(chunk))
    keys, hp = jax.random.split(jax.random.key(1), 2), jnp.array([0.1, 0.2])
    store = ResultsStore(tmp_path)
    ref, ref_state = run_chunked(
        init, chunk, keys, hp, num_chunks=3, run=store.create("z", {}, run_id="ref"),
        resume=False, progress=False, return_state=True,
    )  # fmt: skip
    calls = {"n": 0}

    def crashing(state, hparams):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill")
        return chunk(state, hparams)

    with pytest.raises(KeyboardInterrupt):
        run_chunked(init, crashing, keys, hp, num_chunks=3, progress=False, resume=False,
                    run=store.create("z", {}, run_id="crash"))  # fmt: skip
    out, state = run_chunked(
        init, chunk, keys, hp, num_chunks=3, progress=False, resume=True, return_state=True,
        run=store.create("z", {}, run_id="crash", resume=True),
    )  # fmt: skip
    np.testing.assert_array_equal(out["x0"], ref["x0"])
    assert state["empty"].shape == (2, 0, 3)
    _assert_trees_equal(state, ref_state)
