"""Chunked training runner: Python loop over jitted chunks, with checkpoint/resume and NaN guards.

Training runs as ``num_chunks`` calls of a jitted, seed-vmapped ``chunk_fn`` from a Python loop
(rather than one ``jit`` over all of training) so that between chunks we can show progress, move
metrics to host, stop on NaN/inf and checkpoint the *whole* runner state with orbax (params,
optimiser state, PRNG keys, env state, normaliser statistics, counters). Resuming from a
checkpoint gives bit-identical results to an uninterrupted run on the same backend, JAX version
and flags, because each chunk is a pure function of the restored state.

Checkpoints live in ``run/checkpoints/<chunk>/`` (orbax ``CheckpointManager``, latest
``max_to_keep`` kept). Orbax writes each step into ``<chunk>.orbax-checkpoint-tmp-*`` and renames
it on completion, so a crash mid-save leaves the previous checkpoint as the latest complete one.
Each checkpoint holds the state, the metrics so far and ``{"chunk": k}``; the metrics so far are
rewritten every chunk, which is fine for the per-update scalars this codebase logs.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from tqdm.auto import tqdm

from jaxrl.experiment.results import RunDir
from jaxrl.experiment.schema import Schema
from jaxrl.experiment.sharding import shard_seeds, state_shardings, to_host

Metrics = dict[str, np.ndarray]
POSTFIX_METRICS = ("eval_return", "episode_return", "return", "loss")


def enable_compilation_cache(
    path: str | os.PathLike | None = None, *, min_compile_time_secs: float | None = None
) -> Path:
    """Turn on JAX's persistent compilation cache (experiment entry points call this).

    The directory is ``path``, else ``$JAX_COMPILATION_CACHE_DIR``, else ``~/.cache/jaxrl/jax``;
    only compilations slower than ``min_compile_time_secs`` (else
    ``$JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``, else 1 s) are cached. The test suite sets both
    variables (conftest.py), so experiments run by tests share the suite's own cold cache, never
    the user's. Note that values baked into the HLO as constants (e.g. a Python-float learning
    rate) defeat the cache, which is one more reason hyperparameters are traced arguments.

    Returns:
      The (expanded, created) cache directory.
    """
    env = os.environ.get
    p = Path(path or env("JAX_COMPILATION_CACHE_DIR") or "~/.cache/jaxrl/jax").expanduser()
    if min_compile_time_secs is None:
        min_compile_time_secs = float(env("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1.0"))
    p.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(p))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_secs)
    return p


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_to_data(tree: Any) -> Any:
    # Orbax stores plain arrays; typed PRNG keys are saved as their uint32 key data.
    return jax.tree_util.tree_map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _size(x: Any) -> int:
    return int(np.prod(x.shape)) if hasattr(x, "shape") else 1


def _to_stored(data: Any) -> Any:
    # Orbax refuses zero-size arrays (e.g. mjx's ``pipeline_state.act`` of a Brax env without
    # actuators there): each is stored as a 1-element stand-in and rebuilt from the state's
    # abstract shape on restore (:func:`_from_stored`).
    return jax.tree_util.tree_map(lambda x: jnp.zeros((1,), x.dtype) if _size(x) == 0 else x, data)


def _from_stored(stored: Any, abstract: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda x, a: jnp.zeros(a.shape, a.dtype) if _size(a) == 0 else x, stored, abstract
    )


def _key_impls(tree: Any) -> dict[str, str]:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return {jax.tree_util.keystr(p): str(jax.random.key_impl(x)) for p, x in leaves if _is_key(x)}


def _data_to_keys(tree: Any, impls: Mapping[str, str]) -> Any:
    def wrap(path: Any, x: Any) -> Any:
        impl = impls.get(jax.tree_util.keystr(path))
        return x if impl is None else jax.random.wrap_key_data(x, impl=impl)

    return jax.tree_util.tree_map_with_path(wrap, tree)


def check_finite(
    metrics: Mapping[str, np.ndarray], chunk: int, allow: Collection[str] = ()
) -> None:
    """Raise ``FloatingPointError`` if a float metric ``[seeds, updates, ...]`` has NaN/inf.

    ``loss*`` metrics are checked first so the error names the loss when it is the culprit.
    Metrics in ``allow`` are skipped (e.g. a return that is NaN when no episode finished).
    """
    order = sorted(metrics, key=lambda k: (not k.startswith("loss"), k))
    for name in order:
        arr = metrics[name]
        if name in allow or not np.issubdtype(arr.dtype, np.inexact):
            continue
        bad = ~np.isfinite(arr)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            update = f", update {where[1]} of the chunk" if len(where) > 1 else ""
            raise FloatingPointError(
                f"metric {name!r} is non-finite ({arr[where]!r}) in chunk {chunk} at seed "
                f"index {where[0]}{update}; {int(bad.sum())} non-finite entries in this chunk"
            )


def _to_host(metrics: Any, chunk: int) -> Metrics:
    if not isinstance(metrics, Mapping):
        raise TypeError(f"chunk_fn must return metrics as a dict of arrays, got {type(metrics)}")
    host = {str(k): np.asarray(v) for k, v in to_host(dict(metrics)).items()}
    for k, v in host.items():
        if v.ndim < 2:
            raise ValueError(
                f"metric {k!r} has shape {v.shape} in chunk {chunk}; expected [seeds, updates, ...]"
            )
    return host


def _postfix(metrics: Metrics, name: str | None) -> dict[str, float]:
    if name is None:
        name = next((m for m in POSTFIX_METRICS if m in metrics), None)
    if name is None or name not in metrics:
        return {}
    last = np.asarray(metrics[name][:, -1], dtype=np.float64)
    return {name: float(np.nanmean(last)) if np.isfinite(last).any() else float("nan")}


def run_chunked(
    init_fn: Callable[[Any, Any], Any],
    chunk_fn: Callable[[Any, Any], tuple[Any, Mapping[str, Any]]],
    keys: Any,
    hparams: Any,
    *,
    num_chunks: int,
    run: RunDir | None,
    resume: bool,
    progress: bool = True,
    shard: bool = False,
    postfix_metric: str | None = None,
    allow_nonfinite: Collection[str] = (),
    max_to_keep: int = 2,
    metrics_name: str = "metrics",
    schema: Schema | None = None,
    finalize: bool = False,
    return_state: bool = False,
    tensorboard: bool = False,
) -> Metrics | tuple[Metrics, Any]:
    """Run ``num_chunks`` chunks of training for all seeds, checkpointing after each chunk.

    Args:
      init_fn: ``init_fn(keys, hparams) -> runner_state``, jitted and vmapped over seeds.
      chunk_fn: ``chunk_fn(runner_state, hparams) -> (runner_state, metrics)``, jitted and
        vmapped; ``metrics`` is a dict of arrays ``[seeds, updates_per_chunk, ...]``.
      keys: PRNG keys ``[seeds]`` (typed ``jax.random.key`` or raw ``uint32 [seeds, 2]``).
      hparams: pytree of hyperparameters with leading axis ``[seeds]``.
      num_chunks: total number of chunks (when resuming, including those already done).
      run: run directory for checkpoints and final metrics; ``None`` runs in memory only.
      resume: restore the latest checkpoint in ``run`` (if any) and continue from the next
        chunk. Without it, existing checkpoints in ``run`` are deleted first.
      progress: show a tqdm bar over chunks.
      shard: split the seed axis of keys, hparams and state over all local devices
        (``sharding.shard_seeds``); seeds must divide evenly.
      postfix_metric: metric shown on the bar (mean over seeds of the chunk's last update);
        default the first of ``eval_return, episode_return, return, loss`` present.
      allow_nonfinite: metric names exempt from the NaN/inf check.
      max_to_keep: checkpoints kept on disk (the latest ones).
      metrics_name: file stem for the final metrics (``<run>/<metrics_name>.npz``).
      schema: the metrics' declared :class:`~jaxrl.experiment.schema.Schema`; they are validated
        against it before they are written, and it is recorded beside them.
      finalize: write the ``DONE`` marker after the metrics (otherwise the caller calls
        ``run.mark_done()`` once figures and other files are written).
      return_state: also return the final runner state.
      tensorboard: after each chunk, write every metric's mean over all its entries of the chunk
        (runs x updates, NaN ignored; step = chunk index) to ``<run>/tb/`` with tensorboardX,
        from the host (:func:`write_tensorboard`). Needs ``run``.

    Returns:
      Metrics concatenated over chunks, each ``[seeds, num_chunks * updates_per_chunk, ...]``
      as numpy arrays; with ``return_state``, ``(metrics, runner_state)``.

    Raises:
      FloatingPointError: a float metric is NaN/inf (names the metric, chunk and seed index);
        nothing of that chunk is checkpointed and ``DONE`` is never written.
    """
    if num_chunks < 1:
        raise ValueError(f"num_chunks={num_chunks!r}; expected >= 1")
    if resume and run is None:
        raise ValueError("resume=True needs a run directory")
    if tensorboard and run is None:
        raise ValueError("tensorboard=True needs a run directory (the events go to <run>/tb/)")
    # Place everything explicitly (committed), as restored checkpoints are, so that a resumed run
    # hits the same jit cache entry instead of recompiling chunk_fn for new input shardings.
    place = shard_seeds if shard else _commit
    keys, hparams = place(keys), place(hparams)

    manager = None
    if run is not None:
        if not resume and run.checkpoint_dir.exists():
            shutil.rmtree(run.checkpoint_dir)
        manager = ocp.CheckpointManager(
            run.checkpoint_dir.resolve(),
            # Synchronous saves: the state is small, and a background save thread running XLA
            # transfers beside the next chunk's computation is one more way into the CPU deadlock
            # described in conftest.py.
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
            ),
        )
    writer = None
    if tensorboard:
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(run.path / "tb"))
    try:
        state, chunks, start = None, [], 0
        if manager is not None and resume and manager.latest_step() is not None:
            state, history, start = _restore(manager, init_fn, keys, hparams, shard)
            if start > num_chunks:
                raise ValueError(f"checkpoint has {start} chunks done, more than {num_chunks=}")
            chunks = [history] if history else []
        state = place(init_fn(keys, hparams) if state is None else state)

        bar = tqdm(total=num_chunks, initial=start, disable=not progress, unit="chunk")
        with bar:
            for chunk in range(start, num_chunks):
                state, metrics = chunk_fn(state, hparams)
                host = _to_host(metrics, chunk)
                check_finite(host, chunk, allow_nonfinite)
                chunks.append(host)
                if writer is not None:
                    write_tensorboard(writer, host, chunk)
                if manager is not None:
                    _save(manager, chunk, state, _concat(chunks))
                bar.set_postfix(_postfix(host, postfix_metric), refresh=False)
                bar.update(1)
        if manager is not None:
            manager.wait_until_finished()
    finally:
        if manager is not None:
            manager.close()
        if writer is not None:
            writer.close()

    result = _concat(chunks)
    # Multi-process: every process checkpoints its own shards (orbax coordinates them), but only
    # process 0 writes the gathered metrics (the store does no locking).
    if run is not None and not run.is_done and jax.process_index() == 0:
        run.write_metrics(metrics_name, result, schema=schema)
        if finalize:
            run.mark_done()
    return (result, state) if return_state else result


def write_tensorboard(writer: Any, metrics: Metrics, step: int) -> dict[str, float]:
    """Write each metric's chunk mean (over runs, updates and any further axes; NaN ignored) as a
    scalar at ``step``; a metric with no finite entry is left out. Returns what was written."""
    means = {}
    for name, arr in sorted(metrics.items()):
        values = np.asarray(arr, np.float64)
        finite = values[np.isfinite(values)]
        if finite.size:
            means[name] = float(finite.mean())
            writer.add_scalar(name, means[name], step)
    writer.flush()
    return means


def _commit(tree: Any) -> Any:
    return jax.device_put(tree, jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))


def _concat(chunks: list[Metrics]) -> Metrics:
    if not chunks:
        return {}
    return {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}


def _save(manager: ocp.CheckpointManager, chunk: int, state: Any, history: Metrics) -> None:
    items: dict[str, Any] = {
        "state": ocp.args.StandardSave(_to_stored(_keys_to_data(state))),
        # "metrics" is reserved by CheckpointManager (best-checkpoint tracking); use "history".
        "meta": ocp.args.JsonSave(
            {"chunk": chunk, "key_impls": _key_impls(state), "has_history": bool(history)}
        ),
    }
    if history:
        items["history"] = ocp.args.StandardSave(history)
    manager.save(chunk, args=ocp.args.Composite(**items))


class CheckpointError(ValueError):
    """No checkpoint of a run could be restored; the message names the directory and why."""


def _restore(
    manager: ocp.CheckpointManager, init_fn: Callable, keys: Any, hparams: Any, shard: bool
) -> tuple[Any, Metrics, int]:
    """Restore ``(state, metrics so far, next chunk)`` from the newest intact checkpoint.

    A checkpoint that fails to restore (corrupt or truncated files) is skipped with a warning
    naming it, and deleted so that the resumed run can write that chunk again; the next older
    one is tried (orbax keeps ``max_to_keep`` of them).

    Raises:
      CheckpointError: none of the checkpoints could be restored.
    """
    steps = sorted(manager.all_steps(), reverse=True)
    errors = []
    for step in steps:
        try:
            restored = _restore_step(manager, step, init_fn, keys, hparams, shard)
        except Exception as e:  # tensorstore / orbax / json errors of a damaged checkpoint
            msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            errors.append(f"{step}: {type(e).__name__}: {msg}")
            warnings.warn(
                f"checkpoint {manager.directory / str(step)} is unreadable ({type(e).__name__}: "
                f"{msg}); skipping it and falling back to an older checkpoint",
                stacklevel=3,
            )
            continue
        for bad in (s for s in steps if s > step):
            shutil.rmtree(manager.directory / str(bad), ignore_errors=True)
        if step != steps[0]:
            manager.reload()
            warnings.warn(
                f"resuming from checkpoint {manager.directory / str(step)} (chunk {step}), the "
                f"newest intact one; newer unreadable checkpoints were deleted: "
                f"{[s for s in steps if s > step]}",
                stacklevel=3,
            )
        return restored
    raise CheckpointError(
        f"no checkpoint under {manager.directory} could be restored: {errors}; delete the "
        "directory (or run without --resume) to start again"
    )


def _restore_step(
    manager: ocp.CheckpointManager,
    step: int,
    init_fn: Callable,
    keys: Any,
    hparams: Any,
    shard: bool,
) -> tuple[Any, Metrics, int]:
    """Restore ``(state, metrics so far, next chunk)`` from checkpoint ``step``."""
    meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    # Restore into the exact structure/dtypes init_fn produces, without running it.
    abstract = jax.eval_shape(_keys_to_data, jax.eval_shape(init_fn, keys, hparams))
    stored = jax.eval_shape(_to_stored, abstract)
    target = jax.tree_util.tree_map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        stored,
        state_shardings(stored, shard),
    )
    items: dict[str, Any] = {"state": ocp.args.StandardRestore(target)}
    if meta["has_history"]:
        items["history"] = ocp.args.StandardRestore()
    restored = manager.restore(step, args=ocp.args.Composite(**items))
    state = _data_to_keys(_from_stored(restored.state, abstract), meta["key_impls"])
    history = {k: np.asarray(v) for k, v in restored.history.items()} if meta["has_history"] else {}
    return state, history, int(meta["chunk"]) + 1
