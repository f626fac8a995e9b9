"""Seed sweeps: the config fields and run plumbing that every experiment script shares.

An experiment trains one jitted, vmapped program over a leading ``[groups · seeds]`` axis: each
group (a shaping variant, a λ of a regulariser grid, a method) runs on the *same* ``seeds`` PRNG
keys (common random numbers), group-major, so row ``g · seeds + i`` is group ``g``, seed ``i``.

    @dataclasses.dataclass(frozen=True)
    class MySweep(SeededSweep):
        seeds: int = 8
        \"\"\"independent training seeds per λ\"\"\"
        lambdas: tuple[float, ...] = (0.1, 1.0)

    cfg, store = sweep_cli({"quick": MySweep(), "paper": MySweep(seeds=64)}, __doc__, argv)
    keys = grid_keys(cfg.seed, cfg.seeds, len(cfg.lambdas))
    hp = hp._replace(aux_coef=per_seed(cfg.lambdas, cfg.seeds, np.float32)).broadcast(len(keys))
    run = open_run(store, "my_sweep", {"experiment": cfg.recorded()}, cfg, f"{len(keys)} runs")
    metrics = run_sweep(cfg, run, trainer, keys, hp)
    run.mark_done()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import Config, cli
from jaxrl.experiment.results import ResultsStore, RunDir, _config_dict
from jaxrl.experiment.runner import enable_compilation_cache, run_chunked

S = TypeVar("S", bound="SweepConfig")

#: config fields that say where results go or how a run starts, not what it computes.
NOT_RECORDED = ("resume", "results")


@dataclasses.dataclass(frozen=True)
class SweepConfig(Config):
    """Base of the experiment configs: the seed axis and the results directory.

    Subclasses re-declare ``seeds`` to give their own default and help text (a re-declared field
    keeps its place: these fields come first in ``--help``), and call ``super().check()`` from
    their ``check``. Most scripts derive from :class:`SeededSweep`; one without a ``seed`` or a
    ``shard`` field derives from this class and declares the other itself, so that its recorded
    config (and with it ``config.json`` and the run ids' config hash) keeps exactly its fields.
    """

    seeds: int = 1
    """independent training seeds per setting (settings x seeds are one vmapped axis)"""
    results: str = "results"
    """results root directory"""
    resume: bool = False
    """continue the newest unfinished run with the same config from its last checkpoint"""

    def check(self) -> None:
        self.require(self.seeds > 0, "seeds", "must be positive")

    def recorded(self, *exclude: str) -> dict[str, Any]:
        """The fields that determine the numbers (``config.json``'s ``"experiment"``): all but
        ``results``, ``resume`` and ``exclude``."""
        drop = (*NOT_RECORDED, *exclude)
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in drop}


@dataclasses.dataclass(frozen=True)
class SeededSweep(SweepConfig):
    """:class:`SweepConfig` plus a base PRNG seed and device sharding of the seed axis."""

    seed: int = 0
    """base PRNG seed (give each shard job of a multi-machine sweep its own)"""
    shard: bool = False
    """shard the (setting x seed) axis over all local devices"""


def sweep_cli(
    presets: Mapping[str, S], description: str | None, args: Sequence[str] | None = None
) -> tuple[S, ResultsStore]:
    """Parse ``--profile`` and overrides (:func:`~jaxrl.config.cli`), turn on the
    compilation cache and open the results store: ``(cfg, store)``."""
    cfg = cli(presets, description, args=args)
    enable_compilation_cache()
    return cfg, ResultsStore(cfg.results)


def grid_keys(seed: int, seeds: int, groups: int = 1) -> jax.Array:
    """Typed PRNG keys ``[groups · seeds]``, group-major: every group reuses the same ``seeds``
    keys split from ``key(seed)`` (common random numbers across the groups)."""
    return jnp.tile(jax.random.split(jax.random.key(seed), seeds), groups)


def per_seed(values: Any, seeds: int, dtype: Any = None) -> np.ndarray:
    """``values [groups, ...]`` -> ``[groups · seeds, ...]``: each group's row repeated ``seeds``
    times (group-major, matching :func:`grid_keys`)."""
    return np.repeat(np.asarray(values, dtype), seeds, axis=0)


def print_final(
    label: str, final: Any, metric: str = "true return", digits: int = 1, suffix: str = ""
) -> None:
    """Print ``label: final <metric> mean (min, max)`` of ``final [seeds]`` (last-chunk values)."""
    f = np.asarray(final)
    stats = f"mean {f.mean():.{digits}f} (min {f.min():.{digits}f}, max {f.max():.{digits}f})"
    print(f"{label}: final {metric} {stats}{suffix}", flush=True)


def broadcast_runs(tree: Any, n: int) -> Any:
    """Every leaf of ``tree`` with a new leading axis of ``n`` identical copies."""
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n, *jnp.shape(x))), tree)


def open_run(
    store: ResultsStore,
    experiment: str,
    run_config: Mapping[str, Any],
    cfg: SweepConfig,
    label: str | None = None,
    **create: Any,
) -> RunDir:
    """Create the run directory, or with ``cfg.resume`` reopen the newest unfinished one with
    the same config; print ``[experiment] label -> path`` unless the run is already done.
    ``create`` goes to :meth:`ResultsStore.create` (``run_id``, ``provenance_extra``). Resuming a
    sweep whose member ``run_id`` already finished returns that run (same config required)
    instead of raising, so the sweep picks up at its first unfinished member."""
    if cfg.resume and create.get("run_id") is not None:
        try:
            finished = store.open(experiment, create["run_id"])
        except FileNotFoundError:
            finished = None
        if finished is not None and finished.is_done:
            if finished.config != _config_dict(run_config):
                raise ValueError(f"cannot resume {finished.path}: its config.json differs")
            return finished
    run = store.create(experiment, run_config, resume=cfg.resume, **create)
    if label is not None and not run.is_done:
        print(f"[{experiment}] {label} -> {run.path}", flush=True)
    return run


def run_sweep(
    cfg: SweepConfig | None,
    run: RunDir | None,
    program: Any,
    keys: Any,
    hparams: Any,
    *,
    num_chunks: int | None = None,
    init_batched: bool = False,
    **kwargs: Any,
) -> Any:
    """:func:`~jaxrl.experiment.runner.run_chunked` of ``jit(vmap(init))`` and ``jit(vmap(chunk))``
    over the leading run axis of ``keys`` and ``hparams``.

    Args:
      cfg: ``resume`` and ``shard`` come from it (both off without a config, or a config
        without a ``shard`` field).
      run: the run directory (:func:`open_run`), or ``None`` to run in memory.
      program: a trainer (anything with ``.init(key, hp)`` and ``.chunk(state, hp)``) or an
        ``(init, chunk)`` pair of such functions.
      keys, hparams: PRNG keys and hyperparameters with the leading run axis.
      num_chunks: chunks (checkpoints) of the whole run; default ``program.static.num_chunks``
        (the trainer's own, which its ``chunk`` is built for).
      init_batched: ``init`` already takes the whole ``[runs]`` axis and is used as it is.
      **kwargs: for ``run_chunked`` (``postfix_metric``, ``metrics_name``, ``schema``,
        ``return_state``...).
    """
    if hasattr(program, "init") and hasattr(program, "chunk"):
        init, chunk = program.init, program.chunk
    else:
        init, chunk = program
    if num_chunks is None:
        num_chunks = program.static.num_chunks
    kwargs.setdefault("resume", cfg is not None and cfg.resume)
    kwargs.setdefault("shard", bool(getattr(cfg, "shard", False)))
    init_fn = init if init_batched else jax.jit(jax.vmap(init))
    return run_chunked(
        init_fn, jax.jit(jax.vmap(chunk)), keys, hparams, num_chunks=num_chunks, run=run, **kwargs
    )
